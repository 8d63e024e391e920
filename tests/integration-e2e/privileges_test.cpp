// Who runs as whom (issue 6, privileges): started as root, `dynmx run` becomes [daemon] user
// for good with CAP_SETUID/SETGID/CHOWN/KILL only; fetchmail runs as its own user with no
// capabilities; hooks never run as root; the control socket and the state files are not
// world-readable or -writable; a missing or root daemon user is refused with a clear error.
// Read from /proc of the real processes, in the real world (named, dovecot, provider).
#include <gtest/gtest.h>

#include <algorithm>
#include <pwd.h>
#include <sys/stat.h>

#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>

#include "dynmx/process.hpp"
#include "testbed/loopback_world.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

/// "Key:\tvalue" lines of /proc/PID/status.
std::map<std::string, std::string> procStatus(pid_t pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    out[line.substr(0, colon)] = value;
  }
  return out;
}

unsigned long long capMask(const std::string& hex) { return std::stoull(hex, nullptr, 16); }

/// Children of `parent` whose command name is `comm`.
/// The first field of "Uid:\treal\teffective\tsaved\tfs" etc., all four must be `id`.
bool allIdsAre(const std::string& line, unsigned id) {
  std::istringstream in(line);
  unsigned v = 0;
  int n = 0;
  while (in >> v) {
    if (v != id) return false;
    ++n;
  }
  return n == 4;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

constexpr unsigned long long kKept = (1ULL << 0) /*CHOWN*/ | (1ULL << 5) /*KILL*/ | (1ULL << 6) /*SETGID*/ |
                                     (1ULL << 7) /*SETUID*/;

TEST(Privileges, DaemonBecomesItsUserFetchmailAndHooksAreNeverRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the point is dropping it";
  const passwd* daemonUser = ::getpwnam(kDaemonUser);
  ASSERT_NE(daemonUser, nullptr) << "scripts/deps.sh creates the user " << kDaemonUser;
  const uid_t duid = daemonUser->pw_uid;
  const gid_t dgid = daemonUser->pw_gid;
  const passwd* nobodyEntry = ::getpwnam("nobody");  // a static buffer: keep the uid only
  ASSERT_NE(nobodyEntry, nullptr);
  const uid_t nobodyUid = nobodyEntry->pw_uid;

  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "priv");
  ASSERT_TRUE(w.start().ok());
  const std::string hookDir = w.dir.path() + "/hook";
  ::mkdir(hookDir.c_str(), 0700);
  giveToDaemonUser({hookDir});
  // The fetchmail wrapper writes where fetchmail's user can.
  const std::string probeDir = w.dir.path() + "/fm-probe";
  ::mkdir(probeDir.c_str(), 01777);
  ::chmod(probeDir.c_str(), 01777);
  const std::string wrapper = w.dir.path() + "/fetchmail-probe";
  writeTextFile(wrapper,
                "#!/bin/sh\n"
                "out=" + probeDir + "/fm.$$\n"
                "{ grep -E '^(Uid|Cap(Eff|Prm|Amb)):' /proc/self/status; echo \"argv: $*\"; echo end; } > $out.tmp\n"
                "mv $out.tmp $out\n"
                "exec /usr/bin/fetchmail \"$@\"\n",
                0755);
  std::string policy = w.goodPolicy;
  const std::string debug = "log_level = \"debug\"";
  ASSERT_NE(policy.find(debug), std::string::npos);
  policy.replace(policy.find(debug), debug.size(), "log_level = \"info\"");
  const std::string pollLine = "poll_interval = \"10s\"\n";
  ASSERT_NE(policy.find(pollLine), std::string::npos);
  policy.insert(policy.find(pollLine), "binary = \"" + wrapper + "\"\n");
  // [daemon] is the policy's last table, so the hook can follow it.
  writeTextFile(w.policyPath,
                policy + "[[daemon.hook]]\nargv = [\"/bin/sh\", \"-c\", \"grep -E '^(Uid|Cap(Eff|Prm|Amb)):' "
                               "/proc/self/status > " + hookDir + "/hook.$$\"]\n",
                0644);
  ASSERT_TRUE(w.startDaemon().ok());
  const pid_t daemon = w.daemon->pid();

  // The daemon: every uid and gid is the daemon user's, no supplementary groups, and only
  // the four capabilities, none of them inheritable or ambient.
  auto st = procStatus(daemon);
  EXPECT_TRUE(allIdsAre(st["Uid"], duid)) << st["Uid"];
  EXPECT_TRUE(allIdsAre(st["Gid"], dgid)) << st["Gid"];
  EXPECT_EQ(st["Groups"], "");
  EXPECT_EQ(capMask(st["CapEff"]), kKept) << st["CapEff"];
  EXPECT_EQ(capMask(st["CapPrm"]), kKept) << st["CapPrm"];
  EXPECT_EQ(capMask(st["CapInh"]), 0u);
  EXPECT_EQ(capMask(st["CapAmb"]), 0u);
  EXPECT_EQ(capMask(st["CapBnd"]) & ~kKept, 0u) << "bounding set cleared: " << st["CapBnd"];
  EXPECT_EQ(st["NoNewPrivs"], "0") << "fetchmail is started as another user, not via set-id bits";

  // fetchmail (fresh start = multidrop): its own user, no capabilities at all, and no -v
  // at log_level = info. dynmx runs one short fetchmail per poll, so the wrapper set as
  // [fetchmail] binary records each run (the same process: it execs fetchmail).
  std::vector<std::string> runs;
  ASSERT_TRUE(eventually(
      [&] {
        runs.clear();
        DIR* dir = ::opendir(probeDir.c_str());
        if (dir == nullptr) return false;
        while (dirent* e = ::readdir(dir)) {
          const std::string out = readAll(probeDir + "/" + e->d_name);
          if (std::string(e->d_name).rfind("fm.", 0) == 0 && out.find("\nend\n") != std::string::npos)
            runs.push_back(out);
        }
        ::closedir(dir);
        // a poll (not only the rc's --configdump validation)
        return std::any_of(runs.begin(), runs.end(),
                           [](const std::string& r) { return r.find(" -d 0") != std::string::npos; });
      },
      30s))
      << w.daemon->log();
  for (const auto& run : runs) {
    std::istringstream lines(run);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("Uid:", 0) == 0) {
        EXPECT_TRUE(allIdsAre(line.substr(4), nobodyUid)) << line;
      } else if (line.rfind("Cap", 0) == 0) {
        EXPECT_EQ(capMask(line.substr(line.find_first_not_of(" \t", line.find(':') + 1))), 0u) << line;
      } else if (line.rfind("argv:", 0) == 0) {
        EXPECT_EQ((line + " ").find(" -v "), std::string::npos) << "fetchmail -v at log_level info: " << line;
      }
    }
  }

  // The switch to direct runs the hook: never root, no capabilities.
  ASSERT_TRUE(w.waitForMode("direct", 90s)) << w.daemon->log();
  std::string hookOut;
  ASSERT_TRUE(eventually(
      [&] {
        DIR* d = ::opendir(hookDir.c_str());
        if (d == nullptr) return false;
        while (dirent* e = ::readdir(d))
          if (std::string(e->d_name).rfind("hook.", 0) == 0) hookOut = readAll(hookDir + "/" + e->d_name);
        ::closedir(d);
        return hookOut.find("CapAmb") != std::string::npos;
      },
      30s))
      << w.daemon->log();
  std::istringstream hook(hookOut);
  for (std::string line; std::getline(hook, line);) {
    if (line.rfind("Uid:", 0) == 0) {
      EXPECT_EQ(line.find("\t0\t"), std::string::npos) << "a hook ran as root: " << line;
    } else {
      EXPECT_EQ(capMask(line.substr(line.find_first_not_of(" \t", line.find(':') + 1))), 0u) << line;
    }
  }

  // Nothing world-readable or -writable; the rc is fetchmail's alone; fetchmail's home is
  // fetchmail:dynmx 0770.
  const std::string d = w.dir.path();
  for (const std::string& p : {d + "/ctl.sock", d + "/state", d + "/state/state.json", d + "/state/ddns-state.json",
                              d + "/fm/fetchmailrc", d + "/fm/home"}) {
    struct stat s {};
    ASSERT_EQ(::stat(p.c_str(), &s), 0) << p;
    EXPECT_EQ(s.st_mode & (S_IROTH | S_IWOTH), 0u) << p << " mode " << std::oct << (s.st_mode & 07777);
  }
  struct stat rc {};
  ASSERT_EQ(::stat((d + "/fm/fetchmailrc").c_str(), &rc), 0);
  EXPECT_EQ(rc.st_mode & 07777, 0600u);
  EXPECT_EQ(rc.st_uid, nobodyUid);
  struct stat home {};
  ASSERT_EQ(::stat((d + "/fm/home").c_str(), &home), 0);
  EXPECT_EQ(home.st_mode & 07777, 0770u);
  EXPECT_EQ(home.st_uid, nobodyUid);
  EXPECT_EQ(home.st_gid, dgid);
  struct stat sock {};
  ASSERT_EQ(::stat((d + "/ctl.sock").c_str(), &sock), 0);
  EXPECT_EQ(sock.st_mode & 0777, 0660u);
  EXPECT_EQ(sock.st_uid, duid);
}

TEST(Privileges, RefusesAMissingOrRootDaemonUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  LoopbackWorld w(dynmxBinary(), DYNDNS2D_BINARY, "privbad");
  ASSERT_TRUE(w.start().ok());

  writeTextFile(w.policyPath, w.goodPolicy + "user = \"no-such-user-dynmx\"\n", 0644);
  auto missing = runProcess({.argv = {dynmxBinary(), "run", "-c", w.policyPath}, .timeout = 30s});
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_NE((missing.out + missing.err).find("daemon.user: no such user 'no-such-user-dynmx'"), std::string::npos)
      << missing.out << missing.err;

  writeTextFile(w.policyPath, w.goodPolicy + "user = \"root\"\n", 0644);
  auto root = runProcess({.argv = {dynmxBinary(), "check", "-c", w.policyPath}, .timeout = 30s});
  EXPECT_NE(root.exitCode, 0);
  EXPECT_NE((root.out + root.err).find(w.policyPath + ":"), std::string::npos) << "file:line:col";
  EXPECT_NE((root.out + root.err).find("daemon.user: \"root\" is not an unprivileged user"), std::string::npos)
      << root.out << root.err;
}

}  // namespace
}  // namespace dynmx::testbed
