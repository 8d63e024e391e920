// The testbed's real servers on their own: named takes a signed update, dovecot serves a box.
#include <csignal>

#include <gtest/gtest.h>

#include "testbed/dovecot.hpp"
#include "testbed/named.hpp"
#include "testbed/ports.hpp"
#include "testbed/temp_dir.hpp"

namespace dynmx::testbed {
namespace {

using namespace std::chrono_literals;

TEST(Named, SignedUpdateIsServedAndUnsignedIsRefused) {
  TempDir dir("named");
  auto named = Named::start(dir);
  ASSERT_TRUE(named.ok()) << named.error();
  Named& ns = **named;

  auto before = ns.dig("office.example.test");
  ASSERT_TRUE(before.ok()) << before.error();
  EXPECT_EQ(*before, "");

  auto unsignedUpdate = ns.nsupdate("update add office.example.test 60 A 192.0.2.99\n", false);
  EXPECT_FALSE(unsignedUpdate.succeeded());
  EXPECT_NE((unsignedUpdate.out + unsignedUpdate.err).find("REFUSED"), std::string::npos)
      << unsignedUpdate.out << unsignedUpdate.err;

  auto update = ns.nsupdate("update add office.example.test 60 A 192.0.2.10\n");
  ASSERT_TRUE(update.succeeded()) << update.error << update.out << update.err;
  auto after = ns.dig("office.example.test");
  ASSERT_TRUE(after.ok()) << after.error();
  EXPECT_EQ(*after, "192.0.2.10");

  pid_t pid = ns.process().pid();
  StopOutcome stopped = ns.stop();
  EXPECT_TRUE(stopped.exited);
  EXPECT_FALSE(stopped.killed);
  EXPECT_NE(::kill(pid, 0), 0);  // stopped by PID and reaped
  EXPECT_TRUE(livingGroupMembers(pid).empty());
}

TEST(Dovecot, ServesSeededMaildirOverPop3AndImap) {
  TempDir dir("dove");
  auto started = Dovecot::start(dir);
  ASSERT_TRUE(started.ok()) << started.error();
  Dovecot& dovecot = **started;
  ASSERT_TRUE(dovecot.addUser("office", "s3cret").ok());
  ASSERT_TRUE(dovecot.deliver("office", "Subject: one\n\nbody\n").ok());
  ASSERT_TRUE(dovecot.deliver("office", "Subject: two\n\nbody\n").ok());
  EXPECT_EQ(dovecot.count("office"), 2u);
  EXPECT_EQ(dovecot.count("nobody-here"), 0u);

  // Both listeners answer with their greeting (plain TCP, no TLS).
  EXPECT_TRUE(waitForPort(dovecot.pop3Port(), 5s));
  EXPECT_TRUE(waitForPort(dovecot.imapPort(), 5s));
  EXPECT_NE(dovecot.pop3Port(), dovecot.imapPort());

  pid_t pid = dovecot.process().pid();
  StopOutcome stopped = dovecot.stop();
  EXPECT_TRUE(stopped.exited);
  EXPECT_NE(::kill(pid, 0), 0);
  EXPECT_TRUE(livingGroupMembers(pid).empty()) << "a dovecot helper outlived its master";
}

}  // namespace
}  // namespace dynmx::testbed
