// Who runs as whom (issue 6, privileges): started as root, `dynmx run` becomes [daemon] user
// for good with CAP_SETUID/SETGID/CHOWN/KILL only; fetchmail runs as its own user with no
// capabilities; hooks never run as root; the control socket and the state files are not
// world-readable or -writable; a missing or root daemon user is refused with a clear error.
// Read from /proc of the real processes, in the real world (named, dovecot, provider).
#include <gtest/gtest.h>
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
std::vector<pid_t> childrenNamed(pid_t parent, const std::string& comm) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    auto st = procStatus(static_cast<pid_t>(pid));
    if (st["Name"] == comm && st["PPid"] == std::to_string(parent)) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

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
  // [daemon] is the policy's last table, so the hook can follow it.
  writeTextFile(w.policyPath,
                w.goodPolicy + "[[daemon.hook]]\nargv = [\"/bin/sh\", \"-c\", \"grep -E '^(Uid|Cap(Eff|Prm|Amb)):' "
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

  // fetchmail (fresh start = multidrop): its own user, no capabilities at all.
  std::vector<pid_t> fetchmails;
  ASSERT_TRUE(eventually([&] { return !(fetchmails = childrenNamed(daemon, "fetchmail")).empty(); }, 30s))
      << w.daemon->log();
  for (pid_t f : fetchmails) {
    auto fs = procStatus(f);
    EXPECT_TRUE(allIdsAre(fs["Uid"], nobodyUid)) << fs["Uid"];
    EXPECT_EQ(capMask(fs["CapEff"]), 0u);
    EXPECT_EQ(capMask(fs["CapPrm"]), 0u);
    EXPECT_EQ(capMask(fs["CapAmb"]), 0u);
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
