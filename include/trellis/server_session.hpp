// trellis/server_session.hpp — one MCP session of a Server, as transports see it.
//
// A transport (stdio, Streamable HTTP, or your own) decodes each incoming line or body with
// jsonrpc::decode and hands the Message to Session::receive together with the Outbound that the
// answer must go to. The session does the rest: admission through the server_session state
// machine (initialize once; only ping before it; reject with the state while draining), dispatch
// to the worker pool, cancellation, progress, and server-to-client requests.
//
// Outbound is the transport's half: one destination for server-to-client messages. Over stdio
// there is one, stdout. Over Streamable HTTP every POST that carries a request has its own (a JSON
// body or an SSE stream) and the session may have a standalone one (the GET stream).
//
// The worker that runs a request lets go of its Outbound after everything else it holds (the
// session, and the work it keeps on the session's executor). A transport can therefore tell, from
// when its requests' Outbounds are destroyed, that no handler touches its executor any more
// (StreamableHttpServer::stop() waits for that before it stops its io_context).
//
// A Session serializes its own state on a strand of the executor it is given; receive(), close()
// and set_standalone() may be called from any thread.
#pragma once

#include "trellis/jsonrpc.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace trellis {

class Outbound {
 public:
  virtual ~Outbound() = default;
  // Queues one JSON-RPC message (compact JSON text, no framing) for the client. Called from any
  // thread, in the order the messages must arrive; must not block for long. Returns false when
  // the destination is already closed (the message is dropped).
  virtual bool send(std::string message) = 0;
  // send() for a request's final response while more of the session's requests wait to run: the
  // transport may hold it back for a short, bounded time to write it together with theirs (stdio
  // does: ServerOptions::stdout_hold). Default: send().
  virtual bool send_batched(std::string message) { return send(std::move(message)); }
  // Whether messages other than the final response can travel here (stdio and SSE: yes; a
  // JSON-body POST response: no). Progress, logs and server requests that belong to a request
  // go to its Outbound when it streams, and to the session's standalone Outbound otherwise.
  virtual bool streaming() const noexcept = 0;
  // Ends the underlying stream now while the request goes on (SSE polling): later messages are
  // kept for the client to fetch by resuming with Last-Event-ID. Default: nothing to close.
  virtual void close_stream() {}
  // The request this Outbound was opened for is over: its response was sent, or it was cancelled
  // and gets none. Called exactly once per request, after its last send().
  virtual void finish() {}
};

namespace server_detail {
class Core;
}

class Session {
 public:
  enum class Mode {
    stateful,   // initialize → initialized → requests; the normal case
    stateless,  // every request is self-contained; no initialize needed (stateless HTTP)
  };

  // `executor` must be serial: the session runs its events through it one at a time and keeps
  // its state unlocked. Pass a strand, or the executor of an io_context that one thread runs
  // (serve_stdio does; a strand there would only add a lock and a queue to every message).
  //
  // The transport is not the session's only holder: a broadcast (Server::log, a list_changed
  // notification) holds every live session for a moment on the caller's thread, and may be the
  // one that lets it go last, after the transport has stopped. The session's strand and timers
  // belong to the executor's io_context, which must therefore outlive it: pass what owns that
  // io_context as `keep_alive`, which the session holds until the last of its members is gone.
  static std::shared_ptr<Session> create(std::shared_ptr<server_detail::Core> core, boost::asio::any_io_executor executor,
                                         std::string id, Mode mode = Mode::stateful,
                                         std::shared_ptr<const void> keep_alive = {});
  virtual ~Session() = default;

  // A decoded message from the client. Requests are answered on `reply` (required for requests);
  // notifications and responses to our requests take no reply (pass nullptr).
  virtual void receive(jsonrpc::Message message, std::shared_ptr<Outbound> reply) = 0;

  // Where messages unrelated to a request go (the HTTP GET stream; stdout). nullptr detaches:
  // such messages are dropped while nobody listens.
  virtual void set_standalone(std::shared_ptr<Outbound> outbound) = 0;

  // Orderly end (stdin EOF, HTTP DELETE, server shutdown): new requests are rejected, in-flight
  // ones finish (up to drain_timeout, then their stop tokens are requested), then the session
  // closes and `on_closed` callbacks run. Idempotent. The close runs on the session's executor
  // and does not keep the session: one that nobody holds any more by then is already gone (a
  // transport holds its sessions until they have closed).
  virtual void close() = 0;
  virtual void on_closed(std::function<void()> callback) = 0;

  virtual const std::string& id() const noexcept = 0;
  // The negotiated protocol revision; empty until initialize succeeded.
  virtual std::string protocol_version() const = 0;
  // True once the state machine reached `closed`.
  virtual bool closed() const noexcept = 0;
  // {machine, state, ms_in_state, history, pending} of the session's state machine. `pending`
  // counts requests in flight, and a finished one until the session handles its next message
  // (finished requests are reaped then, not one by one).
  virtual boost::json::object debug_state() const = 0;
};

}  // namespace trellis
