# Files embedded into the plugin at build time, so that the .so is the
# whole deployment.  Sets OA_EMBEDDED_SOURCES: the generated C sources
# (built into oaplugin).

# oa_embed(SYMBOL FILE): one file as `const unsigned char SYMBOL[]`
# (Resources/CMake/EmbedFile.cmake).
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

# Orthanc Explorer's extension.
oa_embed(oa_res_explorer_js ${CMAKE_SOURCE_DIR}/Resources/Explorer/explorer.js)

# The web page: every file of WebApp/ but its README and hidden files, in
# one table (Resources/CMake/EmbedResources.cmake).
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
