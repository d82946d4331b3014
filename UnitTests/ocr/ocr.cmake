# Included by UnitTests/CMakeLists.txt after the unit tests are declared:
# the OCR test (test_ocr.c) exits 77, ctest's skip, when python3-pil is
# missing (it draws its images with it).  Tesseract itself is a build
# dependency.  (Under LeakSanitizer, libtesseract 5.3.0 leaks nothing for
# our use: no suppression is needed.)
if(TEST ocr)
  set_tests_properties(ocr PROPERTIES SKIP_RETURN_CODE 77)
endif()
