// The edge of RFC 2136: one UPDATE transaction on the Asio loop, shaped like Kea's
// NameChangeTransaction: select a server (configured, or the zone's primary from its SOA
// MNAME), send over UDP (TCP when the message is too large or the answer truncated),
// classify the answer, then the next server or done. ldns builds and parses every message.
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "dynmx/dnsupdate.hpp"
#include "dynmx/ldns_cxx.hpp"

namespace dynmx::dnsupdate {
namespace {

namespace asio = boost::asio;
using Bytes = std::vector<std::uint8_t>;

/// Plain DNS over UDP carries at most 512 bytes without EDNS (RFC 1035 §4.2.1); we send none.
constexpr std::size_t kMaxUdp = 512;

std::string endpointText(const std::string& host, int port) {
  return host.find(':') != std::string::npos ? "[" + host + "]:" + std::to_string(port)
                                             : host + ":" + std::to_string(port);
}

/// One request/answer exchange with one server over UDP or TCP, bounded by a timer.
/// `done(error, answer)`: error is "" (answer holds the bytes), "timeout",
/// "connection-refused" or "network: ...".
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  using Handler = std::function<void(std::string, Bytes)>;

  Exchange(asio::io_context& io, asio::ip::address address, int port, Bytes wire, bool tcp,
           std::chrono::milliseconds timeout, Handler done)
      : udp_(io),
        tcp_(io),
        timer_(io),
        address_(std::move(address)),
        port_(static_cast<unsigned short>(port)),
        wire_(std::move(wire)),
        useTcp_(tcp),
        timeout_(timeout),
        done_(std::move(done)) {}

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(timeout_);
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->finish("timeout", {});
    });
    if (useTcp_)
      startTcp();
    else
      startUdp();
  }

 private:
  void startUdp() {
    boost::system::error_code ec;
    asio::ip::udp::endpoint ep(address_, port_);
    udp_.open(ep.protocol(), ec);
    if (!ec) udp_.connect(ep, ec);  // connected: an ICMP port-unreachable comes back as ECONNREFUSED
    if (ec) return finish(errorText(ec), {});
    auto self = shared_from_this();
    udp_.async_send(asio::buffer(wire_), [self](const boost::system::error_code& e, std::size_t) {
      if (e) return self->finish(errorText(e), {});
      self->receiveUdp();
    });
  }

  void receiveUdp() {
    auto self = shared_from_this();
    buffer_.resize(65535);
    udp_.async_receive(asio::buffer(buffer_), [self](const boost::system::error_code& e, std::size_t n) {
      if (e) return self->finish(errorText(e), {});
      // Not ours (a late answer to an earlier try, or junk): keep waiting until the timer.
      if (n < LDNS_HEADER_SIZE || LDNS_ID_WIRE(self->buffer_.data()) != LDNS_ID_WIRE(self->wire_.data()) ||
          !LDNS_QR_WIRE(self->buffer_.data()))
        return self->receiveUdp();
      self->buffer_.resize(n);
      self->finish("", std::move(self->buffer_));
    });
  }

  void startTcp() {
    auto self = shared_from_this();
    tcp_.async_connect(asio::ip::tcp::endpoint(address_, port_), [self](const boost::system::error_code& e) {
      if (e) return self->finish(errorText(e), {});
      self->framed_.clear();
      self->framed_.push_back(static_cast<std::uint8_t>(self->wire_.size() >> 8));
      self->framed_.push_back(static_cast<std::uint8_t>(self->wire_.size() & 0xff));
      self->framed_.insert(self->framed_.end(), self->wire_.begin(), self->wire_.end());
      asio::async_write(
          self->tcp_, asio::buffer(self->framed_), [self](const boost::system::error_code& we, std::size_t) {
            if (we) return self->finish(errorText(we), {});
            asio::async_read(self->tcp_, asio::buffer(self->length_),
                             [self](const boost::system::error_code& re, std::size_t) {
                               if (re) return self->finish(errorText(re), {});
                               std::size_t len = (std::size_t{self->length_[0]} << 8) | self->length_[1];
                               self->buffer_.assign(len, 0);
                               asio::async_read(self->tcp_, asio::buffer(self->buffer_),
                                                [self](const boost::system::error_code& be, std::size_t) {
                                                  if (be) return self->finish(errorText(be), {});
                                                  self->finish("", std::move(self->buffer_));
                                                });
                             });
          });
    });
  }

  static std::string errorText(const boost::system::error_code& ec) {
    if (ec == asio::error::connection_refused) return "connection-refused";
    if (ec == asio::error::operation_aborted) return "timeout";
    return "network: " + ec.message();
  }

  void finish(std::string error, Bytes answer) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    boost::system::error_code ignored;
    udp_.close(ignored);
    tcp_.close(ignored);
    auto done = std::move(done_);
    done(std::move(error), std::move(answer));
  }

  asio::ip::udp::socket udp_;
  asio::ip::tcp::socket tcp_;
  asio::steady_timer timer_;
  asio::ip::address address_;
  unsigned short port_;
  Bytes wire_;
  Bytes framed_;
  std::array<std::uint8_t, 2> length_{};
  Bytes buffer_;
  bool useTcp_;
  std::chrono::milliseconds timeout_;
  Handler done_;
  bool finished_ = false;
};

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

/// A query (RD set) for name/type, as wire bytes.
Bytes queryWire(const std::string& name, ldns_rr_type type, std::uint16_t id) {
  ldns_rdf* owner = ldns_dname_new_frm_str((name + ".").c_str());
  if (owner == nullptr) return {};
  Pkt pkt(ldns_pkt_query_new(owner, type, LDNS_RR_CLASS_IN, LDNS_RD));
  if (!pkt) return {};
  ldns_pkt_set_id(pkt.get(), id);
  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&wire, pkt.get(), &size) != LDNS_STATUS_OK || wire == nullptr) return {};
  Bytes out(wire, wire + size);
  std::free(wire);  // NOLINT: ldns allocates with malloc
  return out;
}

/// The rdata field `field` of every answer/authority record of `type` in an answer, as text.
std::vector<std::string> rdataOf(const Bytes& answer, ldns_rr_type type, std::size_t field) {
  std::vector<std::string> out;
  ldns_pkt* raw = nullptr;
  if (answer.empty() || ldns_wire2pkt(&raw, answer.data(), answer.size()) != LDNS_STATUS_OK) return out;
  Pkt pkt(raw);
  for (ldns_rr_list* list : {ldns_pkt_answer(pkt.get()), ldns_pkt_authority(pkt.get())}) {
    for (std::size_t i = 0; list != nullptr && i < ldns_rr_list_rr_count(list); ++i) {
      ldns_rr* rr = ldns_rr_list_rr(list, i);
      if (ldns_rr_get_type(rr) != type || ldns_rr_rd_count(rr) <= field) continue;
      char* text = ldns_rdf2str(ldns_rr_rdf(rr, field));
      if (text != nullptr) {
        std::string s(text);
        std::free(text);  // NOLINT
        if (!s.empty() && s.back() == '.') s.pop_back();
        out.push_back(s);
      }
    }
    if (!out.empty()) break;  // prefer the answer section
  }
  return out;
}

struct Shared {
  asio::io_context& io;
  UpdaterConfig config;
  std::mt19937 random{std::random_device{}()};
  bool alive = true;

  std::uint16_t nextId() { return static_cast<std::uint16_t>(random() & 0xffff); }
  TimePoint signingTime() const {
    return config.signingClock ? config.signingClock() : std::chrono::time_point_cast<Duration>(Clock::now());
  }
};

class Transaction : public std::enable_shared_from_this<Transaction> {
 public:
  Transaction(std::shared_ptr<Shared> shared, UpdateMessage message, std::function<void(UpdateOutcome)> done)
      : shared_(std::move(shared)), message_(std::move(message)), done_(std::move(done)) {}

  void start() {
    if (!shared_->config.servers.empty()) {
      servers_ = shared_->config.servers;
      return sendTo(0);
    }
    discoverPrimary();
  }

 private:
  // --- SOA MNAME discovery: resolver by resolver, SOA then A then AAAA of the MNAME. ---
  void discoverPrimary() {
    if (shared_->config.resolvers.empty())
      return complete(outcome(Verdict::Fatal, "no-server", "",
                              "no update server configured and no resolver to find the zone's primary"));
    askResolver(0, message_.zone, LDNS_RR_TYPE_SOA);
  }

  void askResolver(std::size_t index, const std::string& name, ldns_rr_type type) {
    const auto& resolvers = shared_->config.resolvers;
    if (index >= resolvers.size()) {
      const std::string what = type == LDNS_RR_TYPE_SOA ? "the SOA of zone " + message_.zone
                                                        : "an address of the zone's primary " + mname_;
      return complete(outcome(
          Verdict::Retry, "no-primary", "",
          "cannot find " + what + " through the resolvers (" + lastResolverError_ + "); trying again"));
    }
    boost::system::error_code ec;
    auto address = asio::ip::make_address(resolvers[index].first, ec);
    if (ec) {
      lastResolverError_ = "bad resolver address " + resolvers[index].first;
      return askResolver(index + 1, name, type);
    }
    std::uint16_t id = shared_->nextId();
    Bytes wire = queryWire(name, type, id);
    if (wire.empty())
      return complete(outcome(Verdict::Fatal, "bad-name", "", "'" + name + "' is not a valid domain name"));
    auto self = shared_from_this();
    const std::string where = endpointText(resolvers[index].first, resolvers[index].second);
    auto ex = std::make_shared<Exchange>(
        shared_->io, address, resolvers[index].second, std::move(wire), false, shared_->config.timeout,
        [self, index, name, type, where](std::string error, Bytes answer) {
          if (!self->shared_->alive) return;
          if (!error.empty()) {
            self->lastResolverError_ = where + ": " + error;
            return self->askResolver(index + 1, name, type);
          }
          if (type == LDNS_RR_TYPE_SOA) {
            auto mnames = rdataOf(answer, LDNS_RR_TYPE_SOA, 0);
            if (mnames.empty()) {
              self->lastResolverError_ = where + ": no SOA in the answer";
              return self->askResolver(index + 1, name, type);
            }
            self->mname_ = mnames.front();
            return self->askResolver(0, self->mname_, LDNS_RR_TYPE_A);
          }
          for (auto& a : rdataOf(answer, type, 0))
            self->servers_.emplace_back(a, self->shared_->config.primaryPort);
          if (type == LDNS_RR_TYPE_A) return self->askResolver(0, self->mname_, LDNS_RR_TYPE_AAAA);
          if (self->servers_.empty()) {
            self->lastResolverError_ = where + ": no A or AAAA for " + self->mname_;
            return self->askResolver(index + 1, name, LDNS_RR_TYPE_A);
          }
          self->sendTo(0);
        });
    ex->start();
  }

  // --- The update itself: server by server, UDP then TCP. ---
  void sendTo(std::size_t index) {
    if (index >= servers_.size()) return complete(last_);
    const auto& [host, port] = servers_[index];
    const std::string where = endpointText(host, port);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) {
      last_ =
          outcome(Verdict::Fatal, "bad-server", where, "update server '" + host + "' is not an IP address");
      return sendTo(index + 1);
    }
    auto signedUpdate = buildUpdate(message_, shared_->config.key, shared_->nextId(), shared_->signingTime());
    if (!signedUpdate) return complete(outcome(Verdict::Fatal, "bad-update", where, signedUpdate.error()));
    request_ = std::move(*signedUpdate);
    exchange(index, address, where, request_.wire.size() > kMaxUdp);
  }

  void exchange(std::size_t index, const asio::ip::address& address, const std::string& where, bool tcp) {
    auto self = shared_from_this();
    auto ex = std::make_shared<Exchange>(shared_->io, address, servers_[index].second, request_.wire, tcp,
                                         shared_->config.timeout,
                                         [self, index, address, where, tcp](std::string error, Bytes answer) {
                                           if (!self->shared_->alive) return;
                                           if (!error.empty()) {
                                             self->last_ = classifyTransportError(error, where);
                                             self->last_.overTcp = tcp;
                                             return self->sendTo(index + 1);
                                           }
                                           if (!tcp && LDNS_TC_WIRE(answer.data()))
                                             return self->exchange(index, address, where, true);
                                           self->last_ = classifyAnswer(self->request_, answer, where);
                                           self->last_.overTcp = tcp;
                                           // Only a server failure or an untrusted answer is worth another
                                           // server's opinion.
                                           if (self->last_.verdict == Verdict::Retry)
                                             return self->sendTo(index + 1);
                                           self->complete(self->last_);
                                         });
    ex->start();
  }

  static UpdateOutcome outcome(Verdict v, std::string rcode, std::string server, std::string detail) {
    UpdateOutcome o;
    o.verdict = v;
    o.rcode = std::move(rcode);
    o.server = std::move(server);
    o.detail = std::move(detail);
    return o;
  }

  void complete(UpdateOutcome o) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    // Always from the loop, never from inside send(): the caller's state is settled.
    asio::post(shared_->io, [shared = shared_, done = std::move(done), o = std::move(o)]() mutable {
      if (shared->alive) done(std::move(o));
    });
  }

  std::shared_ptr<Shared> shared_;
  UpdateMessage message_;
  std::function<void(UpdateOutcome)> done_;
  std::vector<std::pair<std::string, int>> servers_;
  std::string mname_;
  std::string lastResolverError_ = "no answer";
  SignedUpdate request_;
  UpdateOutcome last_;
};

class AsioUpdater final : public Updater {
 public:
  AsioUpdater(asio::io_context& io, UpdaterConfig config)
      : shared_(std::make_shared<Shared>(Shared{io, std::move(config)})) {}
  /// Transactions still in flight finish quietly: `done` is not called after destruction.
  ~AsioUpdater() override { shared_->alive = false; }
  AsioUpdater(const AsioUpdater&) = delete;
  AsioUpdater& operator=(const AsioUpdater&) = delete;

  void send(UpdateMessage message, std::function<void(UpdateOutcome)> done) override {
    std::make_shared<Transaction>(shared_, std::move(message), std::move(done))->start();
  }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace

std::vector<std::pair<std::string, int>> systemResolvers(const std::string& path) {
  std::vector<std::pair<std::string, int>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string keyword;
    std::string address;
    if (words >> keyword >> address && keyword == "nameserver" && parseServer(address))
      out.emplace_back(address, 53);
  }
  return out;
}

std::unique_ptr<Updater> makeUpdater(asio::io_context& io, UpdaterConfig config) {
  return std::make_unique<AsioUpdater>(io, std::move(config));
}

}  // namespace dynmx::dnsupdate
