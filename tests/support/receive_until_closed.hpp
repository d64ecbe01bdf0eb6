// Reading a raw HTTP connection until the server closes it, with a bound, for the HTTP server's
// tests: the bytes exactly as they came, and whether the server closed.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <cerrno>
#include <chrono>
#include <string>

#include <sys/socket.h>

namespace trellis::testing {

struct Received {
  std::string bytes;
  bool closed = false;  // by the server (EOF or reset), not by the wait running out
  // The status of the first response; 0 when none came.
  int status() const { return bytes.rfind("HTTP/1.", 0) == 0 && bytes.size() >= 12 ? std::stoi(bytes.substr(9, 3)) : 0; }
  // The bytes after the first response's head.
  std::string body() const {
    const auto at = bytes.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : bytes.substr(at + 4);
  }
};

// Everything the server sends on `socket` until it closes the connection, or until `patience`
// passes.
inline Received receive_until_closed(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds patience) {
  const timeval timeout{.tv_sec = 0, .tv_usec = 50'000};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  Received out;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  char chunk[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::recv(socket.native_handle(), chunk, sizeof chunk, 0);
    if (n > 0) out.bytes.append(chunk, static_cast<std::size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      out.closed = true;
      break;
    }
  }
  return out;
}

}  // namespace trellis::testing
