#include "provider_bed.hpp"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "dynmx/process.hpp"
#include "dynmx/time.hpp"

namespace dynmx::fault {

using namespace std::chrono_literals;
using Json = nlohmann::json;

std::string dynmxBinaryPath() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

std::optional<long long> unixSeconds(const Json& value) {
  if (!value.is_string()) return std::nullopt;
  auto t = parseTime(value.get<std::string>());
  if (!t) return std::nullopt;
  return toUnix(*t);
}

std::string curlGet(const std::string& url, const std::vector<std::string>& curlArgs) {
  std::vector<std::string> argv = {"curl", "-s", "--max-time", "10"};
  argv.insert(argv.end(), curlArgs.begin(), curlArgs.end());
  argv.push_back(url);
  auto r = runProcess({.argv = argv, .timeout = 15s});
  return r.started && !r.timedOut && r.exitCode == 0 ? r.out : std::string();
}

long childPeakKiB(const std::vector<std::string>& argv, std::chrono::milliseconds bound) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  const bool ended = testbed::eventually([&] { return ::wait4(pid, &status, WNOHANG, &usage) == pid; }, bound);
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::wait4(pid, &status, 0, &usage);
    return -1;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) != 127 ? usage.ru_maxrss : -1;
}

void handToDaemonUser(const std::string& path) {
  if (const passwd* pw = ::getpwnam("dynmx"); pw != nullptr && ::geteuid() == 0)
    (void)::chown(path.c_str(), pw->pw_uid, pw->pw_gid);
}

ProviderBed::ProviderBed(const std::string& tag) : w(dynmxBinaryPath(), DYNDNS2D_BINARY, tag) {}

Status<> ProviderBed::start() {
  auto s = w.start();
  if (!s.ok()) return s;
  for (const char* f : {"/isp.password", "/ddns.password"}) handToDaemonUser(w.dir.path() + f);
  return Ok{};
}

std::string ProviderBed::policyWith(const std::vector<std::pair<std::string, std::string>>& edits) const {
  std::string p = w.goodPolicy;
  for (const auto& [from, to] : edits) {
    const auto at = p.find(from);
    EXPECT_NE(at, std::string::npos) << "policy has no \"" << from << "\"";
    if (at != std::string::npos) p.replace(at, from.size(), to);
  }
  return p;
}

std::string ProviderBed::providerUrl(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(w.providerPort) + path;
}

bool ProviderBed::control(const std::string& query) {
  const std::string body = curlGet(providerUrl("/control?" + query));
  try {
    const bool ok = Json::parse(body)["result"].get<int>() == 0;
    if (ok && query == "reset") ownReads_ = 0;
    return ok;
  } catch (const std::exception&) {
    ADD_FAILURE() << "provider control " << query << ": " << body;
    return false;
  }
}

Json ProviderBed::stats() {
  ++ownReads_;
  const std::string body = curlGet(providerUrl("/stats"));
  try {
    return Json::parse(body);
  } catch (const std::exception&) {
    ADD_FAILURE() << "provider /stats: " << body;
    return Json::object();
  }
}

long ProviderBed::updateRequests() { return stats().value("requests", -1L); }

long ProviderBed::ipChecks() {
  const Json s = stats();
  return s.value("http_requests", 0L) - s.value("requests", 0L) - s.value("control_requests", 0L) - ownReads_;
}

std::vector<Json> ProviderBed::providerLog() const {
  std::vector<Json> lines;
  std::ifstream in(w.dir.path() + "/provider.log");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      lines.push_back(Json::parse(line));
    } catch (const std::exception&) {
      ADD_FAILURE() << "provider log line is not JSON: " << line;
    }
  }
  return lines;
}

bool ProviderBed::setPublicIp(const std::string& address) { return control("public_ip=" + address); }

std::optional<Json> ProviderBed::status() const {
  auto s = w.status();
  if (!s) return std::nullopt;
  return s->second;
}

Json ProviderBed::hostRow() const {
  auto s = status();
  if (!s || !(*s)["ddns"].is_array() || (*s)["ddns"].empty()) return Json::object();
  return (*s)["ddns"][0];
}

bool ProviderBed::waitHost(const std::function<bool(const Json&)>& cond, std::chrono::milliseconds bound) const {
  return testbed::eventually([&] { return cond(hostRow()); }, bound);
}

bool ProviderBed::freshDirect(const std::string& policy, std::string& why) {
  if (!control("mode=normal&delay_ms=0") || !control("reset")) {
    why = "provider control failed";
    return false;
  }
  if (w.daemon) w.daemon->stop(20s);
  std::error_code ec;
  std::filesystem::remove_all(w.dir.path() + "/state", ec);
  testbed::writeTextFile(w.policyPath, policy, 0644);
  if (auto s = w.startDaemon(); !s.ok()) {
    why = s.error();
    return false;
  }
  const bool direct = testbed::eventually(
      [&] {
        auto s = status();
        return s && (*s)["mode"]["current"] == "direct" && !(*s)["mode"]["switching"].get<bool>() &&
               (*s)["ddns_health"]["state"] == "healthy";
      },
      120s);
  if (!direct) {
    auto s = status();
    why = "not healthy on direct after a fresh start: " + (s ? s->dump(2) : std::string("no status")) + "\n" +
          w.daemon->log();
  }
  return direct;
}

bool ProviderBed::holdsModeFor(int rounds, const std::string& mode, std::string& seen,
                               std::chrono::milliseconds bound) {
  const long start = ipChecks();
  bool held = true;
  const bool ended = testbed::eventually(
      [&] {
        auto s = status();
        if (!s) {
          held = false;
          seen = "no status answer";
          return true;
        }
        if ((*s)["mode"]["current"] != mode) {
          held = false;
          seen = (*s)["mode"].dump();
          return true;
        }
        return ipChecks() >= start + rounds;
      },
      bound);
  if (ended && held) return true;
  if (held) seen = "only " + std::to_string(ipChecks() - start) + " detection rounds happened";
  return false;
}

bool ProviderBed::deposit(const Batch& batch) {
  for (const auto& [id, user] : batch) {
    auto s = w.dovecot->deliver("office", testbed::ispMessage(id, user + "@example.com"));
    if (!s.ok()) {
      ADD_FAILURE() << "deposit " << id << ": " << s.error();
      return false;
    }
  }
  return true;
}

long ProviderBed::lost(const Batch& batch) const {
  std::map<std::string, std::multiset<std::string>> got;
  for (const auto& m : w.sink.messages())
    for (const auto& r : m.recipients) {
      std::string user = r.substr(0, r.find('@'));
      for (auto& c : user) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      got[m.testId].insert(user);
    }
  long n = 0;
  for (const auto& [id, user] : batch) {
    if (got[id] == std::multiset<std::string>{user}) continue;
    ++n;
    std::string seen;
    for (const auto& u : got[id]) seen += " " + u;
    ADD_FAILURE() << "message " << id << " for " << user << " reached:" << (seen.empty() ? " nobody" : seen);
  }
  return n;
}

bool ProviderBed::waitDelivered(const Batch& batch, std::chrono::milliseconds bound) const {
  return w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, batch); }, bound);
}

}  // namespace dynmx::fault
