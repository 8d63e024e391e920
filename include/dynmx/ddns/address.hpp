#pragma once
// Address rules for DDNS: strict parsing, classification, web IP-check bodies, agreement
// between several sources and NAT/CGNAT detection. Pure: no sockets, no clock.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dynmx/result.hpp"

namespace dynmx::ddns {

/// IP version of an address.
enum class Family { V4, V6 };

/// What kind of address this is; decides whether it may ever be published.
enum class AddressClass {
  Public,         ///< globally routable
  Documentation,  ///< 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32 (publishable for tests)
  Private,        ///< RFC 1918
  Cgnat,          ///< 100.64.0.0/10 shared address space (RFC 6598)
  Loopback,       ///< 127/8, ::1
  LinkLocal,      ///< 169.254/16, fe80::/10
  UniqueLocal,    ///< fc00::/7
  Unspecified,    ///< 0.0.0.0/8 (this network), ::
  Multicast,      ///< 224/4, ff00::/8
  Benchmark,      ///< 198.18.0.0/15
  Reserved,       ///< 240/4 (except broadcast), other IETF-reserved blocks
  Broadcast,      ///< 255.255.255.255
  V4Mapped,       ///< ::ffff:0:0/96 (an IPv4 address dressed as IPv6; publish the IPv4 instead)
};

/// An IPv4 or IPv6 address as a value. IPv4 uses the first four bytes.
class IpAddress {
 public:
  /// Parse strict textual form (inet_pton rules: no leading zeros games, no ports, no zones).
  static std::optional<IpAddress> parse(std::string_view text);
  /// Build from four IPv4 bytes.
  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);

  /// V4 or V6.
  [[nodiscard]] Family family() const { return family_; }
  /// Raw bytes (network order); only the first four are meaningful for V4.
  [[nodiscard]] const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  /// Canonical text (inet_ntop): "203.0.113.7", "2001:db8::7".
  [[nodiscard]] std::string toString() const;

  bool operator==(const IpAddress&) const = default;
  auto operator<=>(const IpAddress&) const = default;

 private:
  Family family_ = Family::V4;
  std::array<std::uint8_t, 16> bytes_{};
};

/// Classify an address by the well-known special-purpose blocks.
AddressClass classify(const IpAddress& a);
/// True for Public and Documentation: the only classes ever sent to a provider.
bool isPublishable(AddressClass c);
/// Shorthand for isPublishable(classify(a)).
bool isPublishable(const IpAddress& a);
/// Stable lower-case name: "public", "documentation", "private", "cgnat", ...
const char* toString(AddressClass c);
/// "ipv4" / "ipv6".
const char* toString(Family f);

/// The largest IP-check body we accept; anything longer is not a bare address.
inline constexpr std::size_t kMaxIpCheckBody = 64;

/// Parse a web IP-check reply strictly: optional surrounding spaces/tabs/CR/LF, then exactly
/// one address and nothing else. `want` restricts the family when set.
Result<IpAddress> parseIpCheckBody(std::string_view body, std::optional<Family> want = std::nullopt);

/// How the answers of several IP-check sources are combined.
enum class Agreement {
  Majority,  ///< more than half of ALL configured sources name the same publishable address
  All,       ///< every configured source answered, and all with the same publishable address
  First,     ///< the first source (in configured order) with a publishable answer
};

/// Parse "majority" | "all" | "first".
std::optional<Agreement> parseAgreement(std::string_view text);

/// One source's outcome: an address, or the reason it has none.
struct SourceAnswer {
  std::string source;                ///< the URL or label of the source (for reasons)
  std::optional<IpAddress> address;  ///< set when the source answered with a parseable address
  std::string error;                 ///< why there is no address (transport, parse)
};

/// Choose the address the sources agree on, or say why there is none. Non-publishable
/// answers never win; they count as failed sources.
Result<IpAddress> agree(const std::vector<SourceAnswer>& answers, Agreement policy);

/// What the interface-vs-web comparison says about the path to the Internet.
enum class NatKind {
  Unknown,  ///< one side missing: nothing to compare
  None,     ///< the interface holds the public address itself
  Nat,      ///< the interface address differs from the web address (port forwarding needed)
  Cgnat,    ///< carrier-grade NAT: inbound SMTP cannot reach us at all
};

/// The NAT report value.
struct NatReport {
  NatKind kind = NatKind::Unknown;
  std::optional<IpAddress> interfaceAddress;
  std::optional<IpAddress> webAddress;
  std::string text;  ///< human sentence; empty for Unknown/None
};

/// Compare the interface address with the web-seen address (same family expected).
NatReport detectNat(const std::optional<IpAddress>& interfaceAddress,
                    const std::optional<IpAddress>& webAddress);

/// "unknown" / "none" / "nat" / "cgnat".
const char* toString(NatKind k);

}  // namespace dynmx::ddns
