// Fault class "files" in the senders' world: the state dir and the fetchmail rc dir turn
// read-only, fill up, or the rc path is taken by a directory, while the senders keep
// sending (one message a second) and dynmx steers example.com's MX (rfc2136), so on
// multidrop the senders deliver to the ISP. In every scenario dynmx keeps running, status
// names the file that cannot be written, the old file stays whole, mail goes to (or stays
// in) multidrop while DDNS is unsafe, every copy the senders sent while the fault lasted is
// delivered exactly once after it clears, and dynmx recovers.
//
// "DDNS unsafe" is the office's record pointed at 198.51.100.99, where nobody listens (no
// interface holds it): dynmx sees the mismatch and leaves direct, while the senders, who
// cannot connect there, fall back to MX 20 (the ISP) until the multidrop MX set reaches
// them, so nothing is misdirected. (A record at the world's hijacker would make the senders
// deliver to the hijacker for up to the MX set's TTL.)
//
// The faults are real mounts (the binary enters its own mount namespace first,
// world_main.cpp): a read-only bind mount of a directory onto itself, a tmpfs remounted
// read-only, or a tmpfs filled to the brim. Root ignores permission bits, mounts do not.
//
// One world, the scenarios in sequence (CI budget, docs/world.md "What it costs": every
// way back to direct waits out the multidrop MX set's TTL, 30 s, so the world goes back to
// direct only twice):
//   state-dir-read-only-at-start  the world's first start, on an empty read-only state dir,
//                                 the record stale: dynmx starts on multidrop, fetches what
//                                 the senders gave the ISP, publishes the office's address,
//                                 returns to direct, naming both state files it cannot
//                                 write; then the disk is writable again;
//   disk-full-rc-dir              the record pointed away with the rc dir full: the switch
//                                 happens, the rc install fails (CRITICAL), mail waits at
//                                 the ISP; space again: the rc installs, the mail arrives;
//   rc-dir-read-only,             a restart of dynmx during multidrop (SIGTERM, start) with
//   rc-path-is-a-directory        the rc dir read-only / the rc path a directory: the same;
//   state-dir-read-only           on multidrop: status names state.json, the mail still
//                                 comes through the ISP, the old file stays whole;
//   disk-full-state-dir           on multidrop the same with ENOSPC; then the record is
//                                 fixed while the disk is still full: dynmx returns to
//                                 direct all the same (its file, still saying multidrop,
//                                 is the safe side after a restart); space again: the file
//                                 catches up.
// The world's final count: nothing lost, nothing duplicated, nothing left at the ISP,
// nothing misdirected.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>

#include "dns_fetchmail_support.hpp"
#include "dynmx/process.hpp"
#include "fault_class.hpp"
#include "state_files.hpp"
#include "world.hpp"
#include "world_binaries.hpp"

namespace dynmx::world {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using fault::FaultClass;
using fault::Scenario;

constexpr const char* kNowhere = kNowhereAddress;
constexpr auto kNamedBound = 90s;      // a switch (2 s failing max) and the rc's validation
constexpr auto kDeliveryBound = 150s;  // mail after a restore (fetchmail polls every 10 s)
constexpr auto kReturnBound = 120s;    // hold-down 8 s, the multidrop MX set's TTL 30 s, the drain

/// A mount over `dir`, undone (lazily if busy) when it goes out of scope.
class Mount {
 public:
  /// A fresh tmpfs over `dir` (e.g. "size=64k,mode=0711").
  static std::unique_ptr<Mount> tmpfs(const std::string& dir, const std::string& options,
                                      std::string& error) {
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
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
  /// The whole filesystem read-only (`ro`) or writable again: `mount -o remount,ro|rw`.
  [[nodiscard]] std::string remount(bool ro) const {
    if (::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | (ro ? MS_RDONLY : 0), nullptr) != 0)
      return "mount -o remount," + std::string(ro ? "ro " : "rw ") + dir_ + ": " + std::strerror(errno);
    return "";
  }
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

bool hasHealthReason(const Json& s, const std::string& code, const std::string& needle) {
  for (const auto& r : s["health_reasons"])
    if (r["code"] == code && r["text"].get<std::string>().find(needle) != std::string::npos) return true;
  return false;
}

bool hasHealthCode(const Json& s, const std::string& code) {
  for (const auto& r : s["health_reasons"])
    if (r["code"] == code) return true;
  return false;
}

std::string stateError(const Json& s) {
  const auto& e = s["daemon"]["state_error"];
  return e.is_string() ? e.get<std::string>() : std::string();
}

bool directAndSteady(const Json& st) {
  return st["mode"]["current"] == "direct" && !st["mode"]["switching"].get<bool>() &&
         st["mode"]["step"].is_null();
}

/// The files of the office's dynmx and how to look at them.
class FilesWorld {
 public:
  FilesWorld() : w(dynmxBinary(), dyndns2dBinary(), "wffi") {}

  /// Status observations across a fault: the exit code and report at each look, and any
  /// moment mail was on direct once it had gone to multidrop.
  struct Watch {
    const World& w;
    bool sawMultidrop = false;
    bool sawDirect = false;
    int answers = 0;
    std::optional<std::pair<int, Json>> last;

    std::optional<std::pair<int, Json>> look() {
      last = w.statusWithExit();
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
    [[nodiscard]] std::string dump() const { return last ? last->second.dump(2) : "no status"; }
  };

  [[nodiscard]] std::string stateDir() const { return w.dir() + "/state"; }
  [[nodiscard]] std::string statePath() const { return stateDir() + "/state.json"; }
  [[nodiscard]] std::string ddnsStatePath() const { return stateDir() + "/ddns-state.json"; }
  [[nodiscard]] std::string rcDir() const { return w.dir() + "/fm"; }
  [[nodiscard]] std::string rcPath() const { return rcDir() + "/fetchmailrc"; }

  /// The state file as the real loader sees it.
  [[nodiscard]] std::optional<Json> loadState() const {
    return loadStateFile(dynmxBinary(), w.dir(), statePath());
  }

  /// The human `dynmx status` and its exit code.
  [[nodiscard]] std::pair<int, std::string> statusText() const {
    auto r = runProcess(
        {.argv = {dynmxBinary(), "status", "--socket", w.dir() + "/ctl.sock", "--state", statePath()},
         .timeout = 60s});
    return {r.started ? r.exitCode : -1, r.out + r.err};
  }

  /// The daemon survived: its process runs and it answers on its control socket.
  void expectAlive() const { EXPECT_TRUE(w.daemonAnswers()) << "dynmx run died\n" << w.daemonLog(); }

  /// Every copy the senders sent in [from, to) is delivered (bounded); then none lost,
  /// duplicated or misdirected. Returns what counts as lost for the scenario.
  long expectDelivered(const std::string& tag, double from, double to) const {
    Account a;
    // A copy fetchmail has delivered stays in the box until its POP3 session ends: until
    // then it counts twice, so wait for that too (a real duplicate stays one).
    EXPECT_TRUE(testbed::eventually(
        [&] {
          a = w.account(from, to);
          return a.direct + a.viaIsp >= a.copies && a.duplicates == 0;
        },
        kDeliveryBound))
        << tag << ": mail sent during the fault not delivered after it cleared\n"
        << a.toJson().dump(2) << "\n"
        << w.logs();
    a = w.account(from, to);
    std::cout << "[ copies   ] " << tag << ": " << a.toJson().dump() << std::endl;
    EXPECT_GT(a.copies, 0) << tag << ": the senders sent nothing during the fault";
    EXPECT_EQ(a.direct + a.viaIsp, a.copies) << a.toJson().dump(2);
    EXPECT_EQ(a.misdirected, 0) << a.toJson().dump(2);
    for (const auto& p : a.problems) ADD_FAILURE() << tag << ": " << p;
    return a.lost + a.duplicates + a.misdirected;
  }

  /// Copies sent from `from` on, up to 3 s later, all waiting in the ISP box (bounded): the
  /// senders deliver to the ISP and nothing fetches.
  void expectWaitingAtIsp(const std::string& tag, double from) const {
    const auto until =
        std::chrono::milliseconds(static_cast<long>(std::max(0.0, from + 3 - w.elapsed()) * 1000));
    ASSERT_TRUE(testbed::eventually([&] { return w.elapsed() >= from + 3; }, until + 5s));
    Account held;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          held = w.account(from, from + 3);
          return held.copies > 0 && held.atIsp == held.copies;
        },
        30s))
        << tag << ": mail sent during the fault is not waiting at the ISP\n"
        << held.toJson().dump(2) << "\n"
        << w.logs();
  }

  World w;
};

/// A fault on the rc while mail must be on multidrop: `trigger` makes dynmx install the rc
/// (the switch, or a restart during multidrop). Status goes CRITICAL naming the rc path and
/// `why`, mail waits at the ISP and never goes direct; `fix` clears the fault, the rc
/// installs (0600, a regular file), fetchmail runs, the mail that waited arrives once.
/// `bySwitch`: the trigger is the switch, so the senders still hold the office's A record
/// for up to its TTL and deliver direct meanwhile; the mail that must wait at the ISP is
/// what they send after that.
void rcFault(Scenario& s, FilesWorld& f, const std::string& tag, const std::string& why, bool bySwitch,
             const std::function<void()>& breakIt, const std::function<void()>& trigger,
             const std::function<void()>& fixIt, const std::function<void()>& whileBroken = {}) {
  auto& w = f.w;
  ASSERT_TRUE(std::filesystem::exists(f.rcPath())) << "the first multidrop installed the rc";
  const double from = w.elapsed();
  ASSERT_NO_FATAL_FAILURE(breakIt());
  FilesWorld::Watch watch{w};
  const double triggeredAt = w.elapsed();
  ASSERT_NO_FATAL_FAILURE(trigger());
  ASSERT_TRUE(watch.until(
      [&](const Json& j) {
        return j["mode"]["current"] == "multidrop" && hasHealthReason(j, "fetchmail.rc_failed", f.rcPath()) &&
               hasHealthReason(j, "fetchmail.rc_failed", why);
      },
      kNamedBound))
      << tag << ": " << watch.dump() << w.daemonLog();
  std::cout << "[ named    ] " << tag << ": " << watch.last->second["health_reasons"].dump() << std::endl;
  EXPECT_EQ(watch.last->first, 2) << "multidrop without an rc is CRITICAL";
  auto [code, human] = f.statusText();
  EXPECT_EQ(code, 2) << human;
  EXPECT_NE(human.find(f.rcPath()), std::string::npos) << human;
  const double namedAt = w.elapsed();
  // Mail waits at the ISP: nothing fetches it, and nothing lets it go direct.
  f.expectWaitingAtIsp(tag, bySwitch ? std::max(namedAt, triggeredAt + kRecordTtlSeconds + 1) : namedAt);
  EXPECT_TRUE(watch.until([&](const Json&) { return watch.answers >= 6; }, 60s));
  if (whileBroken) whileBroken();
  {
    const Account held = w.account(namedAt, w.elapsed());
    EXPECT_EQ(held.viaIsp, 0) << tag << ": fetched while the rc could not be installed\n"
                              << held.toJson().dump(2);
    // (After a switch the senders' cached A record still names the office for its TTL.)
    if (!bySwitch) {
      EXPECT_EQ(held.direct, 0) << held.toJson().dump(2);
    }
  }
  EXPECT_FALSE(watch.sawDirect) << "mail went direct while the record pointed away";

  const double restoredAt = w.elapsed();
  ASSERT_NO_FATAL_FAILURE(fixIt());
  s.lost = f.expectDelivered(tag, from, restoredAt);
  EXPECT_TRUE(watch.until(
      [](const Json& j) {
        return !hasHealthCode(j, "fetchmail.rc_failed") && j["mode"]["current"] == "multidrop" &&
               j["fetchmail"]["running"] == true;
      },
      30s))
      << tag << ": " << watch.dump();
  EXPECT_FALSE(watch.sawDirect);
  struct stat st {};
  ASSERT_EQ(::stat(f.rcPath().c_str(), &st), 0) << std::strerror(errno);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  f.expectAlive();
}

TEST(WorldFilesFaults, StateAndRc) {
  FilesWorld f;
  World& w = f.w;
  FaultClass files("files");
  // Both directories on their own small filesystems from the start: the state dir's
  // (1 MiB: the guard's journal lives there too, and grows with the stream) read-only at
  // first, the rc dir's 64 KiB.
  std::unique_ptr<Mount> stateFs;
  std::unique_ptr<Mount> rcFs;
  bool started = false;

  files.scenario("state-dir-read-only-at-start", [&](Scenario& s) {
    DaemonSetup setup{"auto", "dedicated", "", true, false};
    setup.beforeDaemon = [&](World& world) -> Status<> {
      std::string error;
      ::mkdir(f.stateDir().c_str(), 0711);
      stateFs = Mount::tmpfs(f.stateDir(), "size=1m,mode=0711", error);
      if (!stateFs) return fail(error);
      testbed::giveToDaemonUser({f.stateDir()});
      if (auto e = stateFs->remount(true); !e.empty()) return fail(e);
      rcFs = Mount::tmpfs(f.rcDir(), "size=64k,mode=0755", error);
      if (!rcFs) return fail(error);
      testbed::giveToDaemonUser({f.rcDir()});
      // The envelope guard keeps its socket, id and journal in the state dir: it cannot
      // start on a read-only one (and mail would wait at the ISP, safe but undelivered).
      // This scenario checks the daemon's own state handling, without it.
      testbed::writeTextFile(
          world.policyPath(),
          fault::replaced(world.goodPolicy(), "[delivery]\n", "[delivery]\nguard = false\n"), 0644);
      // The record is stale until dynmx publishes the office's address: meanwhile the
      // senders, who cannot connect where it points, give their mail to the ISP. (With a
      // good record they would deliver direct throughout: the multidrop MX set of a fresh
      // start lasts only the hold-down, within their cached MX set's TTL.)
      if (auto r = world.setRecord(kNowhere); !r.ok()) return r;
      world.startStream(1000ms);  // the senders send from before dynmx's first start
      return Ok{};
    };
    // Without a state file dynmx starts on multidrop (publishing the multidrop MX set),
    // fetches what the senders gave the ISP, publishes the office's address through the
    // provider, and returns to direct after the hold-down.
    auto s0 = w.start(setup);
    ASSERT_TRUE(s0.ok()) << s0.error();
    started = true;
    const double directAt = w.elapsed();
    EXPECT_EQ(w.ispBox().count("office"), 0u) << "mail left at the ISP at the switch back";
    FilesWorld::Watch watch{w};
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return stateError(j).find(f.statePath()) != std::string::npos &&
                 stateError(j).find(f.ddnsStatePath()) != std::string::npos &&
                 hasHealthReason(j, "state.write_failed", "Read-only file system");
        },
        30s))
        << watch.dump();
    EXPECT_GE(watch.last->first, 1) << "a state that cannot be persisted is at least a WARNING";
    const Json& journal = watch.last->second["switches"];
    ASSERT_EQ(journal.size(), 1u) << journal.dump(2);
    EXPECT_EQ(journal[0]["from"], "multidrop");
    EXPECT_EQ(journal[0]["to"], "direct");
    EXPECT_FALSE(std::filesystem::exists(f.statePath()));
    // Every copy sent until the switch back reached its user once, some through the ISP.
    s.lost = f.expectDelivered("state-dir-read-only-at-start", 0, directAt);
    EXPECT_GT(w.account(0, directAt).viaIsp, 0) << "nothing was fetched while on multidrop";

    ASSERT_EQ(stateFs->remount(false), "");
    EXPECT_TRUE(watch.until([](const Json& j) { return stateError(j).empty(); }, 30s)) << watch.dump();
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto now = f.loadState();
          return now && (*now)["mode"]["current"] == "direct";
        },
        30s))
        << "the state file is written once it can be";
    f.expectAlive();
    // The guard again, as every other scenario runs (a restart on direct stays direct).
    auto restarted = w.restartDaemonWith(w.goodPolicy());
    ASSERT_TRUE(restarted.ok()) << restarted.error();
    EXPECT_TRUE(
        watch.until([](const Json& j) { return directAndSteady(j) && j["guard"]["enabled"] == true; }, 30s))
        << watch.dump();
  });
  if (!started) {
    files.report();
    return;
  }

  // The mail must be on multidrop from here on: the record points where nobody listens.
  files.scenario("disk-full-rc-dir", [&](Scenario& s) {
    const std::string rcBefore = testbed::slurp(f.rcPath());
    ASSERT_FALSE(rcBefore.empty()) << "the first multidrop installed the rc";
    std::string filler;
    rcFault(
        s, f, "disk-full-rc-dir", "No space left on device", true, [&] { filler = fillUp(f.rcDir()); },
        [&] { ASSERT_TRUE(w.setRecord(kNowhere).ok()); },
        [&] { ASSERT_TRUE(std::filesystem::remove(filler)); },
        [&] { EXPECT_EQ(testbed::slurp(f.rcPath()), rcBefore) << "the old rc stays whole"; });
    // It was the switch that found the rc dir full, and its journal entry says so.
    auto st = w.status();
    ASSERT_TRUE(st);
    const Json& journal = (*st)["switches"];
    ASSERT_FALSE(journal.empty());
    EXPECT_EQ(journal.back()["to"], "multidrop") << journal.dump(2);
    const std::string detail = journal.back()["detail"].get<std::string>();
    EXPECT_NE(detail.find("rc install failed: "), std::string::npos) << detail;
    EXPECT_NE(detail.find("No space left on device"), std::string::npos) << detail;
  });

  // A restart during multidrop (SIGTERM, then start) installs the rc again.
  auto restartWith = [&](const std::function<void()>& breakIt) {
    return [&w, breakIt] {
      w.stopDaemon();
      breakIt();
      auto up = w.launchDaemon(true);
      ASSERT_TRUE(up.ok()) << up.error();
    };
  };
  std::unique_ptr<Mount> rcReadOnly;
  files.scenario("rc-dir-read-only", [&](Scenario& s) {
    rcFault(
        s, f, "rc-dir-read-only", "Read-only file system", false, [] {}, restartWith([&] {
          std::string error;
          rcReadOnly = Mount::readOnlyBind(f.rcDir(), error);
          ASSERT_TRUE(rcReadOnly) << error;
        }),
        [&] { ASSERT_TRUE(rcReadOnly->unmount()); });
  });
  rcReadOnly.reset();

  files.scenario("rc-path-is-a-directory", [&](Scenario& s) {
    rcFault(
        s, f, "rc-path-is-a-directory", "Is a directory", false, [] {}, restartWith([&] {
          std::filesystem::remove(f.rcPath());
          ASSERT_TRUE(std::filesystem::create_directory(f.rcPath()));
        }),
        [&] { ASSERT_TRUE(std::filesystem::remove(f.rcPath())); });
  });

  // On multidrop, with the record still pointing away: the state dir read-only. dynmx
  // writes its state whenever its report changes (every poll), so the fault shows at once.
  files.scenario("state-dir-read-only", [&](Scenario& s) {
    FilesWorld::Watch watch{w};
    ASSERT_TRUE(watch.until([](const Json& j) { return j["mode"]["current"] == "multidrop"; }, 10s));
    const double from = w.elapsed();
    std::string error;
    auto ro = Mount::readOnlyBind(f.stateDir(), error);
    ASSERT_TRUE(ro) << error;
    // Nothing can replace the file from here on: what it holds now must survive whole.
    const std::string before = testbed::slurp(f.statePath());
    ASSERT_FALSE(before.empty());
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return stateError(j).find(f.statePath()) != std::string::npos &&
                 stateError(j).find("Read-only file system") != std::string::npos;
        },
        30s))
        << watch.dump();
    EXPECT_TRUE(hasHealthReason(watch.last->second, "state.write_failed", "cannot persist state: "))
        << watch.last->second["health_reasons"].dump(2);
    EXPECT_GE(watch.last->first, 1) << "a state that cannot be persisted is at least a WARNING";
    auto [code, human] = f.statusText();
    EXPECT_NE(human.find("cannot persist state: "), std::string::npos) << human;
    // The senders' mail still comes through the ISP while the fault lasts.
    const double namedAt = w.elapsed();
    ASSERT_TRUE(testbed::eventually([&] { return w.elapsed() >= namedAt + 3; }, 10s));
    Account during;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          during = w.account(from, namedAt + 3);
          return during.copies > 0 && during.viaIsp == during.copies;
        },
        60s))
        << "mail sent during the fault not fetched while it lasts\n"
        << during.toJson().dump(2);
    EXPECT_TRUE(watch.until([](const Json& j) { return j["mode"]["current"] == "multidrop"; }, 10s));
    EXPECT_FALSE(watch.sawDirect) << "mail went direct while the record pointed away";
    EXPECT_EQ(testbed::slurp(f.statePath()), before) << "the old state file must stay intact";
    auto old = f.loadState();
    ASSERT_TRUE(old) << "the old state file no longer loads";
    EXPECT_EQ((*old)["mode"]["current"], "multidrop") << "the file is the last one written before the fault";

    const double restoredAt = w.elapsed();
    ASSERT_TRUE(ro->unmount());
    EXPECT_TRUE(watch.until([](const Json& j) { return stateError(j).empty(); }, 30s)) << watch.dump();
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto now = f.loadState();
          return now && (*now)["mode"]["current"] == "multidrop" && testbed::slurp(f.statePath()) != before;
        },
        30s))
        << "the state file catches up once it can be written";
    s.lost = f.expectDelivered("state-dir-read-only", from, restoredAt);
    f.expectAlive();
  });

  files.scenario("disk-full-state-dir", [&](Scenario& s) {
    FilesWorld::Watch watch{w};
    ASSERT_TRUE(watch.until([](const Json& j) { return j["mode"]["current"] == "multidrop"; }, 10s));
    const double from = w.elapsed();
    const std::string filler = fillUp(f.stateDir());
    ASSERT_TRUE(watch.until(
        [&](const Json& j) {
          return stateError(j).find(f.statePath()) != std::string::npos &&
                 hasHealthReason(j, "state.write_failed", "No space left on device");
        },
        30s))
        << watch.dump();
    // Every write from here on fails: what the files hold now must survive whole.
    const std::string before = testbed::slurp(f.statePath());
    const std::string ddnsBefore = testbed::slurp(f.ddnsStatePath());
    ASSERT_FALSE(before.empty());
    ASSERT_FALSE(ddnsBefore.empty());
    const double namedAt = w.elapsed();
    ASSERT_TRUE(testbed::eventually([&] { return w.elapsed() >= namedAt + 3; }, 10s));
    Account during;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          during = w.account(from, namedAt + 3);
          return during.copies > 0 && during.viaIsp == during.copies;
        },
        60s))
        << "mail sent during the fault not fetched while it lasts\n"
        << during.toJson().dump(2);
    EXPECT_TRUE(watch.until([](const Json& j) { return j["mode"]["current"] == "multidrop"; }, 10s));
    EXPECT_FALSE(watch.sawDirect);
    // The failed writes left the old files whole: never truncated, never empty.
    EXPECT_EQ(testbed::slurp(f.statePath()), before);
    EXPECT_EQ(testbed::slurp(f.ddnsStatePath()), ddnsBefore);
    auto old = f.loadState();
    ASSERT_TRUE(old);
    EXPECT_EQ((*old)["mode"]["current"], "multidrop");
    EXPECT_TRUE(Json::accept(ddnsBefore));
    EXPECT_TRUE(tempsIn(f.stateDir()).empty()) << "a failed write removes its temp file";

    // DDNS safe again while the disk is still full: the decision still happens.
    ASSERT_TRUE(w.setRecord(kOfficeAddress).ok());
    Json back;
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto st = w.status();
          back = st ? *st : Json::object();
          return !back.empty() && directAndSteady(back);
        },
        kReturnBound))
        << "not back to direct with the state dir full:\n"
        << back.dump(2) << "\n"
        << w.daemonLog();
    EXPECT_EQ(w.ispBox().count("office"), 0u) << "nothing may stay at the ISP when back on direct";
    EXPECT_NE(stateError(back), "") << "the state still cannot be written";
    EXPECT_EQ(testbed::slurp(f.statePath()), before)
        << "still the old file: it says multidrop, the safe side";

    const double restoredAt = w.elapsed();
    ASSERT_TRUE(std::filesystem::remove(filler));
    EXPECT_TRUE(watch.until([](const Json& j) { return stateError(j).empty(); }, 30s)) << watch.dump();
    EXPECT_TRUE(testbed::eventually(
        [&] {
          auto now = f.loadState();
          return now && (*now)["mode"]["current"] == "direct";
        },
        30s))
        << "the state file catches up once it can be written";
    s.lost = f.expectDelivered("disk-full-state-dir", from, restoredAt);
    f.expectAlive();
  });
  files.report();

  // The world's final count.
  auto drained = w.drain(150s);
  ASSERT_TRUE(drained.ok()) << drained.error() << "\n" << w.logs();
  const Account a = w.account();
  std::cout << a.toJson().dump() << std::endl;
  EXPECT_EQ(a.lost, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.duplicates, 0) << ::testing::PrintToString(a.problems);
  EXPECT_EQ(a.atIsp, 0);
  EXPECT_EQ(a.misdirected, 0) << "nobody listens where the record pointed";
  EXPECT_GT(a.viaIsp, 0);
  EXPECT_GT(a.direct, 0);
  EXPECT_TRUE(w.feederErrors().empty()) << ::testing::PrintToString(w.feederErrors());
  ASSERT_TRUE(w.daemonAnswers()) << w.daemonLog();
}

}  // namespace
}  // namespace dynmx::world
