#pragma once
// The dyndns2 protocol as a provider answers it: accounts, published records and the
// per-request decision. Pure: the caller passes the request's pieces and `nowMs`.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_parser.hpp"
#include "dynmx/result.hpp"

namespace dynmx::dyndns2d {

/// One provider account and the hosts (exact names or `*.zone` patterns) it may update.
struct Account {
  std::string user;
  std::string password;
  std::vector<std::string> hosts;
  bool donator = false;  ///< may use offline=YES
};

/// Parse an accounts file: lines `user:password:host1,host2[:donator]` ('#' comments), or
/// JSON (`[{"user","password","hosts":[...],"donator":bool}]` or `{"accounts":[...]}`).
Result<std::vector<Account>> parseAccounts(std::string_view text);

/// True for a syntactically valid fully-qualified host name (two labels or more).
bool isValidFqdn(std::string_view host);

/// True when `host` matches `pattern` (exact, or `*.zone` = any name below zone).
bool hostMatches(std::string_view pattern, std::string_view host);

/// What is published for one host.
struct Record {
  std::optional<std::string> ipv4;
  std::optional<std::string> ipv6;
  bool offline = false;
  std::string wildcard;  ///< "ON", "OFF" or "" (never set)
  /// mx=HOST: "" = never set (the host's MX is left alone). backmx=YES publishes
  /// MX 10 <host> + MX 20 HOST, backmx=NO MX 10 HOST alone.
  std::string mx;
  bool backmx = false;
  std::string user;      ///< account that last updated it
  std::int64_t updatedMs = 0;
  bool sameContent(const Record& other) const {
    return ipv4 == other.ipv4 && ipv6 == other.ipv6 && offline == other.offline &&
           wildcard == other.wildcard && mx == other.mx && backmx == other.backmx;
  }
  /// The MX RRset this record publishes ("10 host", "20 mx.isp.example"); empty when no mx.
  [[nodiscard]] std::vector<std::string> mxRecords(const std::string& host) const;
};

/// The pieces of an update request the decision needs.
struct UpdateRequest {
  const std::string* authorization = nullptr;  ///< raw Authorization header, if any
  const std::string* userAgent = nullptr;      ///< raw User-Agent header, if any
  Params params;
  std::string peerAddress;  ///< used when myip is absent or malformed
  std::int64_t nowMs = 0;
};

/// A record that changed (for the DNS push).
struct RecordChange {
  std::string host;
  Record record;
};

/// The decision for one update request.
struct UpdateOutcome {
  bool challenge = false;  ///< no credentials at all: answer 401 with WWW-Authenticate
  std::string user;        ///< from the credentials (even when they are wrong)
  std::vector<std::string> hostnames;
  std::string myip;     ///< the raw myip parameter
  std::string offline;  ///< the raw offline parameter
  std::vector<std::string> answer;  ///< one line per host, or one account-level line
  std::vector<RecordChange> changes;
};

/// The first word of an answer line (`good`, `nochg`, `911`, ...).
std::string_view answerCode(std::string_view line);

/// Accounts plus published records: the provider's state.
class Registry {
 public:
  /// `maxHosts` is the per-request hostname limit (more: numhost).
  Registry(std::vector<Account> accounts, std::size_t maxHosts);

  /// Decide and apply one /nic/update request.
  UpdateOutcome update(const UpdateRequest& request);

  /// The host names of a request (split on ',', trimmed), as the server logs them.
  static std::vector<std::string> splitHostnames(std::string_view value);

  /// Forget every record.
  void clear() { records_.clear(); }

  /// The current records by host name.
  [[nodiscard]] const std::map<std::string, Record>& records() const { return records_; }

 private:
  const Account* authenticate(std::string_view authorization, std::string& user) const;

  std::vector<Account> accounts_;
  std::size_t maxHosts_;
  std::map<std::string, Record> records_;
};

/// Fault injection settings, changed at runtime through /control.
struct FaultConfig {
  /// How update requests are answered.
  enum class Mode { Normal, Code, Http, Garbage, Hang, Drip, Huge, Close };
  Mode mode = Mode::Normal;
  std::string code = "911";   ///< mode=code: the answer
  bool codeOnce = false;      ///< mode=code: one line instead of one per host
  int httpStatus = 500;       ///< mode=http
  std::string garbage = "<html>oops</html>";  ///< mode=garbage body
  std::size_t hugeBytes = 10 * 1024 * 1024;   ///< mode=huge body size
  int dripMs = 1000;          ///< mode=drip: pause between bytes
  int delayMs = 0;            ///< before every update answer (any mode)
  std::string publicIp;       ///< what GET /ip answers (an IP-check source); empty = 404
};

/// The mode's name as used by /control.
std::string_view modeName(FaultConfig::Mode mode);

/// Apply /control parameters (`mode=`, `code=`, `status=`, `bytes=`, `delay_ms=`, ...).
/// Sets `reset` when the `reset` command was given. Unknown keys are errors.
Status<> applyControl(FaultConfig& faults, const Params& params, bool& reset);

}  // namespace dynmx::dyndns2d
