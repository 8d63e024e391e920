// Journal records (one line each), the dedup key and the 24-hour summary.
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <tuple>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

std::string escapeField(std::string_view s) {
  if (s.empty()) return "-";
  std::string out;
  for (unsigned char c : s) {
    if (c <= 32 || c >= 127 || c == '%') {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::optional<std::string> unescapeField(std::string_view s) {
  if (s == "-") return std::string();
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (ec != std::errc() || p != s.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(v));
    i += 2;
  }
  return out;
}

std::string hexSha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 16 && i < len; ++i) {  // 128 bits are plenty for a dedup key
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

}  // namespace

const char* toString(Outcome o) {
  switch (o) {
    case Outcome::Delivered: return "delivered";
    case Outcome::Postmaster: return "postmaster";
    case Outcome::Duplicate: return "duplicate";
    case Outcome::Deferred: return "deferred";
    case Outcome::Discarded: return "discarded";
  }
  return "unknown";
}

std::optional<Outcome> outcomeFromString(std::string_view s) {
  for (Outcome o : {Outcome::Delivered, Outcome::Postmaster, Outcome::Duplicate, Outcome::Deferred, Outcome::Discarded})
    if (s == toString(o)) return o;
  return std::nullopt;
}

std::string formatRecord(const JournalRecord& r) {
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(r.message));
  return "1 " + std::to_string(toUnix(r.at)) + ' ' + id + ' ' + escapeField(r.key) + ' ' + escapeField(r.envelope) +
         ' ' + escapeField(r.user) + ' ' + toString(r.outcome) + ' ' + toString(r.reason) + '\n';
}

std::optional<JournalRecord> parseRecord(std::string_view line) {
  std::vector<std::string_view> f;
  std::size_t pos = 0;
  while (pos <= line.size() && f.size() < 9) {
    std::size_t sp = line.find(' ', pos);
    if (sp == std::string_view::npos) sp = line.size();
    f.push_back(line.substr(pos, sp - pos));
    pos = sp + 1;
  }
  if (f.size() != 8 || f[0] != "1" || pos <= line.size()) return std::nullopt;
  for (auto x : f)
    if (x.empty()) return std::nullopt;
  JournalRecord r;
  long long at = 0;
  auto [p1, e1] = std::from_chars(f[1].data(), f[1].data() + f[1].size(), at);
  if (e1 != std::errc() || p1 != f[1].data() + f[1].size() || at < 0) return std::nullopt;
  r.at = fromUnix(at);
  unsigned long long id = 0;
  auto [p2, e2] = std::from_chars(f[2].data(), f[2].data() + f[2].size(), id, 16);
  if (e2 != std::errc() || p2 != f[2].data() + f[2].size() || f[2].size() != 16) return std::nullopt;
  r.message = id;
  auto key = unescapeField(f[3]);
  auto env = unescapeField(f[4]);
  auto user = unescapeField(f[5]);
  auto outcome = outcomeFromString(f[6]);
  auto reason = reasonFromString(f[7]);
  if (!key || !env || !user || !outcome || !reason) return std::nullopt;
  r.key = *key;
  r.envelope = *env;
  r.user = *user;
  r.outcome = *outcome;
  r.reason = *reason;
  return r;
}

std::string messageKey(std::string_view message, const MessageFacts& facts) {
  if (!facts.messageId.empty()) return "m" + hexSha256(facts.messageId);
  // No Message-ID: the message as the ISP stored it (without fetchmail's Received, which
  // changes every fetch).
  return "h" + hexSha256(message.substr(std::min(facts.contentOffset, message.size())));
}

GuardCounts summarize(const std::vector<JournalRecord>& records, TimePoint now, Duration window) {
  // One attempt (message id) counts once, by its most important outcome.
  auto rank = [](Outcome o) {
    switch (o) {
      case Outcome::Deferred: return 0;
      case Outcome::Discarded: return 1;
      case Outcome::Duplicate: return 2;
      case Outcome::Postmaster: return 3;
      case Outcome::Delivered: return 4;
    }
    return 0;
  };
  std::map<std::uint64_t, const JournalRecord*> best;
  for (const auto& r : records) {
    if (r.at > now || r.at < now - window) continue;
    auto& b = best[r.message];
    if (b == nullptr || rank(r.outcome) > rank(b->outcome)) b = &r;
  }
  GuardCounts c;
  for (const auto& [id, r] : best) {
    ++c.fetched;
    switch (r->outcome) {
      case Outcome::Delivered: ++c.delivered; break;
      case Outcome::Postmaster:
        ++c.postmaster;
        ++c.postmasterReasons[toString(r->reason)];
        if (r->reason == Reason::NoEnvelope) ++c.noEnvelope;
        break;
      case Outcome::Duplicate: ++c.duplicates; break;
      case Outcome::Deferred: ++c.deferred; break;
      case Outcome::Discarded: ++c.discarded; break;
    }
  }
  return c;
}

std::string summaryText(const GuardCounts& c) {
  std::string s = "fetched " + std::to_string(c.fetched) + ": delivered " + std::to_string(c.delivered);
  s += ", to postmaster " + std::to_string(c.postmaster);
  if (!c.postmasterReasons.empty()) {
    s += " (";
    bool first = true;
    for (const auto& [code, n] : c.postmasterReasons) {
      auto r = reasonFromString(code);
      std::string label = code == "no-envelope" ? "no envelope header" : code;
      (void)r;
      s += (first ? "" : ", ") + label + " " + std::to_string(n);
      first = false;
    }
    s += ")";
  }
  s += ", duplicates suppressed " + std::to_string(c.duplicates);
  if (c.deferred > 0) s += ", deferred " + std::to_string(c.deferred);
  if (c.discarded > 0) s += ", loops discarded " + std::to_string(c.discarded);
  return s;
}

std::string noEnvelopeWarning(const GuardCounts& c) {
  if (c.noEnvelope >= 3 && c.noEnvelope * 10 >= c.fetched)
    return std::to_string(c.noEnvelope) + " of " + std::to_string(c.fetched) +
           " fetched messages in the last 24 h had no envelope header where the ISP writes it: the ISP may "
           "have changed its setup (they went to the postmaster)";
  return "";
}

}  // namespace dynmx::guard
