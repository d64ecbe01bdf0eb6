# Warning and sanitizer flags shared by every Trellis target (applied through trellis_warnings).
add_library(trellis_warnings INTERFACE)
target_compile_options(trellis_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused
                       -Woverloaded-virtual -Wimplicit-fallthrough)
if(TRELLIS_WERROR)
  target_compile_options(trellis_warnings INTERFACE -Werror)
endif()

if(TRELLIS_SANITIZE)
  string(REPLACE ";" "," _trellis_san "${TRELLIS_SANITIZE}")
  add_compile_options(-fsanitize=${_trellis_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_trellis_san})
endif()
