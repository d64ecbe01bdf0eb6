// Connections and the pool of the Streamable HTTP client transport.
#include "transport/http_client_connection.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <cctype>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

namespace trellis::http_client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Error url_error(std::string_view url, std::string_view rule) {
  return make_error(ErrorKind::config, "invalid MCP server URL \"" + std::string(url) + "\": " + std::string(rule),
                    boost::json::object{{"url", url}});
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Endpoint
// ---------------------------------------------------------------------------------------------

Result<Endpoint> Endpoint::parse(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return url_error(url, "not an absolute URL (" + parsed.error().message() + ")");
  const auto& uri = *parsed;
  Endpoint endpoint;
  endpoint.url = std::string(url);
  const std::string scheme = lowercase(uri.scheme());
  if (scheme == "https") {
    endpoint.tls = true;
  } else if (scheme != "http") {
    return url_error(url, "the scheme must be http or https");
  }
  if (uri.has_userinfo()) return url_error(url, "user info is not supported (pass credentials in headers)");
  switch (uri.host_type()) {
    case boost::urls::host_type::ipv4:
      endpoint.host = uri.host_address();
      endpoint.host_is_address = true;
      break;
    case boost::urls::host_type::ipv6:
      endpoint.host = uri.host_address();
      endpoint.host_is_address = true;
      break;
    case boost::urls::host_type::name:
      endpoint.host = uri.host_name();
      break;
    default:
      return url_error(url, "the host must be a name, an IPv4 or an IPv6 address");
  }
  if (endpoint.host.empty()) return url_error(url, "the host is empty");
  const std::string default_port = endpoint.tls ? "443" : "80";
  endpoint.port = uri.has_port() && !uri.port().empty() ? std::string(uri.port()) : default_port;
  if (uri.has_port() && uri.port_number() == 0) return url_error(url, "the port must be 1..65535");

  endpoint.target = uri.encoded_path().empty() ? "/" : std::string(uri.encoded_path());
  if (uri.has_query()) endpoint.target += "?" + std::string(uri.encoded_query());

  const std::string bracketed =
      uri.host_type() == boost::urls::host_type::ipv6 ? "[" + endpoint.host + "]" : endpoint.host;
  endpoint.host_header = endpoint.port == default_port ? bracketed : bracketed + ":" + endpoint.port;
  return endpoint;
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

Connection::Connection(asio::any_io_executor executor, asio::ssl::context* tls) : resolver_(executor) {
  if (tls != nullptr) {
    tls_.emplace(executor, *tls);
  } else {
    plain_.emplace(executor);
  }
}

beast::tcp_stream& Connection::lowest_layer() noexcept { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }

asio::awaitable<error_code> Connection::connect(const Endpoint& endpoint, bool verify_tls,
                                                std::chrono::milliseconds timeout) {
  error_code ec;
  auto results = co_await resolver_.async_resolve(endpoint.host, endpoint.port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;

  auto& tcp = lowest_layer();
  tcp.expires_after(timeout);
  co_await tcp.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  tcp.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  ec.clear();

  if (tls_) {
    SSL* ssl = tls_->native_handle();
    // SNI (SSL_set_tlsext_host_name, spelled out: the macro uses a C cast). Not for IP literals.
    if (!endpoint.host_is_address &&
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(endpoint.host.c_str())) != 1) {
      co_return error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category());
    }
    if (verify_tls) {
      tls_->set_verify_mode(asio::ssl::verify_peer);
      tls_->set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
    } else {
      tls_->set_verify_mode(asio::ssl::verify_none);
    }
    co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
  }
  tcp.expires_never();
  co_return ec;
}

asio::awaitable<error_code> Connection::write(Request& request) {
  // The head is formatted here, field by field as the request holds them, and goes out with the
  // body in one gathered write: beast's serializer cost more instructions than everything else a
  // small POST does on the client.
  head_.assign(request.method_string()).append(" ").append(request.target());
  head_.append(request.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  for (const auto& field : request) head_.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
  head_.append("\r\n");
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(request.body())};
  error_code ec;
  if (tls_) {
    co_await asio::async_write(*tls_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(*plain_, buffers, asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ec;
}

asio::awaitable<error_code> Connection::read_header(ResponseParser& parser) {
  error_code ec;
  if (tls_) {
    co_await http::async_read_header(*tls_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await http::async_read_header(*plain_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return ec;
}

asio::awaitable<Connection::BodyPart> Connection::read_some(ResponseParser& parser) {
  if (!body_chunk_) body_chunk_ = std::make_unique_for_overwrite<char[]>(kBodyChunk);
  auto& target = parser.get().body();
  target.data = body_chunk_.get();
  target.size = kBodyChunk;
  error_code ec;
  if (tls_) {
    co_await http::async_read_some(*tls_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await http::async_read_some(*plain_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec == http::error::need_buffer) ec.clear();
  co_return BodyPart{ec, std::string_view(body_chunk_.get(), kBodyChunk - parser.get().body().size)};
}

void Connection::set_timeout(std::chrono::milliseconds timeout) { lowest_layer().expires_after(timeout); }
void Connection::clear_timeout() { lowest_layer().expires_never(); }

bool Connection::healthy() noexcept {
  auto& socket = lowest_layer().socket();
  if (!socket.is_open() || buffer_.size() != 0) return false;
  pollfd fd{socket.native_handle(), POLLIN, 0};
  // Readable while idle means end of stream, an error, or bytes nobody asked for.
  return ::poll(&fd, 1, 0) == 0;
}

void Connection::close() noexcept {
  resolver_.cancel();
  auto& tcp = lowest_layer();
  error_code ignored;
  tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  tcp.close();
}

// ---------------------------------------------------------------------------------------------
// Lease
// ---------------------------------------------------------------------------------------------

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    discard();
    pool_ = other.pool_;
    connection_ = std::move(other.connection_);
    from_idle_ = other.from_idle_;
  }
  return *this;
}

void Lease::recycle(bool exchanged) noexcept {
  if (!connection_) return;
  if (exchanged) connection_->used = true;
  connection_->clear_timeout();
  pool_->give_back(std::move(connection_), true);
}

void Lease::discard() noexcept {
  if (!connection_) return;
  connection_->close();
  pool_->give_back(std::move(connection_), false);
}

// ---------------------------------------------------------------------------------------------
// Pool
// ---------------------------------------------------------------------------------------------

Pool::Pool(Endpoint endpoint, PoolOptions options) : endpoint_(std::move(endpoint)), options_(options) {}

Pool::~Pool() { close_all(); }

asio::awaitable<Result<Lease>> Pool::acquire(bool fresh) {
  const auto executor = co_await asio::this_coro::executor;
  while (!closed_ && active_.size() >= options_.max_active) {
    asio::steady_timer wakeup(executor, asio::steady_timer::time_point::max());
    Lease handed;  // filled by give_back(); a frame destroyed while waiting discards it
    waiters_.push_back({&wakeup, &handed, fresh});
    error_code ignored;
    co_await wakeup.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    std::erase_if(waiters_, [&](const Waiter& waiter) { return waiter.wakeup == &wakeup; });
    if (handed && !closed_) co_return std::move(handed);
  }
  if (closed_) co_return make_error(ErrorKind::transport, "the transport is closed");

  while (!fresh && !idle_.empty()) {
    std::unique_ptr<Connection> connection = std::move(idle_.back());
    idle_.pop_back();
    if (connection->used && !connection->healthy()) continue;  // closed by the server while idle
    active_.insert(connection.get());
    co_return Lease(this, std::move(connection), true);
  }

  auto connection = std::make_unique<Connection>(executor, options_.tls);
  active_.insert(connection.get());
  const error_code ec = co_await connection->connect(endpoint_, options_.verify_tls, options_.connect_timeout);
  if (ec || closed_) {
    connection->close();
    give_back(std::move(connection), false);
    if (closed_) co_return make_error(ErrorKind::transport, "the transport is closed");
    const bool timed_out = ec == beast::error::timeout;
    co_return make_error(ErrorKind::transport,
                         "cannot connect to " + endpoint_.url + ": " +
                             (timed_out ? "timed out after " + std::to_string(options_.connect_timeout.count()) + " ms"
                                        : ec.message()),
                         boost::json::object{{"url", endpoint_.url}, {"reason", ec.message()}});
  }
  co_return Lease(this, std::move(connection), false);
}

void Pool::give_back(std::unique_ptr<Connection> connection, bool reusable) noexcept {
  if (reusable && !closed_) {
    // A connection that just finished an exchange goes straight to the first waiter that may
    // reuse one: it keeps its slot, so it is neither parked (and perhaps closed as surplus idle)
    // nor replaced by a new connection while calls queue for a slot.
    const auto waiter = std::find_if(waiters_.begin(), waiters_.end(), [](const Waiter& w) { return !w.fresh; });
    if (waiter != waiters_.end()) {
      *waiter->handed = Lease(this, std::move(connection), true);
      waiter->wakeup->cancel();
      waiters_.erase(waiter);
      return;
    }
  }
  active_.erase(connection.get());
  if (reusable && !closed_) {
    idle_.push_back(std::move(connection));
    if (idle_.size() > options_.max_idle) {
      idle_.front()->close();
      idle_.pop_front();
    }
  }
  wake_one();
}

void Pool::wake_one() noexcept {
  if (waiters_.empty()) return;
  waiters_.front().wakeup->cancel();
  waiters_.pop_front();
}

void Pool::close_all() noexcept {
  closed_ = true;
  for (Connection* connection : active_) connection->close();
  for (auto& connection : idle_) connection->close();
  idle_.clear();
  while (!waiters_.empty()) wake_one();
}

}  // namespace trellis::http_client
