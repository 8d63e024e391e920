#pragma once
// The control socket: a unix stream socket (0660) speaking one JSON object per line,
// Kea style: {"command": "status", "arguments": {...}} -> {"result": 0, "text": "...",
// "arguments": {...}}. Commands are a table of named handlers the daemon registers.
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "dynmx/result.hpp"

namespace dynmx::status {

/// Largest request line accepted (bytes, without the newline).
inline constexpr std::size_t kMaxControlRequest = 64 * 1024;

/// Kea-style result codes.
enum class ControlResult { Success = 0, Error = 1, Unsupported = 2 };

/// One parsed request.
struct ControlRequest {
  std::string command;
  nlohmann::json arguments = nlohmann::json::object();
};

/// One reply.
struct ControlReply {
  int result = 0;
  std::string text;
  nlohmann::json arguments;  ///< null when there is nothing to return
};

/// Parse one request line; never throws, whatever the input.
Result<ControlRequest> parseControlRequest(std::string_view line);

/// Serialise a reply as one line (with the trailing newline).
std::string formatControlReply(const ControlReply& reply);

/// Parse a reply line (the client side).
Result<ControlReply> parseControlReply(std::string_view line);

/// A handler for one command; runs on the io_context thread.
using ControlHandler = std::function<ControlReply(const ControlRequest&)>;

/// A command whose reply comes later (e.g. after a DDNS pass); call `reply` once, on the
/// io_context thread.
using AsyncControlHandler =
    std::function<void(const ControlRequest&, std::function<void(ControlReply)> reply)>;

/// The table of named commands.
class CommandTable {
 public:
  /// Register (or replace) a command.
  void add(const std::string& name, ControlHandler handler);
  /// Register (or replace) a command that answers asynchronously.
  void addAsync(const std::string& name, AsyncControlHandler handler);
  /// Run the named command, synchronous or not; `reply` gets the answer exactly once.
  void dispatchAsync(const ControlRequest& request, std::function<void(ControlReply)> reply) const;
  /// Run the named command; unknown commands get result 2.
  ControlReply dispatch(const ControlRequest& request) const;
  /// Names, sorted (for "list-commands").
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ControlHandler> handlers_;
  std::map<std::string, AsyncControlHandler> asyncHandlers_;
};

/// Limits of the control server.
struct ControlServerOptions {
  std::chrono::milliseconds readTimeout{5000};  ///< idle time allowed per request line
  std::size_t maxClients = 64;                  ///< further connections are closed at once
};

/// The server: accepts many clients, one request per line, one reply line each.
class ControlServer {
 public:
  ControlServer(boost::asio::io_context& io, std::string path, CommandTable commands,
                ControlServerOptions options = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// Bind, chmod 0660, listen and start accepting. Refuses a world-writable directory
  /// without the sticky bit, and a socket file something still answers on; removes a
  /// stale one.
  Status<> start();
  /// Stop accepting, close every client and remove the socket file.
  void stop();
  /// The command table (to add commands after construction).
  CommandTable& commands() { return commands_; }

  struct Session;

 private:
  void accept();

  boost::asio::io_context& io_;
  std::string path_;
  CommandTable commands_;
  ControlServerOptions options_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::map<Session*, std::weak_ptr<Session>> sessions_;
  bool bound_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  ///< false once destroyed; pending handlers check it
};

/// Send one request to the socket at `path` and wait for the reply line (client side;
/// runs its own io_context). Errors: no socket, refused, timeout, bad reply.
Result<ControlReply> controlQuery(const std::string& path, const ControlRequest& request,
                                  std::chrono::milliseconds timeout);

}  // namespace dynmx::status
