#pragma once
// Reads string values out of `fetchmail --configdump` output (a Python-ish dict). fetchmail
// 6.4.37 prints strings through visbuf(): `"` and `\` are backslash-escaped, printable
// ASCII and space are literal, \a \b \f \n \r \t \v are named, and every other byte is
// `\0x` plus two hex digits. For bytes >= 0x80 visbuf indexes its hex table with a
// negative (signed char) value and prints garbage or even a NUL, so the dump cannot show
// non-ASCII bytes faithfully: those come back as an error here, and the tests prove them
// through the wire instead (see fetchmail_real_test.cpp).
#include <optional>
#include <string>
#include <string_view>

namespace dynmx::fetchmail::testing {

/// Decode the dump string starting at the opening quote `text[0] == '"'`.
/// Returns nullopt if it is malformed or holds a byte the dump cannot show.
inline std::optional<std::string> parseDumpString(std::string_view text) {
  if (text.empty() || text.front() != '"') return std::nullopt;
  auto hexValue = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 1; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') return out;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= text.size()) return std::nullopt;
    switch (text[i]) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case '0': {
        if (i + 3 >= text.size() || text[i + 1] != 'x') return std::nullopt;
        int hi = hexValue(text[i + 2]), lo = hexValue(text[i + 3]);
        if (hi < 0 || hi > 7 || lo < 0) return std::nullopt;  // the >= 0x80 garbage
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 3;
        break;
      }
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

/// The string value of the first `"key":"..."` after `from` in the dump.
inline std::optional<std::string> dumpValue(std::string_view dump, std::string_view key, std::size_t from = 0) {
  std::string needle = "\"" + std::string(key) + "\":";
  auto pos = dump.find(needle, from);
  if (pos == std::string_view::npos) return std::nullopt;
  return parseDumpString(dump.substr(pos + needle.size()));
}

}  // namespace dynmx::fetchmail::testing
