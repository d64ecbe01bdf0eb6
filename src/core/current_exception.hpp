// current_exception.hpp — what a `catch (...)` caught, in words: the what() of a std::exception,
// or a fixed phrase for anything else.
//
// Wherever user code runs (handlers, callbacks, coroutines, pool tasks) whatever it throws has to
// be turned into an error or a log line, so that the request or call still ends: one `catch (...)`
// with this serves both kinds, and every place describes a foreign exception the same way.
#pragma once

#include <exception>
#include <string>

namespace trellis::detail {

// Only inside a catch block (it rethrows the exception being handled to look at it).
inline std::string current_exception_message() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace trellis::detail
