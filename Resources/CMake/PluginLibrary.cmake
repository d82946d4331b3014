# oaplugin: the plugin's code that talks to Orthanc only through the host
# layer (Plugin/orthanc/host.h) -- the REST routes, the Orthanc jobs, the
# Orthanc export backends -- and the files embedded into the library.  A
# static PIC library, defined even with OA_BUILD_PLUGIN=OFF (it needs no
# SDK), so that the unit tests link it against the fake host of
# UnitTests/support/fake_host.c; the plugin links it against host.c.

file(GLOB OA_PLUGIN_LIB_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/Plugin/rest/*.c
  ${CMAKE_SOURCE_DIR}/Plugin/jobs/*.c
  ${CMAKE_SOURCE_DIR}/Plugin/export/orthanc.c)
# The parts of jobs/ that do not call Orthanc are in oacore.
list(FILTER OA_PLUGIN_LIB_SOURCES EXCLUDE REGEX
     "/jobs/(service|report|destinations)\\.c$")

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

add_library(oaplugin STATIC ${OA_PLUGIN_LIB_SOURCES} ${OA_EMBEDDED_SOURCES})
set_target_properties(oaplugin PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  C_VISIBILITY_PRESET hidden)
target_link_libraries(oaplugin PUBLIC oacore)
oa_target_warnings(oaplugin)
