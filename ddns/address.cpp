#include "dynmx/ddns/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <map>

namespace dynmx::ddns {

namespace {

// Longest textual IPv6 address including an embedded IPv4 tail.
constexpr std::size_t kMaxAddressText = 45;

bool inPrefix(const IpAddress& a, std::initializer_list<std::uint8_t> prefix, int bits) {
  const auto& b = a.bytes();
  auto it = prefix.begin();
  for (int i = 0; bits > 0; ++i, ++it, bits -= 8) {
    const std::uint8_t want = it == prefix.end() ? 0 : *it;
    const int n = std::min(bits, 8);
    const auto mask = static_cast<std::uint8_t>(0xFFu << (8 - n));
    if ((b[static_cast<std::size_t>(i)] & mask) != (want & mask)) return false;
  }
  return true;
}

AddressClass classifyV4(const IpAddress& a) {
  const auto& b = a.bytes();
  if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return AddressClass::Broadcast;
  if (inPrefix(a, {0}, 8)) return AddressClass::Unspecified;
  if (inPrefix(a, {10}, 8) || inPrefix(a, {172, 16}, 12) || inPrefix(a, {192, 168}, 16))
    return AddressClass::Private;
  if (inPrefix(a, {100, 64}, 10)) return AddressClass::Cgnat;
  if (inPrefix(a, {127}, 8)) return AddressClass::Loopback;
  if (inPrefix(a, {169, 254}, 16)) return AddressClass::LinkLocal;
  if (inPrefix(a, {192, 0, 2}, 24) || inPrefix(a, {198, 51, 100}, 24) ||
      inPrefix(a, {203, 0, 113}, 24))
    return AddressClass::Documentation;
  if (inPrefix(a, {198, 18}, 15)) return AddressClass::Benchmark;
  if (inPrefix(a, {224}, 4)) return AddressClass::Multicast;
  if (inPrefix(a, {240}, 4)) return AddressClass::Reserved;
  // IETF protocol assignments and the retired 6to4 relay anycast block.
  if (inPrefix(a, {192, 0, 0}, 24) || inPrefix(a, {192, 88, 99}, 24)) return AddressClass::Reserved;
  return AddressClass::Public;
}

AddressClass classifyV6(const IpAddress& a) {
  const auto& b = a.bytes();
  const bool zero96 = std::all_of(b.begin(), b.begin() + 12, [](std::uint8_t x) { return x == 0; });
  if (zero96 && b[12] == 0 && b[13] == 0 && b[14] == 0) {
    if (b[15] == 0) return AddressClass::Unspecified;
    if (b[15] == 1) return AddressClass::Loopback;
  }
  if (inPrefix(a, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, 96)) return AddressClass::V4Mapped;
  if (inPrefix(a, {0xFE, 0x80}, 10)) return AddressClass::LinkLocal;
  if (inPrefix(a, {0xFC}, 7)) return AddressClass::UniqueLocal;
  if (inPrefix(a, {0xFF}, 8)) return AddressClass::Multicast;
  if (inPrefix(a, {0x20, 0x01, 0x0D, 0xB8}, 32)) return AddressClass::Documentation;
  // Only 2000::/3 is allocated as global unicast; everything else is special or unassigned.
  if (!inPrefix(a, {0x20}, 3)) return AddressClass::Reserved;
  return AddressClass::Public;
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > kMaxAddressText) return std::nullopt;
  // inet_pton reads a C string: an embedded NUL would silently cut the input short.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string s(text);
  IpAddress out;
  if (s.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, s.c_str(), out.bytes_.data()) != 1) return std::nullopt;
    out.family_ = Family::V6;
  } else {
    if (inet_pton(AF_INET, s.c_str(), out.bytes_.data()) != 1) return std::nullopt;
    out.family_ = Family::V4;
  }
  return out;
}

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress out;
  out.family_ = Family::V4;
  out.bytes_[0] = a;
  out.bytes_[1] = b;
  out.bytes_[2] = c;
  out.bytes_[3] = d;
  return out;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  const int af = family_ == Family::V4 ? AF_INET : AF_INET6;
  if (inet_ntop(af, bytes_.data(), buf, sizeof buf) == nullptr) return {};
  return buf;
}

AddressClass classify(const IpAddress& a) {
  return a.family() == Family::V4 ? classifyV4(a) : classifyV6(a);
}

bool isPublishable(AddressClass c) {
  return c == AddressClass::Public || c == AddressClass::Documentation;
}

bool isPublishable(const IpAddress& a) { return isPublishable(classify(a)); }

const char* toString(AddressClass c) {
  switch (c) {
    case AddressClass::Public: return "public";
    case AddressClass::Documentation: return "documentation";
    case AddressClass::Private: return "private";
    case AddressClass::Cgnat: return "cgnat";
    case AddressClass::Loopback: return "loopback";
    case AddressClass::LinkLocal: return "link-local";
    case AddressClass::UniqueLocal: return "unique-local";
    case AddressClass::Unspecified: return "unspecified";
    case AddressClass::Multicast: return "multicast";
    case AddressClass::Benchmark: return "benchmark";
    case AddressClass::Reserved: return "reserved";
    case AddressClass::Broadcast: return "broadcast";
    case AddressClass::V4Mapped: return "ipv4-mapped";
  }
  return "unknown";
}

const char* toString(Family f) { return f == Family::V4 ? "ipv4" : "ipv6"; }

Result<IpAddress> parseIpCheckBody(std::string_view body, std::optional<Family> want) {
  if (body.size() > kMaxIpCheckBody)
    return fail("reply too long for a bare address (" + std::to_string(body.size()) + " bytes)");
  std::size_t b = 0;
  std::size_t e = body.size();
  while (b < e && isSpace(body[b])) ++b;
  while (e > b && isSpace(body[e - 1])) --e;
  const std::string_view token = body.substr(b, e - b);
  if (token.empty()) return fail(std::string("empty reply"));
  for (char c : token) {
    if (isSpace(c)) return fail(std::string("reply has more than one token"));
    if (c == '<' || c == '>') return fail(std::string("reply looks like HTML, not an address"));
  }
  auto addr = IpAddress::parse(token);
  if (!addr) return fail(std::string("reply is not an IP address"));
  if (want && addr->family() != *want)
    return fail(std::string("reply is an ") + toString(addr->family()) + " address, wanted " +
                toString(*want));
  return *addr;
}

std::optional<Agreement> parseAgreement(std::string_view text) {
  if (text == "majority") return Agreement::Majority;
  if (text == "all") return Agreement::All;
  if (text == "first") return Agreement::First;
  return std::nullopt;
}

Result<IpAddress> agree(const std::vector<SourceAnswer>& answers, Agreement policy) {
  if (answers.empty()) return fail(std::string("no address sources configured"));
  // Only publishable answers vote; a source that reports a private address is broken for us.
  std::vector<std::optional<IpAddress>> votes;
  std::string firstProblem;
  for (const auto& a : answers) {
    if (a.address && isPublishable(*a.address)) {
      votes.emplace_back(a.address);
      continue;
    }
    votes.emplace_back(std::nullopt);
    if (firstProblem.empty()) {
      firstProblem = a.source + ": " +
                     (a.address ? std::string("answered non-publishable ") +
                                      toString(classify(*a.address)) + " address " +
                                      a.address->toString()
                                : (a.error.empty() ? std::string("no answer") : a.error));
    }
  }
  switch (policy) {
    case Agreement::First:
      for (const auto& v : votes)
        if (v) return *v;
      return fail("no source gave a publishable address (" + firstProblem + ")");
    case Agreement::All: {
      if (!firstProblem.empty()) return fail("agreement=all, but " + firstProblem);
      for (const auto& v : votes)
        if (*v != *votes.front())
          return fail("agreement=all, but sources disagree (" + votes.front()->toString() +
                      " vs " + v->toString() + ")");
      return *votes.front();
    }
    case Agreement::Majority: {
      std::map<IpAddress, std::size_t> counts;
      for (const auto& v : votes)
        if (v) ++counts[*v];
      for (const auto& [addr, n] : counts)
        if (2 * n > answers.size()) return addr;
      std::string detail = firstProblem.empty() ? "sources disagree" : firstProblem;
      return fail("no address named by a majority of " + std::to_string(answers.size()) +
                  " sources (" + detail + ")");
    }
  }
  return fail(std::string("unknown agreement policy"));
}

NatReport detectNat(const std::optional<IpAddress>& interfaceAddress,
                    const std::optional<IpAddress>& webAddress) {
  NatReport r;
  r.interfaceAddress = interfaceAddress;
  r.webAddress = webAddress;
  const bool ifCgnat = interfaceAddress && classify(*interfaceAddress) == AddressClass::Cgnat;
  const bool webCgnat = webAddress && classify(*webAddress) == AddressClass::Cgnat;
  // An interface in 100.64/10 means the carrier's NAT sits in front of us: the address the
  // web sees is shared with other customers and no inbound connection can reach us.
  if (ifCgnat || webCgnat) {
    r.kind = NatKind::Cgnat;
    r.text = "behind carrier-grade NAT: " +
             (ifCgnat ? "interface address " + interfaceAddress->toString()
                      : "web-seen address " + webAddress->toString()) +
             " is in 100.64.0.0/10; inbound SMTP cannot reach this host";
    return r;
  }
  if (!interfaceAddress || !webAddress) return r;
  if (*interfaceAddress == *webAddress) {
    r.kind = NatKind::None;
    return r;
  }
  r.kind = NatKind::Nat;
  r.text = "behind NAT: interface address " + interfaceAddress->toString() +
           " differs from the web-seen address " + webAddress->toString() +
           "; port 25 must be forwarded";
  return r;
}

const char* toString(NatKind k) {
  switch (k) {
    case NatKind::Unknown: return "unknown";
    case NatKind::None: return "none";
    case NatKind::Nat: return "nat";
    case NatKind::Cgnat: return "cgnat";
  }
  return "unknown";
}

}  // namespace dynmx::ddns
