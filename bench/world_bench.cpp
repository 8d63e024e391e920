// dynmx in the test suite's loopback world (real BIND9, dovecot as the ISP's domain box,
// fetchmail, the dyndns2 provider pushing into BIND, a mail sink as the local MTA), for the
// two measures the peers have no counterpart for or need the whole world for (issue 5):
//
//   failover: direct and verified → inject a DDNS failure (the record now points at a
//             stranger, nsupdate) → status reports the failure (detection) → multidrop with
//             the validated rc installed and fetchmail running → the message waiting at the
//             ISP reaches the local MTA. Median of --runs, each in a fresh world.
//   idle:     direct and verified with nothing to do: RSS and context switches of the
//             daemon from /proc over --idle-seconds, plus what it sent meanwhile.
//
// Prints one `BENCH-WORLD {json}` line per result (bench/bench.py reads them) and a human
// line each. A benchmark, not a test: nothing here asserts a timing.
//
//   dynmx-bench-world --dynmx PATH --dyndns2d PATH [--runs 3] [--idle-seconds 60]
//                     [--trace-seconds 60] [--only failover|idle]
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dynmx/process.hpp"
#include "dynmx/status/control.hpp"
#include "testbed/loopback_world.hpp"

namespace {

using namespace dynmx::testbed;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string dynmx;
  std::string dyndns2d;
  int runs = 3;
  int idleSeconds = 60;
  int traceSeconds = 0;  ///< after the idle sample: strace the daemon this long (0: no)
};

/// Timers of the measured daemon, stated in the output with every result.
struct Timers {
  std::string checkInterval;   ///< [ddns] check_interval
  std::string verifyInterval;  ///< [ddns.verify] interval
  std::string failingMax;      ///< [health] ddns_failing_max (the grace before leaving direct)
  std::string holdDown;        ///< [health] hold_down
  std::string pollInterval;    ///< [fetchmail] poll_interval
};

double msSince(SteadyClock::time_point t0, SteadyClock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

/// The office policy of LoopbackWorld with the bench's timers (and log level info, as an
/// admin runs it).
std::string policyFor(const LoopbackWorld& w, const Timers& t) {
  const std::string d = w.dir.path();
  const std::string src = "http://127.0.0.1:" + std::to_string(w.providerPort);
  std::ostringstream p;
  p << "[mail]\nmode = \"auto\"\ndomains = [\"example.com\"]\n"
    << "[link]\ntype = \"dedicated\"\ninterface = \"lo\"\n"
    << "[health]\nddns_failing_max = \"" << t.failingMax << "\"\nlink_down_max = \"2s\"\nhold_down = \""
    << t.holdDown << "\"\n"
    << "[isp]\nserver = \"127.0.0.1\"\nprotocol = \"pop3\"\nport = " << w.dovecot->pop3Port()
    << "\ntls = \"none\"\nuser = \"office\"\npassword_file = \"" << d << "/isp.password\"\ntimeout = \"20s\"\n"
    << "[envelope]\nheader = \"X-Original-To\"\nskip = 0\n"
    << "[users]\nmap = { alice = \"alice\", bob = \"bob\", carol = \"carol\" }\npostmaster = \"postmaster\"\n"
    << "[delivery]\nmethod = \"smtp\"\nhost = \"127.0.0.1\"\nport = " << w.sink.port() << "\n"
    << "[fetchmail]\nrc_path = \"" << d << "/fm/fetchmailrc\"\nhome = \"" << d
    << "/fm/home\"\nuser = \"nobody\"\npoll_interval = \"" << t.pollInterval << "\"\n"
    << "[ddns]\nenabled = true\ncheck_interval = \"" << t.checkInterval << "\"\nrequest_timeout = \"10s\"\n"
    << "[ddns.detect]\nipv4 = true\nweb_sources = [\"" << src << "/ip\"]\nagreement = \"first\"\ntimeout = \"5s\"\n"
    << "[ddns.verify]\nservers = [\"127.0.0.1:" << w.named->port() << "\"]\ninterval = \"" << t.verifyInterval
    << "\"\ntimeout = \"2s\"\n"
    << "[[ddns.account]]\nname = \"office\"\nprovider = \"custom\"\nurl = \"" << src << "/nic/update\"\n"
    << "allow_insecure_http = true\nusername = \"office\"\npassword_file = \"" << d << "/ddns.password\"\n"
    << "hosts = [\"" << kWorldHost << "\"]\n"
    << "[daemon]\nstate_dir = \"" << d << "/state\"\ncontrol_socket = \"" << d << "/ctl.sock\"\nlog = \"stderr\"\n"
    << "log_level = \"info\"\n";
  return p.str();
}

/// The daemon's report over its control socket (in-process: ~1 ms, no `dynmx status` exec).
std::optional<Json> report(const LoopbackWorld& w) {
  auto r = dynmx::status::controlQuery(w.dir.path() + "/ctl.sock", {"status", Json::object()}, 2s);
  if (!r.ok() || r->result != 0 || !r->arguments.is_object()) return std::nullopt;
  return r->arguments;
}

bool isDirectAndHealthy(const Json& r) {
  return r["mode"]["current"] == "direct" && !r["mode"]["switching"].get<bool>() &&
         r["ddns_health"]["state"] == "healthy";
}

/// Multidrop in force: no switch in progress, the rc installed (it is only renamed into place
/// after `fetchmail --configdump` accepted it) and the supervised fetchmail running.
bool isMultidropActive(const Json& r, const std::string& rcPath) {
  return r["mode"]["current"] == "multidrop" && !r["mode"]["switching"].get<bool>() &&
         r["fetchmail"]["running"].get<bool>() && ::access(rcPath.c_str(), F_OK) == 0;
}

/// Poll `cond` on the report every millisecond until it holds or `bound` passes.
std::optional<SteadyClock::time_point> pollUntil(const LoopbackWorld& w, const std::function<bool(const Json&)>& cond,
                                                 std::chrono::milliseconds bound) {
  const auto deadline = SteadyClock::now() + bound;
  while (SteadyClock::now() < deadline) {
    if (auto r = report(w); r && cond(*r)) return SteadyClock::now();
    std::this_thread::sleep_for(1ms);
  }
  return std::nullopt;
}

struct ProcStatus {
  long rssKb = -1;
  long voluntary = -1;
  long involuntary = -1;
};

ProcStatus procStatus(pid_t pid) {
  ProcStatus s;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  long value = 0;
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    in >> key >> value;
    if (key == "VmRSS:") s.rssKb = value;
    if (key == "voluntary_ctxt_switches:") s.voluntary = value;
    if (key == "nonvoluntary_ctxt_switches:") s.involuntary = value;
  }
  return s;
}

/// Resident memory by mapping from /proc/PID/smaps: shared objects by file name, the heap,
/// the stack and anonymous mappings (malloc arenas, thread stacks): [Rss, Anonymous] in kB.
Json rssByMapping(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps");
  std::map<std::string, std::pair<long, long>> total;  // name → (Rss, Anonymous)
  std::string line;
  std::string current = "[anon]";
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string first;
    in >> first;
    if (!first.empty() && first.back() != ':') {  // a mapping header: range perms offset dev inode [path]
      std::string perms, offset, dev, inode, path;
      in >> perms >> offset >> dev >> inode;
      std::getline(in, path);
      path.erase(0, path.find_first_not_of(' '));
      if (path.empty()) current = "[anon]";
      else if (path[0] == '[') current = path;
      else current = path.substr(path.rfind('/') + 1);
      continue;
    }
    long kb = 0;
    if (first == "Rss:" && in >> kb) total[current].first += kb;
    if (first == "Anonymous:" && in >> kb) total[current].second += kb;
  }
  Json out = Json::object();
  for (const auto& [name, kb] : total)
    if (kb.first > 0) out[name] = {kb.first, kb.second};
  return out;
}

/// The provider's /stats (updates, all HTTP requests including the /ip checks).
Json providerStats(const LoopbackWorld& w) {
  auto r = dynmx::runProcess(
      {.argv = {"curl", "-s", "http://127.0.0.1:" + std::to_string(w.providerPort) + "/stats"}, .timeout = 10s});
  try {
    return Json::parse(r.out);
  } catch (const std::exception&) {
    return Json::object();
  }
}

/// A world started, dynmx on direct with the record verified. Empty on failure (printed).
std::unique_ptr<LoopbackWorld> directWorld(const Options& o, const Timers& t, const std::string& tag) {
  auto w = std::make_unique<LoopbackWorld>(o.dynmx, o.dyndns2d, tag);
  if (auto s = w->start(); !s.ok()) {
    std::cerr << tag << ": world: " << s.error() << "\n";
    return nullptr;
  }
  // `dynmx run` started as root may become the unprivileged `dynmx` user: its secrets must
  // be readable by that user (and only by it).
  if (const passwd* pw = ::getpwnam("dynmx"); pw != nullptr) {
    for (const char* f : {"/isp.password", "/ddns.password"}) {
      const std::string path = w->dir.path() + f;
      if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0 || ::chmod(path.c_str(), 0600) != 0)
        std::cerr << tag << ": cannot hand " << path << " to dynmx\n";
    }
  }
  w->goodPolicy = policyFor(*w, t);
  writeTextFile(w->policyPath, w->goodPolicy, 0644);
  if (auto s = w->setRecord("192.0.2.1"); !s.ok()) {  // stale until dynmx publishes ours
    std::cerr << tag << ": " << s.error() << "\n";
    return nullptr;
  }
  if (auto s = w->startDaemon(); !s.ok()) {
    std::cerr << tag << ": " << s.error() << "\n";
    return nullptr;
  }
  // A fresh start is on multidrop until the hold-down has passed with DDNS verified.
  if (!pollUntil(*w, isDirectAndHealthy, 90s)) {
    std::cerr << tag << ": never reached direct with DDNS verified\n" << w->daemon->log() << "\n";
    return nullptr;
  }
  return w;
}

void emit(const Json& j) {
  std::cout << "BENCH-WORLD " << j.dump() << "\n" << std::flush;
}

Json timersJson(const Timers& t) {
  return {{"check_interval", t.checkInterval}, {"verify_interval", t.verifyInterval},
          {"ddns_failing_max", t.failingMax}, {"hold_down", t.holdDown}, {"poll_interval", t.pollInterval}};
}

/// One failover: returns {detect_ms, active_ms, mail_ms} from the injection, or an error.
Json failoverOnce(const Options& o, const Timers& t, int run) {
  auto w = directWorld(o, t, "fo" + std::to_string(run));
  if (!w) return {{"error", "world did not reach direct (see stderr)"}};
  const std::string rc = w->dir.path() + "/fm/fetchmailrc";
  // A message the ISP holds while we are on direct (a sender that used a stale MX, or a
  // backup MX): multidrop must fetch it.
  if (auto s = w->dovecot->deliver("office", ispMessage("F1", "alice@example.com")); !s.ok())
    return {{"error", "deliver: " + s.error()}};
  const std::size_t before = w->sink.count();

  std::atomic<bool> mailSeen{false};
  SteadyClock::time_point mailAt{};
  const auto inject = SteadyClock::now();
  if (auto s = w->setRecord(kWorldHijacker); !s.ok()) return {{"error", s.error()}};
  const auto injected = SteadyClock::now();
  std::thread waiter([&] {
    if (w->sink.waitFor([&](const auto& m) { return m.size() > before; }, 60s)) {
      mailAt = SteadyClock::now();
      mailSeen = true;
    }
  });
  auto detected = pollUntil(
      *w, [](const Json& r) { return r["ddns_health"]["state"] != "healthy"; }, 60s);
  std::optional<Json> detectedReport = report(*w);
  auto active = pollUntil(*w, [&](const Json& r) { return isMultidropActive(r, rc); }, 60s);
  waiter.join();
  Json out = {{"measure", "failover"},     {"run", run},
              {"nsupdate_ms", msSince(inject, injected)},
              {"timers", timersJson(t)}};
  if (detectedReport) out["detected_as"] = (*detectedReport)["ddns_health"]["code"];
  if (detected) out["detect_ms"] = msSince(inject, *detected);
  if (active) out["active_ms"] = msSince(inject, *active);
  if (mailSeen) out["mail_ms"] = msSince(inject, mailAt);
  if (!detected || !active || !mailSeen) {
    out["error"] = "a step never happened within 60 s";
    std::cerr << w->daemon->log() << "\n";
  }
  return out;
}

Json idle(const Options& o, const Timers& t) {
  auto w = directWorld(o, t, "idle");
  if (!w) return {{"measure", "idle"}, {"error", "world did not reach direct (see stderr)"}};
  // Let the pass that verified and the switch's persistence finish; then do not touch the
  // daemon (no status queries) while sampling.
  std::this_thread::sleep_for(3s);
  const pid_t pid = w->daemon->pid();
  const Json stats0 = providerStats(*w);
  const ProcStatus s0 = procStatus(pid);
  const auto t0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::seconds(o.idleSeconds));
  const ProcStatus s1 = procStatus(pid);
  const double seconds = msSince(t0, SteadyClock::now()) / 1000.0;
  const Json stats1 = providerStats(*w);
  std::string smapsRollup;
  {
    std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::ostringstream ss;
    ss << f.rdbuf();
    smapsRollup = ss.str();
  }
  Json out = {{"measure", "idle"},
              {"seconds", seconds},
              {"rss_kb", s1.rssKb},
              {"voluntary", s1.voluntary - s0.voluntary},
              {"involuntary", s1.involuntary - s0.involuntary},
              {"timers", timersJson(t)},
              {"smaps_rollup", smapsRollup},
              {"rss_by_mapping", rssByMapping(pid)}};
  // /stats itself is one HTTP request: the first call's own request is in the second count.
  if (stats0.contains("requests") && stats1.contains("requests")) {
    out["updates"] = stats1["requests"].get<long>() - stats0["requests"].get<long>();
    out["other_http"] = stats1["http_requests"].get<long>() - stats0["http_requests"].get<long>() -
                        out["updates"].get<long>() - 1;
  }
  // Then, apart from the sample (ptrace adds its own switches), what woke the daemon: its
  // system calls for another window, for bench.py to group into wake-ups. The daemon is one
  // thread; its children (fetchmail, hooks) are not followed.
  if (o.traceSeconds > 0 && ::access("/usr/bin/strace", X_OK) == 0) {
    const std::string trace = w->dir.path() + "/idle.strace";
    dynmx::runProcess({.argv = {"timeout", "-s", "INT", std::to_string(o.traceSeconds), "/usr/bin/strace", "-tt",
                                "-e",
                                "trace=epoll_wait,epoll_pwait,connect,sendto,sendmsg,recvfrom,recvmsg,"
                                "timerfd_settime,openat,rename,fsync,accept4,clone,clone3,wait4",
                                "-p", std::to_string(pid), "-o", trace},
                       .timeout = std::chrono::seconds(o.traceSeconds + 20)});
    out["strace"] = slurp(trace);
    out["strace_seconds"] = o.traceSeconds;
  }
  // Only now a status query (its control session would show up in the trace).
  if (auto r = report(*w)) out["mode"] = (*r)["mode"]["current"];
  return out;
}

int usage() {
  std::cerr << "usage: dynmx-bench-world --dynmx PATH --dyndns2d PATH [--runs N] [--idle-seconds S] "
               "[--trace-seconds S] [--only failover|idle]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::cerr << "dynmx-bench-world: needs root (dovecot mail users, fetchmail as nobody)\n";
    return 2;
  }
  Options o;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string v = argv[++i];
    if (a == "--dynmx") o.dynmx = v;
    else if (a == "--dyndns2d") o.dyndns2d = v;
    else if (a == "--runs") o.runs = std::atoi(v.c_str());
    else if (a == "--idle-seconds") o.idleSeconds = std::atoi(v.c_str());
    else if (a == "--trace-seconds") o.traceSeconds = std::atoi(v.c_str());
    else if (a == "--only") only = v;
    else return usage();
  }
  if (o.dynmx.empty() || o.dyndns2d.empty() || o.runs < 1 || o.idleSeconds < 1) return usage();

  if (only.empty() || only == "failover") {
    // Verification every second bounds the detection; no grace: leave direct on detection.
    const Timers failoverTimers{"60s", "1s", "0s", "2s", "10s"};
    std::vector<double> detect, active, mail;
    for (int run = 0; run < o.runs; ++run) {
      Json r = failoverOnce(o, failoverTimers, run);
      emit(r);
      if (r.contains("detect_ms") && r.contains("active_ms") && r.contains("mail_ms")) {
        std::cerr << "failover run " << run << ": detect " << r["detect_ms"].get<double>() << " ms, active "
                  << r["active_ms"].get<double>() << " ms, first message " << r["mail_ms"].get<double>()
                  << " ms after injection\n";
      }
    }
  }
  if (only.empty() || only == "idle") {
    // The peers' idle period (60 s) for detection and verification; the default grace.
    const Timers idleTimers{"60s", "60s", "5m", "2s", "10s"};
    Json r = idle(o, idleTimers);
    emit(r);
  }
  return 0;
}
