// Issue 12 item 8: the link monitor on a real kernel, in a network namespace of the test's
// own (ctest runs each case as its own process). With type = "auto" and no default route the
// link is unresolved and not up (the safe side), and a default route appearing later is
// followed through rtnetlink.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "dynmx/link_monitor.hpp"
#include "dynmx/process.hpp"

namespace dynmx::coord {
namespace {

using namespace std::chrono_literals;

bool ip(std::vector<std::string> args, std::string& error) {
  args.insert(args.begin(), "ip");
  ProcessSpec spec;
  spec.argv = args;
  spec.timeout = 10s;
  auto r = runProcess(spec);
  if (!r.succeeded()) error = r.error + r.err;
  return r.succeeded();
}

class LinkMonitorNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::geteuid(), 0u) << "needs root to make a network namespace";
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) failed";
    std::string err;
    ASSERT_TRUE(ip({"link", "set", "lo", "up"}, err)) << err;
  }
  TimePoint now() const { return fromUnix(1'800'000'000); }
};

TEST_F(LinkMonitorNetns, AutoWithoutADefaultRouteIsUnresolvedAndNotUp) {
  boost::asio::io_context io;
  LinkSection cfg;
  cfg.type = LinkType::Auto;
  LinkMonitor m(io, cfg, [this] { return now(); });
  EXPECT_EQ(m.interfaceName(), "");
  EXPECT_EQ(m.current().type, LinkType::Auto) << "unknown must stay unresolved, not dedicated";
  EXPECT_FALSE(m.current().up) << "a link we cannot see is not up";
}

TEST_F(LinkMonitorNetns, TheInterfaceIsReResolvedWhenTheDefaultRouteAppears) {
  boost::asio::io_context io;
  LinkSection cfg;
  cfg.type = LinkType::Auto;
  LinkMonitor m(io, cfg, [this] { return now(); });
  ASSERT_EQ(m.interfaceName(), "");
  int changes = 0;
  std::string err;
  ASSERT_TRUE(m.start([&] { ++changes; }, [] {}, err)) << err;

  ASSERT_TRUE(ip({"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"}, err)) << err;
  ASSERT_TRUE(ip({"addr", "add", "203.0.113.7/24", "dev", "wan0"}, err)) << err;
  ASSERT_TRUE(ip({"link", "set", "wan0", "up"}, err)) << err;
  ASSERT_TRUE(ip({"link", "set", "wan1", "up"}, err)) << err;
  ASSERT_TRUE(ip({"route", "add", "default", "via", "203.0.113.1", "dev", "wan0", "onlink"}, err)) << err;

  // The events arrive through rtnetlink on the loop; bounded by a deadline, not a sleep.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (m.interfaceName() != "wan0" && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
  EXPECT_EQ(m.interfaceName(), "wan0");
  EXPECT_EQ(m.current().type, LinkType::Dedicated);  // a veth is no point-to-point link
}

}  // namespace
}  // namespace dynmx::coord
