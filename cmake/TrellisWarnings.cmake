# Warning and sanitizer flags shared by every Trellis target (applied through trellis_warnings).
add_library(trellis_warnings INTERFACE)
target_compile_options(trellis_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused
                       -Woverloaded-virtual -Wimplicit-fallthrough
                       # Designated initializers leave defaulted members out on purpose (g++ 12 warns).
                       -Wno-missing-field-initializers)
if(TRELLIS_WERROR)
  target_compile_options(trellis_warnings INTERFACE -Werror)
endif()

if(TRELLIS_SANITIZE)
  string(REPLACE ";" "," _trellis_san "${TRELLIS_SANITIZE}")
  add_compile_options(-fsanitize=${_trellis_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_trellis_san})
  if(TRELLIS_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's std::atomic_thread_fence use trips g++'s -Wtsan; TSan models the fences it sees anyway.
    target_compile_options(trellis_warnings INTERFACE -Wno-tsan)
  endif()
endif()
