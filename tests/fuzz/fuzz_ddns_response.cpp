// Provider reply classification: any HTTP status, body, host list and transport failure
// gives exactly one result per hostname asked for, in request order, with a consequence
// consistent with its code and a bounded printable detail.
//
// Input: a header line "<status> <transport> <host> <host> ...", then the body. When the
// header does not parse, the whole input is the body of a 200 reply for one host.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dynmx/ddns/address.hpp"
#include "dynmx/ddns/response.hpp"
#include "fuzz_common.hpp"

using namespace dynmx::ddns;
using dynmx::fuzz::check;

namespace {

constexpr std::size_t kMaxHosts = 40;

struct Request {
  int status = 200;
  TransportFailure transport = TransportFailure::None;
  std::vector<std::string> hosts{"office.example.test"};
  std::string_view body;
};

std::optional<TransportFailure> transportFrom(std::string_view w) {
  if (w == "none") return TransportFailure::None;
  if (w == "timeout") return TransportFailure::Timeout;
  if (w == "connect") return TransportFailure::Connect;
  if (w == "tls") return TransportFailure::Tls;
  if (w == "oversized") return TransportFailure::Oversized;
  if (w == "protocol") return TransportFailure::Protocol;
  if (w == "other") return TransportFailure::Other;
  return std::nullopt;
}

Request parseRequest(std::string_view in) {
  Request r;
  r.body = in;
  const std::size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return r;
  const auto words = dynmx::fuzz::split(in.substr(0, nl), ' ');
  if (words.size() < 2) return r;
  int status = 0;
  const auto [end, ec] = std::from_chars(words[0].data(), words[0].data() + words[0].size(), status);
  if (ec != std::errc{} || end != words[0].data() + words[0].size()) return r;
  const auto transport = transportFrom(words[1]);
  if (!transport) return r;
  r.status = status;
  r.transport = *transport;
  r.hosts.clear();
  for (std::size_t i = 2; i < words.size() && r.hosts.size() < kMaxHosts; ++i)
    r.hosts.emplace_back(words[i]);
  r.body = in.substr(nl + 1);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const Request req = parseRequest(in);
  const Classification c = classify(req.status, req.body, req.hosts, req.transport);

  check(c.hosts.size() == req.hosts.size(), "one result per hostname");
  bool allSame = true;
  for (std::size_t i = 0; i < c.hosts.size(); ++i) {
    const HostResult& h = c.hosts[i];
    check(h.host == req.hosts[i], "results in request order");
    check(h.detail.size() <= 203, "detail bounded");
    check(dynmx::fuzz::printable(h.detail), "detail printable");
    // Names are stable and parse back.
    const auto back = parseResultCode(toString(h.code));
    check(back && *back == h.code, "result code name round trip");
    // Only HttpError's consequence depends on the status.
    if (h.code != ResultCode::HttpError)
      check(h.consequence == consequenceOf(h.code), "consequence matches code");
    if (h.echoedAddress) {
      check(h.code == ResultCode::Good || h.code == ResultCode::NoChange,
            "echoed address only after good/nochg");
      // The echo is canonical: every part parses and prints back the same.
      for (auto part : dynmx::fuzz::split(*h.echoedAddress, ',')) {
        const auto a = IpAddress::parse(part);
        check(a.has_value() && a->toString() == part, "echoed address canonical");
      }
    }
    if (h.code != c.hosts.front().code) allSame = false;
  }
  if (req.transport != TransportFailure::None) {
    check(c.accountLevel && allSame, "a transport failure applies to every host");
    for (const auto& h : c.hosts)
      check(h.consequence == Consequence::Transient || h.code == ResultCode::Oversized,
            "a transport failure is transient");
  }
  if (c.accountLevel) check(allSame, "account-level results are the same for every host");
  if (req.transport == TransportFailure::None && req.body.size() > kMaxReplyBody)
    for (const auto& h : c.hosts) check(h.code == ResultCode::Oversized, "oversized body");
  // A non-2xx reply never counts as a success for any host.
  const bool success = req.status >= 200 && req.status < 300;
  for (const auto& h : c.hosts) {
    if (h.consequence == Consequence::Ok) {
      check(req.transport == TransportFailure::None, "no success through a transport failure");
      check(h.code == ResultCode::Good || h.code == ResultCode::NoChange, "Ok only for good/nochg");
    }
    if (!success && h.code == ResultCode::HttpError)
      check(h.consequence != Consequence::Ok, "HTTP error never Ok");
  }
  if (c.missingLines)
    check(c.hosts.back().code == ResultCode::Garbage, "a host without a reply line is garbage");
  return 0;
}
