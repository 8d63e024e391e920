#include "server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

namespace dynmx::dyndns2d {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;

namespace {

std::int64_t unixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Filler for mode=huge: written repeatedly instead of allocating the whole reply.
const std::string& hugeChunk() {
  static const std::string chunk(64 * 1024, 'x');
  return chunk;
}

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void close() = 0;
};

}  // namespace

/// Counters for /stats.
struct Stats {
  std::uint64_t requests = 0;  ///< update requests
  std::uint64_t httpRequests = 0;
  std::uint64_t connections = 0;
  std::uint64_t hostsUpdated = 0;
  std::uint64_t controlRequests = 0;
  std::uint64_t badRequests = 0;
  std::map<std::string, std::uint64_t> codes;
};

struct Server::State {
  State(asio::io_context& ioc, ServerOptions opts)
      : io(ioc), options(std::move(opts)), registry(options.accounts, options.maxHosts),
        faults(options.faults), acceptor(ioc), ssl(asio::ssl::context::tls_server) {}

  asio::io_context& io;
  ServerOptions options;
  Registry registry;
  FaultConfig faults;
  Stats stats;
  std::ofstream log;
  std::unique_ptr<NsUpdater> nsupdater;
  tcp::acceptor acceptor;
  asio::ssl::context ssl;
  bool tls = false;
  std::uint64_t nextConnId = 1;
  std::map<std::uint64_t, std::weak_ptr<ConnectionBase>> open;

  void writeLog(const Json& line) {
    if (!log.is_open()) return;
    log << line.dump() << '\n';
    log.flush();  // tests and benchmarks read it while we run
  }

  Json faultsJson() const {
    return Json{{"mode", modeName(faults.mode)}, {"code", faults.code},   {"once", faults.codeOnce},
                {"status", faults.httpStatus},   {"bytes", faults.hugeBytes}, {"drip_ms", faults.dripMs},
                {"delay_ms", faults.delayMs},    {"body", faults.garbage},      {"public_ip", faults.publicIp}};
  }

  Json statsJson() const {
    Json codes = Json::object();
    for (const auto& [k, v] : stats.codes) codes[k] = v;
    Json j{{"requests", stats.requests},
           {"http_requests", stats.httpRequests},
           {"connections", stats.connections},
           {"open_connections", open.size()},
           {"hosts_updated", stats.hostsUpdated},
           {"control_requests", stats.controlRequests},
           {"bad_requests", stats.badRequests},
           {"records", registry.records().size()},
           {"codes", codes},
           {"faults", faultsJson()}};
    if (nsupdater) {
      const auto& n = nsupdater->stats();
      j["nsupdate"] = Json{{"runs", n.runs}, {"failures", n.failures}, {"pending", n.pending},
                           {"last_error", n.lastError}};
    }
    return j;
  }

  Json recordsJson() const {
    Json j = Json::object();
    for (const auto& [host, r] : registry.records()) {
      j[host] = Json{{"ipv4", r.ipv4 ? Json(*r.ipv4) : Json(nullptr)},
                     {"ipv6", r.ipv6 ? Json(*r.ipv6) : Json(nullptr)},
                     {"offline", r.offline},
                     {"wildcard", r.wildcard},
                     {"mx", r.mxRecords(host)},
                     {"user", r.user},
                     {"updated_ms", r.updatedMs}};
    }
    return j;
  }

  void reset() {
    registry.clear();
    stats = Stats{};
    if (log.is_open()) {
      log.close();
      log.open(options.logPath, std::ios::out | std::ios::trunc);
    }
  }
};

namespace {

using StatePtr = std::shared_ptr<Server::State>;

std::string buildHead(int status, std::string_view contentType, std::size_t length, bool keepAlive,
                      std::string_view extra = {}) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reasonPhrase(status)) + "\r\n";
  head += "Server: dynmx-test-dyndns2d\r\n";
  head += "Content-Type: " + std::string(contentType) + "\r\n";
  head += "Content-Length: " + std::to_string(length) + "\r\n";
  head += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  head += extra;
  head += "\r\n";
  return head;
}

template <typename Stream>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  template <typename... Args>
  Connection(StatePtr state, std::uint64_t id, Args&&... args)
      : state_(std::move(state)), id_(id), stream_(std::forward<Args>(args)...),
        idleTimer_(state_->io), timer_(state_->io) {}

  ~Connection() override { state_->open.erase(id_); }

  void start() {
    boost::system::error_code ec;
    auto ep = stream_.lowest_layer().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().is_v6() && ep.address().to_v6().is_v4_mapped()
                         ? asio::ip::make_address_v4(asio::ip::v4_mapped, ep.address().to_v6()).to_string()
                         : ep.address().to_string();
    peerLoopback_ = !ec && ep.address().is_loopback();
    stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      waitForRequest();
    } else {
      armIdle();
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](const boost::system::error_code& e) {
                                if (e) return self->close();
                                self->waitForRequest();
                              });
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    idleTimer_.cancel();
    timer_.cancel();
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
  }

 private:
  // Between requests: parse what is buffered (pipelining) or read more.
  void waitForRequest() {
    if (closed_) return;
    auto parsed = parseRequest(in_, ParseLimits{});
    if (parsed.status == ParseStatus::Complete) {
      in_.erase(0, parsed.consumed);
      handle(std::move(parsed.request));
      return;
    }
    if (parsed.status == ParseStatus::Invalid) {
      ++state_->stats.badRequests;
      std::string body = "bad request: " + parsed.error + "\n";
      return respond(400, "text/plain; charset=utf-8", body, false);
    }
    armIdle();
    readSome([this] { waitForRequest(); });
  }

  template <typename Then>
  void readSome(Then then) {
    stream_.async_read_some(asio::buffer(buf_),
                            [self = this->shared_from_this(), then](const boost::system::error_code& ec,
                                                                    std::size_t n) {
                              if (ec) return self->close();
                              self->in_.append(self->buf_.data(), n);
                              then();
                            });
  }

  void armIdle() {
    const auto gen = ++idleGen_;
    idleTimer_.expires_after(std::chrono::milliseconds(state_->options.idleTimeoutMs));
    idleTimer_.async_wait([weak = this->weak_from_this(), gen](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->idleGen_ != gen) return;
      self->close();
    });
  }

  void disarmIdle() { ++idleGen_; }

  void handle(HttpRequest req) {
    disarmIdle();
    ++state_->stats.httpRequests;
    keepAlive_ = req.keepAlive;
    const std::string& path = req.path;
    if (path == "/nic/update" || path == "/v3/update") {
      if (req.method != "GET") return respond(405, "text/plain", "method not allowed\n", keepAlive_, "Allow: GET\r\n");
      return handleUpdate(std::move(req));
    }
    if (path == "/control") {
      if (req.method != "GET" && req.method != "POST")
        return respond(405, "text/plain", "method not allowed\n", keepAlive_, "Allow: GET, POST\r\n");
      return handleControl(req);
    }
    if (path == "/ip") {
      // A web IP-check source: the "public address" the tests say we have.
      if (state_->faults.publicIp.empty()) return respond(404, "text/plain", "no address set\n", keepAlive_);
      return respond(200, "text/plain", state_->faults.publicIp + "\n", keepAlive_);
    }
    if (path == "/stats" || path == "/records" || path == "/health") {
      if (req.method != "GET") return respond(405, "text/plain", "method not allowed\n", keepAlive_, "Allow: GET\r\n");
      if (path == "/health") return respond(200, "text/plain", "ok\n", keepAlive_);
      Json j = path == "/stats" ? state_->statsJson() : state_->recordsJson();
      return respond(200, "application/json", j.dump() + "\n", keepAlive_);
    }
    respond(404, "text/plain", "not found\n", keepAlive_);
  }

  void handleControl(const HttpRequest& req) {
    ++state_->stats.controlRequests;
    if (!peerLoopback_) return respond(403, "application/json", R"({"result":1,"text":"loopback only"})" "\n", keepAlive_);
    auto params = parseQuery(req.query);
    if (params && req.method == "POST") {
      auto form = parseQuery(req.body);
      if (!form) params = fail(form.error());
      else params->insert(params->end(), form->begin(), form->end());
    }
    if (!params) {
      Json j{{"result", 1}, {"text", params.error()}};
      return respond(400, "application/json", j.dump() + "\n", keepAlive_);
    }
    bool reset = false;
    auto applied = applyControl(state_->faults, *params, reset);
    if (!applied) {
      Json j{{"result", 1}, {"text", applied.error()}, {"faults", state_->faultsJson()}};
      return respond(400, "application/json", j.dump() + "\n", keepAlive_);
    }
    if (reset) state_->reset();
    Json j{{"result", 0}, {"text", reset ? "reset" : "ok"}, {"faults", state_->faultsJson()}};
    respond(200, "application/json", j.dump() + "\n", keepAlive_);
  }

  void handleUpdate(HttpRequest req) {
    ++state_->stats.requests;
    FaultConfig faults = state_->faults;  // the mode at arrival applies to this request
    if (faults.delayMs > 0) {
      timer_.expires_after(std::chrono::milliseconds(faults.delayMs));
      timer_.async_wait([self = this->shared_from_this(), req = std::move(req), faults](
                            const boost::system::error_code& ec) mutable {
        if (ec || self->closed_) return;
        self->answerUpdate(req, faults);
      });
      // Not reading meanwhile: further bytes belong to the next (pipelined) request.
      return;
    }
    answerUpdate(req, faults);
  }

  void answerUpdate(const HttpRequest& req, const FaultConfig& faults) {
    auto params = parseQuery(req.query);
    if (!params) {
      ++state_->stats.badRequests;
      return respond(400, "text/plain", "bad request: " + params.error() + "\n", keepAlive_);
    }
    Json line{{"t", unixMs()}, {"conn", id_}, {"user", nullptr}, {"peer", peer_}};
    const std::string* ua = req.header("user-agent");
    line["ua"] = ua ? Json(*ua) : Json(nullptr);
    auto hostnames = Registry::splitHostnames(findParam(*params, "hostname").value_or(""));
    line["hostnames"] = hostnames;
    line["myip"] = findParam(*params, "myip").value_or("");
    if (auto v6 = findParam(*params, "myipv6")) line["myipv6"] = *v6;
    line["offline"] = findParam(*params, "offline").value_or("");
    if (auto mx = findParam(*params, "mx")) line["mx"] = *mx;
    if (auto backmx = findParam(*params, "backmx")) line["backmx"] = *backmx;
    if (auto auth = req.header("authorization")) {
      // Only the user name is logged: never the password.
      auto space = auth->find(' ');
      if (space != std::string::npos)
        if (auto d = decodeBase64(auth->substr(space + 1))) line["user"] = d->substr(0, d->find(':'));
    }

    using Mode = FaultConfig::Mode;
    switch (faults.mode) {
      case Mode::Close:
        logFault(line, "close", {});
        return close();
      case Mode::Hang:
        logFault(line, "hang", {});
        return hang();
      case Mode::Http: {
        logFault(line, "http", {"HTTP " + std::to_string(faults.httpStatus)});
        std::string body = "<html><body><h1>" + std::to_string(faults.httpStatus) + " " +
                           std::string(reasonPhrase(faults.httpStatus)) + "</h1></body></html>\n";
        return respond(faults.httpStatus, "text/html", body, keepAlive_);
      }
      case Mode::Garbage:
        logFault(line, "garbage", {faults.garbage});
        return respond(200, "text/html", faults.garbage, keepAlive_);
      case Mode::Huge:
        logFault(line, "huge", {"huge " + std::to_string(faults.hugeBytes)});
        return sendHuge(faults.hugeBytes);
      case Mode::Code: {
        std::vector<std::string> answer;
        if (faults.codeOnce || hostnames.empty()) answer.push_back(faults.code);
        else answer.assign(hostnames.size(), faults.code);
        for (const auto& a : answer) ++state_->stats.codes[std::string(answerCode(a))];
        logFault(line, "code", answer);
        return respond(200, "text/plain; charset=utf-8", joinLines(answer), keepAlive_);
      }
      case Mode::Normal:
      case Mode::Drip:
        break;
    }

    UpdateRequest ur;
    ur.authorization = req.header("authorization");
    ur.userAgent = ua;
    ur.params = std::move(*params);
    ur.peerAddress = peer_;
    ur.nowMs = unixMs();
    UpdateOutcome outcome = state_->registry.update(ur);
    for (const auto& a : outcome.answer) {
      auto code = std::string(answerCode(a));
      ++state_->stats.codes[code];
      if (code == "good") ++state_->stats.hostsUpdated;
    }
    line["answer"] = outcome.answer;
    if (faults.mode == Mode::Drip) line["fault"] = "drip";
    if (outcome.challenge) line["http"] = 401;
    state_->writeLog(line);

    const int status = outcome.challenge ? 401 : 200;
    const std::string extra = outcome.challenge ? "WWW-Authenticate: Basic realm=\"dyndns2d\"\r\n" : "";
    std::string body = joinLines(outcome.answer);
    auto send = [self = this->shared_from_this(), status, extra, body, drip = faults.mode == Mode::Drip,
                 dripMs = faults.dripMs] {
      if (self->closed_) return;
      if (drip) {
        self->out_ = buildHead(status, "text/plain; charset=utf-8", body.size(), self->keepAlive_, extra) + body;
        self->dripPos_ = 0;
        return self->dripStep(dripMs);
      }
      self->respond(status, "text/plain; charset=utf-8", body, self->keepAlive_, extra);
    };
    if (state_->nsupdater && !outcome.changes.empty()) {
      if (state_->options.nsupdateSync) {
        state_->nsupdater->push(std::move(outcome.changes), [send](bool) { send(); });
        return;
      }
      state_->nsupdater->push(std::move(outcome.changes), nullptr);
    }
    send();
  }

  static std::string joinLines(const std::vector<std::string>& lines) {
    std::string body;
    for (const auto& l : lines) body += l + "\n";
    return body;
  }

  void logFault(Json& line, const char* fault, const std::vector<std::string>& answer) {
    line["answer"] = answer;
    line["fault"] = fault;
    state_->writeLog(line);
  }

  // Never answer; keep draining so a client that gives up is noticed and freed.
  void hang() {
    in_.clear();
    readSome([this] { hang(); });
  }

  void respond(int status, std::string_view contentType, const std::string& body, bool keepAlive,
               std::string_view extra = {}) {
    keepAlive_ = keepAlive;
    out_ = buildHead(status, contentType, body.size(), keepAlive, extra) + body;
    asio::async_write(stream_, asio::buffer(out_),
                      [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return self->close();
                        self->afterResponse();
                      });
  }

  void afterResponse() {
    if (!keepAlive_) return close();
    waitForRequest();
  }

  void dripStep(int dripMs) {
    if (closed_) return;
    if (dripPos_ >= out_.size()) return afterResponse();
    asio::async_write(stream_, asio::buffer(out_.data() + dripPos_, 1),
                      [self = this->shared_from_this(), dripMs](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return self->close();
                        ++self->dripPos_;
                        if (self->dripPos_ >= self->out_.size()) return self->afterResponse();
                        self->timer_.expires_after(std::chrono::milliseconds(dripMs));
                        self->timer_.async_wait([self, dripMs](const boost::system::error_code& e) {
                          if (!e) self->dripStep(dripMs);
                        });
                      });
  }

  void sendHuge(std::size_t bytes) {
    hugeLeft_ = bytes;
    out_ = buildHead(200, "text/plain; charset=utf-8", bytes, keepAlive_);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        if (ec) return self->close();
                        self->hugeStep();
                      });
  }

  void hugeStep() {
    if (hugeLeft_ == 0) return afterResponse();
    std::size_t n = std::min(hugeLeft_, hugeChunk().size());
    asio::async_write(stream_, asio::buffer(hugeChunk().data(), n),
                      [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t written) {
                        if (ec) return self->close();
                        self->hugeLeft_ -= written;
                        self->hugeStep();
                      });
  }

  StatePtr state_;
  std::uint64_t id_;
  Stream stream_;
  asio::steady_timer idleTimer_;
  asio::steady_timer timer_;  ///< delay and drip
  std::uint64_t idleGen_ = 0;
  std::array<char, 8192> buf_{};
  std::string in_;
  std::string out_;
  std::size_t dripPos_ = 0;
  std::size_t hugeLeft_ = 0;
  std::string peer_;
  bool peerLoopback_ = false;
  bool keepAlive_ = true;
  bool closed_ = false;
};

void acceptLoop(const StatePtr& state) {
  state->acceptor.async_accept([state](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) return;
      return acceptLoop(state);  // e.g. EMFILE: keep serving the others
    }
    const std::uint64_t id = state->nextConnId++;
    ++state->stats.connections;
    if (state->tls) {
      auto c = std::make_shared<Connection<asio::ssl::stream<tcp::socket>>>(state, id, std::move(socket), state->ssl);
      state->open[id] = c;
      c->start();
    } else {
      auto c = std::make_shared<Connection<tcp::socket>>(state, id, std::move(socket));
      state->open[id] = c;
      c->start();
    }
    acceptLoop(state);
  });
}

}  // namespace

Server::Server(asio::io_context& io, ServerOptions options)
    : state_(std::make_shared<State>(io, std::move(options))) {}

Server::~Server() { stop(); }

Status<> Server::start() {
  auto& s = *state_;
  if (!s.options.logPath.empty()) {
    s.log.open(s.options.logPath, std::ios::out | std::ios::app);
    if (!s.log.is_open()) return fail("cannot open log " + s.options.logPath);
  }
  if (!s.options.tlsCert.empty() || !s.options.tlsKey.empty()) {
    boost::system::error_code ec;
    s.ssl.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1);
    s.ssl.use_certificate_chain_file(s.options.tlsCert, ec);
    if (ec) return fail("cannot load TLS certificate " + s.options.tlsCert + ": " + ec.message());
    s.ssl.use_private_key_file(s.options.tlsKey, asio::ssl::context::pem, ec);
    if (ec) return fail("cannot load TLS key " + s.options.tlsKey + ": " + ec.message());
    s.tls = true;
  }
  if (s.options.nsupdate) s.nsupdater = std::make_unique<NsUpdater>(s.io, *s.options.nsupdate);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(s.options.listen, ec);
  if (ec) return fail("bad listen address " + s.options.listen);
  tcp::endpoint ep(addr, s.options.port);
  s.acceptor.open(ep.protocol(), ec);
  if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(ep, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on " + s.options.listen + " port " + std::to_string(s.options.port) + ": " +
                      ec.message());
  acceptLoop(state_);
  return Ok{};
}

std::uint16_t Server::port() const {
  boost::system::error_code ec;
  auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Server::stop() {
  boost::system::error_code ec;
  state_->acceptor.close(ec);
  auto open = state_->open;  // close() may erase entries
  for (auto& [id, weak] : open)
    if (auto c = weak.lock()) c->close();
}

}  // namespace dynmx::dyndns2d
