#include "dynmx/ddns/response.hpp"

#include <array>
#include <utility>

#include "dynmx/ddns/address.hpp"

namespace dynmx::ddns {

namespace {

// The dyndns2 reply words, matched exactly (never by substring: "goodbye" is not "good").
constexpr std::array<std::pair<std::string_view, ResultCode>, 14> kWords{{
    {"good", ResultCode::Good},
    {"nochg", ResultCode::NoChange},
    {"badauth", ResultCode::BadAuth},
    {"!donator", ResultCode::NotDonator},
    {"notfqdn", ResultCode::NotFqdn},
    {"nohost", ResultCode::NoHost},
    {"!yours", ResultCode::NotYours},
    {"numhost", ResultCode::NumHost},
    {"badsys", ResultCode::BadSys},
    {"abuse", ResultCode::Abuse},
    {"badagent", ResultCode::BadAgent},
    {"!active", ResultCode::NotActive},
    {"dnserr", ResultCode::DnsErr},
    {"911", ResultCode::ServerError911},
}};

constexpr std::size_t kMaxDetail = 200;

std::optional<ResultCode> wordCode(std::string_view w) {
  for (const auto& [word, code] : kWords)
    if (word == w) return code;
  return std::nullopt;
}

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Provider text goes into status and logs: bound it and keep it printable.
std::string sanitize(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxDetail)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7F ? c : '?');
  }
  if (s.size() > kMaxDetail) out += "...";
  return out;
}

struct Line {
  std::optional<ResultCode> code;
  std::string_view word;
  std::string_view arg;
  std::string_view text;
};

std::vector<Line> splitLines(std::string_view body) {
  std::vector<Line> lines;
  while (!body.empty()) {
    const std::size_t nl = body.find('\n');
    const std::string_view raw = trim(body.substr(0, nl));
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    if (raw.empty()) continue;
    Line l;
    l.text = raw;
    const std::size_t sp = raw.find_first_of(" \t");
    l.word = raw.substr(0, sp);
    l.arg = sp == std::string_view::npos ? std::string_view{} : trim(raw.substr(sp + 1));
    l.code = wordCode(l.word);
    lines.push_back(l);
  }
  return lines;
}

// "203.0.113.7" or "203.0.113.7,2001:db8::7" in canonical text; nullopt when not addresses.
std::optional<std::string> echoed(std::string_view arg) {
  if (arg.empty()) return std::nullopt;
  std::string out;
  while (true) {
    const std::size_t comma = arg.find(',');
    auto a = IpAddress::parse(trim(arg.substr(0, comma)));
    if (!a) return std::nullopt;
    if (!out.empty()) out += ',';
    out += a->toString();
    if (comma == std::string_view::npos) break;
    arg.remove_prefix(comma + 1);
  }
  return out;
}

HostResult fromLine(const std::string& host, const Line& l) {
  HostResult r;
  r.host = host;
  r.detail = sanitize(l.text);
  if (!l.code) {
    r.code = ResultCode::Garbage;
    r.consequence = consequenceOf(r.code);
    return r;
  }
  r.code = *l.code;
  r.consequence = consequenceOf(r.code);
  if (r.code == ResultCode::Good || r.code == ResultCode::NoChange) r.echoedAddress = echoed(l.arg);
  return r;
}

Classification everyHost(const std::vector<std::string>& hosts, ResultCode code,
                         Consequence consequence, const std::string& detail) {
  Classification c;
  c.accountLevel = true;
  for (const auto& h : hosts) c.hosts.push_back({h, code, consequence, std::nullopt, detail});
  return c;
}

bool appliesToAll(ResultCode code, std::size_t lineCount) {
  switch (code) {
    // Account-level by nature: whatever follows, the whole request was refused.
    case ResultCode::BadAuth:
    case ResultCode::BadAgent:
    case ResultCode::NotDonator:
      return true;
    // Provider or request faults that come once for the whole request.
    case ResultCode::ServerError911:
    case ResultCode::DnsErr:
    case ResultCode::NumHost:
    case ResultCode::BadSys:
      return lineCount == 1;
    default:
      return false;
  }
}

}  // namespace

Consequence consequenceOf(ResultCode code) {
  switch (code) {
    case ResultCode::Good:
    case ResultCode::NoChange:
      return Consequence::Ok;
    case ResultCode::BadAuth:
    case ResultCode::BadAgent:
    case ResultCode::HttpError:
      return Consequence::FatalAccount;
    case ResultCode::NotDonator:
      return Consequence::FatalOption;
    case ResultCode::NotFqdn:
    case ResultCode::NoHost:
    case ResultCode::NotYours:
    case ResultCode::NumHost:
    case ResultCode::BadSys:
    case ResultCode::Abuse:
    case ResultCode::NotActive:
      return Consequence::FatalHost;
    // The provider answered but unreadably or too much: it may have acted, so do not hurry.
    case ResultCode::DnsErr:
    case ResultCode::ServerError911:
    case ResultCode::Garbage:
    case ResultCode::Oversized:
      return Consequence::RetryLater;
    case ResultCode::Timeout:
    case ResultCode::TlsError:
    case ResultCode::ConnectError:
    case ResultCode::TransportError:
      return Consequence::Transient;
  }
  return Consequence::Transient;
}

Classification classify(int httpStatus, std::string_view body,
                        const std::vector<std::string>& hostnames, TransportFailure transport) {
  switch (transport) {
    case TransportFailure::None: break;
    case TransportFailure::Timeout:
      return everyHost(hostnames, ResultCode::Timeout, Consequence::Transient, "timeout");
    case TransportFailure::Connect:
      return everyHost(hostnames, ResultCode::ConnectError, Consequence::Transient,
                       "connection failed");
    case TransportFailure::Tls:
      return everyHost(hostnames, ResultCode::TlsError, Consequence::Transient, "TLS failure");
    case TransportFailure::Oversized:
      return everyHost(hostnames, ResultCode::Oversized, Consequence::RetryLater,
                       "reply larger than 64 KiB");
    case TransportFailure::Protocol:
    case TransportFailure::Other:
      return everyHost(hostnames, ResultCode::TransportError, Consequence::Transient,
                       "transport failure");
  }
  if (body.size() > kMaxReplyBody)
    return everyHost(hostnames, ResultCode::Oversized, Consequence::RetryLater,
                     "reply larger than 64 KiB");

  const auto lines = splitLines(body);
  const bool readable = !lines.empty() && lines.front().code.has_value();
  const bool success = httpStatus >= 200 && httpStatus < 300;
  if (!success && !readable) {
    const std::string detail = "HTTP " + std::to_string(httpStatus);
    if (httpStatus == 401)
      return everyHost(hostnames, ResultCode::BadAuth, Consequence::FatalAccount, detail);
    if (httpStatus == 429)
      return everyHost(hostnames, ResultCode::HttpError, Consequence::RetryLater, detail);
    if (httpStatus >= 500 && httpStatus < 600)
      return everyHost(hostnames, ResultCode::HttpError, Consequence::Transient, detail);
    // Redirects (we never follow them), 403, 404, 400: the endpoint or account is wrong and
    // repeating the request would only look like abuse.
    return everyHost(hostnames, ResultCode::HttpError, Consequence::FatalAccount, detail);
  }

  // One line for a request of several hosts answers the whole request (Dyn's and No-IP's
  // documentation): an `abuse` then blocks every host in it, not only the first.
  const bool wholeRequest = lines.size() == 1 && hostnames.size() > 1;
  if (readable && !hostnames.empty() &&
      (wholeRequest || appliesToAll(*lines.front().code, lines.size()))) {
    const HostResult first = fromLine(hostnames.front(), lines.front());
    Classification c = everyHost(hostnames, first.code, first.consequence, first.detail);
    c.extraLines = lines.size() > 1 && (*lines.front().code == ResultCode::BadAuth ||
                                        *lines.front().code == ResultCode::BadAgent ||
                                        *lines.front().code == ResultCode::NotDonator);
    return c;
  }

  Classification c;
  for (std::size_t i = 0; i < hostnames.size(); ++i) {
    if (i < lines.size()) {
      c.hosts.push_back(fromLine(hostnames[i], lines[i]));
    } else {
      c.missingLines = true;
      c.hosts.push_back({hostnames[i], ResultCode::Garbage, Consequence::RetryLater, std::nullopt,
                         "no reply line for this host"});
    }
  }
  c.extraLines = lines.size() > hostnames.size();
  return c;
}

const char* toString(ResultCode code) {
  for (const auto& [word, c] : kWords)
    if (c == code) return word.data();
  switch (code) {
    case ResultCode::Garbage: return "garbage";
    case ResultCode::HttpError: return "http-error";
    case ResultCode::Timeout: return "timeout";
    case ResultCode::TlsError: return "tls-error";
    case ResultCode::ConnectError: return "connect-error";
    case ResultCode::Oversized: return "oversized";
    case ResultCode::TransportError: return "transport-error";
    default: return "unknown";
  }
}

std::optional<ResultCode> parseResultCode(std::string_view text) {
  for (int i = 0; i <= static_cast<int>(ResultCode::TransportError); ++i) {
    const auto code = static_cast<ResultCode>(i);
    if (text == toString(code)) return code;
  }
  return std::nullopt;
}

const char* toString(Consequence c) {
  switch (c) {
    case Consequence::Ok: return "ok";
    case Consequence::RetryLater: return "retry-later";
    case Consequence::FatalHost: return "fatal-host";
    case Consequence::FatalAccount: return "fatal-account";
    case Consequence::FatalOption: return "fatal-option";
    case Consequence::Transient: return "transient";
  }
  return "unknown";
}

}  // namespace dynmx::ddns
