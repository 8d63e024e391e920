#include "dynmx/status/metrics.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "dynmx/status/health.hpp"
#include "fixtures.hpp"
#include "server_harness.hpp"

namespace dynmx::status {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

Counters sampleCounters() {
  Counters c;
  c.ddnsUpdates[{"main", "good"}] = 3;
  c.ddnsUpdates[{"main", "nochg"}] = 12;
  c.ddnsUpdates[{"odd \"acct\"\\\n", "911"}] = 1;
  c.switches["multidrop"] = 2;
  c.switches["direct"] = 1;
  c.hookFailures = 1;
  return c;
}

TEST(Metrics, Golden) {
  Report r = test::multidropMismatch();
  computeHealth(r);
  test::expectGolden("metrics.txt", renderMetrics(r, sampleCounters()));
}

TEST(Metrics, BothModesAreAlwaysPresent) {
  Report r = test::directHealthy();
  const std::string page = renderMetrics(r, {});
  EXPECT_NE(page.find("dynmx_mode{mode=\"direct\"} 1\n"), std::string::npos);
  EXPECT_NE(page.find("dynmx_mode{mode=\"multidrop\"} 0\n"), std::string::npos);
  EXPECT_NE(page.find("dynmx_switches_total{to=\"direct\"} 0\n"), std::string::npos);
}

TEST(Metrics, EveryFamilyHasHelpAndType) {
  const std::string page = renderMetrics(test::multidropMismatch(), sampleCounters());
  for (const char* name : {"dynmx_mode", "dynmx_health", "dynmx_ddns_verified", "dynmx_ddns_updates_total",
                           "dynmx_fetchmail_running", "dynmx_fetchmail_polls_total", "dynmx_fetchmail_errors_total",
                           "dynmx_switches_total", "dynmx_link_up", "dynmx_hook_failures_total"}) {
    EXPECT_NE(page.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(page.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
}

TEST(Metrics, LabelEscaping) {
  EXPECT_EQ(escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escapeLabelValue("office.example.com"), "office.example.com");
}

class MetricsHttp : public ::testing::Test {
 protected:
  void TearDown() override {
    io_.call([this] {
      server_.reset();
      return 0;
    });
  }

  Status<> start(HostPort where, MetricsServerOptions options = {}) {
    return io_.call([&] {
      server_ = std::make_unique<MetricsServer>(io_.io(), where, [] { return std::string("dynmx_health 0\n"); },
                                                options);
      return server_->start();
    });
  }

  // Send raw bytes, read until the server closes.
  std::string exchange(const std::string& request) {
    tcp::socket s(clientIo_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server_->port())));
    boost::system::error_code ec;
    if (!request.empty()) asio::write(s, asio::buffer(request), ec);
    std::string out;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }

  test::IoThread io_;
  asio::io_context clientIo_;
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsHttp, ServesMetrics) {
  ASSERT_TRUE(start({"127.0.0.1", 0}).ok());
  ASSERT_GT(server_->port(), 0);
  const std::string resp = exchange("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << resp;
  EXPECT_NE(resp.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(resp.find("Content-Length: 15\r\n"), std::string::npos);
  EXPECT_EQ(resp.substr(resp.size() - 15), "dynmx_health 0\n");
}

TEST_F(MetricsHttp, Http10AndQueryStringsWork) {
  ASSERT_TRUE(start({"localhost", 0}).ok());
  EXPECT_EQ(exchange("GET /metrics?x=1 HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST_F(MetricsHttp, OtherPathsAre404) {
  ASSERT_TRUE(start({"127.0.0.1", 0}).ok());
  EXPECT_EQ(exchange("GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 Not Found", 0), 0u);
  EXPECT_EQ(exchange("GET /metricsx HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 Not Found", 0), 0u);
}

TEST_F(MetricsHttp, OtherMethodsAre405AndGarbageIs400) {
  ASSERT_TRUE(start({"127.0.0.1", 0}).ok());
  EXPECT_EQ(exchange("POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(exchange("hello\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
}

TEST_F(MetricsHttp, OversizedRequestIsRefused) {
  ASSERT_TRUE(start({"127.0.0.1", 0}, {.maxRequest = 256}).ok());
  const std::string resp = exchange("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(1000, 'a') + "\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 431", 0), 0u) << resp;
}

TEST_F(MetricsHttp, IdleClientIsDisconnected) {
  ASSERT_TRUE(start({"127.0.0.1", 0}, {.readTimeout = 100ms}).ok());
  EXPECT_EQ(exchange("GET /metrics HTTP/1.1\r\n"), "");  // the head never ends: closed, no answer
}

TEST_F(MetricsHttp, RefusesNonLoopback) {
  for (const char* host : {"0.0.0.0", "192.0.2.1", "::", "2001:db8::1", "office.example.com"}) {
    auto r = start({host, 0});
    ASSERT_FALSE(r.ok()) << host;
    EXPECT_NE(r.error().find(host), std::string::npos) << r.error();
  }
}

}  // namespace
}  // namespace dynmx::status
