// Policy text → model: any bytes must give a PolicyLoad (policy or diagnostics), never a
// crash, and a policy only when there are no errors.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dynmx/policy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  dynmx::PolicyLoad load = dynmx::parsePolicy(text, "fuzz.toml");
  if (load.policy.has_value() == dynmx::hasErrors(load.diagnostics)) std::abort();
  for (const auto& d : load.diagnostics) {
    if (d.message.empty()) std::abort();
    (void)dynmx::formatDiagnostic(d);
  }
  return 0;
}
