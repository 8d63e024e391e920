// The pure half of RFC 2136: an UpdateMessage → signed wire bytes, and answer bytes → an
// UpdateOutcome. ldns does the wire format and TSIG; this file only decides which records
// go where (RFC 2136 §2.4, §2.5) and what each answer means for the caller.
#include <sys/time.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>

#include "dynmx/dnsupdate.hpp"
#include "dynmx/ldns_cxx.hpp"

// --- The TSIG signing time -------------------------------------------------------------
// ldns 1.8 signs with gettimeofday() and takes no time argument. To make the signing time a
// value (tests skew it to provoke BADTIME), this executable provides gettimeofday itself:
// the system's time, except on a thread inside buildUpdate() with an override set. ldns is a
// shared library, so its call resolves to this definition. buildUpdate() reads the signed
// time back from the TSIG record and fails if the override did not take, so a build where
// the interposition does not work is caught, never silently wrong.
namespace {
thread_local std::optional<long long> tSigningTime;
}  // namespace

extern "C" int gettimeofday(struct timeval* __restrict tv, void* __restrict tz) noexcept {
  struct timespec ts {};
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
  tv->tv_sec = tSigningTime ? static_cast<time_t>(*tSigningTime) : ts.tv_sec;
  tv->tv_usec = static_cast<suseconds_t>(ts.tv_nsec / 1000);
  if (tz != nullptr) {
    auto* zone = static_cast<struct timezone*>(tz);
    zone->tz_minuteswest = 0;
    zone->tz_dsttime = 0;
  }
  return 0;
}

namespace dynmx::dnsupdate {
namespace {

constexpr std::uint16_t kFudge = 300;  // RFC 8945 §10: 300 s recommended

struct RrListFree {
  void operator()(ldns_rr_list* l) const { ldns_rr_list_deep_free(l); }
};
struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* r) const { ldns_rdf_deep_free(r); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListFree>;
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;
using Rdf = std::unique_ptr<ldns_rdf, RdfFree>;

ldns_rr_type rrType(RecordType t) {
  switch (t) {
    case RecordType::A:
      return LDNS_RR_TYPE_A;
    case RecordType::AAAA:
      return LDNS_RR_TYPE_AAAA;
    case RecordType::MX:
      return LDNS_RR_TYPE_MX;
  }
  return LDNS_RR_TYPE_A;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string stripDot(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  return lower(std::move(s));
}

bool inZone(const std::string& name, const std::string& zone) {
  return name == zone ||
         (name.size() > zone.size() && name.compare(name.size() - zone.size(), zone.size(), zone) == 0 &&
          name[name.size() - zone.size() - 1] == '.');
}

/// An RR with no RDATA (RFC 2136's "delete RRset", "RRset exists", ...).
Result<ldns_rr*> emptyRr(const std::string& name, ldns_rr_type type, ldns_rr_class cls) {
  ldns_rdf* owner = ldns_dname_new_frm_str((name + ".").c_str());
  if (owner == nullptr) return fail("'" + name + "' is not a valid domain name");
  ldns_rr* rr = ldns_rr_new();
  ldns_rr_set_owner(rr, owner);
  ldns_rr_set_type(rr, type);
  ldns_rr_set_class(rr, cls);
  ldns_rr_set_ttl(rr, 0);
  return rr;
}

/// A full RR from presentation format: "name. TTL IN TYPE rdata".
Result<ldns_rr*> fullRr(const std::string& name, RecordType type, std::uint32_t ttl,
                        const std::string& rdata) {
  if (rdata.find_first_of(";\n()") != std::string::npos)
    return fail(std::string(toString(type)) + " record '" + rdata + "' for " + name + " is not valid");
  std::string text = name + ". " + std::to_string(ttl) + " IN " + toString(type) + " " + rdata;
  ldns_rr* rr = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&rr, text.c_str(), ttl, nullptr, nullptr);
  if (st != LDNS_STATUS_OK || rr == nullptr)
    return fail(std::string(toString(type)) + " record '" + rdata + "' for " + name +
                " is not valid: " + ldns_get_errorstr_by_id(st));
  return rr;
}

std::string rcodeName(unsigned code) {
  switch (code) {
    case 0:
      return "NOERROR";
    case 1:
      return "FORMERR";
    case 2:
      return "SERVFAIL";
    case 3:
      return "NXDOMAIN";
    case 4:
      return "NOTIMP";
    case 5:
      return "REFUSED";
    case 6:
      return "YXDOMAIN";
    case 7:
      return "YXRRSET";
    case 8:
      return "NXRRSET";
    case 9:
      return "NOTAUTH";
    case 10:
      return "NOTZONE";
    case 16:
      return "BADSIG";
    case 17:
      return "BADKEY";
    case 18:
      return "BADTIME";
    case 22:
      return "BADTRUNC";
    default:
      return "RCODE" + std::to_string(code);
  }
}

UpdateOutcome outcome(Verdict v, std::string rcode, const std::string& server, std::string detail) {
  UpdateOutcome o;
  o.verdict = v;
  o.rcode = std::move(rcode);
  o.server = server;
  o.detail = std::move(detail);
  return o;
}

}  // namespace

Result<SignedUpdate> buildUpdate(const UpdateMessage& message, const TsigKey& key, std::uint16_t id,
                                 TimePoint signedAt) {
  const std::string zone = stripDot(message.zone);
  if (zone.empty()) return fail(std::string("the update names no zone"));
  if (message.changes.empty()) return fail("the update for zone " + zone + " changes nothing");
  if (key.name.empty() || key.secret.empty()) return fail(std::string("the update has no TSIG key"));

  RrList prereqs(ldns_rr_list_new());
  RrList updates(ldns_rr_list_new());
  auto push = [](ldns_rr_list* list, Result<ldns_rr*> rr) -> Status<> {
    if (!rr) return fail(rr.error());
    ldns_rr_list_push_rr(list, *rr);
    return Ok{};
  };
  auto checkName = [&](const std::string& name) -> Status<> {
    if (!inZone(name, zone)) return fail("'" + name + "' is not inside zone " + zone);
    return Ok{};
  };

  for (const auto& p : message.prerequisites) {
    const std::string name = stripDot(p.rrset.name);
    if (auto ok = checkName(name); !ok) return fail(ok.error());
    Status<> pushed = Ok{};
    switch (p.kind) {
      case Prerequisite::Kind::NameInUse:  // RFC 2136 §2.4.4: ANY ANY
        pushed = push(prereqs.get(), emptyRr(name, LDNS_RR_TYPE_ANY, LDNS_RR_CLASS_ANY));
        break;
      case Prerequisite::Kind::RRsetExists:  // §2.4.1: ANY TYPE
        pushed = push(prereqs.get(), emptyRr(name, rrType(p.rrset.type), LDNS_RR_CLASS_ANY));
        break;
      case Prerequisite::Kind::RRsetNotExists:  // §2.4.3: NONE TYPE
        pushed = push(prereqs.get(), emptyRr(name, rrType(p.rrset.type), LDNS_RR_CLASS_NONE));
        break;
      case Prerequisite::Kind::RRsetEquals:  // §2.4.2: IN TYPE rdata, TTL 0
        if (p.rrset.records.empty())
          return fail("prerequisite 'RRset equals' for " + name + " " + toString(p.rrset.type) +
                      " lists no records");
        for (const auto& r : p.rrset.records) {
          pushed = push(prereqs.get(), fullRr(name, p.rrset.type, 0, r));
          if (!pushed) break;
        }
        break;
    }
    if (!pushed) return fail(pushed.error());
  }

  for (const auto& c : message.changes) {
    const std::string name = stripDot(c.rrset.name);
    if (auto ok = checkName(name); !ok) return fail(ok.error());
    // Both kinds start with "delete RRset" (§2.5.2: ANY TYPE, TTL 0, no RDATA).
    if (auto ok = push(updates.get(), emptyRr(name, rrType(c.rrset.type), LDNS_RR_CLASS_ANY)); !ok)
      return fail(ok.error());
    if (c.kind == Change::Kind::ReplaceRRset) {
      for (const auto& r : c.rrset.records) {  // §2.5.1: add to an RRset
        if (auto ok = push(updates.get(), fullRr(name, c.rrset.type, c.rrset.ttl, r)); !ok)
          return fail(ok.error());
      }
    }
  }

  ldns_rdf* zoneRdf = ldns_dname_new_frm_str((zone + ".").c_str());
  if (zoneRdf == nullptr) return fail("zone '" + zone + "' is not a valid domain name");
  Pkt pkt(ldns_update_pkt_new(zoneRdf, LDNS_RR_CLASS_IN, prereqs.get(), updates.get(), nullptr));
  if (!pkt) return fail("ldns could not build the update for zone " + zone);
  ldns_pkt_set_rd(pkt.get(), false);
  ldns_pkt_set_id(pkt.get(), id);

  const std::string keyName = key.name + ".";
  const std::string algorithm = std::string(toString(key.algorithm)) + ".";
  tSigningTime = toUnix(signedAt);
  ldns_status st =
      ldns_pkt_tsig_sign(pkt.get(), keyName.c_str(), key.secret.c_str(), kFudge, algorithm.c_str(), nullptr);
  tSigningTime.reset();
  if (st != LDNS_STATUS_OK)
    return fail("signing the update with key " + key.name + " (" + toString(key.algorithm) +
                ") failed: " + ldns_get_errorstr_by_id(st));
  ldns_rr* tsig = ldns_pkt_tsig(pkt.get());
  if (tsig == nullptr || ldns_rr_rd_count(tsig) < 7) return fail(std::string("ldns produced no TSIG record"));
  const ldns_rdf* timeRdf = ldns_rr_rdf(tsig, 1);
  const ldns_rdf* macRdf = ldns_rr_rdf(tsig, 3);
  if (ldns_rdf_size(timeRdf) != 6) return fail(std::string("ldns produced a malformed TSIG time"));
  const std::uint8_t* tp = ldns_rdf_data(timeRdf);
  long long signedTime = 0;
  for (int i = 0; i < 6; ++i) signedTime = (signedTime << 8) | tp[i];
  if (signedTime != toUnix(signedAt))
    return fail(std::string("the TSIG signing time could not be set (gettimeofday is not interposed)"));

  std::uint8_t* wire = nullptr;
  std::size_t size = 0;
  st = ldns_pkt2wire(&wire, pkt.get(), &size);
  if (st != LDNS_STATUS_OK || wire == nullptr)
    return fail(std::string("ldns could not write the update: ") + ldns_get_errorstr_by_id(st));
  SignedUpdate out;
  out.wire.assign(wire, wire + size);
  std::free(wire);  // NOLINT: ldns allocates with malloc
  out.id = id;
  out.mac.assign(ldns_rdf_data(macRdf), ldns_rdf_data(macRdf) + ldns_rdf_size(macRdf));
  out.keyName = keyName;
  out.keySecret = key.secret;
  return out;
}

UpdateOutcome classifyTransportError(const std::string& error, const std::string& server) {
  std::string detail;
  if (error == "timeout")
    detail =
        "no answer from " + server + " in time: the primary may be down or the update lost; trying again";
  else if (error == "connection-refused")
    detail = "nothing listens for DNS at " + server + ": the primary is down; trying again";
  else
    detail = "cannot reach " + server + " (" + error + "); trying again";
  return outcome(Verdict::Retry, error, server, std::move(detail));
}

UpdateOutcome classifyAnswer(const SignedUpdate& request, const std::vector<std::uint8_t>& answer,
                             const std::string& server) {
  ldns_pkt* raw = nullptr;
  if (answer.empty() || ldns_wire2pkt(&raw, answer.data(), answer.size()) != LDNS_STATUS_OK || raw == nullptr)
    return outcome(Verdict::Retry, "bad-response", server,
                   "the answer from " + server + " is not a DNS message");
  Pkt pkt(raw);
  if (!ldns_pkt_qr(pkt.get()) || ldns_pkt_get_opcode(pkt.get()) != LDNS_PACKET_UPDATE ||
      ldns_pkt_id(pkt.get()) != request.id)
    return outcome(Verdict::Retry, "bad-response", server,
                   "the answer from " + server + " is not an answer to our update");

  unsigned rcode = static_cast<unsigned>(ldns_pkt_get_rcode(pkt.get()));
  ldns_rr* tsig = ldns_pkt_tsig(pkt.get());
  unsigned tsigError = 0;
  if (tsig != nullptr && ldns_rr_rd_count(tsig) >= 6) tsigError = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));

  // A TSIG error overrides the header's NOTAUTH (RFC 8945 §5.3).
  if (tsigError != 0) {
    const std::string name = rcodeName(tsigError);
    if (tsigError == 18)
      return outcome(Verdict::BackOff, name, server,
                     "BADTIME from " + server + ": our clock and the server's differ by more than " +
                         std::to_string(kFudge) + " s; fix the clock (NTP), then updates resume");
    if (tsigError == 17)
      return outcome(Verdict::Fatal, name, server,
                     "BADKEY from " + server + ": the server does not know key '" +
                         request.keyName.substr(0, request.keyName.size() - 1) +
                         "' with this algorithm; check the key file against the server's key statement");
    if (tsigError == 16)
      return outcome(
          Verdict::Fatal, name, server,
          "BADSIG from " + server + ": the key's secret differs from the server's; copy the key file again");
    return outcome(Verdict::Fatal, name, server, name + " from " + server + ": the server rejects our TSIG");
  }

  const std::string name = rcodeName(rcode);
  switch (rcode) {
    case 0: {
      if (tsig == nullptr)
        return outcome(Verdict::Retry, "unsigned-answer", server,
                       "NOERROR from " + server + " without a TSIG signature: not trusted; trying again");
      Rdf mac(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, request.mac.size(), request.mac.data()));
      bool good = mac && ldns_pkt_tsig_verify(pkt.get(), answer.data(), answer.size(),
                                              request.keyName.c_str(), request.keySecret.c_str(), mac.get());
      if (!good)
        return outcome(Verdict::Retry, "bad-answer-signature", server,
                       "NOERROR from " + server + " whose TSIG does not verify: not trusted; trying again");
      return outcome(Verdict::Applied, name, server, "the update was applied at " + server);
    }
    case 3:
    case 6:
    case 7:
    case 8:
      return outcome(
          Verdict::PrereqFailed, name, server,
          name + " from " + server + ": the zone is not as we assumed (prerequisite failed); re-reading it");
    case 2:
      return outcome(Verdict::Retry, name, server,
                     "SERVFAIL from " + server + ": the server failed; trying again");
    case 5:
      return outcome(Verdict::Fatal, name, server,
                     "REFUSED from " + server + ": the server's update-policy does not let key '" +
                         request.keyName.substr(0, request.keyName.size() - 1) + "' make this change");
    case 9:
      return outcome(Verdict::Fatal, name, server,
                     "NOTAUTH from " + server + ": the server is not authoritative (primary) for the zone");
    case 10:
      return outcome(Verdict::Fatal, name, server,
                     "NOTZONE from " + server + ": a record is outside the zone");
    case 1:
      return outcome(Verdict::Fatal, name, server,
                     "FORMERR from " + server + ": the server cannot parse our update");
    case 4:
      return outcome(Verdict::Fatal, name, server,
                     "NOTIMP from " + server + ": the server does not support UPDATE");
    default:
      return outcome(Verdict::Retry, name, server,
                     name + " from " + server + ": unexpected answer; trying again");
  }
}

std::optional<std::pair<std::string, int>> parseServer(const std::string& text, int defaultPort) {
  std::string host = text;
  int port = defaultPort;
  auto parsePort = [](const std::string& p) -> std::optional<int> {
    if (p.empty() || p.size() > 5 ||
        !std::all_of(p.begin(), p.end(), [](unsigned char c) { return std::isdigit(c); }))
      return std::nullopt;
    int v = std::stoi(p);
    if (v < 1 || v > 65535) return std::nullopt;
    return v;
  };
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      auto p = parsePort(rest.substr(1));
      if (!p) return std::nullopt;
      port = *p;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    host = text.substr(0, colon);
    auto p = parsePort(text.substr(colon + 1));
    if (!p) return std::nullopt;
    port = *p;
  }
  // Literal addresses only: a server name would need a resolver we do not trust for this.
  ldns_rdf* a = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, host.c_str());
  if (a != nullptr) {
    ldns_rdf_deep_free(a);
    return std::make_pair(host, port);
  }
  ldns_rdf* aaaa =
      host.find(':') != std::string::npos ? ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, host.c_str()) : nullptr;
  if (aaaa != nullptr) {
    ldns_rdf_deep_free(aaaa);
    return std::make_pair(host, port);
  }
  return std::nullopt;
}

}  // namespace dynmx::dnsupdate
