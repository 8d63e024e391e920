#pragma once
// Asynchronous DNS on the Asio loop with c-ares: ask one named server directly (no
// recursion) so DDNS verification sees what the zone's authoritative servers publish.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dynmx::net {

/// Record types we ask for.
enum class RecordType { A, AAAA, NS, MX, SOA };

/// Failure classes of one query.
enum class DnsError {
  None,
  NoData,       ///< name exists, no record of that type
  NxDomain,     ///< name does not exist
  ServFail,
  Refused,
  Timeout,
  BadResponse,  ///< malformed or truncated beyond repair
  ConnRefused,
  Other,
};

/// A server to ask, with its port.
struct DnsServer {
  std::string address;  ///< literal IPv4/IPv6
  int port = 53;
};

/// One question to one server set.
struct DnsQuery {
  std::string name;
  RecordType type = RecordType::A;
  std::vector<DnsServer> servers;  ///< empty = the system's resolvers (recursion allowed then)
  bool recursionDesired = false;
  bool useTcp = false;
  std::chrono::milliseconds timeout{std::chrono::seconds(3)};
  int tries = 2;
};

/// The answer.
struct DnsResult {
  DnsError error = DnsError::None;
  std::string errorText;
  /// A/AAAA: addresses (canonical text); NS: names; MX: "PREFERENCE host" (lower-case, no
  /// trailing dot); SOA: the primary's name (MNAME).
  std::vector<std::string> values;
  std::uint32_t ttl = 0;            ///< smallest TTL among the answers
  bool authoritative = false;       ///< the AA bit was set
  /// NXDOMAIN or NODATA: how long a resolver may cache the absence (RFC 2308 §5: the
  /// smaller of the authority section's SOA TTL and its MINIMUM); nullopt without an SOA
  /// there (such an answer is not cached negatively).
  std::optional<std::uint32_t> negativeTtl;
};

/// The negative-caching TTL of a DNS reply (wire format), as `DnsResult::negativeTtl`.
std::optional<std::uint32_t> negativeCacheTtl(const unsigned char* reply, std::size_t length);

/// Completion callback; always called exactly once, on the io_context.
using DnsHandler = std::function<void(DnsResult)>;

/// The seam the verifier talks to (a fake replaces it in unit tests).
class DnsResolver {
 public:
  virtual ~DnsResolver() = default;
  /// Start a query; `done` runs on the io_context.
  virtual void query(DnsQuery q, DnsHandler done) = 0;
};

/// The real resolver: c-ares channels driven by Asio descriptors and a timer.
std::unique_ptr<DnsResolver> makeAresResolver(boost::asio::io_context& io);

/// Human name of an error class ("servfail", "timeout", ...).
const char* toString(DnsError e);

}  // namespace dynmx::net
