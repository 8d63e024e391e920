#pragma once
// Loopback ports for test servers.
#include <chrono>
#include <functional>

namespace dynmx::testbed {

/// A port on 127.0.0.1 that was free for both TCP and UDP a moment ago (bind to 0, read
/// it, close). Throws std::runtime_error if none can be found.
int freePort();

/// Poll connect() to 127.0.0.1:port until it succeeds or `timeout` passes. `stillAlive`,
/// if given, is asked between attempts so a server that died is reported at once.
bool waitForPort(int port, std::chrono::milliseconds timeout,
                 const std::function<bool()>& stillAlive = {});

}  // namespace dynmx::testbed
