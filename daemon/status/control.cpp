#include "dynmx/status/control.hpp"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <algorithm>
#include <exception>

#include "dynmx/status/json.hpp"

namespace dynmx::status {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using nlohmann::json;

namespace {

// Bigger than any sane report; protects the client from a runaway peer.
constexpr std::size_t kMaxReply = 16 * 1024 * 1024;

std::string dirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string shortened(std::string s) {
  if (s.size() > 64) s = s.substr(0, 64) + "...";
  return s;
}

}  // namespace

Result<ControlRequest> parseControlRequest(std::string_view line) {
  if (line.size() > kMaxControlRequest) return fail(std::string("request too large"));
  json v = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return fail(std::string("request is not valid JSON"));
  if (!v.is_object()) return fail(std::string("request must be a JSON object"));
  auto cmd = v.find("command");
  if (cmd == v.end() || !cmd->is_string()) return fail(std::string("request needs a \"command\" string"));
  ControlRequest req;
  req.command = cmd->get<std::string>();
  if (req.command.empty()) return fail(std::string("\"command\" is empty"));
  auto args = v.find("arguments");
  if (args != v.end() && !args->is_null()) {
    if (!args->is_object()) return fail(std::string("\"arguments\" must be an object"));
    req.arguments = *args;
  }
  return req;
}

std::string formatControlReply(const ControlReply& reply) {
  json out = {{"result", reply.result}, {"text", reply.text}};
  if (!reply.arguments.is_null()) out["arguments"] = reply.arguments;
  return dumpJson(out) + "\n";
}

Result<ControlReply> parseControlReply(std::string_view line) {
  json v = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !v.is_object()) return fail(std::string("reply is not a JSON object"));
  auto result = v.find("result");
  if (result == v.end() || !result->is_number_integer()) return fail(std::string("reply has no integer \"result\""));
  ControlReply reply;
  reply.result = result->get<int>();
  auto text = v.find("text");
  if (text != v.end() && text->is_string()) reply.text = text->get<std::string>();
  auto args = v.find("arguments");
  if (args != v.end()) reply.arguments = *args;
  return reply;
}

void CommandTable::add(const std::string& name, ControlHandler handler) { handlers_[name] = std::move(handler); }

void CommandTable::addAsync(const std::string& name, AsyncControlHandler handler) {
  asyncHandlers_[name] = std::move(handler);
}

std::vector<std::string> CommandTable::names() const {
  std::vector<std::string> out;
  for (const auto& [name, handler] : handlers_) out.push_back(name);
  for (const auto& [name, handler] : asyncHandlers_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

void CommandTable::dispatchAsync(const ControlRequest& request,
                                 std::function<void(ControlReply)> reply) const {
  auto it = asyncHandlers_.find(request.command);
  if (it == asyncHandlers_.end()) {
    reply(dispatch(request));
    return;
  }
  try {
    it->second(request, std::move(reply));
  } catch (const std::exception& e) {
    reply({static_cast<int>(ControlResult::Error), std::string("internal error: ") + e.what(), nullptr});
  }
}

ControlReply CommandTable::dispatch(const ControlRequest& request) const {
  auto it = handlers_.find(request.command);
  if (it == handlers_.end()) {
    if (request.command == "list-commands") {
      const auto all = names();
      return {0, std::to_string(all.size()) + " commands", all};
    }
    return {static_cast<int>(ControlResult::Unsupported), "unknown command \"" + shortened(request.command) + "\"", nullptr};
  }
  try {
    return it->second(request);
  } catch (const std::exception& e) {
    // A broken handler must not take the daemon down through its control socket.
    return {static_cast<int>(ControlResult::Error), std::string("internal error: ") + e.what(), nullptr};
  }
}

// One client connection: read a line, answer, repeat; idle too long and it is closed.
struct ControlServer::Session : std::enable_shared_from_this<ControlServer::Session> {
  Session(ControlServer& s, stream_protocol::socket sock, std::shared_ptr<bool> serverAlive)
      : server(&s), socket(std::move(sock)), timer(socket.get_executor()), alive(std::move(serverAlive)) {}

  void start() { readLine(); }

  void armTimer() {
    timer.expires_after(server->options_.readTimeout);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      // A wait that completed before a re-arm still runs: check the deadline itself.
      if (ec || self->timer.expiry() > asio::steady_timer::clock_type::now()) return;
      self->close();
    });
  }

  void readLine() {
    armTimer();
    asio::async_read_until(socket, asio::dynamic_buffer(buffer, kMaxControlRequest + 1), '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                             self->onRead(ec, n);
                           });
  }

  void onRead(const boost::system::error_code& ec, std::size_t n) {
    if (ec == asio::error::not_found) {
      reply({static_cast<int>(ControlResult::Error), "request too large", nullptr}, /*thenClose=*/true);
      return;
    }
    if (ec || !*alive) {
      close();
      return;
    }
    std::string line = buffer.substr(0, n - 1);
    buffer.erase(0, n);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      readLine();
      return;
    }
    auto req = parseControlRequest(line);
    if (!req) {
      reply({static_cast<int>(ControlResult::Error), req.error(), nullptr}, false);
      return;
    }
    // A command may answer later (a DDNS pass): no idle timeout while it works.
    timer.cancel();
    server->commands_.dispatchAsync(*req, [self = shared_from_this()](ControlReply r) {
      if (*self->alive && self->socket.is_open()) self->reply(r, false);
    });
  }

  void reply(const ControlReply& r, bool thenClose) {
    out = formatControlReply(r);
    asio::async_write(socket, asio::buffer(out),
                      [self = shared_from_this(), thenClose](const boost::system::error_code& ec, std::size_t) {
                        if (ec || thenClose || !*self->alive) {
                          self->close();
                          return;
                        }
                        self->readLine();
                      });
  }

  void close() {
    boost::system::error_code ignored;
    timer.cancel();
    socket.shutdown(stream_protocol::socket::shutdown_both, ignored);
    socket.close(ignored);
    if (*alive) server->sessions_.erase(this);
  }

  ControlServer* server;
  stream_protocol::socket socket;
  asio::steady_timer timer;
  std::shared_ptr<bool> alive;
  std::string buffer;
  std::string out;
};

ControlServer::ControlServer(asio::io_context& io, std::string path, CommandTable commands,
                             ControlServerOptions options)
    : io_(io), path_(std::move(path)), commands_(std::move(commands)), options_(options), acceptor_(io) {}

ControlServer::~ControlServer() {
  stop();
  *alive_ = false;
}

Status<> ControlServer::start() {
  if (path_.empty()) return fail(std::string("control socket: no path"));
  if (path_.size() >= sizeof(sockaddr_un{}.sun_path))
    return fail("control socket " + path_ + ": path too long for a unix socket");
  const std::string dir = dirOf(path_);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return fail("control socket directory " + dir + ": " + std::strerror(errno));
  if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
    return fail("control socket directory " + dir + " is world-writable without the sticky bit; refusing");
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("control socket " + path_ + " exists and is not a socket; refusing");
    stream_protocol::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(path_), ec);
    if (!ec) return fail("control socket " + path_ + ": another process answers on it (is dynmx already running?)");
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
      return fail("control socket " + path_ + ": cannot remove the stale socket: " + std::strerror(errno));
  }
  boost::system::error_code ec;
  stream_protocol::endpoint ep(path_);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (ec) return fail("control socket " + path_ + ": " + ec.message());
  bound_ = true;
  // bind() created the file with the umask; tighten before anyone can be accepted.
  if (::chmod(path_.c_str(), 0660) != 0) {
    std::string err = "control socket " + path_ + ": chmod: " + std::strerror(errno);
    stop();
    return fail(std::move(err));
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    stop();
    return fail("control socket " + path_ + ": " + ec.message());
  }
  accept();
  return Ok{};
}

void ControlServer::accept() {
  acceptor_.async_accept([this, alive = alive_](const boost::system::error_code& ec, stream_protocol::socket socket) {
    if (!*alive || ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      if (sessions_.size() >= options_.maxClients) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto session = std::make_shared<Session>(*this, std::move(socket), alive);
        sessions_[session.get()] = session;
        session->start();
      }
    }
    accept();
  });
}

void ControlServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [raw, weak] : sessions)
    if (auto s = weak.lock()) s->close();
  if (bound_) {
    ::unlink(path_.c_str());
    bound_ = false;
  }
}

Result<ControlReply> controlQuery(const std::string& path, const ControlRequest& request,
                                  std::chrono::milliseconds timeout) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) return fail(path + ": path too long for a unix socket");
  asio::io_context io;
  stream_protocol::socket socket(io);
  asio::steady_timer timer(io);
  std::string out = dumpJson(json{{"command", request.command}, {"arguments", request.arguments}}) + "\n";
  std::string in;
  std::string error;
  bool timedOut = false;
  std::optional<std::size_t> lineLength;

  timer.expires_after(timeout);
  timer.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    timedOut = true;
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  socket.async_connect(stream_protocol::endpoint(path), [&](const boost::system::error_code& ec) {
    if (ec) {
      error = ec.message();
      timer.cancel();
      return;
    }
    asio::async_write(socket, asio::buffer(out), [&](const boost::system::error_code& wec, std::size_t) {
      if (wec) {
        error = wec.message();
        timer.cancel();
        return;
      }
      asio::async_read_until(socket, asio::dynamic_buffer(in, kMaxReply), '\n',
                             [&](const boost::system::error_code& rec, std::size_t n) {
                               timer.cancel();
                               if (rec) {
                                 error = rec == asio::error::not_found ? "reply too large" : rec.message();
                                 return;
                               }
                               lineLength = n;
                             });
    });
  });
  io.run();
  if (timedOut) return fail(path + ": no answer within " + std::to_string(timeout.count()) + " ms");
  if (!lineLength) return fail(path + ": " + (error.empty() ? "no reply" : error));
  return parseControlReply(std::string_view(in).substr(0, *lineLength - 1));
}

}  // namespace dynmx::status
