// dynmx-test-dyndns2d: the loopback dyndns2 provider for tests and benchmarks.
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <iostream>
#include <thread>

#include "client.hpp"
#include "server.hpp"
#include "dynmx/atomic_file.hpp"

using namespace dynmx;
using namespace dynmx::dyndns2d;

namespace {

// Drive the in-process server from this thread and print its own floor: what a client
// can get out of it, so benchmarks can tell when the server would be the bottleneck.
int benchFloor(const ServerOptions& base, int requests) {
  ServerOptions options = base;
  options.accounts = {Account{"bench", "bench", {"*.bench.test"}, false}};
  options.logPath.clear();
  options.nsupdate.reset();
  options.faults = FaultConfig{};
  boost::asio::io_context io;
  Server server(io, options);
  if (auto s = server.start(); !s) {
    std::cerr << "dyndns2d: " << s.error() << "\n";
    return 1;
  }
  const int port = server.port();
  std::thread loop([&io] { io.run(); });
  const auto auth = basicAuth("bench", "bench");
  const std::vector<std::pair<std::string, std::string>> headers = {{"Authorization", auth},
                                                                    {"User-Agent", "dynmx-bench/1"}};
  int rc = 0;
  auto run = [&](const char* label, bool keepAlive, int hostsPerRequest, int n) {
    auto start = std::chrono::steady_clock::now();
    std::optional<HttpClient> client;
    for (int i = 0; i < n && rc == 0; ++i) {
      if (!client || !keepAlive) {
        auto c = HttpClient::connect(options.listen, port);
        if (!c) { std::cerr << "bench: " << c.error() << "\n"; rc = 1; break; }
        client.emplace(std::move(c.value()));
      }
      std::string hosts;
      for (int h = 0; h < hostsPerRequest; ++h)
        hosts += (h ? "," : "") + std::string("h") + std::to_string(h) + "-" + label + ".bench.test";
      // Alternate addresses so every request is a real change (good), not nochg.
      std::string ip = (i % 2) ? "192.0.2.1" : "192.0.2.2";
      auto r = client->request("GET", "/nic/update?hostname=" + hosts + "&myip=" + ip, headers);
      if (!r || r->status != 200) { std::cerr << "bench: request failed\n"; rc = 1; break; }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("BENCH_FLOOR %s requests=%d hosts_per_request=%d keepalive=%s seconds=%.3f "
                "requests_per_second=%.0f hosts_per_second=%.0f\n",
                label, n, hostsPerRequest, keepAlive ? "yes" : "no", secs, n / secs,
                n * hostsPerRequest / secs);
  };
  run("batch20", true, 20, requests);
  run("single", true, 1, requests);
  run("newconn", false, 1, requests / 4 > 0 ? requests / 4 : 1);
  std::fflush(stdout);
  boost::asio::post(io, [&server, &io] {
    server.stop();
    io.stop();
  });
  loop.join();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Loopback dyndns2 provider for dynmx tests and benchmarks"};
  ServerOptions options;
  std::string accountsFile, portFile, mode = "normal", code = "911";
  int status = 500, delayMs = 0, dripMs = 1000, benchRequests = 0;
  std::size_t bytes = 10 * 1024 * 1024;
  std::string nsServer, nsKey, nsZone, nsBinary = "nsupdate";
  int ttl = 60;
  int port = 0;
  app.add_option("--listen", options.listen, "Address to listen on (127.0.0.1 or ::1)");
  app.add_option("--port", port, "Port (0 picks a free one)")->check(CLI::Range(0, 65535));
  app.add_option("--port-file", portFile, "Write the bound port to this file");
  app.add_option("--accounts", accountsFile, "Accounts: user:password:host1,host2[:donator] lines or JSON");
  app.add_option("--max-hosts", options.maxHosts, "Hostnames per request before numhost")->check(CLI::Range(1, 100000));
  app.add_option("--log", options.logPath, "Append one JSON line per update request");
  app.add_option("--mode", mode, "Initial fault mode: normal code http garbage hang drip huge close");
  app.add_option("--code", code, "Answer for --mode code");
  app.add_option("--status", status, "HTTP status for --mode http");
  app.add_option("--bytes", bytes, "Body size for --mode huge");
  app.add_option("--drip-ms", dripMs, "Pause between bytes for --mode drip");
  app.add_option("--delay-ms", delayMs, "Delay before each update answer");
  std::string publicIp;
  app.add_option("--public-ip", publicIp, "What GET /ip answers (a loopback IP-check source)");
  app.add_option("--idle-timeout-ms", options.idleTimeoutMs, "Close idle keep-alive connections after this");
  app.add_option("--nsupdate-server", nsServer, "Push changes to this DNS server (host:port)");
  app.add_option("--nsupdate-key", nsKey, "TSIG key file for nsupdate -k");
  app.add_option("--zone", nsZone, "Zone for nsupdate");
  app.add_option("--nsupdate-binary", nsBinary, "nsupdate program");
  app.add_option("--ttl", ttl, "TTL of pushed records");
  app.add_flag("--nsupdate-sync", options.nsupdateSync, "Answer only after nsupdate has finished");
  app.add_option("--tls-cert", options.tlsCert, "PEM certificate chain (turns on TLS)");
  app.add_option("--tls-key", options.tlsKey, "PEM private key");
  app.add_option("--bench-floor", benchRequests, "Measure the server's own floor with N requests and exit");
  CLI11_PARSE(app, argc, argv);
  options.port = static_cast<std::uint16_t>(port);

  if (!accountsFile.empty()) {
    auto text = readFile(accountsFile);
    if (!text) { std::cerr << "dyndns2d: " << text.error() << "\n"; return 2; }
    auto accounts = parseAccounts(*text);
    if (!accounts) { std::cerr << "dyndns2d: " << accountsFile << ": " << accounts.error() << "\n"; return 2; }
    options.accounts = std::move(accounts.value());
  }
  bool reset = false;
  auto applied = applyControl(options.faults,
                              {{"mode", mode}, {"code", code}, {"status", std::to_string(status)},
                               {"bytes", std::to_string(bytes)}, {"drip_ms", std::to_string(dripMs)},
                               {"delay_ms", std::to_string(delayMs)}, {"public_ip", publicIp}},
                              reset);
  if (!applied) { std::cerr << "dyndns2d: " << applied.error() << "\n"; return 2; }
  if (!nsServer.empty()) options.nsupdate = NsUpdateOptions{nsServer, nsKey, nsZone, nsBinary, ttl};
  if (options.tlsCert.empty() != options.tlsKey.empty()) {
    std::cerr << "dyndns2d: --tls-cert and --tls-key go together\n";
    return 2;
  }

  if (benchRequests > 0) return benchFloor(options, benchRequests);

  boost::asio::io_context io;
  Server server(io, options);
  // Before LISTENING is printed: a harness may stop us the moment it reads it.
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    io.stop();
  });
  ::signal(SIGPIPE, SIG_IGN);
  if (auto s = server.start(); !s) {
    std::cerr << "dyndns2d: " << s.error() << "\n";
    return 1;
  }
  if (!portFile.empty()) {
    if (auto w = writeFileAtomic(portFile, std::to_string(server.port()) + "\n", {.mode = 0644}); !w) {
      std::cerr << "dyndns2d: " << w.error() << "\n";
      return 1;
    }
  }
  std::printf("LISTENING %s %u\n", options.listen.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  io.run();
  // Let the closed connections' handlers run so everything is released before exit.
  server.stop();
  io.restart();
  io.poll();
  return 0;
}
