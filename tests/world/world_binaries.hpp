#pragma once
// Where the programs under test are (set by CMake and ctest).
#include <cstdlib>
#include <string>

namespace dynmx::world {

/// `dynmx` (DYNMX_BINARY from ctest, else the build's own).
inline std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : DYNMX_BUILT_BINARY;
}

/// The loopback dyndns2 provider.
inline std::string dyndns2dBinary() { return DYNDNS2D_BINARY; }

}  // namespace dynmx::world
