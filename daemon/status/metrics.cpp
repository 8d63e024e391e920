#include "dynmx/status/metrics.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <sstream>

namespace dynmx::status {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

void family(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << '\n' << "# TYPE " << name << ' ' << type << '\n';
}

std::string label(const char* name, std::string_view value) {
  return std::string(name) + "=\"" + escapeLabelValue(value) + "\"";
}

}  // namespace

std::string renderMetrics(const Report& r, const Counters& c) {
  std::ostringstream out;
  family(out, "dynmx_mode", "gauge", "1 for the mail mode in force, 0 for the other.");
  for (const char* mode : {"direct", "multidrop"})
    out << "dynmx_mode{" << label("mode", mode) << "} " << (r.mode.current == mode ? 1 : 0) << '\n';
  family(out, "dynmx_health", "gauge", "Overall health: 0 ok, 1 warning, 2 critical, 3 unknown.");
  out << "dynmx_health " << static_cast<int>(r.health) << '\n';
  family(out, "dynmx_link_up", "gauge", "1 when the uplink is up.");
  out << "dynmx_link_up " << (r.link.up ? 1 : 0) << '\n';
  family(out, "dynmx_ddns_verified", "gauge", "1 when the host's record was verified at the authoritative servers.");
  for (const auto& h : r.ddns.hosts)
    out << "dynmx_ddns_verified{" << label("host", h.host) << "} " << (h.verified ? 1 : 0) << '\n';
  family(out, "dynmx_ddns_updates_total", "counter", "DDNS update requests by account and provider result.");
  for (const auto& [key, n] : c.ddnsUpdates)
    out << "dynmx_ddns_updates_total{" << label("account", key.first) << ',' << label("result", key.second) << "} "
        << n << '\n';
  family(out, "dynmx_fetchmail_running", "gauge", "1 when the supervised fetchmail is running.");
  out << "dynmx_fetchmail_running " << (r.fetchmail.running ? 1 : 0) << '\n';
  family(out, "dynmx_fetchmail_polls_total", "counter", "Completed fetchmail polls.");
  out << "dynmx_fetchmail_polls_total " << r.fetchmail.polls << '\n';
  family(out, "dynmx_fetchmail_errors_total", "counter", "fetchmail polls that ended in an error.");
  out << "dynmx_fetchmail_errors_total " << r.fetchmail.pollErrors << '\n';
  if (r.guard.enabled) {
    family(out, "dynmx_guard_listening", "gauge", "1 when the envelope guard's LMTP socket is open.");
    out << "dynmx_guard_listening " << (r.guard.listening ? 1 : 0) << '\n';
    family(out, "dynmx_guard_messages_24h", "gauge", "Messages through the envelope guard in the last 24 hours, by outcome.");
    const std::pair<const char*, long> outcomes[] = {{"fetched", r.guard.fetched},       {"delivered", r.guard.delivered},
                                                     {"postmaster", r.guard.postmaster}, {"duplicate", r.guard.duplicates},
                                                     {"deferred", r.guard.deferred},     {"discarded", r.guard.discarded}};
    for (const auto& [name, n] : outcomes) out << "dynmx_guard_messages_24h{" << label("outcome", name) << "} " << n << '\n';
    family(out, "dynmx_guard_postmaster_24h", "gauge", "Messages the guard sent to the postmaster in the last 24 hours, by reason.");
    for (const auto& [code, n] : r.guard.postmasterReasons)
      out << "dynmx_guard_postmaster_24h{" << label("reason", code) << "} " << n << '\n';
  }
  family(out, "dynmx_switches_total", "counter", "Mail mode switches by target mode.");
  for (const char* mode : {"direct", "multidrop"}) {
    auto it = c.switches.find(mode);
    out << "dynmx_switches_total{" << label("to", mode) << "} " << (it == c.switches.end() ? 0 : it->second) << '\n';
  }
  family(out, "dynmx_hook_failures_total", "counter", "Admin hooks that failed or timed out.");
  out << "dynmx_hook_failures_total " << c.hookFailures << '\n';
  return out.str();
}

// One HTTP connection: read the request head, answer once, close.
struct MetricsServer::Session : std::enable_shared_from_this<MetricsServer::Session> {
  Session(MetricsServer& s, tcp::socket sock, std::shared_ptr<bool> serverAlive)
      : server(&s), socket(std::move(sock)), timer(socket.get_executor()), alive(std::move(serverAlive)) {}

  void start() {
    timer.expires_after(server->options_.readTimeout);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
    asio::async_read_until(socket, asio::dynamic_buffer(buffer, server->options_.maxRequest), "\r\n\r\n",
                           [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                             self->onRead(ec, n);
                           });
  }

  void onRead(const boost::system::error_code& ec, std::size_t n) {
    if (ec == asio::error::not_found) {
      respond("431 Request Header Fields Too Large", "request too large\n", false);
      return;
    }
    if (ec || !*alive) {
      close();
      return;
    }
    const std::string head = buffer.substr(0, n);
    const std::string requestLine = head.substr(0, head.find("\r\n"));
    std::istringstream in(requestLine);
    std::string method, target, version, extra;
    in >> method >> target >> version;
    if (method.empty() || target.empty() || version.rfind("HTTP/1.", 0) != 0 || (in >> extra)) {
      respond("400 Bad Request", "bad request\n", false);
      return;
    }
    if (method != "GET" && method != "HEAD") {
      respond("405 Method Not Allowed", "only GET\n", false);
      return;
    }
    const std::string path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
      respond("404 Not Found", "not found; try /metrics\n", method == "HEAD");
      return;
    }
    std::string body;
    try {
      body = server->provider_();
    } catch (const std::exception&) {
      respond("500 Internal Server Error", std::string("metrics unavailable\n"), method == "HEAD");
      return;
    }
    respond("200 OK", body, method == "HEAD", "text/plain; version=0.0.4; charset=utf-8");
  }

  void respond(const std::string& status, const std::string& body, bool headOnly,
               const char* type = "text/plain; charset=utf-8") {
    out = "HTTP/1.1 " + status + "\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nConnection: close\r\n\r\n";
    if (!headOnly) out += body;
    asio::async_write(socket, asio::buffer(out),
                      [self = shared_from_this()](const boost::system::error_code&, std::size_t) { self->close(); });
  }

  void close() {
    boost::system::error_code ignored;
    timer.cancel();
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    if (*alive) server->sessions_.erase(this);
  }

  MetricsServer* server;
  tcp::socket socket;
  asio::steady_timer timer;
  std::shared_ptr<bool> alive;
  std::string buffer;
  std::string out;
};

MetricsServer::MetricsServer(asio::io_context& io, HostPort listen, std::function<std::string()> provider,
                             MetricsServerOptions options)
    : listen_(std::move(listen)), provider_(std::move(provider)), options_(options), acceptor_(io) {}

MetricsServer::~MetricsServer() {
  stop();
  *alive_ = false;
}

Status<> MetricsServer::start() {
  const std::string where = listen_.host + ":" + std::to_string(listen_.port);
  std::string host = listen_.host;
  if (host == "localhost") host = "127.0.0.1";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return fail("metrics listen address " + where + ": not an IP address");
  if (!address.is_loopback())
    return fail("metrics listen address " + where + ": only loopback addresses (127.0.0.0/8, ::1) are allowed");
  if (listen_.port < 0 || listen_.port > 65535) return fail("metrics listen address " + where + ": bad port");
  tcp::endpoint ep(address, static_cast<unsigned short>(listen_.port));
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return fail("metrics listen address " + where + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  accept();
  return Ok{};
}

void MetricsServer::accept() {
  acceptor_.async_accept([this, alive = alive_](const boost::system::error_code& ec, tcp::socket socket) {
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

void MetricsServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [raw, weak] : sessions)
    if (auto s = weak.lock()) s->close();
}

}  // namespace dynmx::status
