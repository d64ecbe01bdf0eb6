// current_exception.hpp — what a `catch (...)` caught, in words: the what() of a std::exception,
// or a fixed phrase for anything else; and outcome_of(), which turns a throw into an error.
//
// Wherever user code runs (handlers, callbacks, coroutines, pool tasks) whatever it throws has to
// be turned into an error or a log line, so that the request or call still ends: one `catch (...)`
// with this serves both kinds, and every place describes a foreign exception the same way.
#pragma once

#include "trellis/error.hpp"

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

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

// Calls `fn`, which returns a Result; whatever it throws becomes an `internal` error carrying
// current_exception_message(), after `on_exception(message)` has seen it (to log it, say).
template <class Fn, class OnException = void (*)(const std::string&)>
std::invoke_result_t<Fn&> outcome_of(Fn&& fn, OnException on_exception = [](const std::string&) {}) {
  try {
    return fn();
  } catch (...) {
    auto message = current_exception_message();
    on_exception(message);
    return make_error(ErrorKind::internal, std::move(message));
  }
}

}  // namespace trellis::detail
