# The Orthanc plugin: libOrthancAnonymizer.so, a MODULE (loaded with
# dlopen, never linked against): Plugin.c and the Orthanc host layer
# (Plugin/orthanc/, the only code that calls the SDK) on top of oaplugin.
#
# Only the four entry points are exported: hidden visibility by default
# plus a version script, checked by the "plugin_exports" test.

find_path(ORTHANC_SDK_INCLUDE_DIR orthanc/OrthancCPlugin.h
  DOC "Folder holding orthanc/OrthancCPlugin.h (Debian: orthanc-dev)")
if(NOT ORTHANC_SDK_INCLUDE_DIR)
  message(FATAL_ERROR "orthanc/OrthancCPlugin.h not found: install orthanc-dev "
                      "(Resources/Scripts/setup-run.sh does) or configure with "
                      "-DOA_BUILD_PLUGIN=OFF")
endif()

file(GLOB OA_HOST_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/Plugin/orthanc/*.c)
add_library(OrthancAnonymizer MODULE
  ${CMAKE_SOURCE_DIR}/Plugin/Plugin.c ${OA_HOST_SOURCES})
target_include_directories(OrthancAnonymizer SYSTEM PRIVATE
  ${ORTHANC_SDK_INCLUDE_DIR})
target_link_libraries(OrthancAnonymizer PRIVATE oaplugin)
set_target_properties(OrthancAnonymizer PROPERTIES
  OUTPUT_NAME OrthancAnonymizer
  PREFIX lib
  C_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  LINK_DEPENDS ${CMAKE_SOURCE_DIR}/Resources/VersionScript.map)
target_link_options(OrthancAnonymizer PRIVATE
  -Wl,--version-script=${CMAKE_SOURCE_DIR}/Resources/VersionScript.map)
# A symbol missing at link time would otherwise only show when Orthanc
# loads the plugin.  (Sanitizer runtimes live in the executable: skip.)
if(NOT OA_SANITIZE)
  target_link_options(OrthancAnonymizer PRIVATE -Wl,--no-undefined)
endif()
oa_target_warnings(OrthancAnonymizer)

# Where Orthanc's own plugins go (Debian: /usr/share/orthanc/plugins).
install(TARGETS OrthancAnonymizer LIBRARY DESTINATION share/orthanc/plugins)

if(OA_BUILD_TESTS)
  # Exactly the four entry points are exported, nothing else.
  if(CMAKE_NM)
    set(OA_NM ${CMAKE_NM})
  else()
    find_program(OA_NM NAMES nm REQUIRED)
  endif()
  add_test(NAME plugin_exports
    COMMAND sh ${CMAKE_SOURCE_DIR}/Resources/Scripts/check-exports.sh
            ${OA_NM} $<TARGET_FILE:OrthancAnonymizer>)
  set_tests_properties(plugin_exports PROPERTIES LABELS unit)
endif()
