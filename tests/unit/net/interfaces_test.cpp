// The netlink monitor sees an address appear the moment the kernel adds it. Each test
// runs in a private network namespace (ctest runs every case as its own process), so
// nothing outside the test is touched.
#include <gtest/gtest.h>
#include <sched.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dynmx/net/interfaces.hpp"
#include "dynmx/process.hpp"

using namespace dynmx;
using namespace std::chrono_literals;

namespace {
bool enterPrivateNetns() { return ::unshare(CLONE_NEWNET) == 0; }

void ip(std::vector<std::string> args) {
  args.insert(args.begin(), "ip");
  auto r = runProcess({.argv = args, .timeout = 10s});
  ASSERT_TRUE(r.succeeded()) << r.error << r.err;
}
}  // namespace

TEST(Interfaces, ReadsAddressesAndFlags) {
  if (!enterPrivateNetns()) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
  ip({"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"});
  ip({"addr", "add", "192.0.2.7/32", "dev", "wan0"});
  ip({"addr", "add", "2001:db8::7/128", "dev", "wan0", "nodad"});
  auto info = net::readInterface("wan0");
  EXPECT_TRUE(info.exists);
  EXPECT_FALSE(info.up);  // admin down
  EXPECT_FALSE(info.isPpp);
  EXPECT_EQ(info.ipv4, std::vector<std::string>{"192.0.2.7"});
  EXPECT_EQ(info.ipv6, std::vector<std::string>{"2001:db8::7"});
  EXPECT_FALSE(net::readInterface("nonexistent9").exists);
}

TEST(NetlinkMonitor, ReportsAddressAndLinkChangesAsEvents) {
  if (!enterPrivateNetns()) GTEST_SKIP() << "needs root (unshare CLONE_NEWNET)";
  ip({"link", "add", "wan0", "type", "veth", "peer", "name", "wan1"});
  boost::asio::io_context io;
  auto monitor = net::makeNetlinkMonitor(io);
  std::vector<net::NetlinkEvent> events;
  std::string error;
  ASSERT_TRUE(monitor->start([&](const net::NetlinkEvent& e) {
    events.push_back(e);
    if (e.kind == net::NetlinkEvent::Kind::AddressAdded && e.interface == "wan0") io.stop();
  }, error)) << error;
  ip({"link", "set", "wan0", "up"});
  ip({"addr", "add", "198.51.100.20/32", "dev", "wan0"});
  boost::asio::steady_timer guard(io, 10s);  // bound: fail instead of hanging
  guard.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) io.stop();
  });
  io.run();
  bool sawLink = false, sawAddress = false;
  for (const auto& e : events) {
    if (e.interface == "wan0" && e.kind == net::NetlinkEvent::Kind::LinkChanged) sawLink = true;
    if (e.interface == "wan0" && e.kind == net::NetlinkEvent::Kind::AddressAdded) sawAddress = true;
  }
  EXPECT_TRUE(sawLink);
  EXPECT_TRUE(sawAddress);
  EXPECT_EQ(net::readInterface("wan0").ipv4, std::vector<std::string>{"198.51.100.20"});
}
