// Address rules: strict parsing (agrees with inet_pton, canonical text round trips),
// classification (publishable only for public/documentation; spot checks of the
// special-purpose blocks), IP-check bodies, agreement between sources and NAT detection.
//
// Input: lines. Line 0 is also tried as an IP-check body; every line is parsed as an
// address; the parsed addresses are the answers of sources for agree() and detectNat().
#include <arpa/inet.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dynmx/ddns/address.hpp"
#include "fuzz_common.hpp"

using namespace dynmx::ddns;
using dynmx::fuzz::check;

namespace {

bool inV4(const IpAddress& a, std::uint8_t b0, std::uint8_t b1, std::uint8_t b2, int bits) {
  const std::uint32_t v = (std::uint32_t{a.bytes()[0]} << 24) | (std::uint32_t{a.bytes()[1]} << 16) |
                          (std::uint32_t{a.bytes()[2]} << 8) | a.bytes()[3];
  const std::uint32_t p = (std::uint32_t{b0} << 24) | (std::uint32_t{b1} << 16) | (std::uint32_t{b2} << 8);
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (v & mask) == (p & mask);
}

// An independent spelling of the blocks a mail server must never publish.
void checkClass(const IpAddress& a) {
  const AddressClass c = classify(a);
  check(isPublishable(c) == (c == AddressClass::Public || c == AddressClass::Documentation),
        "publishable means public or documentation");
  check(isPublishable(a) == isPublishable(c), "isPublishable overloads agree");
  check(std::string_view(toString(c)) != "unknown", "class has a name");
  const auto& b = a.bytes();
  if (a.family() == Family::V4) {
    for (std::size_t i = 4; i < 16; ++i) check(b[i] == 0, "IPv4 uses four bytes");
    if (inV4(a, 10, 0, 0, 8) || inV4(a, 172, 16, 0, 12) || inV4(a, 192, 168, 0, 16))
      check(c == AddressClass::Private, "RFC 1918 is private");
    if (inV4(a, 100, 64, 0, 10)) check(c == AddressClass::Cgnat, "100.64/10 is CGNAT");
    if (inV4(a, 127, 0, 0, 8)) check(c == AddressClass::Loopback, "127/8 is loopback");
    if (inV4(a, 169, 254, 0, 16)) check(c == AddressClass::LinkLocal, "169.254/16 is link-local");
    if (inV4(a, 224, 0, 0, 4)) check(c == AddressClass::Multicast, "224/4 is multicast");
    if (inV4(a, 0, 0, 0, 8)) check(c == AddressClass::Unspecified, "0/8 is this-network");
    if (inV4(a, 192, 0, 2, 24) || inV4(a, 198, 51, 100, 24) || inV4(a, 203, 0, 113, 24))
      check(c == AddressClass::Documentation, "TEST-NETs are documentation");
    if (inV4(a, 240, 0, 0, 4)) check(!isPublishable(c), "240/4 is never published");
  } else {
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) check(c == AddressClass::LinkLocal, "fe80::/10");
    if ((b[0] & 0xFE) == 0xFC) check(c == AddressClass::UniqueLocal, "fc00::/7");
    if (b[0] == 0xFF) check(c == AddressClass::Multicast, "ff00::/8");
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8)
      check(c == AddressClass::Documentation, "2001:db8::/32");
    if ((b[0] & 0xE0) != 0x20) check(!isPublishable(c), "outside 2000::/3 is never published");
    bool mapped = b[10] == 0xFF && b[11] == 0xFF;
    for (std::size_t i = 0; i < 10; ++i) mapped = mapped && b[i] == 0;
    if (mapped) check(c == AddressClass::V4Mapped, "::ffff:0:0/96 is v4-mapped");
  }
}

std::optional<IpAddress> checkParse(std::string_view text) {
  const auto a = IpAddress::parse(text);
  // The reference: inet_pton on the same bytes as a C string (only without NUL bytes).
  const bool hasNul = text.find('\0') != std::string_view::npos;
  const std::string s(text);
  unsigned char buf[16] = {};
  const bool ref4 = !hasNul && inet_pton(AF_INET, s.c_str(), buf) == 1;
  const bool ref6 = !hasNul && inet_pton(AF_INET6, s.c_str(), buf) == 1;
  if (!a) {
    check(!ref4 && !(ref6 && text.size() <= 45), "parse refuses only what inet_pton refuses");
    return a;
  }
  check(!hasNul, "no NUL in a parsed address");
  check(a->family() == Family::V4 ? ref4 : ref6, "parse accepts only what inet_pton accepts");
  const std::string canon = a->toString();
  check(!canon.empty(), "canonical text");
  const auto again = IpAddress::parse(canon);
  check(again && *again == *a && again->toString() == canon, "canonical text round trip");
  checkClass(*a);
  return a;
}

void checkIpCheckBody(std::string_view body) {
  for (std::optional<Family> want : {std::optional<Family>{}, std::optional<Family>{Family::V4},
                                     std::optional<Family>{Family::V6}}) {
    const auto r = parseIpCheckBody(body, want);
    if (!r.ok()) {
      check(!r.error().empty(), "an IP-check refusal says why");
      continue;
    }
    check(body.size() <= kMaxIpCheckBody, "IP-check body bounded");
    check(!want || r->family() == *want, "IP-check family honoured");
    // The body is exactly one address with optional surrounding white space.
    std::size_t b = 0, e = body.size();
    auto space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
    while (b < e && space(body[b])) ++b;
    while (e > b && space(body[e - 1])) --e;
    const auto token = IpAddress::parse(body.substr(b, e - b));
    check(token && *token == *r, "IP-check body is one address");
  }
}

void checkAgreement(const std::vector<SourceAnswer>& answers) {
  for (Agreement policy : {Agreement::Majority, Agreement::All, Agreement::First}) {
    const auto r = agree(answers, policy);
    if (!r.ok()) {
      check(!r.error().empty(), "disagreement says why");
      continue;
    }
    check(isPublishable(*r), "only a publishable address wins");
    std::size_t votes = 0;
    for (const auto& a : answers) votes += a.address && *a.address == *r ? 1 : 0;
    switch (policy) {
      case Agreement::Majority:
        check(2 * votes > answers.size(), "majority of all sources");
        break;
      case Agreement::All:
        check(votes == answers.size(), "every source agrees");
        break;
      case Agreement::First:
        for (const auto& a : answers) {
          if (!a.address || !isPublishable(*a.address)) continue;
          check(*a.address == *r, "first publishable answer wins");
          break;
        }
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  checkIpCheckBody(in);
  const auto lines = dynmx::fuzz::split(in, '\n');
  std::vector<SourceAnswer> answers;
  for (std::size_t i = 0; i < lines.size() && i < 16; ++i) {
    SourceAnswer s;
    s.source = "https://ip" + std::to_string(i) + ".example.test/";
    s.address = checkParse(lines[i]);
    if (!s.address) s.error = "not an address";
    answers.push_back(std::move(s));
    if (i == 0) checkIpCheckBody(lines[i]);
  }
  checkAgreement(answers);

  const std::optional<IpAddress> iface = answers.size() > 0 ? answers[0].address : std::nullopt;
  const std::optional<IpAddress> web = answers.size() > 1 ? answers[1].address : std::nullopt;
  const NatReport nat = detectNat(iface, web);
  const bool cgnat = (iface && classify(*iface) == AddressClass::Cgnat) ||
                     (web && classify(*web) == AddressClass::Cgnat);
  check((nat.kind == NatKind::Cgnat) == cgnat, "CGNAT iff a side is in 100.64/10");
  if (!cgnat) {
    if (!iface || !web) check(nat.kind == NatKind::Unknown, "one side missing is unknown");
    else check((nat.kind == NatKind::None) == (*iface == *web), "NAT iff the addresses differ");
  }
  check((nat.kind == NatKind::Nat || nat.kind == NatKind::Cgnat) == !nat.text.empty(),
        "a NAT report has a sentence");
  return 0;
}
