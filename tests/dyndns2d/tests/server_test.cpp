// Runs the real dynmx-test-dyndns2d binary on port 0 and talks to it over loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "client.hpp"
#include "dynmx/atomic_file.hpp"
#include "dynmx/process.hpp"

using namespace dynmx;
using namespace dynmx::dyndns2d;
using namespace std::chrono_literals;
using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;
namespace fs = std::filesystem;

namespace {

const Headers kAlice = {{"Authorization", basicAuth("alice", "s3cret-alice-pw")}, {"User-Agent", "dynmx-test/1"}};
const Headers kBob = {{"Authorization", basicAuth("bob", "pw")}, {"User-Agent", "dynmx-test/1"}};

// Read from fd until `until` is seen or EOF/deadline; returns what was read.
std::string readUntil(int fd, const std::string& until, std::chrono::milliseconds timeout, bool* eof = nullptr) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.find(until) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      if (eof) *eof = true;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> extra, const std::string& listen = "127.0.0.1") {
    char tmpl[] = "/tmp/dyndns2d-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    accounts_ = dir_ + "/accounts";
    log_ = dir_ + "/requests.log";
    EXPECT_TRUE(writeFileAtomic(accounts_,
                                "alice:s3cret-alice-pw:a.example.test,b.example.test,*.dyn.example.test\n"
                                "bob:pw:c.example.test:donator\n")
                    .ok());
    ProcessSpec spec;
    spec.argv = {DYNDNS2D_BINARY, "--port", "0", "--listen", listen, "--accounts", accounts_, "--log", log_,
                 "--port-file", dir_ + "/port"};
    spec.argv.insert(spec.argv.end(), extra.begin(), extra.end());
    spec.inheritEnvironment = true;
    auto sp = spawnProcess(spec);
    pid_ = sp.pid;
    out_ = sp.stdoutFd;
    err_ = sp.stderrFd;
    if (pid_ < 0) {
      ADD_FAILURE() << "spawn failed: " << sp.error;
      return;
    }
    line_ = readUntil(out_, "\n", 20s);
    std::istringstream in(line_);
    std::string word, addr;
    in >> word >> addr >> port_;
    EXPECT_EQ(word, "LISTENING") << line_ << " stderr: " << readUntil(err_, "\n", 100ms);
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      // The stdout pipe closes when the process exits: a bounded wait on an event.
      bool eof = false;
      readUntil(out_, "\x01never", 10s, &eof);
      if (!eof) ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "server exit status " << status << " stderr: " << readUntil(err_, "\x01never", 1s);
    }
    if (out_ >= 0) ::close(out_);
    if (err_ >= 0) ::close(err_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& line() const { return line_; }
  HttpClient connect(const std::string& host = "127.0.0.1") const {
    auto c = HttpClient::connect(host, port_);
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error());
    return std::move(c.value());
  }
  HttpResponse get(const std::string& target, const Headers& headers = {}) const {
    auto c = connect();
    auto r = c.request("GET", target, headers);
    EXPECT_TRUE(r.ok()) << target << ": " << (r.ok() ? "" : r.error());
    return r.ok() ? r.value() : HttpResponse{};
  }
  Json stats() const { return Json::parse(get("/stats").body); }
  void control(const std::string& query) const {
    auto r = get("/control?" + query);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  std::vector<Json> logLines() const {
    std::vector<Json> lines;
    std::ifstream in(log_);
    for (std::string l; std::getline(in, l);) lines.push_back(Json::parse(l));
    return lines;
  }
  std::string logText() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_, accounts_, log_, line_;
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1, port_ = 0;
};

std::string update(const std::string& hosts, const std::string& more = "&myip=192.0.2.10") {
  return "/nic/update?hostname=" + hosts + more;
}

}  // namespace

TEST(Dyndns2d, PrintsListeningLineAndPortFile) {
  ServerProcess s({});
  ASSERT_GT(s.port(), 0);
  auto port = readFile(s.dir() + "/port");
  ASSERT_TRUE(port.ok());
  EXPECT_EQ(*port, std::to_string(s.port()) + "\n");
  EXPECT_EQ(s.line(), "LISTENING 127.0.0.1 " + std::to_string(s.port()) + "\n");
}

TEST(Dyndns2d, KeepAliveGoodThenNochgOnOneConnection) {
  ServerProcess s({});
  auto c = s.connect();
  auto r1 = c.request("GET", update("a.example.test,b.example.test"), kAlice);
  ASSERT_TRUE(r1.ok()) << r1.error();
  EXPECT_EQ(r1->status, 200);
  EXPECT_EQ(r1->headers["content-type"], "text/plain; charset=utf-8");
  EXPECT_EQ(r1->body, "good 192.0.2.10\ngood 192.0.2.10\n");
  auto r2 = c.request("GET", update("a.example.test,b.example.test"), kAlice);
  ASSERT_TRUE(r2.ok()) << r2.error();
  EXPECT_EQ(r2->body, "nochg 192.0.2.10\nnochg 192.0.2.10\n");
  auto r3 = c.request("GET", update("a.example.test", "&myip=192.0.2.11"), kAlice);
  ASSERT_TRUE(r3.ok()) << r3.error();
  EXPECT_EQ(r3->body, "good 192.0.2.11\n");
  auto stats = s.stats();
  EXPECT_EQ(stats["requests"], 3);
  EXPECT_EQ(stats["connections"], 2);  // ours plus the /stats one
  EXPECT_EQ(stats["hosts_updated"], 3);
  EXPECT_EQ(stats["codes"]["nochg"], 2);
  auto records = Json::parse(s.get("/records").body);
  EXPECT_EQ(records["a.example.test"]["ipv4"], "192.0.2.11");
  EXPECT_EQ(records["b.example.test"]["ipv4"], "192.0.2.10");
}

TEST(Dyndns2d, PipelinedRequestsAnswerInOrder) {
  ServerProcess s({});
  auto c = s.connect();
  std::string auth = kAlice[0].second;
  std::string one = "GET " + update("a.example.test") + " HTTP/1.1\r\nHost: t\r\nUser-Agent: t/1\r\nAuthorization: " +
                    auth + "\r\n\r\n";
  ASSERT_TRUE(c.send(one + one).ok());
  auto r1 = c.readResponse();
  auto r2 = c.readResponse();
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->body, "good 192.0.2.10\n");
  EXPECT_EQ(r2->body, "nochg 192.0.2.10\n");
}

TEST(Dyndns2d, AuthAgentAndHostCodes) {
  ServerProcess s({});
  Headers wrong = {{"Authorization", basicAuth("alice", "nope")}, {"User-Agent", "t/1"}};
  EXPECT_EQ(s.get(update("a.example.test,b.example.test"), wrong).body, "badauth\n");
  auto challenge = s.get(update("a.example.test"), {{"User-Agent", "t/1"}});
  EXPECT_EQ(challenge.status, 401);
  EXPECT_EQ(challenge.headers["www-authenticate"], "Basic realm=\"dyndns2d\"");
  EXPECT_EQ(s.get(update("a.example.test"), {kAlice[0]}).body, "badagent\n");
  EXPECT_EQ(s.get(update("a.example.test"), {kAlice[0], {"User-Agent", ""}}).body, "badagent\n");
  EXPECT_EQ(s.get(update("c.example.test,not_fqdn,a.example.test"), kAlice).body,
            "nohost\nnotfqdn\ngood 192.0.2.10\n");
  EXPECT_EQ(s.get(update("a.example.test", "&offline=YES"), kAlice).body, "!donator\n");
  EXPECT_EQ(s.get(update("c.example.test", "&myip=203.0.113.9&offline=YES"), kBob).body, "good 203.0.113.9\n");
  EXPECT_EQ(s.get("/nic/update?hostname=b.example.test", kAlice).body, "good 127.0.0.1\n");
  EXPECT_EQ(s.get(update("b.example.test", "&myip=192.0.2.1,2001:db8::5"), kAlice).body, "good 192.0.2.1,2001:db8::5\n");
}

TEST(Dyndns2d, NumhostAboveTwentyAndConfigurable) {
  ServerProcess s({});
  std::string hosts;
  for (int i = 0; i < 21; ++i) hosts += (i ? "," : "") + std::string("h") + std::to_string(i) + ".dyn.example.test";
  EXPECT_EQ(s.get(update(hosts), kAlice).body, "numhost\n");
  EXPECT_EQ(s.stats()["records"], 0);
  auto twenty = hosts.substr(0, hosts.rfind(','));
  auto r = s.get(update(twenty), kAlice);
  EXPECT_EQ(std::count(r.body.begin(), r.body.end(), '\n'), 20);
  EXPECT_EQ(s.stats()["hosts_updated"], 20);

  ServerProcess small({"--max-hosts", "2"});
  EXPECT_EQ(small.get(update("a.example.test,b.example.test,x.dyn.example.test"), kAlice).body, "numhost\n");
}

TEST(Dyndns2d, RequestLogHasOneJsonLinePerUpdateAndNoSecrets) {
  ServerProcess s({});
  auto c = s.connect();
  ASSERT_TRUE(c.request("GET", update("a.example.test,nohost.example.test"), kAlice).ok());
  ASSERT_TRUE(c.request("GET", update("a.example.test"), kAlice).ok());
  s.get("/stats");  // not an update: not logged
  auto lines = s.logLines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["user"], "alice");
  EXPECT_EQ(lines[0]["hostnames"], Json({"a.example.test", "nohost.example.test"}));
  EXPECT_EQ(lines[0]["myip"], "192.0.2.10");
  EXPECT_EQ(lines[0]["offline"], "");
  EXPECT_EQ(lines[0]["ua"], "dynmx-test/1");
  EXPECT_EQ(lines[0]["answer"], Json({"good 192.0.2.10", "nohost"}));
  EXPECT_EQ(lines[1]["answer"], Json({"nochg 192.0.2.10"}));
  EXPECT_EQ(lines[0]["conn"], lines[1]["conn"]);
  EXPECT_TRUE(lines[0]["t"].is_number_integer());
  EXPECT_THAT(s.logText(), ::testing::Not(::testing::HasSubstr("s3cret")));
}

TEST(Dyndns2d, CodeModeAnswersEveryCodeForEveryHost) {
  ServerProcess s({});
  for (std::string code : {"911", "dnserr", "badauth", "abuse", "nohost", "numhost", "!donator", "notfqdn",
                           "badsys", "!yours", "!active", "badagent"}) {
    s.control("mode=code&code=" + std::string(code == "!donator" ? "%21donator" : code));
    EXPECT_EQ(s.get(update("a.example.test,b.example.test"), kAlice).body, code + "\n" + code + "\n") << code;
  }
  s.control("once=1");
  EXPECT_EQ(s.get(update("a.example.test,b.example.test"), kAlice).body, "badagent\n");
  EXPECT_EQ(s.stats()["records"], 0);
  s.control("mode=normal");
  EXPECT_EQ(s.get(update("a.example.test"), kAlice).body, "good 192.0.2.10\n");
  EXPECT_EQ(s.logLines().front()["fault"], "code");
}

TEST(Dyndns2d, ControlRejectsBadCommandsAndResetClears) {
  ServerProcess s({});
  auto bad = s.get("/control?mode=sideways");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Json::parse(bad.body)["faults"]["mode"], "normal");
  auto c = s.connect();
  auto post = c.request("POST", "/control", {{"Content-Type", "application/x-www-form-urlencoded"}},
                        "mode=http&status=404");
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(Json::parse(post->body)["faults"]["status"], 404);
  EXPECT_EQ(s.get(update("a.example.test"), kAlice).status, 404);
  s.control("mode=normal");
  EXPECT_EQ(s.get(update("a.example.test"), kAlice).status, 200);
  EXPECT_EQ(s.stats()["records"], 1);
  s.control("reset");
  EXPECT_EQ(s.stats()["records"], 0);
  EXPECT_EQ(s.stats()["requests"], 0);
  EXPECT_TRUE(s.logLines().empty());
  EXPECT_EQ(s.get(update("a.example.test"), kAlice).body, "good 192.0.2.10\n");
}

TEST(Dyndns2d, HttpErrorAndGarbageModes) {
  ServerProcess s({"--mode", "http", "--status", "500"});
  auto r = s.get(update("a.example.test"), kAlice);
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, ::testing::HasSubstr("500"));
  s.control("mode=garbage");
  r = s.get(update("a.example.test"), kAlice);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<html>oops</html>");
  EXPECT_EQ(r.headers["content-type"], "text/html");
}

TEST(Dyndns2d, CloseModeClosesWithoutAnAnswer) {
  ServerProcess s({});
  s.control("mode=close");
  auto c = s.connect();
  ASSERT_TRUE(c.sendRequest("GET", update("a.example.test"), kAlice).ok());
  bool eof = false;
  EXPECT_EQ(c.readFor(10s, 1 << 20, &eof), "");
  EXPECT_TRUE(eof);
  EXPECT_EQ(s.logLines().at(0)["fault"], "close");
}

TEST(Dyndns2d, HangModeNeverAnswersButStaysOpen) {
  ServerProcess s({"--mode", "hang"});
  auto c = s.connect();
  ASSERT_TRUE(c.sendRequest("GET", update("a.example.test"), kAlice).ok());
  bool eof = false;
  EXPECT_EQ(c.readFor(500ms, 1 << 20, &eof), "");
  EXPECT_FALSE(eof);
  EXPECT_EQ(s.stats()["open_connections"], 2);  // the hung one and the /stats one
  EXPECT_EQ(s.logLines().at(0)["fault"], "hang");
}

TEST(Dyndns2d, DripModeSendsOneBytePerInterval) {
  ServerProcess s({});
  s.control("mode=drip&drip_ms=1000");
  auto c = s.connect();
  ASSERT_TRUE(c.sendRequest("GET", update("a.example.test"), kAlice).ok());
  std::string first = c.readFor(10s, 1);
  ASSERT_EQ(first, "H");
  // One more byte at most can come within a fraction of the interval.
  EXPECT_LE(c.readFor(300ms, 1 << 20).size(), 1u);
  s.control("drip_ms=1");  // does not change the reply already dripping
  EXPECT_EQ(s.logLines().at(0)["fault"], "drip");
  EXPECT_EQ(s.stats()["records"], 1);  // the update itself was applied
}

TEST(Dyndns2d, HugeModeSendsTheRequestedSize) {
  ServerProcess s({});
  s.control("mode=huge&bytes=10485760");
  auto c = s.connect();
  auto r = c.request("GET", update("a.example.test"), kAlice, {}, 30s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->headers["content-length"], "10485760");
  EXPECT_EQ(r->body.size(), 10485760u);
  // Keep-alive still works after it.
  s.control("mode=normal");
  auto again = c.request("GET", update("a.example.test"), kAlice);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->body, "good 192.0.2.10\n");
}

TEST(Dyndns2d, DelayHoldsTheAnswerWithoutBlockingOthers) {
  ServerProcess s({"--delay-ms", "3000"});
  auto slow = s.connect();
  ASSERT_TRUE(slow.sendRequest("GET", update("a.example.test"), kAlice).ok());
  // While that one waits, the loop still serves others at once.
  auto stats = s.get("/stats");
  EXPECT_EQ(stats.status, 200);
  EXPECT_EQ(slow.readFor(200ms, 1 << 20), "");
  auto r = slow.readResponse(20s);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "good 192.0.2.10\n");
}

TEST(Dyndns2d, BadRequestsGet400) {
  ServerProcess s({});
  auto c = s.connect();
  ASSERT_TRUE(c.send("GET /nic/update HTTP/1.1\r\nX: " + std::string(17 * 1024, 'a') + "\r\n\r\n").ok());
  auto r = c.readResponse();
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->status, 400);
  EXPECT_TRUE(c.waitClosed(5s));
  auto c2 = s.connect();
  ASSERT_TRUE(c2.send("BOGUS\r\n\r\n").ok());
  auto r2 = c2.readResponse();
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->status, 400);
  EXPECT_EQ(s.get("/nowhere").status, 404);
  EXPECT_EQ(s.stats()["bad_requests"], 2);
}

TEST(Dyndns2d, ListensOnIpv6Loopback) {
  auto probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (probe < 0) GTEST_SKIP() << "no IPv6";
  ::close(probe);
  ServerProcess s({}, "::1");
  EXPECT_EQ(s.line(), "LISTENING ::1 " + std::to_string(s.port()) + "\n");
  auto c = s.connect("::1");
  auto r = c.request("GET", "/nic/update?hostname=a.example.test", kAlice);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->body, "good ::1\n");
}

TEST(Dyndns2d, PushesChangesThroughNsupdate) {
  char tmpl[] = "/tmp/dyndns2d-ns-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string fake = dir + "/fake-nsupdate";
  std::string out = dir + "/pushed";
  // Stands in for nsupdate: records its arguments and script.
  ASSERT_TRUE(writeFileAtomic(fake, "#!/bin/sh\necho \"ARGS $1 $2\" >> " + out + "\ncat \"$3\" >> " + out + "\n",
                              {.mode = 0755})
                  .ok());
  {
    ServerProcess s({"--nsupdate-server", "127.0.0.1:5399", "--nsupdate-key", dir + "/key", "--zone",
                     "example.test", "--nsupdate-binary", fake, "--nsupdate-sync", "--ttl", "45"});
    EXPECT_EQ(s.get(update("a.example.test", "&myip=192.0.2.44"), kAlice).body, "good 192.0.2.44\n");
    auto pushed = readFile(out);
    ASSERT_TRUE(pushed.ok());
    EXPECT_EQ(*pushed, "ARGS -k " + dir + "/key\nserver 127.0.0.1 5399\nzone example.test\n"
                       "update delete a.example.test. A\nupdate delete a.example.test. AAAA\n"
                       "update add a.example.test. 45 A 192.0.2.44\nsend\n");
    EXPECT_EQ(s.get(update("a.example.test", "&myip=192.0.2.44"), kAlice).body, "nochg 192.0.2.44\n");
    auto stats = s.stats();
    EXPECT_EQ(stats["nsupdate"]["runs"], 1);
    EXPECT_EQ(stats["nsupdate"]["failures"], 0);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(Dyndns2d, ReportsNsupdateFailures) {
  ServerProcess s({"--nsupdate-server", "127.0.0.1:5399", "--zone", "example.test", "--nsupdate-binary", "false",
                   "--nsupdate-sync"});
  EXPECT_EQ(s.get(update("a.example.test"), kAlice).body, "good 192.0.2.10\n");
  auto stats = s.stats();
  EXPECT_EQ(stats["nsupdate"]["failures"], 1);
  EXPECT_THAT(stats["nsupdate"]["last_error"].get<std::string>(), ::testing::HasSubstr("exit 1"));
}

TEST(Dyndns2d, ServesTlsWhenGivenACertificate) {
  char tmpl[] = "/tmp/dyndns2d-tls-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  ProcessSpec gen;
  gen.argv = {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
              "/CN=members.example.test", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem"};
  auto made = runProcess(gen);
  if (!made.succeeded()) GTEST_SKIP() << "openssl cannot make a certificate: " << made.error << made.err;
  {
    ServerProcess s({"--tls-cert", dir + "/cert.pem", "--tls-key", dir + "/key.pem"});
    namespace asio = boost::asio;
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(dir + "/cert.pem");
    asio::ssl::stream<asio::ip::tcp::socket> tls(io, ctx);
    tls.set_verify_mode(asio::ssl::verify_peer);
    tls.set_verify_callback(asio::ssl::host_name_verification("members.example.test"));
    tls.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(s.port())});
    tls.handshake(asio::ssl::stream_base::client);
    std::string req = "GET " + update("a.example.test") + " HTTP/1.1\r\nHost: members.example.test\r\n"
                      "User-Agent: t/1\r\nAuthorization: " + kAlice[0].second + "\r\nConnection: close\r\n\r\n";
    asio::write(tls, asio::buffer(req));
    std::string reply;
    boost::system::error_code ec;
    asio::read(tls, asio::dynamic_buffer(reply), ec);
    EXPECT_THAT(reply, ::testing::StartsWith("HTTP/1.1 200 OK"));
    EXPECT_THAT(reply, ::testing::EndsWith("\r\n\r\ngood 192.0.2.10\n"));

    // A client expecting another name fails verification (issue 6: TLS name mismatch).
    asio::ssl::stream<asio::ip::tcp::socket> wrong(io, ctx);
    wrong.set_verify_mode(asio::ssl::verify_peer);
    wrong.set_verify_callback(asio::ssl::host_name_verification("other.example.test"));
    wrong.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(s.port())});
    wrong.handshake(asio::ssl::stream_base::client, ec);
    EXPECT_TRUE(ec);
  }
  std::error_code rmEc;
  fs::remove_all(dir, rmEc);
}

TEST(Dyndns2d, BenchFloorPrintsItsNumbers) {
  ProcessSpec spec;
  spec.argv = {DYNDNS2D_BINARY, "--bench-floor", "200"};
  spec.inheritEnvironment = true;
  spec.timeout = 60s;
  auto r = runProcess(spec);
  ASSERT_TRUE(r.succeeded()) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("BENCH_FLOOR batch20 requests=200 hosts_per_request=20 keepalive=yes"));
  EXPECT_THAT(r.out, ::testing::HasSubstr("BENCH_FLOOR newconn requests=50"));
  std::cout << r.out;  // the floor itself, for the reader; not asserted
}

namespace {

// A private named on a loopback port, for the end-to-end nsupdate check.
class NamedProcess {
 public:
  explicit NamedProcess(const std::string& dir) {
    int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    ::bind(probe, reinterpret_cast<sockaddr*>(&sin), len);
    ::getsockname(probe, reinterpret_cast<sockaddr*>(&sin), &len);
    port_ = ntohs(sin.sin_port);
    ::close(probe);
    ProcessSpec keygen;
    keygen.argv = {"tsig-keygen", "-a", "hmac-sha256", "dyndns2d-key"};
    auto key = runProcess(keygen);
    if (!key.succeeded()) return;
    EXPECT_TRUE(writeFileAtomic(dir + "/key.conf", key.out).ok());
    EXPECT_TRUE(writeFileAtomic(dir + "/named.conf",
                                "include \"" + dir + "/key.conf\";\n"
                                "options { directory \"" + dir + "\"; pid-file none; listen-on port " +
                                    std::to_string(port_) +
                                    " { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; };\n"
                                    "controls { };\n"
                                    "zone \"example.test\" { type primary; file \"" + dir +
                                    "/example.test.zone\"; update-policy { grant dyndns2d-key zonesub A AAAA; }; };\n")
                    .ok());
    EXPECT_TRUE(writeFileAtomic(dir + "/example.test.zone",
                                "$TTL 60\n@ IN SOA ns.example.test. admin.example.test. 1 60 60 600 60\n"
                                "@ IN NS ns.example.test.\nns IN A 127.0.0.1\n",
                                {.mode = 0644})
                    .ok());
    ProcessSpec spec;
    spec.argv = {"named", "-g", "-c", dir + "/named.conf"};
    spec.inheritEnvironment = true;
    auto sp = spawnProcess(spec);
    pid_ = sp.pid;
    out_ = sp.stdoutFd;
    err_ = sp.stderrFd;
    if (pid_ < 0) return;
    // named -g logs to stderr; its last start-up line is "... running".
    running_ = readUntil(err_, " running\n", 20s).find(" running\n") != std::string::npos;
  }
  ~NamedProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    bool eof = false;
    readUntil(err_, "\x01never", 10s, &eof);
    if (!eof) ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    ::close(out_);
    ::close(err_);
  }
  bool running() const { return running_; }
  int port() const { return port_; }
  std::string dig(const std::string& name, const std::string& type) const {
    ProcessSpec spec;
    spec.argv = {"dig", "@127.0.0.1", "-p", std::to_string(port_), name, type, "+short", "+norecurse"};
    spec.timeout = 10s;
    return runProcess(spec).out;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1, port_ = 0;
  bool running_ = false;
};

}  // namespace

TEST(Dyndns2d, PublishesToARealBindWithNsupdate) {
  char tmpl[] = "/tmp/dyndns2d-bind-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  {
    NamedProcess named(dir);
    if (!named.running()) GTEST_SKIP() << "named/tsig-keygen not available";
    ServerProcess s({"--nsupdate-server", "127.0.0.1:" + std::to_string(named.port()), "--nsupdate-key",
                     dir + "/key.conf", "--zone", "example.test", "--nsupdate-sync"});
    EXPECT_EQ(s.get(update("a.example.test", "&myip=192.0.2.55,2001:db8::55"), kAlice).body,
              "good 192.0.2.55,2001:db8::55\n");
    EXPECT_EQ(named.dig("a.example.test", "A"), "192.0.2.55\n");
    EXPECT_EQ(named.dig("a.example.test", "AAAA"), "2001:db8::55\n");
    EXPECT_EQ(s.get(update("a.example.test", "&myip=198.51.100.3"), kAlice).body, "good 198.51.100.3\n");
    EXPECT_EQ(named.dig("a.example.test", "A"), "198.51.100.3\n");
    EXPECT_EQ(s.stats()["nsupdate"]["failures"], 0) << s.stats().dump();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(Dyndns2d, ServesAnIpCheckSourceThatTestsCanChange) {
  ServerProcess s({"--public-ip", "203.0.113.7"});
  auto r = s.get("/ip");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "203.0.113.7\n");
  s.control("public_ip=198.51.100.20");
  EXPECT_EQ(s.get("/ip").body, "198.51.100.20\n");
  s.control("mode=hang");  // update faults leave the IP source alone
  EXPECT_EQ(s.get("/ip").body, "198.51.100.20\n");
  s.control("public_ip=");
  EXPECT_EQ(s.get("/ip").status, 404);
}
