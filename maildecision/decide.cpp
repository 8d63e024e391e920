#include "dynmx/maildecision.hpp"
namespace dynmx::mail {
Decision decide(const DecisionInput&) { return {MailMode::Multidrop, {{"todo", "not implemented"}}, {}}; }
}  // namespace dynmx::mail
