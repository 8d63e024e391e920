// loadKeyFile: the BIND key-file format as tsig-keygen writes it, and the refusals.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dynmx/dnsupdate.hpp"

namespace dynmx::dnsupdate {
namespace {

namespace fs = std::filesystem;
constexpr const char* kSecret = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=";

class KeyFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dynmx-keyfile-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(KeyFile, ReadsTsigKeygenOutput) {
  auto path = write("k", std::string("key \"Office-Update.\" {\n\talgorithm hmac-sha256;\n\tsecret \"") +
                             kSecret + "\";\n};\n");
  auto key = loadKeyFile(path);
  ASSERT_TRUE(key.ok()) << key.error();
  EXPECT_EQ(key->name, "office-update");
  EXPECT_EQ(key->algorithm, TsigAlgorithm::HmacSha256);
  EXPECT_EQ(key->secret, kSecret);
  EXPECT_EQ(key->sourceFile, path);
}

TEST_F(KeyFile, AcceptsCommentsAndSha512) {
  auto path =
      write("k", std::string("# made by tsig-keygen\n// another\n/* block\n comment */ key k2 { secret \"") +
                     kSecret + "\"; algorithm HMAC-SHA512; };");
  auto key = loadKeyFile(path);
  ASSERT_TRUE(key.ok()) << key.error();
  EXPECT_EQ(key->name, "k2");
  EXPECT_EQ(key->algorithm, TsigAlgorithm::HmacSha512);
}

struct Bad {
  const char* label;
  std::string text;
  mode_t mode;
  const char* expect;  // a fragment of the error
};

class KeyFileRefuses : public KeyFile, public ::testing::WithParamInterface<Bad> {};

TEST_P(KeyFileRefuses, NamesTheFileNeverTheSecret) {
  const Bad& b = GetParam();
  auto path = write("k", b.text, b.mode);
  auto key = loadKeyFile(path);
  ASSERT_FALSE(key.ok()) << b.label;
  EXPECT_NE(key.error().find(path), std::string::npos) << key.error();
  EXPECT_NE(key.error().find(b.expect), std::string::npos) << key.error();
  EXPECT_EQ(key.error().find(kSecret), std::string::npos) << key.error();
  EXPECT_EQ(key.error().find("Zm9v"), std::string::npos) << key.error();
}

const std::string good = std::string("key \"k\" { algorithm hmac-sha256; secret \"") + kSecret + "\"; };\n";

INSTANTIATE_TEST_SUITE_P(
    Table, KeyFileRefuses,
    ::testing::Values(
        Bad{"group-readable", good, 0640, "mode 0640"}, Bad{"world-readable", good, 0644, "chmod 600"},
        Bad{"group-writable", good, 0620, "group/other"},
        Bad{"unknown algorithm", std::string("key k { algorithm hmac-sha3; secret \"") + kSecret + "\"; };",
            0600, "unknown TSIG algorithm 'hmac-sha3'"},
        Bad{"bad base64", "key k { algorithm hmac-sha256; secret \"Zm9v!!!\"; };", 0600, "not valid base64"},
        Bad{"no secret", "key k { algorithm hmac-sha256; };", 0600, "has no secret"},
        Bad{"no algorithm", std::string("key k { secret \"") + kSecret + "\"; };", 0600, "has no algorithm"},
        Bad{"two keys", good + good, 0600, "holds 2 keys"}, Bad{"empty", "", 0600, "holds no key"},
        Bad{"not a key", "options { };", 0600, ":1: expected `key"},
        Bad{"unclosed", std::string("key k { algorithm hmac-sha256; secret \"") + kSecret + "\";", 0600,
            "not closed"},
        Bad{"unknown statement, line 2", "key k {\n  foo bar;\n};", 0600, ":2: unknown statement 'foo'"}),
    [](const ::testing::TestParamInfo<Bad>& i) {
      std::string n = i.param.label;
      for (char& c : n)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      return n;
    });

TEST_F(KeyFile, RefusesSymlink) {
  auto target = write("real", good);
  std::string link = dir_ + "/link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  auto key = loadKeyFile(link);
  ASSERT_FALSE(key.ok());
  EXPECT_NE(key.error().find("symbolic link"), std::string::npos) << key.error();
  EXPECT_NE(key.error().find(link), std::string::npos);
}

TEST_F(KeyFile, RefusesMissingAndDirectory) {
  auto missing = loadKeyFile(dir_ + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("does not exist"), std::string::npos);
  auto directory = loadKeyFile(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().find("not a regular file"), std::string::npos) << directory.error();
}

TEST(Algorithm, ParsesNamesCaseInsensitively) {
  EXPECT_EQ(parseAlgorithm("HMAC-SHA256."), TsigAlgorithm::HmacSha256);
  EXPECT_EQ(parseAlgorithm("hmac-sha512"), TsigAlgorithm::HmacSha512);
  EXPECT_EQ(parseAlgorithm("hmac-md5.sig-alg.reg.int"), TsigAlgorithm::HmacMd5);
  EXPECT_FALSE(parseAlgorithm("sha256").has_value());
  EXPECT_STREQ(toString(TsigAlgorithm::HmacSha512), "hmac-sha512");
}

TEST(Server, ParsesLiteralAddressesWithPorts) {
  EXPECT_EQ(parseServer("192.0.2.53"), std::make_pair(std::string("192.0.2.53"), 53));
  EXPECT_EQ(parseServer("192.0.2.53:5353"), std::make_pair(std::string("192.0.2.53"), 5353));
  EXPECT_EQ(parseServer("[2001:db8::53]:54"), std::make_pair(std::string("2001:db8::53"), 54));
  EXPECT_EQ(parseServer("2001:db8::53"), std::make_pair(std::string("2001:db8::53"), 53));
  EXPECT_FALSE(parseServer("ns1.example.test").has_value());
  EXPECT_FALSE(parseServer("192.0.2.53:0").has_value());
  EXPECT_FALSE(parseServer("192.0.2.53:70000").has_value());
  EXPECT_FALSE(parseServer("192.0.2:53").has_value());
  EXPECT_FALSE(parseServer("[2001:db8::53]x").has_value());
}

}  // namespace
}  // namespace dynmx::dnsupdate
