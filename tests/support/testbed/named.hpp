#pragma once
// A real BIND9 authoritative server on loopback with one zone that accepts TSIG-signed
// RFC 2136 updates: the DDNS verification target in tests.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dynmx/process.hpp"
#include "dynmx/result.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {

/// What the zone looks like.
struct NamedOptions {
  std::string zone = "example.test";
  std::string keyName = "dynmx-test";
  std::string algorithm = "hmac-sha256";
  std::string updateTypes = "A AAAA TXT MX";  ///< what the key may change (update-policy zonesub)
  std::string extraRecords;  ///< zone-file lines appended after the SOA/NS, e.g. "office 60 IN A 192.0.2.1"
  std::string address = "127.0.0.1";  ///< where named listens (a world's own address, e.g. 192.0.2.53)
  int port = 0;                       ///< 0 = a free loopback port
  int defaultTtl = 60;                ///< $TTL and the SOA minimum (negative caching) of every zone
  /// Further zones this server is authoritative for (not updatable): name → zone-file lines.
  std::vector<std::pair<std::string, std::string>> staticZones;
  /// named.conf lines appended at the end (e.g. `include` of a second TSIG key).
  std::string extraConf;
  /// Statements added inside a static zone's block (e.g. its own `update-policy`): name → text.
  std::map<std::string, std::string> staticZoneStatements;
};

/// `named -g -4 -n 1 -c DIR/named/named.conf` (no -u: as root it would drop privileges
/// before reading the key). Started and stopped by PID.
class Named {
 public:
  /// Generate the TSIG key, write config and zone, start named, wait until it answers SOA.
  static Result<std::unique_ptr<Named>> start(const TempDir& dir, NamedOptions options = {},
                                              std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~Named();
  Named(const Named&) = delete;
  Named& operator=(const Named&) = delete;

  /// The DNS port (UDP and TCP) on address().
  [[nodiscard]] int port() const { return port_; }
  /// The address it listens on.
  [[nodiscard]] const std::string& address() const { return options_.address; }
  /// The zone name (no trailing dot).
  [[nodiscard]] const std::string& zone() const { return options_.zone; }
  /// The TSIG key file (named.conf syntax, accepted by `nsupdate -k`).
  [[nodiscard]] const std::string& keyFile() const { return keyFile_; }
  /// The TSIG key name.
  [[nodiscard]] const std::string& keyName() const { return options_.keyName; }
  /// The TSIG algorithm, e.g. "hmac-sha256".
  [[nodiscard]] const std::string& keyAlgorithm() const { return options_.algorithm; }
  /// The base64 TSIG secret.
  [[nodiscard]] const std::string& keySecret() const { return keySecret_; }

  /// Run nsupdate with `commands` (e.g. "update add office.example.test 60 A 192.0.2.10\n");
  /// the server, zone and final `send` are added. `signed_ = false` sends it without the key.
  ProcessResult nsupdate(const std::string& commands, bool signedUpdate = true) const;
  /// `dig @127.0.0.1 -p PORT NAME TYPE +short` (trimmed output), or the failure.
  Result<std::string> dig(const std::string& name, const std::string& type = "A") const;
  /// Stop by PID (SIGTERM, bounded wait, SIGKILL), always reaped.
  StopOutcome stop();
  /// The server process (log, pid).
  [[nodiscard]] ServerProcess& process() { return *process_; }

 private:
  Named() = default;

  NamedOptions options_;
  std::string root_;
  std::string keyFile_;
  std::string keySecret_;
  int port_ = 0;
  std::unique_ptr<ServerProcess> process_;
};

}  // namespace dynmx::testbed
