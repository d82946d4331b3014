# The Orthanc plugin: libOrthancAnonymizer.so, a MODULE (loaded with
# dlopen, never linked against) built from Plugin.c, the Orthanc host layer
# and the REST layer, on top of the oacore static library.
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

# Modules that talk to Orthanc and so are not part of oacore.  Add a
# module's folder here when it gets its first source file.
file(GLOB OA_PLUGIN_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/Plugin/orthanc/*.c
  ${CMAKE_SOURCE_DIR}/Plugin/rest/*.c
  ${CMAKE_SOURCE_DIR}/Plugin/jobs/*.c)

# Files embedded into the library at build time, so that the .so is the
# whole deployment: oa_embed(SYMBOL FILE) adds a generated C source.
set(OA_EMBEDDED_SOURCES)
function(oa_embed symbol file)
  set(out ${CMAKE_BINARY_DIR}/generated/embed_${symbol}.c)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${file} -DOUTPUT=${out} -DSYMBOL=${symbol}
            -P ${CMAKE_SOURCE_DIR}/Resources/CMake/EmbedFile.cmake
    DEPENDS ${file} ${CMAKE_SOURCE_DIR}/Resources/CMake/EmbedFile.cmake
    COMMENT "Embedding ${file}" VERBATIM)
  set(OA_EMBEDDED_SOURCES ${OA_EMBEDDED_SOURCES} ${out} PARENT_SCOPE)
endfunction()
oa_embed(oa_res_explorer_js ${CMAKE_SOURCE_DIR}/Resources/Explorer/explorer.js)

# The web page: every file of WebApp/ but its README, in one table.
file(GLOB_RECURSE OA_WEBAPP_FILES CONFIGURE_DEPENDS
  RELATIVE ${CMAKE_SOURCE_DIR}/WebApp ${CMAKE_SOURCE_DIR}/WebApp/*)
list(FILTER OA_WEBAPP_FILES EXCLUDE REGEX "(^|/)(README\\.md|\\..*)$")
set(OA_WEBAPP_DEPENDS)
foreach(f ${OA_WEBAPP_FILES})
  list(APPEND OA_WEBAPP_DEPENDS ${CMAKE_SOURCE_DIR}/WebApp/${f})
endforeach()
string(REPLACE ";" "\\;" OA_WEBAPP_FILES_ARG "${OA_WEBAPP_FILES}")
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/generated/webapp_resources.c
  COMMAND ${CMAKE_COMMAND} -DROOT=${CMAKE_SOURCE_DIR}/WebApp
          -DOUTPUT=${CMAKE_BINARY_DIR}/generated/webapp_resources.c
          "-DFILES=${OA_WEBAPP_FILES_ARG}"
          -P ${CMAKE_SOURCE_DIR}/Resources/CMake/EmbedResources.cmake
  DEPENDS ${OA_WEBAPP_DEPENDS}
          ${CMAKE_SOURCE_DIR}/Resources/CMake/EmbedResources.cmake
  COMMENT "Embedding the web page (WebApp/)" VERBATIM)
list(APPEND OA_EMBEDDED_SOURCES ${CMAKE_BINARY_DIR}/generated/webapp_resources.c)

add_library(OrthancAnonymizer MODULE
  ${CMAKE_SOURCE_DIR}/Plugin/Plugin.c ${OA_PLUGIN_SOURCES}
  ${OA_EMBEDDED_SOURCES})
target_include_directories(OrthancAnonymizer SYSTEM PRIVATE
  ${ORTHANC_SDK_INCLUDE_DIR})
target_link_libraries(OrthancAnonymizer PRIVATE oacore)
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
