// quote()/unquote(): the rc escaper and a model of fetchmail 6.4's lexer escapes.
#include <gtest/gtest.h>

#include <random>

#include "configdump.hpp"
#include "dynmx/fetchmail_conf.hpp"

namespace dynmx::fetchmail {
namespace {

std::vector<std::string> adversarial() {
  return {"",
          "plain",
          "with space",
          "dq\"inside",
          "sq'inside",
          "back\\slash",
          "trailing\\",
          "\\\"",
          "new\nline",
          "cr\r\nlf",
          "tab\there",
          "\x41",
          "\\x41",
          "\\x41B",
          "\\065",
          "$HOME `id` $(id)",
          "# not a comment",
          "semi;colon,comma=eq",
          "gr\xc3\xbc\xc3\x9f dich",   // UTF-8
          "\xff\xfe\x80\x7f",
          std::string("\x01\x02\x1b\x7f", 4),
          "ends with backslash-newline \\\n",
          "*",
          "here is there with password"};
}

TEST(Quote, SafeBytesStayLiteral) {
  EXPECT_EQ(*quote("alice@example.com"), "\"alice@example.com\"");
  EXPECT_EQ(*quote("A-z_0.9+"), "\"A-z_0.9+\"");
  EXPECT_EQ(*quote(""), "\"\"");
}

TEST(Quote, EverythingElseIsTwoDigitHex) {
  EXPECT_EQ(*quote("a b"), "\"a\\x20b\"");
  EXPECT_EQ(*quote("\"'\\"), "\"\\x22\\x27\\x5c\"");
  EXPECT_EQ(*quote("\n"), "\"\\x0a\"");
  EXPECT_EQ(*quote("\xff"), "\"\\xff\"");
  // A byte followed by a hex digit: the escape is closed after two digits regardless.
  EXPECT_EQ(*quote("\x04" "B"), "\"\\x04B\"");
}

TEST(Quote, RefusesNulWithoutEchoingTheInput) {
  std::string secret("s3cret\0tail", 11);
  auto q = quote(secret);
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.error().find("NUL"), std::string::npos);
  EXPECT_EQ(q.error().find("s3cret"), std::string::npos);
  EXPECT_EQ(q.error().find("tail"), std::string::npos);
}

TEST(Quote, OutputIsPlainPrintableAscii) {
  for (const auto& s : adversarial()) {
    auto q = quote(s);
    ASSERT_TRUE(q.ok());
    for (std::size_t i = 1; i + 1 < q->size(); ++i) {
      auto c = static_cast<unsigned char>((*q)[i]);
      EXPECT_TRUE(c >= 0x21 && c < 0x7f && c != '"' && c != '\'') << "byte " << int(c) << " in " << *q;
    }
  }
}

TEST(Quote, RoundTripsAdversarialStrings) {
  for (const auto& s : adversarial()) {
    auto q = quote(s);
    ASSERT_TRUE(q.ok());
    auto back = unquote(*q);
    ASSERT_TRUE(back.ok()) << back.error();
    EXPECT_EQ(*back, s) << *q;
  }
}

TEST(Quote, RoundTripsEveryByteAndRandomStrings) {
  std::string all;
  for (int b = 1; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(*unquote(*quote(all)), all);
  std::mt19937 rng(20261123);  // fixed seed: the test is deterministic
  std::uniform_int_distribution<int> byte(1, 255), len(0, 40);
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    for (int k = len(rng); k > 0; --k) s.push_back(static_cast<char>(byte(rng)));
    ASSERT_EQ(*unquote(*quote(s)), s);
  }
}

// unquote() follows fetchmail 6.4.37; each expectation below was observed with the real
// `fetchmail --configdump` (see docs/fetchmail.md, "Strings").
TEST(Unquote, FollowsFetchmailLexer) {
  EXPECT_EQ(*unquote("\"\\x41B\""), "AB");                   // \x stops after two digits
  EXPECT_EQ(*unquote("\"\\x4g\""), std::string("\x04g"));     // one digit is allowed
  EXPECT_EQ(*unquote("\"\\X41\""), "A");
  EXPECT_EQ(*unquote("\"a\\065b\""), "a5b");                 // \0dd is OCTAL
  EXPECT_EQ(*unquote("\"a\\0101\""), "a\b1");                // three digits incl. the 0
  EXPECT_EQ(*unquote("\"a\\65b\""), "aAb");                  // \ddd is DECIMAL
  EXPECT_EQ(*unquote("\"a\\1234\""), "a{4");                 // at most three digits
  EXPECT_EQ(*unquote("\"a\\300b\""), "a,b");                 // wraps into a byte
  EXPECT_EQ(*unquote("\"a\\n\\t\\r\\b\\\\z\""), "a\n\t\r\b\\z");
  EXPECT_EQ(*unquote("\"a\\\nb\""), "ab");                   // backslash-newline joins
  EXPECT_EQ(*unquote("\"a\nb\""), "a\nb");                   // a raw newline stays
  EXPECT_EQ(*unquote("\"x\\qy\""), "xqy");                   // unknown escape: the letter
  EXPECT_EQ(*unquote("\"a\\0999\""), "a");                   // NUL cuts the C string
  EXPECT_EQ(*unquote("'a\"b'"), "a\"b");                     // single quotes work too
}

TEST(Unquote, RejectsWhatFetchmailWouldMisread) {
  EXPECT_FALSE(unquote("noquotes").ok());
  EXPECT_FALSE(unquote("\"").ok());
  EXPECT_FALSE(unquote("\"a\"b\"").ok());  // the lexer would end the token at the second "
  EXPECT_FALSE(unquote("\"a\\\"").ok());   // "a\" : a lone backslash before the end
  EXPECT_FALSE(unquote("\"abc'").ok());
}

TEST(ConfigdumpParser, DecodesVisbufOutput) {
  using testing::parseDumpString;
  EXPECT_EQ(*parseDumpString(R"("q\"'\\ x")"), "q\"'\\ x");
  EXPECT_EQ(*parseDumpString(R"("a\n\t\r\b\a\f\v\0x1b\0x7f",)"), "a\n\t\r\b\a\f\v\x1b\x7f");
  EXPECT_FALSE(parseDumpString("\"\\0x\xce" "3\"").has_value());  // visbuf garbage for 0xc3
  EXPECT_FALSE(parseDumpString("\"unterminated").has_value());
}

}  // namespace
}  // namespace dynmx::fetchmail
