#pragma once
// Helpers shared by the fuzz targets: a loud invariant check (libFuzzer keeps the input
// that aborted) and splitting of the text headers the seed files use.
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace dynmx::fuzz {

/// Abort with the violated invariant named, so a crash report says what broke.
inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

/// Split `s` at `sep`, keeping empty pieces.
inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

/// True when every byte is printable ASCII.
inline bool printable(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7F) return false;
  }
  return true;
}

}  // namespace dynmx::fuzz
