#pragma once
// Test helpers: parse what buildUpdate produced, and forge server answers with ldns.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/dnsupdate.hpp"
#include "dynmx/ldns_cxx.hpp"

namespace dynmx::dnsupdate::testing {

inline constexpr const char* kSecret256 = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMyYg==";
inline constexpr const char* kSecret512 =
    "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC02NGJ5dGVz";

TsigKey key256();
TsigKey key512();

/// One RR of a parsed message, flattened for comparisons.
struct Rr {
  std::string owner;  ///< no trailing dot
  std::string type;   ///< "A", "ANY", ...
  std::string cls;    ///< "IN", "ANY", "NONE"
  std::uint32_t ttl = 0;
  std::string rdata;  ///< presentation, "" when empty
  bool operator==(const Rr&) const = default;
};

/// The sections of an UPDATE as ldns parses them back.
struct Parsed {
  std::string zone;
  std::string zoneType;
  std::vector<Rr> prereqs;
  std::vector<Rr> updates;
  bool hasTsig = false;
  std::string tsigAlgorithm;
  long long tsigTime = 0;
  int opcode = 0;
  std::uint16_t id = 0;
};
Parsed parse(const std::vector<std::uint8_t>& wire);

/// How to forge an answer to `request`.
struct AnswerSpec {
  unsigned rcode = 0;
  bool sign = true;                 ///< sign with `signKey` (and the request MAC)
  std::optional<TsigKey> signKey;   ///< default: the request's key
  unsigned tsigError = 0;           ///< BADSIG 16, BADKEY 17, BADTIME 18 (MAC left empty, as BIND does)
  std::optional<std::uint16_t> id;  ///< default: the request's id
  bool truncated = false;
};
std::vector<std::uint8_t> answer(const SignedUpdate& request, const AnswerSpec& spec);

}  // namespace dynmx::dnsupdate::testing

namespace dynmx::dnsupdate::testing {
/// What a server received, as a SignedUpdate (to forge its answer). `key` supplies the secret.
SignedUpdate fromWire(const std::vector<std::uint8_t>& wire, const TsigKey& key);
/// An answer to a plain query (SOA/A) with the given RRs in presentation format.
std::vector<std::uint8_t> queryAnswer(const std::vector<std::uint8_t>& query,
                                      const std::vector<std::string>& rrs);
}  // namespace dynmx::dnsupdate::testing
