// Placeholder until the policy parser lands.
#include "dynmx/policy.hpp"
namespace dynmx {
PolicyLoad parsePolicy(std::string_view, const std::string& fileName) {
  return {std::nullopt, {{fileName, 0, 0, Severity::Error, "policy parser not implemented"}}};
}
}  // namespace dynmx
