// Benchmark: drain an ISP box of N messages (a mix of sizes) with the real fetchmail and
// dovecot, once straight to the MTA and once through the envelope guard, alternating, and
// print messages per second and the guard's overhead. The guard runs in this process on
// its own thread (the same GuardServer `dynmx run` starts), its journal on the real disk;
// DYNMX_BENCH_GUARD_PROCESS=1 runs `dynmx guard` as a separate process instead.
//
//   dynmx-bench-guard-drain [messages=10000] [rounds=2] [mta=lmtp-unix|smtp-tcp]
//
// The MTA only records (so the figures measure fetchmail + guard, not a real MTA's queue):
// lmtp-unix is a scripted LMTP server on a unix socket (no TCP effects, the guard's own cost
// shows); smtp-tcp is the test suite's SMTP sink on 127.0.0.1, where fetchmail's small
// writes meet Nagle and delayed ACKs on the direct path. Needs DYNMX_BINARY or
// dynmx in PATH; run as root (dovecot's test setup) like the integration tests.
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "dynmx/fetchmail_conf.hpp"
#include "dynmx/guard_server.hpp"
#include "dynmx/policy.hpp"
#include "dynmx/process.hpp"
#include "testbed/dovecot.hpp"
#include "testbed/fetchmail_run.hpp"
#include "testbed/mail_sink.hpp"
#include "testbed/temp_dir.hpp"
#include "fake_mta.hpp"

using namespace dynmx;
using namespace dynmx::testbed;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPassword = "bench-pass";

/// Sizes: 70 % about 2 KB, 25 % about 20 KB, 5 % about 200 KB (seeded, the same every run).
std::vector<std::string> makeBox(int n) {
  std::mt19937 rng(20261201);
  std::vector<std::string> box;
  const std::string users[] = {"alice", "bob", "carol", "dave"};
  for (int i = 0; i < n; ++i) {
    const int roll = static_cast<int>(rng() % 100);
    const std::size_t size = roll < 70 ? 2000 : roll < 95 ? 20000 : 200000;
    const std::string rcpt = users[rng() % 4] + "@example.com";
    std::ostringstream o;
    o << "Return-Path: <sender@example.net>\nDelivered-To: office@isp.example\nX-Original-To: " << rcpt
      << "\nDelivered-To: " << rcpt << "\nReceived: from mx.example.net by mx.isp.example; Mon, 23 Nov 2026 10:00:00 +0000\n"
      << "From: <sender@example.net>\nTo: <" << rcpt << ">\nSubject: bench " << i << "\nMessage-ID: <bench-" << i
      << "@example.net>\n\n";
    std::string line(75, 'a' + static_cast<char>(i % 26));
    std::string body;
    while (body.size() < size) body += line + "\n";
    o << body;
    box.push_back(o.str());
  }
  return box;
}

std::string dynmxBinary() {
  const char* b = std::getenv("DYNMX_BINARY");
  return b != nullptr ? b : "dynmx";
}

struct RunFigures {
  double guardCpu = 0;  ///< seconds of CPU the guard process used
  double seconds = 0;
  std::size_t delivered = 0;
  int exitCode = -1;
};

RunFigures drain(bool guarded, const std::vector<std::string>& box, const std::string& diskDir, bool lmtpUnix) {
  TempDir dir("gb");
  auto started = Dovecot::start(dir);
  if (!started.ok()) throw std::runtime_error(started.error());
  Dovecot& isp = **started;
  if (!isp.addUser("office", kPassword).ok()) throw std::runtime_error("addUser");
  for (const auto& m : box)
    if (!isp.deliver("office", m).ok()) throw std::runtime_error("deliver");
  MailSink sink;
  std::unique_ptr<guard::testing::FakeMta> lmtp;
  if (lmtpUnix) lmtp = std::make_unique<guard::testing::FakeMta>(dir.path() + "/mta.sock");
  const std::string home = dir.subdir("fm", 0700);
  // The guard's state (journal) on the real disk, not in a tmpfs.
  const std::string state = diskDir + (guarded ? "/guard-state" : "/direct-state");
  std::filesystem::remove_all(state);
  std::filesystem::create_directories(state);

  Policy p;
  p.mail.mode = MailPolicy::Multidrop;
  p.mail.domains = {"example.com"};
  p.isp.server = "127.0.0.1";
  p.isp.port = isp.pop3Port();
  p.isp.tls = TlsMode::None;
  p.isp.certificateCheck = false;
  p.isp.user = "office";
  p.isp.timeout = 60s;
  p.envelope.header = "Delivered-To";
  p.envelope.skip = 1;
  p.users.map = {{"alice", "alice"}, {"bob", "bob"}, {"carol", "carol"}};
  p.users.postmaster = "postmaster";
  p.delivery.method = lmtpUnix ? DeliveryMethod::Lmtp : DeliveryMethod::Smtp;
  p.delivery.target = lmtpUnix ? HostPort{dir.path() + "/mta.sock", 24} : HostPort{"127.0.0.1", sink.port()};
  p.delivery.guard = guarded;
  p.daemon.stateDir = state;
  p.guard.socket = dir.path() + "/g.sock";
  p.fetchmail.home = home;
  p.fetchmail.rcPath = home + "/fetchmailrc";
  fetchmail::RenderInput in;
  in.password = kPassword;
  in.idFile = home + "/fetchmail.ids";
  in.pidFile = home + "/fetchmail.pid";
  auto rc = fetchmail::renderRc(p, in);
  if (!rc.ok()) throw std::runtime_error(rc.error());
  writeTextFile(p.fetchmail.rcPath, *rc, 0600);

  RunFigures f;
  SpawnedProcess guard;
  const bool separateProcess = std::getenv("DYNMX_BENCH_GUARD_PROCESS") != nullptr;
  boost::asio::io_context io;
  std::unique_ptr<guard::GuardServer> inProcess;
  std::thread ioThread;
  if (guarded && !separateProcess) {
    auto config = guard::configFromPolicy(p);
    config.markerId = "0123456789abcdef";
    inProcess = std::make_unique<guard::GuardServer>(io, config, [] {
      return std::chrono::time_point_cast<Duration>(Clock::now());
    });
    if (auto st = inProcess->start(); !st.ok()) throw std::runtime_error(st.error());
    ioThread = std::thread([&] {
      io.run();
      timespec cpu{};
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
      f.guardCpu = static_cast<double>(cpu.tv_sec) + static_cast<double>(cpu.tv_nsec) / 1e9;
    });
  } else if (guarded) {
    std::ofstream(state + "/policy.toml")
        << "[mail]\nmode = \"multidrop\"\ndomains = [\"example.com\"]\n"
        << "[isp]\nserver = \"127.0.0.1\"\nuser = \"office\"\npassword = \"x\"\ntls = \"none\"\n"
        << "[envelope]\nheader = \"Delivered-To\"\nskip = 1\n"
        << "[users]\nmap = { alice = \"alice\", bob = \"bob\", carol = \"carol\" }\npostmaster = \"postmaster\"\n"
        << "[delivery]\nmethod = \"" << (lmtpUnix ? "lmtp" : "smtp") << "\"\nhost = \""
        << (lmtpUnix ? dir.path() + "/mta.sock" : std::string("127.0.0.1")) << "\"\nport = "
        << (lmtpUnix ? 24 : sink.port()) << "\n"
        << "[guard]\nsocket = \"" << p.guard.socket << "\"\n[ddns]\nenabled = false\n"
        << "[daemon]\nstate_dir = \"" << state << "\"\ncontrol_socket = \"" << state << "/c.sock\"\nlog_level = \"warn\"\n";
    ProcessSpec spec;
    spec.argv = {dynmxBinary(), "guard", "-c", state + "/policy.toml"};
    spec.timeout = 0ms;
    guard = spawnProcess(spec);
    for (int i = 0; i < 500 && !std::filesystem::exists(p.guard.socket); ++i) std::this_thread::sleep_for(10ms);
    if (!std::filesystem::exists(p.guard.socket)) throw std::runtime_error("dynmx guard did not start");
  }

  const auto t0 = std::chrono::steady_clock::now();
  auto run = runFetchmailOnce(p.fetchmail.rcPath, home, 3600s);
  const auto t1 = std::chrono::steady_clock::now();
  f.seconds = std::chrono::duration<double>(t1 - t0).count();
  f.exitCode = run.ok() ? run->exitCode : -1;
  if (lmtpUnix) {
    f.delivered = lmtp->accepted().size();
  } else {
    sink.waitFor([&](const auto& m) { return m.size() >= box.size(); }, 30s);
    f.delivered = sink.count();
  }
  if (inProcess) {
    boost::asio::post(io, [&] {
      inProcess->stop();
      io.stop();
    });
    ioThread.join();
  } else if (guarded) {
    std::ifstream stat("/proc/" + std::to_string(guard.pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string x;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15; ++i) {
      fields >> x;
      if (i == 14) utime = std::stol(x);
      if (i == 15) stime = std::stol(x);
    }
    f.guardCpu = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    ::kill(guard.pid, SIGTERM);
    int status = 0;
    ::waitpid(guard.pid, &status, 0);
    ::close(guard.stdoutFd);
    ::close(guard.stderrFd);
  }
  if (isp.count("office") != 0) std::cerr << "warning: " << isp.count("office") << " messages left at the ISP\n";
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 2;
  const bool lmtpUnix = argc <= 3 || std::string(argv[3]) != "smtp-tcp";
  const std::string disk = std::filesystem::current_path().string() + "/guard-bench-state";
  auto box = makeBox(n);
  std::size_t bytes = 0;
  for (const auto& m : box) bytes += m.size();
  std::printf("box: %d messages, %.1f MB (70%% ~2 KB, 25%% ~20 KB, 5%% ~200 KB), MTA %s\n", n,
              static_cast<double>(bytes) / 1e6, lmtpUnix ? "LMTP on a unix socket" : "SMTP on 127.0.0.1");
  std::vector<double> direct, guarded;
  for (int r = 0; r < rounds; ++r) {
    for (bool g : {false, true}) {
      RunFigures f = drain(g, box, disk, lmtpUnix);
      std::printf("round %d %-7s %8.2f s  %8.1f msg/s  delivered %zu  fetchmail exit %d  guard CPU %.2f s\n", r + 1,
                  g ? "guard" : "direct", f.seconds, n / f.seconds, f.delivered, f.exitCode, f.guardCpu);
      std::fflush(stdout);
      (g ? guarded : direct).push_back(f.seconds);
    }
  }
  std::sort(direct.begin(), direct.end());
  std::sort(guarded.begin(), guarded.end());
  const double d = direct[direct.size() / 2], g = guarded[guarded.size() / 2];
  std::printf("median: direct %.1f msg/s, guard %.1f msg/s, overhead %+.1f %%\n", n / d, n / g, (g / d - 1) * 100);
  std::filesystem::remove_all(disk);
  return 0;
}
