#pragma once
// unbound as the senders' caching resolver: stub zones to the world's BIND, no DNSSEC,
// default caching (answers live for their TTL), started in the foreground, stopped by PID.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dynmx/result.hpp"
#include "testbed/server_process.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::world {

/// `unbound -d -c DIR/unbound/unbound.conf` on address:53.
class Unbound {
 public:
  /// Serve on `address`, with every zone in `stubZones` sent to `authority` (an address, port 53).
  static Result<std::unique_ptr<Unbound>> start(const testbed::TempDir& dir, const std::string& address,
                                                const std::string& authority,
                                                const std::vector<std::string>& stubZones,
                                                std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~Unbound();
  Unbound(const Unbound&) = delete;
  Unbound& operator=(const Unbound&) = delete;

  /// `dig @address NAME TYPE +short` through the cache (what a sender would get now).
  [[nodiscard]] Result<std::string> lookup(const std::string& name, const std::string& type) const;
  /// Stop by PID, always reaped.
  testbed::StopOutcome stop();

 private:
  Unbound() = default;
  std::string address_;
  std::unique_ptr<testbed::ServerProcess> process_;
};

}  // namespace dynmx::world
