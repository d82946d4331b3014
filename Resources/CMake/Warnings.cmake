# Warning flags, each probed so that gcc 12 and clang 14 both accept them.
include(CheckCCompilerFlag)
set(OA_WARNING_FLAGS)
foreach(flag -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
             -Wold-style-definition -Wwrite-strings -Wformat=2 -Wundef -Wvla
             -Wimplicit-fallthrough -Wpointer-arith)
  string(MAKE_C_IDENTIFIER "OA_HAS${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    list(APPEND OA_WARNING_FLAGS ${flag})
  endif()
endforeach()
if(OA_WERROR)
  list(APPEND OA_WARNING_FLAGS -Werror)
endif()
function(oa_target_warnings target)
  target_compile_options(${target} PRIVATE ${OA_WARNING_FLAGS})
endfunction()
