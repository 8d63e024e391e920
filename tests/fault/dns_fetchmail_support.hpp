#pragma once
// What the fault classes in the senders' world share with the fault library (header only:
// each class is its own test binary): policy edits, a file handed to the daemon's user, and
// the switch journal.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "testbed/loopback_world.hpp"  // testbed::eventually, writeTextFile

namespace dynmx::fault {

using Json = nlohmann::json;

/// `text` with the one occurrence of `from` replaced by `to`; a test failure if it is not there.
inline std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "the policy has no \"" << from << "\"";
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

/// Change the owner of a file the daemon reads to the `dynmx` system user, if it exists.
inline void giveToDaemonUser(const std::string& path) {
  if (const passwd* pw = ::getpwnam("dynmx"); pw != nullptr)
    (void)!::chown(path.c_str(), pw->pw_uid, pw->pw_gid);
}

/// Did the switch journal record a switch to `to` after the first `skip` entries?
inline bool switchedToAfter(const Json& status, std::size_t skip, const std::string& to) {
  const Json& j = status["switches"];
  for (std::size_t i = skip; i < j.size(); ++i)
    if (j[i]["to"] == to) return true;
  return false;
}

}  // namespace dynmx::fault
