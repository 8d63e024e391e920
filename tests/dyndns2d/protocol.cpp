#include "protocol.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

namespace dynmx::dyndns2d {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string> splitList(std::string_view value) {
  std::vector<std::string> out;
  while (true) {
    auto comma = value.find(',');
    out.emplace_back(trim(value.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

Result<std::vector<Account>> parseJsonAccounts(std::string_view text) {
  auto doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return fail(std::string("accounts: invalid JSON"));
  if (doc.is_object() && doc.contains("accounts")) doc = doc["accounts"];
  if (!doc.is_array()) return fail(std::string("accounts: expected an array of accounts"));
  std::vector<Account> accounts;
  std::size_t index = 0;
  for (const auto& item : doc) {
    const std::string where = "accounts[" + std::to_string(index++) + "]: ";
    if (!item.is_object() || !item.contains("user") || !item["user"].is_string() ||
        !item.contains("password") || !item["password"].is_string() ||
        !item.contains("hosts") || !item["hosts"].is_array())
      return fail(where + "needs string user, string password and a hosts array");
    Account a;
    a.user = item["user"].get<std::string>();
    a.password = item["password"].get<std::string>();
    for (const auto& h : item["hosts"]) {
      if (!h.is_string()) return fail(where + "hosts must be strings");
      a.hosts.push_back(lower(h.get<std::string>()));
    }
    if (item.contains("donator")) {
      if (!item["donator"].is_boolean()) return fail(where + "donator must be a boolean");
      a.donator = item["donator"].get<bool>();
    }
    accounts.push_back(std::move(a));
  }
  return accounts;
}

// Canonical text of an address, or nullopt if it is not one.
std::optional<boost::asio::ip::address> parseAddress(std::string_view text) {
  boost::system::error_code ec;
  auto addr = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return addr;
}

bool parseInt(std::string_view text, long long lo, long long hi, long long& out) {
  long long v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

Result<std::vector<Account>> parseAccounts(std::string_view text) {
  auto body = trim(text);
  if (!body.empty() && (body.front() == '{' || body.front() == '[')) return parseJsonAccounts(body);
  std::vector<Account> accounts;
  std::size_t lineNo = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineNo;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "accounts:" + std::to_string(lineNo) + ": ";
    // user:password:hosts[:donator] - the password may itself contain ':'.
    Account a;
    if (line.size() > 8 && line.substr(line.size() - 8) == ":donator") {
      a.donator = true;
      line.remove_suffix(8);
    }
    auto first = line.find(':');
    auto last = line.rfind(':');
    if (first == std::string_view::npos || first == last)
      return fail(where + "expected user:password:host1,host2");
    a.user = std::string(line.substr(0, first));
    a.password = std::string(line.substr(first + 1, last - first - 1));
    for (auto& h : splitList(line.substr(last + 1)))
      if (!h.empty()) a.hosts.push_back(lower(h));
    if (a.user.empty() || a.hosts.empty()) return fail(where + "user and at least one host are required");
    accounts.push_back(std::move(a));
  }
  return accounts;
}

bool isValidFqdn(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  std::size_t labels = 0;
  while (true) {
    auto dot = host.find('.');
    auto label = host.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  return labels >= 2;
}

bool hostMatches(std::string_view pattern, std::string_view host) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    auto suffix = pattern.substr(1);  // ".zone"
    return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
  }
  return pattern == host;
}

std::string_view answerCode(std::string_view line) { return line.substr(0, line.find(' ')); }

Registry::Registry(std::vector<Account> accounts, std::size_t maxHosts)
    : accounts_(std::move(accounts)), maxHosts_(maxHosts) {}

std::vector<std::string> Registry::splitHostnames(std::string_view value) {
  if (trim(value).empty()) return {};
  return splitList(value);
}

const Account* Registry::authenticate(std::string_view authorization, std::string& user) const {
  auto space = authorization.find(' ');
  if (space == std::string_view::npos || lower(authorization.substr(0, space)) != "basic") return nullptr;
  auto decoded = decodeBase64(trim(authorization.substr(space + 1)));
  if (!decoded) return nullptr;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return nullptr;
  user = decoded->substr(0, colon);
  std::string_view password = std::string_view(*decoded).substr(colon + 1);
  for (const auto& a : accounts_)
    if (a.user == user && a.password == password) return &a;
  return nullptr;
}

UpdateOutcome Registry::update(const UpdateRequest& request) {
  UpdateOutcome out;
  out.myip = findParam(request.params, "myip").value_or("");
  out.offline = findParam(request.params, "offline").value_or("");
  auto hostParam = findParam(request.params, "hostname");
  out.hostnames = splitHostnames(hostParam.value_or(""));

  // Agent first: a blocked client learns nothing else.
  if (!request.userAgent || trim(*request.userAgent).empty()) {
    out.answer = {"badagent"};
    return out;
  }
  if (!request.authorization) {
    out.challenge = true;
    out.answer = {"badauth"};
    return out;
  }
  const Account* account = authenticate(*request.authorization, out.user);
  if (!account) {
    out.answer = {"badauth"};
    return out;
  }
  if (out.hostnames.empty()) {
    out.answer = {"notfqdn"};
    return out;
  }
  if (out.hostnames.size() > maxHosts_) {
    out.answer = {"numhost"};
    return out;
  }
  const std::string offline = lower(out.offline);
  const bool goOffline = offline == "yes";
  if (goOffline && !account->donator) {
    out.answer = {"!donator"};
    return out;
  }

  // Addresses: myip=v4[,v6], myipv6=v6; malformed or absent means "use the peer".
  std::optional<std::string> v4;
  std::optional<std::string> v6;
  for (const auto& item : splitList(out.myip)) {
    if (auto a = parseAddress(item)) (a->is_v4() ? v4 : v6) = a->to_string();
  }
  if (auto p6 = findParam(request.params, "myipv6"); p6 && !p6->empty()) {
    if (auto a = parseAddress(*p6); a && a->is_v6()) v6 = a->to_string();
  }
  if (!v4 && !v6) {
    if (auto a = parseAddress(request.peerAddress)) (a->is_v4() ? v4 : v6) = a->to_string();
  }
  std::string shown;
  if (v4) shown = *v4;
  if (v6) shown += (shown.empty() ? "" : ",") + *v6;
  std::string wildcard = lower(findParam(request.params, "wildcard").value_or(""));
  // mx=HOST|NOCHG, backmx=YES|NO (Dyn's "perform update"). A value outside that is refused
  // for every host, as a malformed hostname is: `notfqdn` for an mx that is not a fully
  // qualified name, `badsys` (the code for a parameter outside its value set) for backmx.
  const auto mxParam = findParam(request.params, "mx");
  const std::string mx = lower(trim(mxParam.value_or("")));
  const std::string backmx = lower(trim(findParam(request.params, "backmx").value_or("no")));
  const bool setMx = mxParam && mx != "nochg";
  std::string badOption;
  if (setMx && !isValidFqdn(mx))
    badOption = "notfqdn";
  else if (setMx && backmx != "yes" && backmx != "no")
    badOption = "badsys";

  for (const auto& raw : out.hostnames) {
    const std::string host = lower(raw);
    if (!isValidFqdn(host)) {
      out.answer.emplace_back("notfqdn");
      continue;
    }
    bool allowed = std::any_of(account->hosts.begin(), account->hosts.end(),
                               [&](const std::string& p) { return hostMatches(p, host); });
    if (!allowed) {
      out.answer.emplace_back("nohost");
      continue;
    }
    if (!badOption.empty()) {
      out.answer.push_back(badOption);
      continue;
    }
    auto it = records_.find(host);
    const bool existed = it != records_.end();
    Record next = existed ? it->second : Record{};
    if (v4) next.ipv4 = v4;
    if (v6) next.ipv6 = v6;
    next.offline = goOffline;
    if (wildcard == "on") next.wildcard = "ON";
    else if (wildcard == "off") next.wildcard = "OFF";
    if (setMx) {
      next.mx = mx;
      next.backmx = backmx == "yes";
    }
    if (existed && it->second.sameContent(next)) {
      out.answer.push_back("nochg " + shown);
      continue;
    }
    next.user = account->user;
    next.updatedMs = request.nowMs;
    records_[host] = next;
    out.changes.push_back({host, next});
    out.answer.push_back("good " + shown);
  }
  return out;
}

std::vector<std::string> Record::mxRecords(const std::string& host) const {
  if (mx.empty()) return {};
  if (backmx) return {"10 " + host, "20 " + mx};
  return {"10 " + mx};
}

std::string_view modeName(FaultConfig::Mode mode) {
  switch (mode) {
    case FaultConfig::Mode::Normal: return "normal";
    case FaultConfig::Mode::Code: return "code";
    case FaultConfig::Mode::Http: return "http";
    case FaultConfig::Mode::Garbage: return "garbage";
    case FaultConfig::Mode::Hang: return "hang";
    case FaultConfig::Mode::Drip: return "drip";
    case FaultConfig::Mode::Huge: return "huge";
    case FaultConfig::Mode::Close: return "close";
  }
  return "normal";
}

Status<> applyControl(FaultConfig& faults, const Params& params, bool& reset) {
  // Validate everything into a copy, so a bad command changes nothing.
  FaultConfig next = faults;
  bool doReset = false;
  for (const auto& [key, value] : params) {
    long long n = 0;
    if (key == "mode") {
      bool found = false;
      for (auto m : {FaultConfig::Mode::Normal, FaultConfig::Mode::Code, FaultConfig::Mode::Http,
                     FaultConfig::Mode::Garbage, FaultConfig::Mode::Hang, FaultConfig::Mode::Drip,
                     FaultConfig::Mode::Huge, FaultConfig::Mode::Close}) {
        if (modeName(m) == value) {
          next.mode = m;
          found = true;
        }
      }
      if (!found) return fail("unknown mode '" + value + "'");
    } else if (key == "code") {
      if (value.empty() || value.size() > 64 ||
          std::any_of(value.begin(), value.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
        return fail(std::string("code must be 1-64 printable characters"));
      next.code = value;
    } else if (key == "once") {
      next.codeOnce = value == "1" || lower(value) == "yes" || lower(value) == "true";
    } else if (key == "status") {
      if (!parseInt(value, 100, 599, n)) return fail(std::string("status must be 100-599"));
      next.httpStatus = static_cast<int>(n);
    } else if (key == "body") {
      next.garbage = value;
    } else if (key == "bytes") {
      if (!parseInt(value, 0, 1LL << 30, n)) return fail(std::string("bytes must be 0-1073741824"));
      next.hugeBytes = static_cast<std::size_t>(n);
    } else if (key == "drip_ms") {
      if (!parseInt(value, 1, 60000, n)) return fail(std::string("drip_ms must be 1-60000"));
      next.dripMs = static_cast<int>(n);
    } else if (key == "delay_ms") {
      if (!parseInt(value, 0, 600000, n)) return fail(std::string("delay_ms must be 0-600000"));
      next.delayMs = static_cast<int>(n);
    } else if (key == "public_ip") {
      if (value.size() > 64 || std::any_of(value.begin(), value.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; }))
        return fail(std::string("public_ip must be an address without spaces"));
      next.publicIp = value;
    } else if (key == "reset") {
      doReset = true;
    } else {
      return fail("unknown control key '" + key + "'");
    }
  }
  faults = next;
  reset = doReset;
  return Ok{};
}

}  // namespace dynmx::dyndns2d
