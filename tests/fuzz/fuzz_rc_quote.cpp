// The rc string escaper's round-trip property: quote() then fetchmail's unescaping rules
// (unquote) give back the input byte for byte; inputs with NUL are refused.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dynmx/fetchmail_conf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto quoted = dynmx::fetchmail::quote(raw);
  bool hasNul = raw.find('\0') != std::string_view::npos;
  if (hasNul) {
    if (quoted.ok()) std::abort();
    return 0;
  }
  if (!quoted.ok()) std::abort();
  auto back = dynmx::fetchmail::unquote(*quoted);
  if (!back.ok() || *back != raw) std::abort();
  // Quoted text never contains a raw quote, backslash-newline or control byte.
  const std::string& q = *quoted;
  for (std::size_t i = 1; i + 1 < q.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(q[i]);
    if (c == '"' || c == '\'' || c < 0x20 || c >= 0x7f) std::abort();
  }
  // Arbitrary bytes into unquote must not crash.
  (void)dynmx::fetchmail::unquote(raw);
  return 0;
}
