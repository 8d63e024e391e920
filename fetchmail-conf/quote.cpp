// String escaping for the fetchmail rc file. fetchmail's lexer takes "..." or '...' with no
// way to escape the delimiter, then expands C-like escapes with its own rules (\x takes at
// most two hex digits, \0dd is octal, \ddd is decimal, a NUL ends the string). quote()
// writes only the plainest subset (bare safe bytes and two-digit \xHH), so its output means
// exactly one thing whatever follows it; unquote() mirrors fetchmail 6.4 to prove that.
#include <array>
#include <cstdint>

#include "dynmx/fetchmail_conf.hpp"

namespace dynmx::fetchmail {
namespace {

bool isSafeByte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '@' ||
         c == '.' || c == '_' || c == '+' || c == '-';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::string> quote(std::string_view raw) {
  static constexpr std::array<char, 16> kHex{'0', '1', '2', '3', '4', '5', '6', '7',
                                             '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::string out;
  out.reserve(raw.size() * 4 + 2);
  out.push_back('"');
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    // fetchmail keeps strings as C strings: a NUL would silently cut the value short.
    if (c == 0) return fail(std::string("contains a NUL byte, which fetchmail cannot represent"));
    if (isSafeByte(c)) {
      out.push_back(ch);
    } else {
      // Always two digits: fetchmail's \x stops after two, so the next byte can never be
      // swallowed, even if it is a hex digit ("\x41" followed by "B").
      out.push_back('\\');
      out.push_back('x');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0f]);
    }
  }
  out.push_back('"');
  return out;
}

Result<std::string> unquote(std::string_view quoted) {
  if (quoted.size() < 2) return fail(std::string("not a quoted string"));
  const char delim = quoted.front();
  if ((delim != '"' && delim != '\'') || quoted.back() != delim)
    return fail(std::string("not a quoted string"));
  std::string_view body = quoted.substr(1, quoted.size() - 2);
  // The lexer's pattern is "[^"]*": a delimiter inside ends the token early.
  if (body.find(delim) != std::string_view::npos)
    return fail(std::string("the delimiter appears inside the string"));

  std::string out;
  std::size_t i = 0;
  while (i < body.size()) {
    char c = body[i];
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= body.size()) return fail(std::string("a lone backslash ends the string"));
    char e = body[i + 1];
    i += 2;
    int value = 0;
    if (e == 'x' || e == 'X') {
      for (int n = 0; n < 2 && i < body.size() && hexValue(body[i]) >= 0; ++n, ++i)
        value = value * 16 + hexValue(body[i]);
    } else if (e == '0') {
      // Octal, up to three digits counting this leading 0.
      value = 0;
      for (int n = 1; n < 3 && i < body.size() && body[i] >= '0' && body[i] <= '7'; ++n, ++i)
        value = value * 8 + (body[i] - '0');
    } else if (e >= '1' && e <= '9') {
      // Decimal, up to three digits, wrapping into a byte as fetchmail's char store does.
      value = e - '0';
      for (int n = 1; n < 3 && i < body.size() && body[i] >= '0' && body[i] <= '9'; ++n, ++i)
        value = value * 10 + (body[i] - '0');
    } else if (e == '\n') {
      continue;  // backslash-newline joins lines
    } else {
      switch (e) {
        case 'n': value = '\n'; break;
        case 't': value = '\t'; break;
        case 'r': value = '\r'; break;
        case 'b': value = '\b'; break;
        case '\\': value = '\\'; break;
        default: value = static_cast<unsigned char>(e); break;  // \q is q
      }
    }
    auto byte = static_cast<char>(static_cast<std::uint8_t>(value & 0xff));
    if (byte == '\0') break;  // fetchmail keeps a C string: everything after a NUL is lost
    out.push_back(byte);
  }
  return out;
}

}  // namespace dynmx::fetchmail
