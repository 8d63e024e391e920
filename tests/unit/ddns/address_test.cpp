#include "dynmx/ddns/address.hpp"

#include <gtest/gtest.h>

namespace dynmx::ddns {
namespace {

struct ClassCase {
  const char* text;
  AddressClass cls;
  bool publishable;
};

class ClassifyTest : public ::testing::TestWithParam<ClassCase> {};

TEST_P(ClassifyTest, ClassAndPublishability) {
  const auto& c = GetParam();
  auto a = IpAddress::parse(c.text);
  ASSERT_TRUE(a.has_value()) << c.text;
  EXPECT_EQ(classify(*a), c.cls) << c.text << " got " << toString(classify(*a));
  EXPECT_EQ(isPublishable(*a), c.publishable) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ClassifyTest,
    ::testing::Values(
        ClassCase{"9.8.7.6", AddressClass::Public, true},  // classified only, never contacted
        ClassCase{"93.184.216.34", AddressClass::Public, true},
        ClassCase{"192.0.2.1", AddressClass::Documentation, true},
        ClassCase{"198.51.100.9", AddressClass::Documentation, true},
        ClassCase{"203.0.113.7", AddressClass::Documentation, true},
        ClassCase{"10.1.2.3", AddressClass::Private, false},
        ClassCase{"172.16.0.1", AddressClass::Private, false},
        ClassCase{"172.31.255.255", AddressClass::Private, false},
        ClassCase{"172.32.0.1", AddressClass::Public, true},
        ClassCase{"192.168.1.1", AddressClass::Private, false},
        ClassCase{"100.64.0.1", AddressClass::Cgnat, false},
        ClassCase{"100.127.255.254", AddressClass::Cgnat, false},
        ClassCase{"100.128.0.1", AddressClass::Public, true},
        ClassCase{"127.0.0.1", AddressClass::Loopback, false},
        ClassCase{"169.254.10.10", AddressClass::LinkLocal, false},
        ClassCase{"0.0.0.0", AddressClass::Unspecified, false},
        ClassCase{"0.1.2.3", AddressClass::Unspecified, false},
        ClassCase{"224.0.0.1", AddressClass::Multicast, false},
        ClassCase{"239.255.255.250", AddressClass::Multicast, false},
        ClassCase{"198.18.0.1", AddressClass::Benchmark, false},
        ClassCase{"198.19.255.255", AddressClass::Benchmark, false},
        ClassCase{"198.20.0.1", AddressClass::Public, true},
        ClassCase{"240.0.0.1", AddressClass::Reserved, false},
        ClassCase{"255.255.255.254", AddressClass::Reserved, false},
        ClassCase{"255.255.255.255", AddressClass::Broadcast, false},
        ClassCase{"192.0.0.8", AddressClass::Reserved, false},
        ClassCase{"2a00:1450:4001::1", AddressClass::Public, true},
        ClassCase{"2001:db8::7", AddressClass::Documentation, true},
        ClassCase{"2001:db9::7", AddressClass::Public, true},
        ClassCase{"::", AddressClass::Unspecified, false},
        ClassCase{"::1", AddressClass::Loopback, false},
        ClassCase{"fe80::1", AddressClass::LinkLocal, false},
        ClassCase{"febf::1", AddressClass::LinkLocal, false},
        ClassCase{"fc00::1", AddressClass::UniqueLocal, false},
        ClassCase{"fd12:3456::1", AddressClass::UniqueLocal, false},
        ClassCase{"ff02::1", AddressClass::Multicast, false},
        ClassCase{"::ffff:203.0.113.7", AddressClass::V4Mapped, false},
        ClassCase{"64:ff9b::1", AddressClass::Reserved, false},
        ClassCase{"4000::1", AddressClass::Reserved, false}));

TEST(IpAddressTest, ParsesStrictlyAndCanonicalizes) {
  EXPECT_EQ(IpAddress::parse("2001:0db8:0000::0007")->toString(), "2001:db8::7");
  EXPECT_EQ(IpAddress::parse("203.0.113.7")->family(), Family::V4);
  for (const char* bad : {"", " 203.0.113.7", "203.0.113.7 ", "203.0.113", "203.0.113.256",
                          "203.0.113.07", "0x1.2.3.4", "203.0.113.7:80", "fe80::1%eth0",
                          "[2001:db8::1]", "2001:db8:::1", "example.test", "1.2.3.4.5"}) {
    EXPECT_FALSE(IpAddress::parse(bad).has_value()) << bad;
  }
  EXPECT_FALSE(IpAddress::parse(std::string_view("1.2.3.4\0junk", 12)).has_value());
  EXPECT_EQ(IpAddress::v4(203, 0, 113, 9), *IpAddress::parse("203.0.113.9"));
}

TEST(IpCheckBodyTest, AcceptsOneAddressWithWhitespace) {
  EXPECT_EQ(parseIpCheckBody("203.0.113.7")->toString(), "203.0.113.7");
  EXPECT_EQ(parseIpCheckBody("  203.0.113.7\r\n")->toString(), "203.0.113.7");
  EXPECT_EQ(parseIpCheckBody("2001:db8::7\n", Family::V6)->toString(), "2001:db8::7");
}

TEST(IpCheckBodyTest, RejectsEverythingElse) {
  EXPECT_FALSE(parseIpCheckBody("").ok());
  EXPECT_FALSE(parseIpCheckBody(" \n").ok());
  EXPECT_FALSE(parseIpCheckBody("203.0.113.7 198.51.100.1").ok());
  EXPECT_FALSE(parseIpCheckBody("<html>203.0.113.7</html>").ok());
  EXPECT_FALSE(parseIpCheckBody("Current IP Address: 203.0.113.7").ok());
  EXPECT_FALSE(parseIpCheckBody("ip=203.0.113.7").ok());
  EXPECT_FALSE(parseIpCheckBody(std::string(60, ' ') + "203.0.113.7").ok());  // > 64 bytes
  EXPECT_FALSE(parseIpCheckBody("203.0.113.7", Family::V6).ok());
  const auto err = parseIpCheckBody("<b>x</b>");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().find("HTML"), std::string::npos);
}

SourceAnswer ans(const char* src, const char* addr) {
  SourceAnswer a{src, std::nullopt, {}};
  if (addr) a.address = IpAddress::parse(addr);
  else a.error = "timeout";
  return a;
}

TEST(AgreementTest, Parse) {
  EXPECT_EQ(parseAgreement("majority"), Agreement::Majority);
  EXPECT_EQ(parseAgreement("all"), Agreement::All);
  EXPECT_EQ(parseAgreement("first"), Agreement::First);
  EXPECT_FALSE(parseAgreement("most").has_value());
}

TEST(AgreementTest, Majority) {
  const auto a = agree({ans("s1", "203.0.113.7"), ans("s2", "203.0.113.7"), ans("s3", "198.51.100.1")},
                       Agreement::Majority);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->toString(), "203.0.113.7");
  // 2 of 3 with one down is still a majority of the configured sources.
  EXPECT_TRUE(agree({ans("s1", "203.0.113.7"), ans("s2", nullptr), ans("s3", "203.0.113.7")},
                    Agreement::Majority).ok());
  // 1 of 2 is not.
  EXPECT_FALSE(agree({ans("s1", "203.0.113.7"), ans("s2", nullptr)}, Agreement::Majority).ok());
  EXPECT_FALSE(agree({ans("s1", "203.0.113.7"), ans("s2", "198.51.100.1")}, Agreement::Majority).ok());
  // Private answers never vote.
  EXPECT_FALSE(agree({ans("s1", "10.0.0.1"), ans("s2", "10.0.0.1"), ans("s3", "203.0.113.7")},
                     Agreement::Majority).ok());
  EXPECT_FALSE(agree({}, Agreement::Majority).ok());
}

TEST(AgreementTest, AllAndFirst) {
  EXPECT_TRUE(agree({ans("s1", "203.0.113.7"), ans("s2", "203.0.113.7")}, Agreement::All).ok());
  EXPECT_FALSE(agree({ans("s1", "203.0.113.7"), ans("s2", nullptr)}, Agreement::All).ok());
  EXPECT_FALSE(agree({ans("s1", "203.0.113.7"), ans("s2", "203.0.113.8")}, Agreement::All).ok());
  const auto f = agree({ans("s1", nullptr), ans("s2", "192.168.0.1"), ans("s3", "203.0.113.8"),
                        ans("s4", "203.0.113.9")},
                       Agreement::First);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->toString(), "203.0.113.8");
  const auto none = agree({ans("s1", "192.168.0.1")}, Agreement::First);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("private"), std::string::npos);
}

TEST(NatTest, Detection) {
  const auto pub = IpAddress::parse("203.0.113.7");
  const auto priv = IpAddress::parse("192.168.1.10");
  const auto cg = IpAddress::parse("100.64.3.4");
  EXPECT_EQ(detectNat(pub, pub).kind, NatKind::None);
  EXPECT_EQ(detectNat(std::nullopt, pub).kind, NatKind::Unknown);
  const auto nat = detectNat(priv, pub);
  EXPECT_EQ(nat.kind, NatKind::Nat);
  EXPECT_NE(nat.text.find("192.168.1.10"), std::string::npos);
  EXPECT_EQ(detectNat(cg, pub).kind, NatKind::Cgnat);
  EXPECT_EQ(detectNat(std::nullopt, cg).kind, NatKind::Cgnat);
  EXPECT_NE(detectNat(cg, pub).text.find("100.64.0.0/10"), std::string::npos);
}

}  // namespace
}  // namespace dynmx::ddns
