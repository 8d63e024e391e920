// c-ares on Boost.Asio. Each query gets its own channel configured with exactly the
// servers it must ask (verification asks each authoritative server separately), so no
// answer can come from a server we did not mean to ask. c-ares owns its sockets; we watch
// them with non-owning Asio descriptors (released before c-ares closes them).
#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <mutex>

#include "dynmx/net/dns_resolver.hpp"
#include "dynmx/ldns_cxx.hpp"

namespace dynmx::net {
namespace {

namespace asio = boost::asio;

DnsError mapAresStatus(int status) {
  switch (status) {
    case ARES_SUCCESS: return DnsError::None;
    case ARES_ENODATA: return DnsError::NoData;
    case ARES_ENOTFOUND: return DnsError::NxDomain;
    case ARES_ESERVFAIL: return DnsError::ServFail;
    case ARES_EREFUSED: return DnsError::Refused;
    case ARES_ETIMEOUT: return DnsError::Timeout;
    case ARES_EBADRESP:
    case ARES_EFORMERR:
    case ARES_EBADNAME: return DnsError::BadResponse;
    case ARES_ECONNREFUSED: return DnsError::ConnRefused;
    default: return DnsError::Other;
  }
}

void libraryInit() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

/// One in-flight query with its own channel. Lives until the c-ares callback ran and the
/// channel was destroyed (outside any c-ares callback).
class Query : public std::enable_shared_from_this<Query> {
 public:
  Query(asio::io_context& io, DnsQuery q, DnsHandler done)
      : io_(io), timer_(io), query_(std::move(q)), done_(std::move(done)) {}

  ~Query() {
    for (auto& [fd, w] : watches_) w->descriptor.release();
    if (channel_ != nullptr) ares_destroy(channel_);
  }

  void start() {
    ares_options opts{};
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    if (!query_.recursionDesired) opts.flags |= ARES_FLAG_NORECURSE;
    if (query_.useTcp) opts.flags |= ARES_FLAG_USEVC;
    // One named server (verification asks each authoritative server on its own): there is
    // no other server to fall back to, so its SERVFAIL or REFUSED is the answer to report.
    // Without this flag c-ares 1.18 drops such a reply and reports "connection refused".
    if (query_.servers.size() == 1) opts.flags |= ARES_FLAG_NOCHECKRESP;
    opts.timeout = static_cast<int>(std::max<long long>(1, query_.timeout.count()));
    opts.tries = std::max(1, query_.tries);
    opts.sock_state_cb = &Query::onSockState;
    opts.sock_state_cb_data = this;
    int rc = ares_init_options(&channel_, &opts, mask);
    if (rc != ARES_SUCCESS) return finishEarly(DnsError::Other, ares_strerror(rc));
    if (!query_.servers.empty()) {
      std::string csv;
      for (const auto& s : query_.servers) {
        if (!csv.empty()) csv += ',';
        bool v6 = s.address.find(':') != std::string::npos;
        csv += v6 ? "[" + s.address + "]:" + std::to_string(s.port) : s.address + ":" + std::to_string(s.port);
      }
      rc = ares_set_servers_ports_csv(channel_, csv.c_str());
      if (rc != ARES_SUCCESS) return finishEarly(DnsError::Other, std::string("bad server list: ") + ares_strerror(rc));
    }
    int type = 2;
    switch (query_.type) {
      case RecordType::A: type = 1; break;
      case RecordType::AAAA: type = 28; break;
      case RecordType::NS: type = 2; break;
      case RecordType::MX: type = 15; break;
      case RecordType::SOA: type = 6; break;
    }
    self_ = shared_from_this();  // keep alive until the callback
    ares_query(channel_, query_.name.c_str(), 1 /* IN */, type, &Query::onAnswer, this);
    rearmTimer();
  }

 private:
  struct Watch {
    explicit Watch(asio::io_context& io, int fd) : descriptor(io, fd) {}
    asio::posix::stream_descriptor descriptor;
    bool wantRead = false;
    bool wantWrite = false;
    bool readArmed = false;
    bool writeArmed = false;
  };

  void finishEarly(DnsError e, std::string text) {
    DnsResult r;
    r.error = e;
    r.errorText = std::move(text);
    asio::post(io_, [done = std::move(done_), r]() { done(r); });
  }

  static void onSockState(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Query*>(data);
    auto it = self->watches_.find(fd);
    if (readable == 0 && writable == 0) {
      if (it != self->watches_.end()) {
        it->second->descriptor.release();  // c-ares closes the fd itself
        self->watches_.erase(it);
      }
      return;
    }
    if (it == self->watches_.end()) it = self->watches_.emplace(fd, std::make_unique<Watch>(self->io_, fd)).first;
    it->second->wantRead = readable != 0;
    it->second->wantWrite = writable != 0;
    self->arm(fd);
  }

  void arm(int fd) {
    auto it = watches_.find(fd);
    if (it == watches_.end()) return;
    Watch& w = *it->second;
    auto keep = weak_from_this();
    if (w.wantRead && !w.readArmed) {
      w.readArmed = true;
      w.descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                              [keep, fd](const boost::system::error_code& ec) {
                                if (auto s = keep.lock()) s->onReady(fd, ec, true);
                              });
    }
    if (w.wantWrite && !w.writeArmed) {
      w.writeArmed = true;
      w.descriptor.async_wait(asio::posix::descriptor_base::wait_write,
                              [keep, fd](const boost::system::error_code& ec) {
                                if (auto s = keep.lock()) s->onReady(fd, ec, false);
                              });
    }
  }

  void onReady(int fd, const boost::system::error_code& ec, bool read) {
    if (ec == asio::error::operation_aborted || channel_ == nullptr) return;
    auto it = watches_.find(fd);
    if (it == watches_.end()) return;
    (read ? it->second->readArmed : it->second->writeArmed) = false;
    auto hold = shared_from_this();  // the answer callback may drop self_
    ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    if (finished_) return;
    arm(fd);
    rearmTimer();
  }

  void rearmTimer() {
    if (finished_) return;
    timeval tv{};
    timeval* t = ares_timeout(channel_, nullptr, &tv);
    auto delay = t == nullptr ? std::chrono::milliseconds(1000)
                              : std::chrono::milliseconds(t->tv_sec * 1000 + t->tv_usec / 1000);
    timer_.expires_after(delay);
    auto keep = weak_from_this();
    timer_.async_wait([keep](const boost::system::error_code& ec) {
      auto s = keep.lock();
      if (!s || ec || s->finished_) return;
      ares_process_fd(s->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      s->rearmTimer();
    });
  }

  static void onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* self = static_cast<Query*>(arg);
    DnsResult r;
    r.error = mapAresStatus(status);
    if (status != ARES_SUCCESS) r.errorText = ares_strerror(status);
    // NXDOMAIN and NODATA come with the answer too: their AA bit matters as much (a
    // withdrawal is proven by an authoritative "no such record").
    if (abuf != nullptr && alen >= 12) r.authoritative = (abuf[2] & 0x04) != 0;
    if (status == ARES_SUCCESS && abuf != nullptr && alen >= 12) self->parse(abuf, alen, r);
    if ((r.error == DnsError::NxDomain || r.error == DnsError::NoData) && abuf != nullptr && alen >= 12)
      r.negativeTtl = negativeCacheTtl(abuf, static_cast<std::size_t>(alen));
    self->finished_ = true;
    self->timer_.cancel();
    auto hold = std::move(self->self_);
    // Destroying the channel inside its own callback is not allowed: finish from the loop.
    asio::post(self->io_, [hold, r = std::move(r)]() mutable {
      auto done = std::move(hold->done_);
      for (auto& [fd, w] : hold->watches_) w->descriptor.release();
      hold->watches_.clear();
      done(std::move(r));
    });
  }

  void parse(const unsigned char* abuf, int alen, DnsResult& r) const {
    std::uint32_t minTtl = std::numeric_limits<std::uint32_t>::max();
    char text[INET6_ADDRSTRLEN];
    if (query_.type == RecordType::A) {
      ares_addrttl ttls[64];
      int n = 64;
      int rc = ares_parse_a_reply(abuf, alen, nullptr, ttls, &n);
      if (rc != ARES_SUCCESS) {
        r.error = mapAresStatus(rc);
        r.errorText = ares_strerror(rc);
        return;
      }
      for (int i = 0; i < n; ++i) {
        inet_ntop(AF_INET, &ttls[i].ipaddr, text, sizeof text);
        r.values.emplace_back(text);
        minTtl = std::min<std::uint32_t>(minTtl, static_cast<std::uint32_t>(std::max(0, ttls[i].ttl)));
      }
    } else if (query_.type == RecordType::AAAA) {
      ares_addr6ttl ttls[64];
      int n = 64;
      int rc = ares_parse_aaaa_reply(abuf, alen, nullptr, ttls, &n);
      if (rc != ARES_SUCCESS) {
        r.error = mapAresStatus(rc);
        r.errorText = ares_strerror(rc);
        return;
      }
      for (int i = 0; i < n; ++i) {
        inet_ntop(AF_INET6, &ttls[i].ip6addr, text, sizeof text);
        r.values.emplace_back(text);
        minTtl = std::min<std::uint32_t>(minTtl, static_cast<std::uint32_t>(std::max(0, ttls[i].ttl)));
      }
    } else if (query_.type == RecordType::MX) {
      ares_mx_reply* mx = nullptr;
      int rc = ares_parse_mx_reply(abuf, alen, &mx);
      if (rc != ARES_SUCCESS) {
        r.error = mapAresStatus(rc);
        r.errorText = ares_strerror(rc);
        return;
      }
      for (ares_mx_reply* m = mx; m != nullptr; m = m->next) {
        std::string host = m->host == nullptr ? "" : m->host;
        for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        while (!host.empty() && host.back() == '.') host.pop_back();
        r.values.push_back(std::to_string(m->priority) + " " + host);
      }
      ares_free_data(mx);
    } else if (query_.type == RecordType::SOA) {
      ares_soa_reply* soa = nullptr;
      int rc = ares_parse_soa_reply(abuf, alen, &soa);
      if (rc != ARES_SUCCESS) {
        r.error = mapAresStatus(rc);
        r.errorText = ares_strerror(rc);
        return;
      }
      if (soa->nsname != nullptr) r.values.emplace_back(soa->nsname);
      ares_free_data(soa);
    } else {
      hostent* host = nullptr;
      int rc = ares_parse_ns_reply(abuf, alen, &host);
      if (rc != ARES_SUCCESS) {
        r.error = mapAresStatus(rc);
        r.errorText = ares_strerror(rc);
        return;
      }
      for (char** a = host->h_aliases; a != nullptr && *a != nullptr; ++a) r.values.emplace_back(*a);
      ares_free_hostent(host);
    }
    if (r.values.empty() && r.error == DnsError::None) {
      r.error = DnsError::NoData;
      r.errorText = "no records of that type";
    }
    std::sort(r.values.begin(), r.values.end());
    r.ttl = r.values.empty() || minTtl == std::numeric_limits<std::uint32_t>::max() ? 0 : minTtl;
  }

  asio::io_context& io_;
  asio::steady_timer timer_;
  DnsQuery query_;
  DnsHandler done_;
  ares_channel channel_ = nullptr;
  std::map<int, std::unique_ptr<Watch>> watches_;
  std::shared_ptr<Query> self_;
  bool finished_ = false;
};

class AresResolver final : public DnsResolver {
 public:
  explicit AresResolver(asio::io_context& io) : io_(io) { libraryInit(); }
  void query(DnsQuery q, DnsHandler done) override {
    std::make_shared<Query>(io_, std::move(q), std::move(done))->start();
  }

 private:
  asio::io_context& io_;
};

}  // namespace

std::optional<std::uint32_t> negativeCacheTtl(const unsigned char* reply, std::size_t length) {
  ldns_pkt* pkt = nullptr;
  if (reply == nullptr || ldns_wire2pkt(&pkt, reply, length) != LDNS_STATUS_OK || pkt == nullptr)
    return std::nullopt;
  std::optional<std::uint32_t> ttl;
  const ldns_rr_list* authority = ldns_pkt_authority(pkt);
  for (std::size_t i = 0; authority != nullptr && i < ldns_rr_list_rr_count(authority); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(authority, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 7) continue;
    const ldns_rdf* minimum = ldns_rr_rdf(rr, 6);
    if (minimum == nullptr || ldns_rdf_size(minimum) != 4) continue;  // MINIMUM: 32 bits (a PERIOD)
    ttl = std::min<std::uint32_t>(ldns_rr_ttl(rr), ldns_rdf2native_int32(minimum));
    break;
  }
  ldns_pkt_free(pkt);
  return ttl;
}

std::unique_ptr<DnsResolver> makeAresResolver(boost::asio::io_context& io) {
  return std::make_unique<AresResolver>(io);
}

const char* toString(DnsError e) {
  switch (e) {
    case DnsError::None: return "ok";
    case DnsError::NoData: return "nodata";
    case DnsError::NxDomain: return "nxdomain";
    case DnsError::ServFail: return "servfail";
    case DnsError::Refused: return "refused";
    case DnsError::Timeout: return "timeout";
    case DnsError::BadResponse: return "bad-response";
    case DnsError::ConnRefused: return "connection-refused";
    case DnsError::Other: return "error";
  }
  return "error";
}

}  // namespace dynmx::net
