// sse_scale — many idle Streamable HTTP sessions, each holding an open GET SSE stream.
//
//   sse_scale --url http://127.0.0.1:PORT/mcp --sessions N --pid SERVER_PID [--concurrency 256] [--timeout-s 60]
//
// Opens N sessions (initialize, notifications/initialized, then GET with Accept:
// text/event-stream, all on one keep-alive connection per session), measures the server's
// resident memory before and after (/proc/PID/status), then calls the `announce` tool once and
// measures the time until every stream has received the resulting notifications/message.
// Prints one JSON object. The server must answer POSTs with JSON bodies (--json-response).
//
// Plain sockets and one epoll loop, no Trellis code: the driver must stay cheap next to 10 000
// connections, and it must not share the code it measures.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "sse_scale: %s\n", what.c_str());
  std::exit(1);
}

enum class Phase { connecting, initializing, notifying, opening_stream, streaming, failed };

struct Session {
  int fd = -1;
  Phase phase = Phase::connecting;
  std::string id;
  std::string in;            // bytes of the response being read (bounded: responses are small)
  bool delivered = false;    // saw notifications/message on the stream
};

struct Target {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/mcp";
};

Target parse_url(const std::string& url) {
  Target t;
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) fail("--url must start with http://");
  const auto rest = url.substr(prefix.size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  if (slash != std::string::npos) t.path = rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon == std::string::npos) fail("--url needs a port");
  t.host = authority.substr(0, colon);
  t.port = std::atoi(authority.c_str() + colon + 1);
  return t;
}

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  fail("cannot read VmRSS of pid " + std::to_string(pid));
}

std::string post(const Target& t, const std::string& session, const std::string& body) {
  std::string r = "POST " + t.path + " HTTP/1.1\r\nHost: " + t.host + ":" + std::to_string(t.port) +
                  "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n";
  if (!session.empty()) r += "Mcp-Session-Id: " + session + "\r\nMCP-Protocol-Version: 2025-11-25\r\n";
  return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string get_stream(const Target& t, const std::string& session) {
  return "GET " + t.path + " HTTP/1.1\r\nHost: " + t.host + ":" + std::to_string(t.port) +
         "\r\nAccept: text/event-stream\r\nMcp-Session-Id: " + session + "\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n";
}

const std::string kInitialize =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"sse_scale","version":"1"}}})";
const std::string kInitialized = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

bool send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {  // requests are small: the send buffer is never full for long
      std::this_thread::yield();
      continue;
    }
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// A complete response in `in`: its status, a header's value and the whole length (head + body).
struct Response {
  int status = 0;
  std::string session;
  std::size_t length = 0;  // 0: not complete yet
};

std::string header(const std::string& head, const char* name) {
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto at = lower.find(std::string("\r\n") + name + ":");
  if (at == std::string::npos) return {};
  auto start = at + 3 + std::strlen(name);
  while (start < head.size() && head[start] == ' ') ++start;
  return head.substr(start, head.find("\r\n", start) - start);
}

Response parse_response(const std::string& in, bool headers_only) {
  Response r;
  const auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  const std::string head = in.substr(0, end);
  r.status = std::atoi(head.c_str() + 9);  // "HTTP/1.1 200"
  r.session = header(head, "mcp-session-id");
  if (headers_only) {
    r.length = end + 4;
    return r;
  }
  const auto content_length = header(head, "content-length");
  if (content_length.empty()) fail("a JSON response without Content-Length: start the server with --json-response");
  const std::size_t total = end + 4 + static_cast<std::size_t>(std::atol(content_length.c_str()));
  if (in.size() >= total) r.length = total;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  long sessions = 0, concurrency = 256, timeout_s = 60;
  int pid = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--url") url = argv[i + 1];
    else if (arg == "--sessions") sessions = std::atol(argv[i + 1]);
    else if (arg == "--pid") pid = std::atoi(argv[i + 1]);
    else if (arg == "--concurrency") concurrency = std::atol(argv[i + 1]);
    else if (arg == "--timeout-s") timeout_s = std::atol(argv[i + 1]);
    else fail("unknown argument " + arg);
  }
  if (url.empty() || sessions <= 0 || pid <= 0)
    fail("usage: sse_scale --url URL --sessions N --pid SERVER_PID [--concurrency 256] [--timeout-s 60]");
  const Target target = parse_url(url);

  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  if (static_cast<long>(limit.rlim_cur) < sessions + 64) fail("the open-file limit is below the number of sessions");

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(target.port));
  if (inet_pton(AF_INET, target.host.c_str(), &address.sin_addr) != 1) fail("--url host must be an IPv4 address");

  const long rss_before = rss_kib(pid);
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Session> all(static_cast<std::size_t>(sessions));
  long next = 0, active = 0, streaming = 0, failed = 0, delivered = 0;
  bool announced = false;
  int trigger = -1;
  double setup_s = 0;
  long rss_after = 0;
  Clock::time_point announce_start{}, last_delivery{};
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);

  auto start_one = [&] {
    Session& s = all[static_cast<std::size_t>(next)];
    s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS)
      fail(std::string("connect: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = static_cast<std::uint64_t>(next);
    epoll_ctl(epoll, EPOLL_CTL_ADD, s.fd, &ev);
    ++next;
    ++active;
  };
  auto give_up = [&](Session& s, const std::string& why) {
    if (failed < 5) std::fprintf(stderr, "sse_scale: session failed: %s\n", why.c_str());
    if (s.phase != Phase::streaming) --active;
    s.phase = Phase::failed;
    ::close(s.fd);
    ++failed;
  };

  const auto setup_start = Clock::now();
  std::vector<epoll_event> events(1024);
  while ((streaming + failed < sessions || (announced && delivered < streaming)) && Clock::now() < deadline) {
    while (next < sessions && active < concurrency) start_one();
    const int n = epoll_wait(epoll, events.data(), static_cast<int>(events.size()), 100);
    for (int k = 0; k < n; ++k) {
      Session& s = all[events[k].data.u64];
      if (s.phase == Phase::failed) continue;
      if (s.phase == Phase::connecting) {
        if (!(events[k].events & EPOLLOUT)) continue;
        int error = 0;
        socklen_t len = sizeof error;
        getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) { give_up(s, std::string("connect: ") + std::strerror(error)); continue; }
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = events[k].data.u64;
        epoll_ctl(epoll, EPOLL_CTL_MOD, s.fd, &ev);
        s.phase = Phase::initializing;
        if (!send_all(s.fd, post(target, "", kInitialize))) give_up(s, "send initialize");
        continue;
      }
      char chunk[16 * 1024];
      const ssize_t got = ::recv(s.fd, chunk, sizeof chunk, 0);
      if (got <= 0) {
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        const bool was_streaming = s.phase == Phase::streaming;
        give_up(s, "the server closed the connection");
        if (was_streaming) --streaming;
        continue;
      }
      if (s.phase == Phase::streaming) {
        // Only the tail is kept so that a match split across reads is still found.
        s.in.append(chunk, static_cast<std::size_t>(got));
        if (!s.delivered && s.in.find("notifications/message") != std::string::npos) {
          s.delivered = true;
          ++delivered;
        }
        if (s.in.size() > 64) s.in.erase(0, s.in.size() - 64);
        continue;
      }
      s.in.append(chunk, static_cast<std::size_t>(got));
      const Response r = parse_response(s.in, s.phase == Phase::opening_stream);
      if (r.length == 0) continue;
      s.in.erase(0, r.length);
      if (s.phase == Phase::initializing) {
        if (r.status != 200 || r.session.empty()) { give_up(s, "initialize answered " + std::to_string(r.status)); continue; }
        s.id = r.session;
        s.phase = Phase::notifying;
        if (!send_all(s.fd, post(target, s.id, kInitialized))) give_up(s, "send initialized");
      } else if (s.phase == Phase::notifying) {
        if (r.status != 202) { give_up(s, "notifications/initialized answered " + std::to_string(r.status)); continue; }
        s.phase = Phase::opening_stream;
        if (!send_all(s.fd, get_stream(target, s.id))) give_up(s, "send GET");
      } else if (s.phase == Phase::opening_stream) {
        if (r.status != 200) { give_up(s, "GET answered " + std::to_string(r.status)); continue; }
        s.phase = Phase::streaming;
        ++streaming;
        --active;  // set up: no longer counts against the concurrency of set-ups
      }
    }
    if (!announced && streaming + failed == sessions) {
      setup_s = std::chrono::duration<double>(Clock::now() - setup_start).count();
      std::this_thread::sleep_for(std::chrono::seconds(2));  // let the server settle before measuring
      rss_after = rss_kib(pid);
      const auto first = std::find_if(all.begin(), all.end(), [](const Session& s) { return s.phase == Phase::streaming; });
      if (first == all.end()) fail("no session could be opened");
      // The trigger: one more connection calls `announce` on the first session.
      trigger = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(trigger, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) fail("trigger connect");
      announced = true;
      announce_start = Clock::now();
      if (!send_all(trigger, post(target, first->id,
                                  R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"announce","arguments":{"text":"fanout"}}})")))
        fail("trigger send");
    }
    if (announced && delivered == streaming && last_delivery == Clock::time_point{}) last_delivery = Clock::now();
  }
  if (announced && last_delivery == Clock::time_point{}) last_delivery = Clock::now();
  const double fanout_ms = std::chrono::duration<double, std::milli>(last_delivery - announce_start).count();
  std::printf(R"({"sessions":%ld,"established":%ld,"failed":%ld,"setup_s":%.2f,"rss_before_kib":%ld,"rss_after_kib":%ld,)"
              R"("per_session_bytes":%.0f,"fanout_ms":%.1f,"delivered":%ld})" "\n",
              sessions, streaming, failed, setup_s, rss_before, rss_after,
              streaming > 0 ? static_cast<double>(rss_after - rss_before) * 1024.0 / static_cast<double>(streaming) : 0.0,
              fanout_ms, delivered);
  std::fflush(stdout);
  if (trigger >= 0) ::close(trigger);
  for (const auto& s : all)
    if (s.phase != Phase::failed && s.fd >= 0) ::close(s.fd);
  if (streaming < sessions) fail(std::to_string(sessions - streaming) + " sessions could not be opened");
  if (delivered < streaming) fail(std::to_string(streaming - delivered) + " streams missed the notification");
  return 0;
}
