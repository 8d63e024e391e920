// Reading a BIND-format TSIG key file (as tsig-keygen writes it). The file holds a secret:
// it is opened without following symlinks and refused when group or others may read it.
// Messages name the file and the line, never the secret.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dynmx/dnsupdate.hpp"
#include "dynmx/ldns_cxx.hpp"

namespace dynmx::dnsupdate {
namespace {

constexpr std::size_t kMaxKeyFile = 64 * 1024;

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct Token {
  std::string text;
  bool quoted = false;
  int line = 0;
};

/// named.conf tokens: words, "quoted strings", { } ; and the three comment styles.
Result<std::vector<Token>> tokenize(const std::string& text, const std::string& path) {
  std::vector<Token> out;
  int line = 1;
  for (std::size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '#' || (c == '/' && i + 1 < text.size() && text[i + 1] == '/')) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      std::size_t end = text.find("*/", i + 2);
      if (end == std::string::npos) return fail(path + ":" + std::to_string(line) + ": unterminated comment");
      line += static_cast<int>(
          std::count(text.begin() + static_cast<long>(i), text.begin() + static_cast<long>(end), '\n'));
      i = end + 2;
    } else if (c == '{' || c == '}' || c == ';') {
      out.push_back(Token{std::string(1, c), false, line});
      ++i;
    } else if (c == '"') {
      std::size_t end = text.find('"', i + 1);
      if (end == std::string::npos || text.find('\n', i + 1) < end)
        return fail(path + ":" + std::to_string(line) + ": unterminated string");
      out.push_back(Token{text.substr(i + 1, end - i - 1), true, line});
      i = end + 1;
    } else {
      std::size_t start = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])) && text[i] != '{' &&
             text[i] != '}' && text[i] != ';' && text[i] != '"')
        ++i;
      out.push_back(Token{text.substr(start, i - start), false, line});
    }
  }
  return out;
}

Result<std::string> readKeyText(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    if (e == ELOOP) return fail("key file " + path + " is a symbolic link: name the file itself");
    if (e == ENOENT) return fail("key file " + path + " does not exist");
    return fail("key file " + path + " cannot be read: " + std::strerror(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail("key file " + path + " cannot be read: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 066) != 0) {
    ::close(fd);
    return fail("key file " + path + " is readable or writable by group/other (mode " + octal(st.st_mode) +
                "): run chmod 600 " + path);
  }
  std::string data;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail("key file " + path + " cannot be read: " + std::strerror(e));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxKeyFile) {
      ::close(fd);
      return fail("key file " + path + " is larger than 64 KiB: is it the right file?");
    }
  }
  ::close(fd);
  return data;
}

bool validBase64(const std::string& s) {
  if (s.empty()) return false;
  ldns_rdf* rdf = nullptr;
  ldns_status st = ldns_str2rdf_b64(&rdf, s.c_str());
  bool ok = st == LDNS_STATUS_OK && rdf != nullptr && ldns_rdf_size(rdf) > 0;
  if (rdf) ldns_rdf_deep_free(rdf);
  // ldns skips characters outside the alphabet; insist on the alphabet ourselves.
  bool alphabet = std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '+' || c == '/' || c == '=';
  });
  return ok && alphabet;
}

}  // namespace

std::optional<TsigAlgorithm> parseAlgorithm(const std::string& name) {
  std::string n = lower(name);
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (n == "hmac-sha256") return TsigAlgorithm::HmacSha256;
  if (n == "hmac-sha512") return TsigAlgorithm::HmacSha512;
  if (n == "hmac-sha384") return TsigAlgorithm::HmacSha384;
  if (n == "hmac-sha224") return TsigAlgorithm::HmacSha224;
  if (n == "hmac-sha1") return TsigAlgorithm::HmacSha1;
  if (n == "hmac-md5" || n == "hmac-md5.sig-alg.reg.int") return TsigAlgorithm::HmacMd5;
  return std::nullopt;
}

Result<TsigKey> loadKeyFile(const std::string& path) {
  auto text = readKeyText(path);
  if (!text) return fail(text.error());
  auto tokens = tokenize(*text, path);
  if (!tokens) return fail(tokens.error());
  const auto& t = *tokens;
  auto at = [&](std::size_t i) {
    return path + ":" + std::to_string(i < t.size() ? t[i].line : t.empty() ? 1 : t.back().line);
  };

  std::vector<TsigKey> keys;
  std::size_t i = 0;
  while (i < t.size()) {
    if (t[i].quoted || lower(t[i].text) != "key")
      return fail(at(i) + ": expected `key \"name\" { ... };`, found '" +
                  (t[i].quoted ? "\"...\"" : t[i].text) + "'");
    if (i + 2 >= t.size() || t[i + 2].text != "{" || t[i + 2].quoted)
      return fail(at(i) + ": expected `key \"name\" {`");
    TsigKey key;
    key.name = lower(t[i + 1].text);
    if (!key.name.empty() && key.name.back() == '.') key.name.pop_back();
    key.sourceFile = path;
    if (key.name.empty()) return fail(at(i) + ": the key has no name");
    i += 3;
    bool haveAlg = false;
    bool haveSecret = false;
    while (i < t.size() && !(t[i].text == "}" && !t[i].quoted)) {
      std::string stmt = lower(t[i].text);
      if (i + 2 >= t.size() || t[i + 2].text != ";")
        return fail(at(i) + ": expected `" +
                    (stmt == "secret" ? std::string("secret \"...\"") : stmt + " VALUE") + ";`");
      if (stmt == "algorithm") {
        auto alg = parseAlgorithm(t[i + 1].text);
        if (!alg)
          return fail(at(i) + ": unknown TSIG algorithm '" + t[i + 1].text +
                      "' (use hmac-sha256 or hmac-sha512)");
        key.algorithm = *alg;
        haveAlg = true;
      } else if (stmt == "secret") {
        if (!validBase64(t[i + 1].text)) return fail(at(i) + ": the secret is not valid base64");
        key.secret = t[i + 1].text;
        haveSecret = true;
      } else {
        return fail(at(i) + ": unknown statement '" + t[i].text + "' in key \"" + key.name + "\"");
      }
      i += 3;
    }
    if (i >= t.size()) return fail(path + ": key \"" + key.name + "\" is not closed with `};`");
    ++i;  // }
    if (i >= t.size() || t[i].text != ";") return fail(at(i - 1) + ": expected `;` after `}`");
    ++i;
    if (!haveAlg) return fail(path + ": key \"" + key.name + "\" has no algorithm");
    if (!haveSecret) return fail(path + ": key \"" + key.name + "\" has no secret");
    keys.push_back(std::move(key));
  }
  if (keys.empty()) return fail("key file " + path + " holds no key");
  if (keys.size() > 1)
    return fail("key file " + path + " holds " + std::to_string(keys.size()) +
                " keys; dynmx needs exactly one");
  return std::move(keys.front());
}

const char* toString(RecordType t) {
  switch (t) {
    case RecordType::A:
      return "A";
    case RecordType::AAAA:
      return "AAAA";
    case RecordType::MX:
      return "MX";
  }
  return "?";
}

const char* toString(TsigAlgorithm a) {
  switch (a) {
    case TsigAlgorithm::HmacSha256:
      return "hmac-sha256";
    case TsigAlgorithm::HmacSha512:
      return "hmac-sha512";
    case TsigAlgorithm::HmacSha384:
      return "hmac-sha384";
    case TsigAlgorithm::HmacSha224:
      return "hmac-sha224";
    case TsigAlgorithm::HmacSha1:
      return "hmac-sha1";
    case TsigAlgorithm::HmacMd5:
      return "hmac-md5.sig-alg.reg.int";
  }
  return "?";
}

const char* toString(Verdict v) {
  switch (v) {
    case Verdict::Applied:
      return "applied";
    case Verdict::PrereqFailed:
      return "prereq-failed";
    case Verdict::Retry:
      return "retry";
    case Verdict::BackOff:
      return "back-off";
    case Verdict::Fatal:
      return "fatal";
  }
  return "?";
}

}  // namespace dynmx::dnsupdate
