# Turn one file into a C source holding its bytes (run with cmake -P):
#
#   cmake -DINPUT=file.js -DOUTPUT=out.c -DSYMBOL=oa_res_explorer_js -P EmbedFile.cmake
#
# The C source defines
#   const unsigned char SYMBOL[];     /* the bytes, then a NUL */
#   const size_t SYMBOL_size;         /* without the NUL */
# so text resources can be used as C strings.  No build step of the web
# page itself: the files are embedded as they are.
if(NOT INPUT OR NOT OUTPUT OR NOT SYMBOL)
  message(FATAL_ERROR "EmbedFile.cmake: INPUT, OUTPUT and SYMBOL are required")
endif()
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR size "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes per line keeps the file readable and the compiler happy.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp"
  "/* Generated from ${INPUT} by EmbedFile.cmake: do not edit. */\n"
  "#include <stddef.h>\n"
  "extern const unsigned char ${SYMBOL}[];\n"
  "extern const size_t ${SYMBOL}_size;\n"
  "const unsigned char ${SYMBOL}[] = {\n${bytes}0x00};\n"
  "const size_t ${SYMBOL}_size = ${size};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
