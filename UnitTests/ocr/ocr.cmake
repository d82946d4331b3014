# Included by UnitTests/CMakeLists.txt after the unit tests are declared:
# the OCR test (test_ocr.c) exits 77 when python3-pil is missing (it draws
# its images with it), and under LeakSanitizer ignores the leaks reported
# inside libtesseract/liblept themselves (lsan.supp), never ours.
if(TEST ocr)
  set_tests_properties(ocr PROPERTIES SKIP_RETURN_CODE 77
    ENVIRONMENT "LSAN_OPTIONS=suppressions=${CMAKE_CURRENT_LIST_DIR}/lsan.supp:print_suppressions=0;OMP_THREAD_LIMIT=1")
endif()
