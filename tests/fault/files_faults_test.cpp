// Fault class "files": the state dir and the fetchmail rc dir turn read-only, fill up, or
// the rc path is taken by a directory, while the real world runs (named, dovecot, fetchmail,
// the loopback provider, `dynmx run`). In every scenario dynmx keeps running, status names
// the file that cannot be written, the old file stays whole, mail goes to (or stays in)
// multidrop while DDNS is unsafe and nothing is lost; once the fault clears, dynmx recovers.
//
// The faults are real mounts (tests run as root, and root ignores permission bits): a
// read-only bind mount of the directory onto itself, or a 64 KiB tmpfs filled to the brim.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "dynmx/process.hpp"
#include "fault_class.hpp"
#include "testbed/loopback_world.hpp"

namespace dynmx::fault {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using testbed::LoopbackWorld;

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

/// A mount over `dir`, undone (lazily if busy) when it goes out of scope.
class Mount {
 public:
  /// A fresh tmpfs over `dir` (e.g. "size=64k,mode=0711"); `readOnly` mounts it read-only.
  static std::unique_ptr<Mount> tmpfs(const std::string& dir, const std::string& options, bool readOnly,
                                      std::string& error) {
    if (::mount("tmpfs", dir.c_str(), "tmpfs", readOnly ? MS_RDONLY : 0, options.c_str()) != 0) {
      error = "mount -t tmpfs " + dir + ": " + std::strerror(errno);
      return nullptr;
    }
    return std::unique_ptr<Mount>(new Mount(dir));
  }
  /// `dir` bind-mounted onto itself, read-only: the files stay, every write fails with EROFS.
  static std::unique_ptr<Mount> readOnlyBind(const std::string& dir, std::string& error) {
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      error = "mount --bind " + dir + ": " + std::strerror(errno);
      return nullptr;
    }
    auto m = std::unique_ptr<Mount>(new Mount(dir));
    if (::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      error = "mount -o remount,bind,ro " + dir + ": " + std::strerror(errno);
      return nullptr;  // the destructor undoes the bind
    }
    return m;
  }
  ~Mount() { unmount(); }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  /// Undo the mount now; true when it is gone.
  bool unmount() {
    if (dir_.empty()) return true;
    if (::umount2(dir_.c_str(), 0) != 0 && ::umount2(dir_.c_str(), MNT_DETACH) != 0) return false;
    dir_.clear();
    return true;
  }

 private:
  explicit Mount(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

/// Started as root, dynmx runs as the user `dynmx` (where it exists): a directory we put in
/// its way must be its own, as the admin would have made it.
void giveToDaemonUser(const std::string& path) {
  if (const passwd* pw = ::getpwnam("dynmx"); pw != nullptr) {
    EXPECT_EQ(::chown(path.c_str(), pw->pw_uid, pw->pw_gid), 0) << path << ": " << std::strerror(errno);
  }
}

/// Whether this machine lets us mount (a container without CAP_SYS_ADMIN does not).
std::string mountRefusal() {
  testbed::TempDir probe("mnt-probe");
  std::string error;
  auto m = Mount::tmpfs(probe.path(), "size=16k", false, error);
  return m ? std::string() : error;
}

/// Fill the filesystem holding `dir` until a write fails with ENOSPC; returns the filler path.
std::string fillUp(const std::string& dir) {
  const std::string filler = dir + "/filler";
  int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  EXPECT_GE(fd, 0) << filler << ": " << std::strerror(errno);
  if (fd < 0) return filler;
  const std::string block(4096, 'f');
  // Whole pages first, then ever smaller pieces, until not one more byte fits.
  for (std::size_t size = block.size(); size > 0;) {
    if (::write(fd, block.data(), size) < 0) {
      EXPECT_EQ(errno, ENOSPC) << std::strerror(errno);
      size /= 2;
    }
  }
  ::close(fd);
  return filler;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// Status observations across a fault: remembers any moment mail was on direct once it had
/// gone to multidrop (the switch itself takes a moment after the record is hijacked).
struct Watch {
  const LoopbackWorld& w;
  bool sawMultidrop = false;
  bool sawDirect = false;
  int answers = 0;
  std::optional<std::pair<int, Json>> last;

  std::optional<std::pair<int, Json>> look() {
    last = w.status();
    if (last) {
      ++answers;
      const auto& mode = last->second["mode"]["current"];
      if (mode == "multidrop") sawMultidrop = true;
      if (mode == "direct" && sawMultidrop) sawDirect = true;
    }
    return last;
  }
  /// Poll until `cond(status)` holds (bounded), noting the mode at every look.
  bool until(const std::function<bool(const Json&)>& cond, std::chrono::milliseconds bound) {
    return testbed::eventually(
        [&] {
          auto s = look();
          return s && cond(s->second);
        },
        bound);
  }
};

bool hasHealthReason(const Json& s, const std::string& code, const std::string& needle) {
  for (const auto& r : s["health_reasons"])
    if (r["code"] == code && r["text"].get<std::string>().find(needle) != std::string::npos) return true;
  return false;
}

std::string stateError(const Json& s) {
  const auto& e = s["daemon"]["state_error"];
  return e.is_string() ? e.get<std::string>() : std::string();
}

/// The state file as `dynmx status` loads it when no daemon answers (the real loader).
std::optional<Json> loadStateFile(const LoopbackWorld& w, const std::string& path) {
  auto [code, out] = w.dynmx({"status", "--socket", w.dir.path() + "/nobody-here.sock", "--state", path, "--json"});
  try {
    Json j = Json::parse(out.substr(0, out.rfind('}') + 1));
    for (const auto& r : j["health_reasons"])
      if (r["text"].get<std::string>().find("no usable state file") != std::string::npos) return std::nullopt;
    if (j["mode"]["current"] != "direct" && j["mode"]["current"] != "multidrop") return std::nullopt;
    return j;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// The world for one TEST: started, on direct with DDNS verified.
class FilesWorld {
 public:
  explicit FilesWorld(const std::string& tag) : w(dynmxBinary(), DYNDNS2D_BINARY, tag) {}

  void start(const std::function<void()>& beforeDaemon = {}) {
    auto s = w.start();
    ASSERT_TRUE(s.ok()) << s.error();
    ASSERT_TRUE(w.setRecord("192.0.2.1").ok());  // stale until dynmx publishes ours
    statePath = w.dir.path() + "/state/state.json";
    ddnsStatePath = w.dir.path() + "/state/ddns-state.json";
    rcPath = w.dir.path() + "/fm/fetchmailrc";
    if (beforeDaemon) beforeDaemon();
    auto d = w.startDaemon();
    ASSERT_TRUE(d.ok()) << d.error();
    ASSERT_TRUE(w.waitForMode("direct", 120s)) << w.daemon->log();
  }

  /// Messages waiting at the ISP, under fresh ids.
  std::map<std::string, std::string> deposit(const std::string& prefix, const std::vector<std::string>& users) {
    std::map<std::string, std::string> batch;
    for (const auto& user : users) {
      const std::string id = prefix + "-" + std::to_string(++serial_);
      EXPECT_TRUE(w.dovecot->deliver("office", testbed::ispMessage(id, user + "@example.com")).ok());
      batch[id] = user;
    }
    return batch;
  }

  /// Hijack the record; wait until mail is on multidrop.
  void hijack() {
    ASSERT_TRUE(w.setRecord(testbed::kWorldHijacker).ok());
    ASSERT_TRUE(w.waitForMode("multidrop", 90s)) << w.daemon->log();
  }

  /// Give the record back; wait until mail is direct and the ISP box is empty.
  void recover() {
    ASSERT_TRUE(w.setRecord(testbed::kWorldAddress).ok());
    ASSERT_TRUE(w.waitForMode("direct", 120s)) << w.daemon->log();
    EXPECT_EQ(w.dovecot->count("office"), 0u) << "nothing may stay at the ISP when back on direct";
  }

  /// The daemon survived: its process runs and it answers `dynmx status --json`.
  void expectAlive() {
    EXPECT_TRUE(w.daemon && w.daemon->running()) << "dynmx run died";
    EXPECT_TRUE(w.status().has_value()) << "dynmx status gets no answer";
  }

  LoopbackWorld w;
  std::string statePath;
  std::string ddnsStatePath;
  std::string rcPath;

 private:
  int serial_ = 0;
};

// ---------------------------------------------------------------------------------------

TEST(FilesFaults, StateDirReadOnly) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, dovecot mail users, fetchmail as nobody)";
  if (auto why = mountRefusal(); !why.empty()) GTEST_SKIP() << "this machine refuses mounts: " << why;
  FilesWorld f("f-ro");
  ASSERT_NO_FATAL_FAILURE(f.start());
  FaultClass files("files");
  const std::string stateDir = f.w.dir.path() + "/state";

  files.scenario("state-dir-read-only", [&](Scenario& s) {
    std::string error;
    auto ro = Mount::readOnlyBind(stateDir, error);
    ASSERT_TRUE(ro) << error;
    // Nothing can replace the file from here on: what it holds now must survive whole.
    const std::string before = slurp(f.statePath);
    ASSERT_FALSE(before.empty());
    Watch watch{f.w};
    f.hijack();  // a decision that must still happen, and be persisted if it could
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return stateError(j).find(f.statePath) != std::string::npos &&
                 stateError(j).find("Read-only file system") != std::string::npos;
        },
        30s))
        << (watch.last ? watch.last->second.dump(2) : "no status");
    EXPECT_TRUE(hasHealthReason(watch.last->second, "state.write_failed", "cannot persist state: "))
        << watch.last->second["health_reasons"].dump(2);
    EXPECT_GE(watch.last->first, 1) << "a state that cannot be persisted is at least a WARNING";
    auto [code, human] = f.w.statusText();
    EXPECT_NE(human.find("cannot persist state: "), std::string::npos) << human;

    auto batch = f.deposit("ro", {"alice", "bob", "carol"});
    EXPECT_TRUE(f.w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, batch); }, 90s))
        << f.w.daemon->log();
    EXPECT_TRUE(watch.until([](const Json& j) { return j["mode"]["current"] == "multidrop"; }, 10s));
    EXPECT_FALSE(watch.sawDirect) << "mail went direct while the record was hijacked";
    EXPECT_EQ(slurp(f.statePath), before) << "the old state file must stay intact";
    auto old = loadStateFile(f.w, f.statePath);
    ASSERT_TRUE(old) << "the old state file no longer loads";
    EXPECT_EQ((*old)["mode"]["current"], "direct") << "the file is the last one written before the fault";

    ASSERT_TRUE(ro->unmount());
    EXPECT_TRUE(watch.until([](const Json& j) { return stateError(j).empty(); }, 30s))
        << (watch.last ? watch.last->second.dump(2) : "no status");
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto now = loadStateFile(f.w, f.statePath);
          return now && (*now)["mode"]["current"] == "multidrop";
        },
        30s))
        << "the state file catches up once it can be written";
    f.recover();
    s.lost = lostMessages(f.w.sink, batch);
    f.expectAlive();
  });

  files.scenario("state-dir-read-only-at-start", [&](Scenario& s) {
    ::kill(f.w.daemon->pid(), SIGKILL);  // on direct: no fetchmail child is left behind
    f.w.daemon->stop();
    std::filesystem::remove_all(stateDir);
    ASSERT_TRUE(std::filesystem::create_directory(stateDir));
    giveToDaemonUser(stateDir);  // the directory under the mount, seen again after the unmount
    // The admin's state dir, owned as it should be, on a disk that went read-only.
    std::string error;
    auto ro = Mount::tmpfs(stateDir, "size=64k,mode=0711", false, error);
    ASSERT_TRUE(ro) << error;
    giveToDaemonUser(stateDir);
    ASSERT_EQ(::mount(nullptr, stateDir.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0) << std::strerror(errno);
    auto batch = f.deposit("ro-start", {"alice", "carol"});
    // Known gap (next session): the envelope guard keeps its socket, id and journal in the
    // state dir, so it cannot start on a read-only one, and mail then waits at the ISP (safe,
    // not delivered). This scenario checks the daemon's own state handling, without it.
    const std::string policyBefore = [&] {
      std::ifstream in(f.w.policyPath);
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    }();
    {
      std::string p = policyBefore;
      const auto at = p.find("[delivery]\n");
      ASSERT_NE(at, std::string::npos);
      p.insert(at + 11, "guard = false\n");
      testbed::writeTextFile(f.w.policyPath, p, 0644);
    }
    auto started = f.w.startDaemon();
    ASSERT_TRUE(started.ok()) << started.error();
    Watch watch{f.w};
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return stateError(j).find(f.statePath) != std::string::npos &&
                 stateError(j).find(f.ddnsStatePath) != std::string::npos &&
                 hasHealthReason(j, "state.write_failed", "Read-only file system");
        },
        30s))
        << (watch.last ? watch.last->second.dump(2) : "no status");
    // Without a state file it starts on multidrop, fetches, and returns to direct in time.
    EXPECT_TRUE(f.w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, batch); }, 90s))
        << f.w.daemon->log();
    EXPECT_TRUE(f.w.waitForMode("direct", 120s)) << f.w.daemon->log();
    EXPECT_EQ(f.w.dovecot->count("office"), 0u);
    EXPECT_FALSE(std::filesystem::exists(f.statePath));
    ASSERT_TRUE(ro->unmount());
    EXPECT_TRUE(watch.until([](const Json& j) { return stateError(j).empty(); }, 30s))
        << (watch.last ? watch.last->second.dump(2) : "no status");
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto now = loadStateFile(f.w, f.statePath);
          return now && (*now)["mode"]["current"] == "direct";
        },
        30s));
    s.lost = lostMessages(f.w.sink, batch);
    testbed::writeTextFile(f.w.policyPath, policyBefore, 0644);
    f.expectAlive();
  });

  files.report();
}

TEST(FilesFaults, DiskFull) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, dovecot mail users, fetchmail as nobody)";
  if (auto why = mountRefusal(); !why.empty()) GTEST_SKIP() << "this machine refuses mounts: " << why;
  FilesWorld f("f-full");
  std::unique_ptr<Mount> stateFs;
  std::unique_ptr<Mount> rcFs;
  // Both directories on their own tiny filesystems from the start.
  ASSERT_NO_FATAL_FAILURE(f.start([&] {
    std::string error;
    const std::string stateDir = f.w.dir.path() + "/state";
    ::mkdir(stateDir.c_str(), 0711);
    stateFs = Mount::tmpfs(stateDir, "size=64k,mode=0711", false, error);
    ASSERT_TRUE(stateFs) << error;
    giveToDaemonUser(stateDir);
    rcFs = Mount::tmpfs(f.w.dir.path() + "/fm", "size=64k,mode=0755", false, error);
    ASSERT_TRUE(rcFs) << error;
    giveToDaemonUser(f.w.dir.path() + "/fm");
  }));
  FaultClass files("files");

  files.scenario("disk-full-state-dir", [&](Scenario& s) {
    const std::string filler = fillUp(f.w.dir.path() + "/state");
    const std::string before = slurp(f.statePath);
    const std::string ddnsBefore = slurp(f.ddnsStatePath);
    ASSERT_FALSE(before.empty());
    ASSERT_FALSE(ddnsBefore.empty());
    Watch watch{f.w};
    f.hijack();
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return stateError(j).find(f.statePath) != std::string::npos &&
                 hasHealthReason(j, "state.write_failed", "No space left on device");
        },
        30s))
        << (watch.last ? watch.last->second.dump(2) : "no status");
    auto batch = f.deposit("full", {"bob", "carol"});
    EXPECT_TRUE(f.w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, batch); }, 90s))
        << f.w.daemon->log();
    EXPECT_TRUE(watch.until([](const Json& j) { return j["mode"]["current"] == "multidrop"; }, 10s));
    EXPECT_FALSE(watch.sawDirect);
    // The failed writes left the old files whole: never truncated, never empty.
    EXPECT_EQ(slurp(f.statePath), before);
    EXPECT_EQ(slurp(f.ddnsStatePath), ddnsBefore);
    auto old = loadStateFile(f.w, f.statePath);
    ASSERT_TRUE(old);
    EXPECT_EQ((*old)["mode"]["current"], "direct");
    EXPECT_TRUE(Json::accept(ddnsBefore));
    std::size_t temps = 0;
    for (const auto& e : std::filesystem::directory_iterator(f.w.dir.path() + "/state"))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) ++temps;
    EXPECT_EQ(temps, 0u) << "a failed write removes its temp file";

    std::filesystem::remove(filler);
    EXPECT_TRUE(watch.until([](const Json& j) { return stateError(j).empty(); }, 30s))
        << (watch.last ? watch.last->second.dump(2) : "no status");
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto now = loadStateFile(f.w, f.statePath);
          return now && (*now)["mode"]["current"] == "multidrop";
        },
        30s));
    f.recover();
    s.lost = lostMessages(f.w.sink, batch);
    f.expectAlive();
  });

  files.scenario("disk-full-rc-dir", [&](Scenario& s) {
    const std::string rcBefore = slurp(f.rcPath);
    ASSERT_FALSE(rcBefore.empty()) << "the first multidrop installed the rc";
    const std::string filler = fillUp(f.w.dir.path() + "/fm");
    Watch watch{f.w};
    ASSERT_TRUE(f.w.setRecord(testbed::kWorldHijacker).ok());
    // The switch happens, the install fails: CRITICAL, naming the rc path and the reason.
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return j["mode"]["current"] == "multidrop" && hasHealthReason(j, "fetchmail.rc_failed", f.rcPath) &&
                 hasHealthReason(j, "fetchmail.rc_failed", "No space left on device");
        },
        90s))
        << (watch.last ? watch.last->second.dump(2) : "no status") << f.w.daemon->log();
    EXPECT_EQ(watch.last->first, 2) << "multidrop without an rc is CRITICAL";
    auto batch = f.deposit("full-rc", {"alice", "bob"});
    // Mail waits at the ISP: nothing fetches it, and nothing lets it go direct.
    EXPECT_TRUE(watch.until([&](const Json&) { return watch.answers >= 6; }, 60s));
    EXPECT_EQ(f.w.dovecot->count("office"), batch.size());
    EXPECT_FALSE(watch.sawDirect);
    EXPECT_EQ(slurp(f.rcPath), rcBefore) << "the old rc stays whole";

    std::filesystem::remove(filler);
    EXPECT_TRUE(f.w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, batch); }, 120s))
        << f.w.daemon->log();
    EXPECT_TRUE(watch.until(
        [](const Json& j) { return j["mode"]["current"] == "multidrop" && j["fetchmail"]["running"] == true; }, 30s));
    EXPECT_FALSE(watch.sawDirect);
    f.recover();
    s.lost = lostMessages(f.w.sink, batch);
    f.expectAlive();
  });

  files.report();
}

TEST(FilesFaults, RcPathUnwritable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (mounts, dovecot mail users, fetchmail as nobody)";
  if (auto why = mountRefusal(); !why.empty()) GTEST_SKIP() << "this machine refuses mounts: " << why;
  FilesWorld f("f-rc");
  ASSERT_NO_FATAL_FAILURE(f.start());
  FaultClass files("files");

  // One story, two ways to break the install: the switch to multidrop cannot put the rc in
  // place, status goes CRITICAL naming it, mail waits at the ISP (never direct while the
  // record is hijacked), and once fixed the rc installs and the waiting mail arrives once.
  auto rcFault = [&](Scenario& s, const std::string& prefix, const std::string& why,
                     const std::function<void()>& breakIt, const std::function<void()>& fixIt) {
    ASSERT_TRUE(std::filesystem::exists(f.rcPath)) << "the first multidrop installed the rc";
    ASSERT_NO_FATAL_FAILURE(breakIt());
    Watch watch{f.w};
    ASSERT_TRUE(f.w.setRecord(testbed::kWorldHijacker).ok());
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return j["mode"]["current"] == "multidrop" && hasHealthReason(j, "fetchmail.rc_failed", f.rcPath) &&
                 hasHealthReason(j, "fetchmail.rc_failed", why);
        },
        90s))
        << (watch.last ? watch.last->second.dump(2) : "no status") << f.w.daemon->log();
    EXPECT_EQ(watch.last->first, 2) << "multidrop without an rc is CRITICAL";
    auto [code, human] = f.w.statusText();
    EXPECT_EQ(code, 2);
    EXPECT_NE(human.find(f.rcPath), std::string::npos) << human;
    auto batch = f.deposit(prefix, {"alice", "carol", "postmaster"});
    EXPECT_TRUE(watch.until([&](const Json&) { return watch.answers >= 6; }, 60s));
    EXPECT_EQ(f.w.dovecot->count("office"), batch.size()) << "mail waits at the ISP";
    EXPECT_FALSE(watch.sawDirect) << "mail went direct while the record was hijacked";

    ASSERT_NO_FATAL_FAILURE(fixIt());
    EXPECT_TRUE(f.w.sink.waitFor([&](const auto& m) { return testbed::allDelivered(m, batch); }, 120s))
        << f.w.daemon->log();
    EXPECT_TRUE(watch.until(
        [](const Json& j) {
          bool rcFailed = false;
          for (const auto& r : j["health_reasons"]) rcFailed = rcFailed || r["code"] == "fetchmail.rc_failed";
          return !rcFailed && j["fetchmail"]["running"] == true;
        },
        30s))
        << (watch.last ? watch.last->second.dump(2) : "no status");
    EXPECT_FALSE(watch.sawDirect);
    struct stat st {};
    ASSERT_EQ(::stat(f.rcPath.c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    f.recover();
    s.lost = lostMessages(f.w.sink, batch);
    f.expectAlive();
  };

  std::unique_ptr<Mount> ro;
  files.scenario("rc-dir-read-only", [&](Scenario& s) {
    rcFault(
        s, "rc-ro", "Read-only file system",
        [&] {
          std::string error;
          ro = Mount::readOnlyBind(f.w.dir.path() + "/fm", error);
          ASSERT_TRUE(ro) << error;
        },
        [&] { ASSERT_TRUE(ro->unmount()); });
  });
  ro.reset();

  files.scenario("rc-path-is-a-directory", [&](Scenario& s) {
    rcFault(
        s, "rc-dir", "Is a directory",
        [&] {
          std::filesystem::remove(f.rcPath);
          ASSERT_TRUE(std::filesystem::create_directory(f.rcPath));
        },
        [&] { std::filesystem::remove(f.rcPath); });
  });

  files.report();
}

}  // namespace
}  // namespace dynmx::fault
