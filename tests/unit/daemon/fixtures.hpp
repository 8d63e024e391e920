#pragma once
// Reports shared by the status tests: documentation addresses and .example names only.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "dynmx/status.hpp"

namespace dynmx::status::test {

inline TimePoint at(const char* rfc3339) { return *parseTime(rfc3339); }

/// A report on multidrop because the published record is wrong (WARNING).
inline Report multidropMismatch() {
  Report r;
  r.daemon.running = true;
  r.daemon.pid = 123;
  r.daemon.since = at("2026-11-23T08:00:00Z");
  r.daemon.policyFile = "/etc/dynmx/dynmx.toml";
  r.daemon.version = "0.1.0";
  r.mode.current = "multidrop";
  r.mode.wanted = "multidrop";
  r.mode.since = at("2026-11-23T10:00:00Z");
  r.mode.policy = "auto";
  r.mode.reasons = {{"ddns.mismatch", "office.example.com resolves to 198.51.100.9 at ns1, expected 203.0.113.7",
                     at("2026-11-23T09:55:00Z")}};
  r.mode.reviewAt = at("2026-11-23T12:30:00Z");
  r.link = {"dedicated", "eth0", true, at("2026-11-23T08:00:00Z")};
  r.ddns.health = "failing";
  r.ddns.code = "ddns.mismatch";
  r.ddns.text = "office.example.com resolves to 198.51.100.9 at ns1, expected 203.0.113.7";
  r.ddns.since = at("2026-11-23T09:55:00Z");
  r.ddns.publicAddress = "203.0.113.7";
  DdnsHostInfo h;
  h.host = "office.example.com";
  h.account = "main";
  h.provider = "dyn";
  h.address = "203.0.113.7";
  h.verified = false;
  h.verification = "ns1.example.net answers 198.51.100.9";
  h.lastResult = "good";
  h.lastUpdate = at("2026-11-23T09:50:00Z");
  r.ddns.hosts.push_back(h);
  DdnsHostInfo h2 = h;
  h2.host = "mail.example.com";
  h2.verified = true;
  h2.verification = "";
  h2.lastResult = "nochg";
  h2.retryAfter = at("2026-11-23T10:30:00Z");
  r.ddns.hosts.push_back(h2);
  r.fetchmail.wanted = true;
  r.fetchmail.running = true;
  r.fetchmail.pid = 456;
  r.fetchmail.lastPoll = at("2026-11-23T12:10:00Z");
  r.fetchmail.lastExit = 1;
  r.fetchmail.polls = 26;
  r.fetchmail.messagesWaiting = 0;
  r.switches.push_back({at("2026-11-23T10:00:00Z"), "direct", "multidrop", {"ddns.mismatch"},
                        "office.example.com resolves to 198.51.100.9"});
  r.hooks.push_back({at("2026-11-23T10:00:01Z"), "/usr/local/sbin/smtp-off", "multidrop", true, ""});
  return r;
}

/// A healthy direct report (OK).
inline Report directHealthy() {
  Report r = multidropMismatch();
  r.mode.current = "direct";
  r.mode.wanted = "direct";
  r.mode.reasons = {{"ddns.healthy", "every host verified", {}}};
  r.mode.reviewAt.reset();
  r.ddns.health = "healthy";
  r.ddns.code.clear();
  r.ddns.text.clear();
  r.ddns.hosts[0].verified = true;
  r.fetchmail = {};
  return r;
}

inline std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Compare with a golden file; DYNMX_UPDATE_GOLDEN=1 rewrites it instead, and fails (a run
/// that rewrites compared nothing, so it must never pass).
inline void expectGolden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(DYNMX_TEST_DATA_DIR) + "/golden/" + name;
  if (const char* update = std::getenv("DYNMX_UPDATE_GOLDEN"); update != nullptr && std::string(update) == "1") {
    std::ofstream(path) << actual;
    ADD_FAILURE() << "rewrote " << path << " (DYNMX_UPDATE_GOLDEN=1): review the diff, then run without it";
    return;
  }
  EXPECT_EQ(readAll(path), actual) << "golden file " << path;
}

}  // namespace dynmx::status::test
