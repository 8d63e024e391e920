// The DDNS state loader: any bytes give a store or an error value (never a throw); a loaded
// store re-serialises and loads to the same value, and that text is a fixed point.
#include <cstdint>
#include <string>
#include <string_view>

#include "dynmx/ddns/address.hpp"
#include "dynmx/ddns/provider.hpp"
#include "dynmx/ddns/state.hpp"
#include "fuzz_common.hpp"

using namespace dynmx::ddns;
using dynmx::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto loaded = parseState(in);
  if (!loaded.ok()) {
    check(!loaded.error().empty(), "a refused state file says why");
    check(loaded.error().rfind("state:", 0) == 0, "state errors are prefixed");
    return 0;
  }
  for (const auto& [key, s] : loaded->hosts) {
    check(key.first == s.account && key.second == s.host, "records keyed by account and host");
    check(s.consecutiveFailures >= 0 && s.unexpectedNochg >= 0, "counters not negative");
    for (const std::string* a : {&s.lastAddressSent, &s.confirmedAddress})
      check(a->empty() || parseAddressSet(*a).has_value(), "stored addresses are well formed");
  }
  const std::string text = toJson(*loaded);
  const auto again = parseState(text);
  check(again.ok(), "a serialised store loads");
  check(*again == *loaded, "load(save(load(x))) == load(x)");
  check(toJson(*again) == text, "serialisation is a fixed point");
  return 0;
}
