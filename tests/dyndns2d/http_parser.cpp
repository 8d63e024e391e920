#include "http_parser.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace dynmx::dyndns2d {
namespace {

bool isTokenChar(char c) {
  // RFC 9110 tchar.
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value lists `token` (case-insensitive).
bool listHasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = trim(value.substr(0, comma));
    if (lower(item) == token) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

ParseOutcome invalid(std::string why) {
  ParseOutcome out;
  out.status = ParseStatus::Invalid;
  out.error = std::move(why);
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) return fail(std::string("truncated %-escape"));
      int hi = hexValue(s[i + 1]);
      int lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return fail(std::string("bad %-escape"));
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view lowerName) const {
  for (const auto& [name, value] : headers)
    if (name == lowerName) return &value;
  return nullptr;
}

ParseOutcome parseRequest(std::string_view data, const ParseLimits& limits) {
  // Find the blank line that ends the head, looking no further than the limit allows.
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  std::size_t headEnd = std::string_view::npos;
  // Tolerate empty lines before the request line (RFC 9112 2.2).
  while (true) {
    if (pos >= data.size()) break;
    if (data[pos] == '\n') { ++pos; continue; }
    if (data[pos] == '\r' && pos + 1 < data.size() && data[pos + 1] == '\n') { pos += 2; continue; }
    if (data[pos] == '\r' && pos + 1 >= data.size()) return {};  // need the '\n'
    break;
  }
  const std::size_t start = pos;
  while (pos < data.size()) {
    auto nl = data.find('\n', pos);
    if (nl == std::string_view::npos) break;
    if (nl + 1 - start > limits.maxHeaderBytes) return invalid("request head too large");
    std::string_view line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (line.empty()) { headEnd = pos; break; }
    lines.push_back(line);
  }
  if (headEnd == std::string_view::npos) {
    if (data.size() - start > limits.maxHeaderBytes) return invalid("request head too large");
    return {};
  }
  if (lines.empty()) return invalid("empty request");

  ParseOutcome out;
  HttpRequest& req = out.request;
  // Request line: exactly METHOD SP target SP HTTP/1.x
  std::string_view rl = lines[0];
  auto sp1 = rl.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      rl.find(' ', sp2 + 1) != std::string_view::npos)
    return invalid("malformed request line");
  auto method = rl.substr(0, sp1);
  auto target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = rl.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), isTokenChar))
    return invalid("malformed method");
  if (version == "HTTP/1.1") req.minorVersion = 1;
  else if (version == "HTTP/1.0") req.minorVersion = 0;
  else return invalid("unsupported HTTP version");
  if (target.empty()) return invalid("empty target");
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return invalid("control character in target");
  // Absolute form (a client that thinks we are a proxy): keep only path and query.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && lower(target.substr(0, scheme.size())) == scheme) {
      auto slash = target.find('/', scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  if (target.front() != '/') return invalid("target must start with '/'");
  req.method = std::string(method);
  req.target = std::string(target);
  auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));

  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t') return invalid("obsolete header folding");
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return invalid("malformed header line");
    auto name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), isTokenChar)) return invalid("malformed header name");
    auto value = trim(line.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return invalid("control character in header value");
    req.headers.emplace_back(lower(name), std::string(value));
  }

  if (req.header("transfer-encoding")) return invalid("transfer-encoding not supported");
  std::size_t contentLength = 0;
  bool haveLength = false;
  for (const auto& [name, value] : req.headers) {
    if (name != "content-length") continue;
    if (value.empty() || value.size() > 9 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return invalid("malformed content-length");
    auto n = static_cast<std::size_t>(std::stoul(value));
    if (haveLength && n != contentLength) return invalid("conflicting content-length");
    contentLength = n;
    haveLength = true;
  }
  if (contentLength > limits.maxBodyBytes) return invalid("body too large");
  if (data.size() - headEnd < contentLength) return {};
  req.body = std::string(data.substr(headEnd, contentLength));

  const std::string* connection = req.header("connection");
  if (req.minorVersion == 1)
    req.keepAlive = !(connection && listHasToken(*connection, "close"));
  else
    req.keepAlive = connection && listHasToken(*connection, "keep-alive");

  out.status = ParseStatus::Complete;
  out.consumed = headEnd + contentLength;
  return out;
}

Result<Params> parseQuery(std::string_view query) {
  Params params;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    auto key = percentDecode(item.substr(0, eq));
    if (!key) return fail(key.error());
    std::string value;
    if (eq != std::string_view::npos) {
      auto v = percentDecode(item.substr(eq + 1));
      if (!v) return fail(v.error());
      value = std::move(v.value());
    }
    params.emplace_back(std::move(key.value()), std::move(value));
  }
  return params;
}

std::optional<std::string> findParam(const Params& params, std::string_view key) {
  for (const auto& [k, v] : params)
    if (k == key) return v;
  return std::nullopt;
}

namespace {
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::optional<std::string> decodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::array<int, 4> v{};
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + static_cast<std::size_t>(j)];
      if (c == '=') {
        // Padding only at the very end, and only in the last two places.
        if (i + 4 != text.size() || j < 2) return std::nullopt;
        ++pad;
        v[static_cast<std::size_t>(j)] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;
      auto p = kAlphabet.find(c);
      if (p == std::string_view::npos) return std::nullopt;
      v[static_cast<std::size_t>(j)] = static_cast<int>(p);
    }
    unsigned triple = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                      (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>((triple >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((triple >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(triple & 0xff));
  }
  return out;
}

std::string encodeBase64(std::string_view bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[n & 63] : '=');
  }
  return out;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

}  // namespace dynmx::dyndns2d
