#pragma once
// The loopback dyndns2 provider: a single-threaded Asio HTTP/1.1 server with keep-alive,
// runtime fault injection (/control), counters (/stats), a record dump (/records), a JSON
// request log and an optional push of every change to BIND through nsupdate.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nsupdate.hpp"
#include "protocol.hpp"
#include "dynmx/result.hpp"

namespace dynmx::dyndns2d {

/// Everything the server is started with.
struct ServerOptions {
  std::string listen = "127.0.0.1";
  std::uint16_t port = 0;  ///< 0: any free port
  std::vector<Account> accounts;
  std::size_t maxHosts = 20;
  std::string logPath;  ///< JSON lines, one per update request; empty: no log
  FaultConfig faults;   ///< initial fault injection
  std::optional<NsUpdateOptions> nsupdate;
  bool nsupdateSync = false;  ///< answer an update only after nsupdate finished
  std::string tlsCert;        ///< PEM; with tlsKey turns on TLS for every connection
  std::string tlsKey;
  int idleTimeoutMs = 60000;  ///< close a keep-alive connection idle this long
};

/// The server. Construct, start(), then run the io_context.
class Server {
 public:
  Server(boost::asio::io_context& io, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Bind, listen and begin accepting (and open the log).
  Status<> start();
  /// The bound port (after start()).
  [[nodiscard]] std::uint16_t port() const;
  /// Stop accepting and close every connection.
  void stop();

  struct State;  ///< shared with the connections, which may outlive this handle

 private:
  std::shared_ptr<State> state_;
};

}  // namespace dynmx::dyndns2d
