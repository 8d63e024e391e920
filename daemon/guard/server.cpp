// The guard's edge: Asio unix-socket LMTP listener for fetchmail, one MTA transaction per
// message, the journal. Every decision comes from the pure core (guard.hpp); this file
// only moves bytes, keeps time-outs and writes the journal before answering fetchmail.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <spdlog/spdlog.h>
#include <variant>

#include "dynmx/file_lock.hpp"
#include "dynmx/guard_server.hpp"

namespace dynmx::guard {

namespace asio = boost::asio;
using boost::system::error_code;
using UnixSocket = asio::local::stream_protocol::socket;
using TcpSocket = asio::ip::tcp::socket;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string postmasterAddress(const GuardConfig& c) {
  if (c.users.postmaster.find('@') != std::string::npos) return c.users.postmaster;
  return c.users.postmaster + "@" + (c.users.domains.empty() ? std::string("localhost") : c.users.domains.front());
}

/// One reply to fetchmail from the outcome for its recipient.
Reply answerFor(Outcome o, Reason r, const std::string& detail) {
  switch (o) {
    case Outcome::Delivered: return {250, "2.0.0 delivered"};
    case Outcome::Postmaster: return {250, std::string("2.0.0 to the postmaster: ") + toString(r)};
    case Outcome::Duplicate: return {250, "2.0.0 delivered before; duplicate suppressed"};
    case Outcome::Discarded: return {250, "2.0.0 mail loop; discarded"};
    case Outcome::Deferred: return {451, "4.4.0 local delivery deferred: " + detail};
  }
  return {451, "4.3.0 internal error"};
}

}  // namespace

std::string guardSocketPath(const Policy& policy) {
  return policy.guard.socket.empty() ? policy.daemon.stateDir + "/guard.sock" : policy.guard.socket;
}

GuardConfig configFromPolicy(const Policy& policy) {
  GuardConfig c;
  c.socketPath = guardSocketPath(policy);
  c.mtaLmtp = policy.delivery.method == DeliveryMethod::Lmtp;
  c.mtaHost = policy.delivery.target.host;
  c.mtaPort = policy.delivery.target.port;
  c.rule.header = policy.envelope.header;
  c.rule.skip = policy.envelope.skip;
  c.rule.receivedAbove = policy.guard.receivedAbove;
  c.users.domains = policy.mail.domains;
  for (const auto& [remote, local] : policy.users.map) c.users.names[lower(remote)] = local;
  c.users.wildcard = policy.users.wildcard;
  c.users.postmaster = policy.users.postmaster;
  c.loop.maxReceived = policy.guard.maxReceived;
  c.limits.maxMessageBytes = static_cast<std::size_t>(policy.guard.maxMessageSize);
  c.journalPath = policy.guard.journal.empty() ? policy.daemon.stateDir + "/guard.journal" : policy.guard.journal;
  c.retention = policy.guard.retention;
  c.syncEachMessage = policy.guard.journalSync == "message";
  return c;
}

// ---------------------------------------------------------------------------------------

struct GuardServer::Impl : std::enable_shared_from_this<GuardServer::Impl> {
  Impl(asio::io_context& io, GuardConfig c, std::function<TimePoint()> n, FileSink* f)
      : io_(io), config(std::move(c)), now(std::move(n)), files(f), acceptor(io), syncTimer(io) {}

  asio::io_context& io_;
  GuardConfig config;
  std::function<TimePoint()> now;
  FileSink* files = nullptr;  ///< the journal's fdatasync off the loop; null: inline
  asio::local::stream_protocol::acceptor acceptor;
  asio::steady_timer syncTimer;
  bool syncPending = false;
  std::optional<FileLock> journalLock;  ///< held while running: one guard per journal
  std::unique_ptr<Journal> journal;
  std::function<void()> onMessage;
  std::string lastError;
  std::uint64_t nextAttempt = 0;
  bool stopped = false;
  std::map<void*, std::weak_ptr<UnixSocket>> sessions;

  void accept();

  /// fdatasync what the journal holds so far (off the loop when `files` is set), then
  /// `then(result)` on the loop. A failure is recorded and logged here.
  void syncJournal(std::function<void(Status<>)> then) {
    auto pending = journal ? journal->pendingSync() : std::nullopt;
    if (!pending) {
      Status<> s = journal ? journal->sync() : Status<>(Ok{});  // nothing pending, or no dup: inline
      recordSync(s);
      then(s);
      return;
    }
    const auto upTo = pending->upTo;
    auto self = shared_from_this();
    auto back = [self, upTo, then = std::move(then)](Status<> s) {
      if (s.ok() && self->journal) self->journal->synced(upTo);
      self->recordSync(s);
      then(s);
    };
    if (files == nullptr) {
      back(Journal::runSync(*pending));
      return;
    }
    files->run([p = std::move(*pending)] { return Journal::runSync(p); }, std::move(back));
  }

  void recordSync(const Status<>& s) {
    if (s.ok()) return;
    lastError = s.error();
    spdlog::error("guard: {}", s.error());
  }

  /// Group commit: one fdatasync per second at most while messages flow.
  void scheduleSync() {
    if (syncPending || stopped) return;
    syncPending = true;
    auto self = shared_from_this();
    syncTimer.expires_after(std::chrono::seconds(1));
    syncTimer.async_wait([self](const error_code&) {
      self->syncPending = false;
      if (!self->journal) return;
      self->syncJournal([](const Status<>&) {});
    });
  }
};

// ---------------------------------------------------------------------------------------
// One MTA transaction: connect, drive MtaClient, report per-recipient answers.

class MtaAttempt : public std::enable_shared_from_this<MtaAttempt> {
 public:
  using Done = std::function<void(std::vector<Reply>)>;

  MtaAttempt(asio::io_context& io, const GuardConfig& c, std::string sender, std::vector<std::string> rcpts,
             std::string message, Done done)
      : io_(io),
        config_(c),
        client_(c.mtaLmtp, c.hostname, std::move(sender), std::move(rcpts)),
        message_(std::move(message)),
        done_(std::move(done)),
        timer_(io) {}

  void start() {
    auto self = shared_from_this();
    arm();
    if (!config_.mtaHost.empty() && config_.mtaHost.front() == '/') {
      auto s = std::make_shared<UnixSocket>(io_);
      socket_ = s;
      s->async_connect(asio::local::stream_protocol::endpoint(config_.mtaHost),
                       [self](const error_code& ec) { self->connected(ec); });
      return;
    }
    auto s = std::make_shared<TcpSocket>(io_);
    socket_ = s;
    error_code ec;
    auto addr = asio::ip::make_address(config_.mtaHost == "localhost" ? "127.0.0.1" : config_.mtaHost, ec);
    if (ec) {
      finish("the local MTA host must be an IP address, localhost or a socket path");
      return;
    }
    s->async_connect(asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(config_.mtaPort)),
                     [self](const error_code& e) { self->connected(e); });
  }

 private:
  template <typename F>
  void withSocket(F&& f) {
    std::visit([&](auto& s) { f(*s); }, socket_);
  }

  void arm() {
    auto self = shared_from_this();
    timer_.expires_after(config_.mtaTimeout);
    timer_.async_wait([self](const error_code& ec) {
      if (ec) return;
      self->timedOut_ = true;
      self->withSocket([](auto& s) {
        error_code ignored;
        s.close(ignored);
      });
    });
  }

  void connected(const error_code& ec) {
    if (ec) {
      finish(timedOut_ ? "the local MTA did not answer in time" : "the local MTA is unreachable: " + ec.message());
      return;
    }
    read();
  }

  void read() {
    auto self = shared_from_this();
    arm();
    withSocket([&](auto& s) {
      s.async_read_some(asio::buffer(buf_), [self](const error_code& ec, std::size_t n) {
        if (ec) {
          self->finish(self->timedOut_ ? "the local MTA did not answer in time" : "connection to the local MTA lost");
          return;
        }
        self->step(self->client_.feed(std::string_view(self->buf_.data(), n)));
      });
    });
  }

  void step(MtaClient::Step s) {
    auto self = shared_from_this();
    switch (s.kind) {
      case MtaClient::Step::Kind::Wait: read(); return;
      case MtaClient::Step::Kind::Done: finish(""); return;
      case MtaClient::Step::Kind::Send: {
        auto text = std::make_shared<std::string>(std::move(s.text));
        if (client_.answersFinal()) {
          // Our QUIT: every recipient has the MTA's last word. fetchmail gets its answers
          // now, not after the MTA's goodbye; the QUIT is written, then the connection closed.
          report("");
          arm();
          withSocket([&](auto& sock) {
            asio::async_write(sock, asio::buffer(*text),
                              [self, text](const error_code&, std::size_t) { self->close(); });
          });
          return;
        }
        arm();
        withSocket([&](auto& sock) {
          asio::async_write(sock, asio::buffer(*text), [self, text](const error_code& ec, std::size_t) {
            if (ec) {
              self->finish("connection to the local MTA lost");
              return;
            }
            self->read();
          });
        });
        return;
      }
      case MtaClient::Step::Kind::SendMessage: {
        auto text = std::make_shared<std::string>(dotStuff(message_));
        message_.clear();
        // Large messages take longer than one idle period: allow a minute per 8 MiB more.
        timer_.expires_after(config_.mtaTimeout + std::chrono::minutes(text->size() >> 23));
        auto me = self;
        timer_.async_wait([me](const error_code& ec) {
          if (ec) return;
          me->timedOut_ = true;
          me->withSocket([](auto& sk) {
            error_code ignored;
            sk.close(ignored);
          });
        });
        withSocket([&](auto& sock) {
          asio::async_write(sock, asio::buffer(*text), [self, text](const error_code& ec, std::size_t) {
            if (ec) {
              self->finish("connection to the local MTA lost while sending the message");
              return;
            }
            self->step(self->client_.messageSent());
          });
        });
        return;
      }
    }
  }

  void finish(const std::string& error) {
    close();
    report(error);
  }

  void close() {
    timer_.cancel();
    withSocket([](auto& s) {
      error_code ignored;
      s.close(ignored);
    });
  }

  /// The per-recipient answers, once.
  void report(const std::string& error) {
    if (finished_) return;
    finished_ = true;
    std::vector<Reply> results = client_.results();
    if (!error.empty()) {
      // Answers the MTA already gave stand; the rest are temporary: the message stays at the ISP.
      for (std::size_t i = 0; i < results.size(); ++i)
        if (results[i].code == 451 && results[i].text.rfind("4.4.2 no answer", 0) == 0)
          results[i] = Reply{451, "4.4.1 " + error};
    }
    auto done = std::move(done_);
    done(std::move(results));
  }

  asio::io_context& io_;
  const GuardConfig& config_;
  MtaClient client_;
  std::string message_;
  Done done_;
  asio::steady_timer timer_;
  std::variant<std::shared_ptr<UnixSocket>, std::shared_ptr<TcpSocket>> socket_;
  std::array<char, 8192> buf_{};
  bool timedOut_ = false;
  bool finished_ = false;
};

// ---------------------------------------------------------------------------------------
// One fetched message: decide, dedupe, forward, maybe re-route to the postmaster, journal,
// then answer fetchmail per recipient.

class MessageJob : public std::enable_shared_from_this<MessageJob> {
 public:
  using Done = std::function<void(std::vector<Reply>)>;

  MessageJob(std::shared_ptr<GuardServer::Impl> core, std::string sender, std::vector<std::string> rcpts,
             std::string message, Done done)
      : core_(std::move(core)),
        sender_(std::move(sender)),
        rcpts_(std::move(rcpts)),
        message_(std::move(message)),
        done_(std::move(done)) {}

  void start() {
    const GuardConfig& c = core_->config;
    facts_ = inspect(message_, c.rule, c.markerId);
    plan_ = decide(facts_, rcpts_, c.users, c.loop);
    key_ = messageKey(message_, facts_);
    attempt_ = core_->nextAttempt++;
    envelope_ = plan_.envelope;

    if (plan_.kind == Plan::Kind::Discard) {
      spdlog::warn("guard: message {} discarded: {} ({})", key_, describe(plan_.reason), plan_.detail);
      finishAll(Outcome::Discarded, plan_.reason, "");
      return;
    }
    // Who still needs it: the journal knows who got it before.
    std::vector<std::string> fresh;
    for (const auto& u : plan_.users)
      if (!core_->journal->delivered(key_, envelope_, u)) fresh.push_back(u);
    if (fresh.empty()) {
      spdlog::info("guard: message {} for {} delivered before; duplicate suppressed", key_, plan_.users.front());
      finishAll(Outcome::Duplicate, Reason::Duplicate, "");
      return;
    }
    std::vector<std::string> addresses;
    for (const auto& u : fresh) addresses.push_back(addressFor(u));
    std::optional<std::string> reasonHeader;
    if (plan_.kind == Plan::Kind::Postmaster)
      reasonHeader = std::string(toString(plan_.reason)) + ": " + describe(plan_.reason) +
                     (plan_.detail.empty() ? "" : " (" + plan_.detail + ")");
    auto self = shared_from_this();
    std::string out = outgoingMessage(message_, facts_, c.markerId, reasonHeader);
    auto attempt = std::make_shared<MtaAttempt>(
        core_->io_, c, sender_, addresses, std::move(out),
        [self, fresh](std::vector<Reply> results) { self->forwarded(fresh, std::move(results)); });
    attempt->start();
  }

 private:
  /// The RCPT address for a local user: fetchmail's own when it named that user.
  std::string addressFor(const std::string& user) const {
    const GuardConfig& c = core_->config;
    if (lower(user) == lower(c.users.postmaster)) return postmasterAddress(c);
    for (const auto& r : rcpts_)
      if (auto u = rcptUser(r, c.users); u && *u == lower(user)) return r;
    return user + "@" + (c.users.domains.empty() ? std::string("localhost") : c.users.domains.front());
  }

  void forwarded(const std::vector<std::string>& users, std::vector<Reply> results) {
    const GuardConfig& c = core_->config;
    std::vector<std::string> refused;  // mapped users the MTA refused for good
    for (std::size_t i = 0; i < users.size(); ++i) {
      const Reply& r = results[i];
      const std::string& u = users[i];
      if (r.positive()) {
        outcomes_[u] = {plan_.kind == Plan::Kind::Deliver && plan_.reason == Reason::Matched ? Outcome::Delivered
                                                                                             : Outcome::Postmaster,
                        plan_.reason, ""};
      } else if (r.permanent() && lower(u) != lower(c.users.postmaster)) {
        refused.push_back(u);
        refusal_ += (refusal_.empty() ? "" : "; ") + u + ": " + std::to_string(r.code) + " " + r.text;
      } else {
        outcomes_[u] = {Outcome::Deferred, Reason::Deferred, std::to_string(r.code) + " " + r.text};
        if (r.permanent())
          spdlog::error("guard: the local MTA refused the postmaster ({} {}): message {} stays at the ISP", r.code,
                        r.text, key_);
      }
    }
    if (refused.empty()) {
      finish();
      return;
    }
    // A mapped user the MTA refuses for good: the postmaster gets it, with the reason.
    spdlog::warn("guard: the local MTA refused {} for message {}; sending it to the postmaster", refused.size(), key_);
    auto self = shared_from_this();
    std::string reason = std::string(toString(Reason::MtaRefused)) + ": " + describe(Reason::MtaRefused) + " (" +
                         refusal_ + ")";
    std::string out = outgoingMessage(message_, facts_, c.markerId, reason);
    auto attempt = std::make_shared<MtaAttempt>(core_->io_, c, sender_, std::vector<std::string>{postmasterAddress(c)},
                                                std::move(out), [self, refused](std::vector<Reply> r) {
                                                  for (const auto& u : refused) {
                                                    if (r[0].positive())
                                                      self->outcomes_[u] = {Outcome::Postmaster, Reason::MtaRefused, ""};
                                                    else
                                                      self->outcomes_[u] = {Outcome::Deferred, Reason::Deferred,
                                                                            std::to_string(r[0].code) + " " + r[0].text};
                                                  }
                                                  self->finish();
                                                });
    attempt->start();
  }

  void finishAll(Outcome o, Reason r, const std::string& detail) {
    for (const auto& u : plan_.users) outcomes_[u] = {o, r, detail};
    if (plan_.users.empty()) outcomes_[""] = {o, r, detail};
    finish();
  }

  /// Journal first (durable), then answer fetchmail.
  void finish() {
    const GuardConfig& c = core_->config;
    std::vector<JournalRecord> recs;
    for (const auto& [user, o] : outcomes_) {
      JournalRecord rec;
      rec.at = core_->now();
      rec.key = key_;
      rec.envelope = envelope_;
      rec.user = user;
      rec.outcome = o.outcome;
      rec.reason = o.reason;
      rec.message = attempt_;
      recs.push_back(rec);
      spdlog::info("guard: message {} -> {}: {} ({})", key_, user.empty() ? "-" : user, toString(o.outcome),
                   toString(rec.reason));
      spdlog::debug("guard: message {} envelope {}", key_, envelope_.empty() ? "(none)" : envelope_);
    }
    if (auto s = core_->journal->append(recs, false); !s.ok()) {
      core_->lastError = s.error();
      spdlog::error("guard: {}", s.error());
      answer(false);
    } else if (c.syncEachMessage) {
      // journal_sync = "message": fetchmail hears 250 only once the line is on disk.
      auto self = shared_from_this();
      core_->syncJournal([self](const Status<>& synced) { self->answer(synced.ok()); });
    } else {
      core_->scheduleSync();
      answer(true);
    }
  }

  /// The replies to fetchmail, once the journal has the outcomes (`durable`: on disk).
  void answer(bool durable) {
    const GuardConfig& c = core_->config;
    std::vector<Reply> replies;
    for (const auto& r : rcpts_) {
      std::string user;
      if (plan_.kind == Plan::Kind::Deliver) {
        auto u = rcptUser(r, c.users);
        user = u ? *u : "";
        // Deliver plans hold the expected user (same spelling as rcptUser up to case).
        for (const auto& pu : plan_.users)
          if (lower(pu) == user) user = pu;
      } else if (plan_.kind == Plan::Kind::Postmaster) {
        user = c.users.postmaster;
      } else {
        user = plan_.users.empty() ? "" : plan_.users.front();
      }
      auto it = outcomes_.find(user);
      if (it == outcomes_.end()) it = outcomes_.begin();
      Reply rep = answerFor(it->second.outcome, it->second.reason, it->second.detail);
      // Without a durable journal a 250 could deliver twice after a crash; but the message
      // did reach the MTA, so a 4xx would deliver it twice for sure. Keep the 250.
      (void)durable;
      replies.push_back(rep);
    }
    if (core_->onMessage) core_->onMessage();
    auto done = std::move(done_);
    done(std::move(replies));
  }

  struct UserOutcome {
    Outcome outcome = Outcome::Deferred;
    Reason reason = Reason::Deferred;
    std::string detail;
  };

  std::shared_ptr<GuardServer::Impl> core_;
  std::string sender_;
  std::vector<std::string> rcpts_;
  std::string message_;
  Done done_;
  MessageFacts facts_;
  Plan plan_;
  std::string key_;
  std::string envelope_;
  std::uint64_t attempt_ = 0;
  std::map<std::string, UserOutcome> outcomes_;
  std::string refusal_;
};

// ---------------------------------------------------------------------------------------
// One fetchmail connection.

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<GuardServer::Impl> core, UnixSocket socket)
      : core_(std::move(core)),
        socket_(std::make_shared<UnixSocket>(std::move(socket))),
        timer_(core_->io_),
        machine_(core_->config.limits, core_->config.hostname) {}

  void start() {
    core_->sessions[this] = socket_;
    write(machine_.greeting(), false);
  }

  ~Session() {
    if (core_) core_->sessions.erase(this);
  }

 private:
  void arm() {
    auto self = shared_from_this();
    timer_.expires_after(core_->config.idleTimeout);
    timer_.async_wait([self](const error_code& ec) {
      if (ec) return;
      error_code ignored;
      self->socket_->close(ignored);
    });
  }

  void read() {
    auto self = shared_from_this();
    arm();
    socket_->async_read_some(asio::buffer(buf_), [self](const error_code& ec, std::size_t n) {
      if (ec) {
        self->timer_.cancel();
        return;  // fetchmail went away: anything unanswered stays at the ISP
      }
      self->machine_.append(std::string_view(self->buf_.data(), n));
      self->pump();
    });
  }

  void pump() {
    auto ev = machine_.poll();
    switch (ev.kind) {
      case LmtpServerSession::Event::Kind::NeedMore: read(); return;
      case LmtpServerSession::Event::Kind::Reply: write(std::move(ev.text), false); return;
      case LmtpServerSession::Event::Kind::Close: write(std::move(ev.text), true); return;
      case LmtpServerSession::Event::Kind::Message: {
        timer_.cancel();
        auto self = shared_from_this();
        auto job = std::make_shared<MessageJob>(core_, machine_.sender(), machine_.recipients(), machine_.takeMessage(),
                                                [self](std::vector<Reply> replies) {
                                                  if (self->core_->stopped) return;
                                                  self->write(self->machine_.messageHandled(replies), false);
                                                });
        job->start();
        return;
      }
    }
  }

  void write(std::string text, bool closeAfter) {
    auto self = shared_from_this();
    auto data = std::make_shared<std::string>(std::move(text));
    arm();
    asio::async_write(*socket_, asio::buffer(*data), [self, data, closeAfter](const error_code& ec, std::size_t) {
      if (ec || closeAfter) {
        self->timer_.cancel();
        error_code ignored;
        self->socket_->close(ignored);
        return;
      }
      self->pump();
    });
  }

  std::shared_ptr<GuardServer::Impl> core_;
  std::shared_ptr<UnixSocket> socket_;
  asio::steady_timer timer_;
  LmtpServerSession machine_;
  std::array<char, 65536> buf_{};
};

void GuardServer::Impl::accept() {
  auto self = shared_from_this();
  acceptor.async_accept([self](const error_code& ec, UnixSocket socket) {
    if (self->stopped) return;
    if (!ec) std::make_shared<Session>(self, std::move(socket))->start();
    else spdlog::warn("guard: accept: {}", ec.message());
    self->accept();
  });
}

// ---------------------------------------------------------------------------------------

GuardServer::GuardServer(asio::io_context& io, GuardConfig config, std::function<TimePoint()> now, FileSink* files)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(now), files)) {}

GuardServer::~GuardServer() { stop(); }

namespace {

/// True when a process accepts connections on the unix socket at `path` right now. A socket
/// file nobody listens on (left by a killed guard) refuses the connection.
bool someoneListensOn(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // Non-blocking: a listener whose backlog is full answers EAGAIN, and is still a listener.
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const bool listening = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  ::close(fd);
  return listening;
}

}  // namespace

Status<> GuardServer::start() {
  Impl& m = *impl_;
  if (m.config.markerId.empty()) return fail(std::string("guard: no hop marker id"));
  // One guard per journal. A second one (`dynmx guard` beside `dynmx run`, or run twice)
  // would remember other deliveries than the first, so a message fetched again after a crash
  // could reach its user twice; and taking over the socket would cut the first one off.
  const std::string lockPath = m.config.journalPath + ".lock";
  auto lock = FileLock::tryAcquire(lockPath);
  if (!lock.ok()) {
    if (FileLock::heldElsewhere(lockPath))
      return fail("guard journal " + m.config.journalPath +
                  " is in use by another guard (is `dynmx run` or `dynmx guard` already running?)");
    return fail("guard journal: " + lock.error());
  }
  auto j = Journal::open(m.config.journalPath, m.config.retention, m.now());
  if (!j.ok()) return fail("guard journal: " + j.error());
  m.journal = std::move(*j);
  if (m.journal->skippedAtOpen() > 0)
    spdlog::warn("guard: skipped {} unreadable journal line(s) in {} (a write cut short by a crash)",
                 m.journal->skippedAtOpen(), m.config.journalPath);

  const std::string& path = m.config.socketPath;
  std::error_code fsError;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), fsError);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("guard socket " + path + " exists and is not a socket");
    // A socket another process serves (a guard with another journal, or anything else) is
    // not ours to take; one nobody serves was left by an earlier run.
    if (someoneListensOn(path)) return fail("guard socket " + path + " is served by another process");
    ::unlink(path.c_str());
  }
  error_code ec;
  m.acceptor.open(asio::local::stream_protocol(), ec);
  if (!ec) m.acceptor.bind(asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) m.acceptor.listen(16, ec);
  if (ec) return fail("guard socket " + path + ": " + ec.message());
  if (m.config.socketGroup && ::chown(path.c_str(), static_cast<uid_t>(-1), *m.config.socketGroup) != 0)
    return fail("guard socket " + path + ": chown: " + std::strerror(errno));
  if (::chmod(path.c_str(), 0660) != 0) return fail("guard socket " + path + ": chmod: " + std::strerror(errno));
  // Attempt ids group a message's journal lines; random so they never repeat across restarts.
  std::random_device rd;
  m.nextAttempt = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  m.journalLock.emplace(std::move(*lock));
  m.stopped = false;
  m.accept();
  spdlog::info("guard: listening on {} (LMTP), forwarding to {} ({})", path,
               m.config.mtaHost.front() == '/' ? m.config.mtaHost : m.config.mtaHost + ":" + std::to_string(m.config.mtaPort),
               m.config.mtaLmtp ? "LMTP" : "SMTP");
  return Ok{};
}

void GuardServer::stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  m.syncTimer.cancel();
  if (m.journal) (void)m.journal->sync();
  error_code ignored;
  if (m.acceptor.is_open()) {
    m.acceptor.close(ignored);
    ::unlink(m.config.socketPath.c_str());
  }
  for (auto& [key, weak] : m.sessions)
    if (auto s = weak.lock()) s->close(ignored);
  m.journalLock.reset();
}

GuardSnapshot GuardServer::snapshot() const {
  const Impl& m = *impl_;
  GuardSnapshot s;
  s.listening = m.acceptor.is_open() && !m.stopped;
  s.socketPath = m.config.socketPath;
  if (m.journal) s.last24h = summarize(m.journal->records(), m.now(), std::chrono::hours(24));
  s.summary = summaryText(s.last24h);
  s.warning = noEnvelopeWarning(s.last24h);
  s.lastError = m.lastError;
  return s;
}

void GuardServer::onMessage(std::function<void()> callback) { impl_->onMessage = std::move(callback); }

}  // namespace dynmx::guard
