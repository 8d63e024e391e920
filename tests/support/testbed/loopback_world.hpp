#pragma once
// The loopback world dynmx lives in, for the end-to-end test and the demo: BIND9 with the
// zone, the dyndns2 provider pushing into it (and serving GET /ip as the IP-check source),
// dovecot with the ISP's domain box, a mail sink as the local MTA, a policy file, and
// `dynmx run` itself. Everything on 127.0.0.1 high ports in one temp dir.
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dynmx/result.hpp"
#include "testbed/dovecot.hpp"
#include "testbed/mail_sink.hpp"
#include "testbed/named.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {

/// The DDNS hostname, the address we have, and a stranger's address.
inline constexpr const char* kWorldHost = "office.example.test";
inline constexpr const char* kWorldAddress = "203.0.113.7";
inline constexpr const char* kWorldHijacker = "198.51.100.66";

/// The user `dynmx run` becomes when started as root (scripts/deps.sh creates it).
inline constexpr const char* kDaemonUser = "dynmx";

/// Started as root, dynmx runs as kDaemonUser: hand it files it must read or write (as an
/// admin would chown its password files). No-op when not root or without that user.
void giveToDaemonUser(const std::vector<std::string>& paths);

/// A message as the ISP stores it: its own Delivered-To first, then the envelope headers.
std::string ispMessage(const std::string& id, const std::string& rcpt);

/// What `dynmx status --json` prints for the daemon whose control socket is DIR/ctl.sock
/// → (its exit code, the report), asked over the socket directly; nullopt if the daemon did
/// not answer. `dynmxBinary` is unused (kept for the callers).
std::optional<std::pair<int, nlohmann::json>> daemonStatus(const std::string& dynmxBinary, const std::string& dir);

/// Requests the loopback dyndns2 provider on 127.0.0.1:`port` answered (its /stats); -1 if
/// it did not answer.
long providerRequestCount(int port);

/// Poll an observable condition until it holds or `bound` passes.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds bound);

/// True when every test id in `expected` is among `messages`.
bool allDelivered(const std::vector<SinkMessage>& messages, const std::map<std::string, std::string>& expected);

/// The running world.
class LoopbackWorld {
 public:
  /// `dynmxBinary` and `dyndns2dBinary`: paths of the built programs.
  LoopbackWorld(std::string dynmxBinary, std::string dyndns2dBinary, std::string tag = "world");
  ~LoopbackWorld();

  /// Start named, dovecot, the provider and write the policy (not yet dynmx).
  Status<> start();
  /// Start (or restart) `dynmx run` and wait until its control socket answers.
  Status<> startDaemon();
  /// Point the A record somewhere (as an attacker or the admin would, with nsupdate).
  Status<> setRecord(const std::string& address) const;
  /// `dynmx status --json` → (exit code, report); nullopt if the daemon did not answer.
  std::optional<std::pair<int, nlohmann::json>> status() const;
  /// The human `dynmx status` output and its exit code.
  std::pair<int, std::string> statusText() const;
  /// Wait until the mode is `want` and no switch is in progress.
  bool waitForMode(const std::string& want, std::chrono::milliseconds bound) const;
  /// Update requests the provider has seen.
  long providerRequests() const;
  /// Run a dynmx subcommand, returning exit code and stdout+stderr.
  std::pair<int, std::string> dynmx(std::vector<std::string> args) const;

  TempDir dir;
  std::unique_ptr<Named> named;
  std::unique_ptr<Dovecot> dovecot;
  MailSink sink;
  std::unique_ptr<ServerProcess> provider;
  std::unique_ptr<ServerProcess> daemon;
  int providerPort = 0;
  std::string policyPath;
  std::string goodPolicy;
  /// Appended to the policy start() writes (e.g. an [[mx]] table); set before start().
  std::string extraPolicy;

 private:
  std::string policyText() const;
  std::string dynmxBinary_;
  std::string dyndns2dBinary_;
  int daemonStarts_ = 0;
};

}  // namespace dynmx::testbed
