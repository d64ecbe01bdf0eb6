// The RequestContext a handler receives: progress, logging and client requests routed through
// the session to the request's own stream when it has one.
#pragma once

#include "session_impl.hpp"

namespace trellis::server_detail {

class RequestContextImpl final : public RequestContext {
 public:
  RequestContextImpl(SessionImpl& session, const boost::json::object& params, std::stop_token stop,
                     std::shared_ptr<Outbound> reply);

  const boost::json::object& params() const noexcept override { return params_; }
  std::stop_token stop_token() const noexcept override { return stop_; }
  void report_progress(double progress, std::optional<double> total, std::string_view message) override;
  void log(LogLevel level, boost::json::value data, std::string_view logger) override;
  Result<boost::json::value> send_request(std::string_view method, boost::json::object params,
                                          std::chrono::milliseconds timeout) override;
  void close_stream() override {
    if (reply_) reply_->close_stream();
  }
  const ClientInfo& client() const noexcept override { return session_.client(); }
  std::string_view session_id() const noexcept override { return session_.id(); }

 private:
  SessionImpl& session_;
  const boost::json::object& params_;
  std::stop_token stop_;
  std::shared_ptr<Outbound> reply_;
  const boost::json::value* progress_token_ = nullptr;
};

}  // namespace trellis::server_detail
