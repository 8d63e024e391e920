#pragma once
// Prometheus metrics: a pure renderer (text exposition format 0.0.4) and a tiny HTTP
// server that only listens on loopback.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "dynmx/policy.hpp"
#include "dynmx/result.hpp"
#include "dynmx/status.hpp"

namespace dynmx::status {

/// Counters the daemon keeps since it started (the report holds only bounded history).
struct Counters {
  std::map<std::pair<std::string, std::string>, long long> ddnsUpdates;  ///< (account, result) -> n
  std::map<std::string, long long> switches;                             ///< to-mode -> n
  long long hookFailures = 0;
};

/// The metrics page in Prometheus text format 0.0.4.
std::string renderMetrics(const Report& report, const Counters& counters);

/// Escape a label value (backslash, double quote, newline).
std::string escapeLabelValue(std::string_view value);

/// Limits of the metrics server.
struct MetricsServerOptions {
  std::chrono::milliseconds readTimeout{5000};
  std::size_t maxRequest = 8 * 1024;  ///< request line + headers
  std::size_t maxClients = 16;
};

/// A minimal HTTP/1.0-1.1 server: GET /metrics -> the page; anything else 404/405.
class MetricsServer {
 public:
  /// `provider` renders the page when asked (on the io_context thread).
  MetricsServer(boost::asio::io_context& io, HostPort listen, std::function<std::string()> provider,
                MetricsServerOptions options = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  /// Bind and listen; refuses any address that is not loopback.
  Status<> start();
  /// Stop accepting and close every client.
  void stop();
  /// The bound port (useful with port 0).
  int port() const { return port_; }

  struct Session;

 private:
  void accept();

  HostPort listen_;
  std::function<std::string()> provider_;
  MetricsServerOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::map<Session*, std::weak_ptr<Session>> sessions_;
  int port_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  ///< false once destroyed; pending handlers check it
};

}  // namespace dynmx::status
