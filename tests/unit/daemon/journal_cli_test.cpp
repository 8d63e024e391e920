// `dynmx run --log journald` as the journal receives it: in a private mount namespace a
// tmpfs hides /run, and this test binds the journal's socket itself and reads the entries
// the real daemon sends (a direct-only policy: no network, no fetchmail). Needs root (CI).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

constexpr char kSeparator = '\x1e';

// Runs in the forked child, in its own mount namespace: bind the journal socket, start the
// daemon, reload and stop it, and write every entry received to `out`. Returns the exit code.
int journalChild(const std::string& binary, const std::string& policy, const std::string& log, int out) {
  if (::unshare(CLONE_NEWNS) != 0) return 10;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 11;
  if (::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) return 12;
  ::mkdir("/run/systemd", 0755);
  ::mkdir("/run/systemd/journal", 0755);
  const int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, "/run/systemd/journal/socket");
  if (sock < 0 || ::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 13;
  ::chmod(addr.sun_path, 0666);  // the daemon drops to its own user
  const pid_t daemon = ::fork();
  if (daemon == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::execl(binary.c_str(), binary.c_str(), "run", "-c", policy.c_str(), "--log", "journald",
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  // Drive the daemon by what it logs: ready → SIGHUP; reloaded → SIGTERM; stopped → done.
  std::vector<char> buf(1 << 16);
  for (;;) {
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) break;  // bounded: a silent daemon ends the test
    const ssize_t n = ::recv(sock, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    const std::string entry(buf.data(), static_cast<std::size_t>(n));
    if (::write(out, entry.data(), entry.size()) < 0 || ::write(out, &kSeparator, 1) < 0) break;
    if (entry.find("MESSAGE=dynmx ") != std::string::npos &&
        entry.find(" running (pid ") != std::string::npos)
      ::kill(daemon, SIGHUP);
    if (entry.find("MESSAGE=policy reloaded from ") != std::string::npos) ::kill(daemon, SIGTERM);
    if (entry.find("MESSAGE=dynmx stopped\n") != std::string::npos) break;
  }
  ::kill(daemon, SIGKILL);
  int ws = 0;
  ::waitpid(daemon, &ws, 0);
  return 0;
}

TEST(JournalCli, EventsCarryTheirMessageIdAndEveryEntryItsPriority) {
  ASSERT_EQ(::geteuid(), 0u)
      << "this test needs root: it mounts a tmpfs over /run in its own mount namespace "
         "to receive the journal entries (CI runs as root)";
  const char* bin = std::getenv("DYNMX_BINARY");
  ASSERT_NE(bin, nullptr) << "DYNMX_BINARY is set by the test harness";
  char tmpl[] = "/tmp/dynmx-journal-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ::chmod(dir.c_str(), 0755);
  const std::string policy = dir + "/dynmx.toml";
  std::ofstream(policy) << "[mail]\nmode = \"direct\"\ndomains = [\"example.com\"]\n"
                           "[link]\ntype = \"dedicated\"\n"
                           "[ddns]\nenabled = false\nstatic_address = \"203.0.113.7\"\n"
                           "[daemon]\nstate_dir = \"" +
                               dir + "/state\"\ncontrol_socket = \"" + dir + "/run/ctl.sock\"\n";
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    std::_Exit(journalChild(bin, policy, dir + "/dynmx.log", fds[1]));
  }
  ::close(fds[1]);
  std::string all;
  char chunk[4096];
  for (ssize_t n; (n = ::read(fds[0], chunk, sizeof chunk)) > 0;)
    all.append(chunk, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int ws = 0;
  ::waitpid(child, &ws, 0);
  std::ifstream logFile(dir + "/dynmx.log");
  const std::string log((std::istreambuf_iterator<char>(logFile)), {});
  fs::remove_all(dir);
  ASSERT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << "child setup failed with " << WEXITSTATUS(ws);

  std::vector<std::string> entries;
  for (std::size_t start = 0, end; (end = all.find(kSeparator, start)) != std::string::npos; start = end + 1)
    entries.push_back(all.substr(start, end - start));
  ASSERT_FALSE(entries.empty()) << "no journal entry arrived; stderr:\n" << log;
  bool reloaded = false, stopped = false;
  for (const auto& e : entries) {
    EXPECT_NE(e.find("SYSLOG_IDENTIFIER=dynmx\n"), std::string::npos) << e;
    EXPECT_NE(e.find("PRIORITY="), std::string::npos) << e;
    EXPECT_EQ(e.find("CODE_FILE="), std::string::npos) << "the sink's own location says nothing\n" << e;
    if (e.find("MESSAGE=policy reloaded from " + policy + "\n") != std::string::npos) {
      reloaded = true;
      EXPECT_NE(e.find("MESSAGE_ID=fcd7343d41fc4d209b0428240799093d\n"), std::string::npos) << e;
      EXPECT_NE(e.find("DYNMX_EVENT=policy.reloaded\n"), std::string::npos) << e;
      EXPECT_NE(e.find("PRIORITY=6\n"), std::string::npos) << e;
    } else {
      EXPECT_EQ(e.find("MESSAGE_ID="), std::string::npos) << "only events carry an id\n" << e;
    }
    if (e.find("MESSAGE=dynmx stopped\n") != std::string::npos) stopped = true;
  }
  EXPECT_TRUE(reloaded) << all;
  EXPECT_TRUE(stopped) << all;
}

}  // namespace
