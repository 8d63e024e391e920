#include "dynmx/ddns/provider.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace dynmx::ddns {

namespace {

using namespace std::chrono_literals;

// Endpoints and rules as the providers document them (see docs/ddns.md for the sources).
constexpr std::array kPresets{
    ProviderPreset{"dyn", "Dyn (Oracle) Remote Access", "https://members.dyndns.org/nic/update", true, true,
                   20, 30min, DualStack::CommaInMyip, kPresetMinInterval},
    // No-IP, Dynu and FreeDNS document no mx=/backmx= on their update endpoints.
    ProviderPreset{"noip", "No-IP", "https://dynupdate.no-ip.com/nic/update", true, false, 20, 30min,
                   DualStack::CommaInMyip, kPresetMinInterval},
    ProviderPreset{"dynu", "Dynu", "https://api.dynu.com/nic/update", false, false, 20, 30min,
                   DualStack::SeparateMyipv6, kPresetMinInterval},
    // FreeDNS documents neither batching nor dual stack on its dyndns2 endpoint: be modest.
    ProviderPreset{"freedns", "FreeDNS (afraid.org)", "https://sync.afraid.org/nic/update", false, false, 1,
                   30min, DualStack::SingleAddress, kPresetMinInterval},
};

bool isLdh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

std::span<const ProviderPreset> presets() { return kPresets; }

std::optional<ProviderPreset> findPreset(std::string_view name) {
  for (const auto& p : kPresets)
    if (p.name == name) return p;
  return std::nullopt;
}

Result<std::string> normalizeHostname(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return fail(std::string("empty hostname"));
  if (host.size() > 253) return fail(std::string("hostname longer than 253 characters"));
  std::string out;
  out.reserve(host.size());
  for (char c : host) out.push_back(lower(c));
  std::size_t labels = 0;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = out.find('.', start);
    const std::size_t end = dot == std::string::npos ? out.size() : dot;
    const std::string_view label = std::string_view(out).substr(start, end - start);
    if (label.empty()) return fail(std::string("hostname has an empty label"));
    if (label.size() > 63) return fail(std::string("hostname label longer than 63 characters"));
    if (!std::all_of(label.begin(), label.end(), isLdh))
      return fail(std::string("hostname may hold only letters, digits, '-' and '.'"));
    if (label.front() == '-' || label.back() == '-')
      return fail(std::string("hostname label starts or ends with '-'"));
    ++labels;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (labels < 2) return fail(std::string("hostname is not fully qualified"));
  // No top-level domain is all digits: "203.0.113.7" is an address, not a name to update.
  const std::string_view tld = std::string_view(out).substr(out.rfind('.') + 1);
  if (std::all_of(tld.begin(), tld.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return fail(std::string("hostname is an IP address, not a name"));
  return out;
}

std::string percentEscape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

std::string AddressSet::toString() const {
  std::string out;
  if (v4) out = v4->toString();
  if (v6) {
    if (!out.empty()) out += ',';
    out += v6->toString();
  }
  return out;
}

std::optional<AddressSet> parseAddressSet(std::string_view text) {
  AddressSet out;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const auto part = text.substr(0, comma);
    auto a = IpAddress::parse(part);
    if (!a) return std::nullopt;
    auto& slot = a->family() == Family::V4 ? out.v4 : out.v6;
    if (slot) return std::nullopt;
    slot = *a;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return std::nullopt;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

Result<std::string> endpointFor(const DdnsAccount& account) {
  const auto preset = findPreset(account.provider);
  if (!preset && account.provider != "custom")
    return fail("unknown provider \"" + account.provider + "\"");
  if (!preset && account.url.empty()) return fail(std::string("provider custom needs a url"));
  const std::string url = account.url.empty() ? std::string(preset->url) : account.url;
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return fail(std::string("url holds spaces or control characters"));
  }
  std::size_t rest = 0;
  if (startsWith(url, "https://")) {
    rest = 8;
  } else if (startsWith(url, "http://")) {
    if (!account.allowInsecureHttp)
      return fail(std::string("url uses plain http; set allow_insecure_http to permit it"));
    rest = 7;
  } else {
    return fail(std::string("url must start with https://"));
  }
  if (url.find('#') != std::string::npos) return fail(std::string("url must not hold a fragment"));
  const std::size_t authEnd = url.find_first_of("/?", rest);
  const std::string_view authority =
      std::string_view(url).substr(rest, authEnd == std::string::npos ? std::string::npos
                                                                      : authEnd - rest);
  // Credentials in a URL end up in logs and process lists: the password file is the only way.
  if (authority.find('@') != std::string_view::npos)
    return fail(std::string("url must not hold credentials; use username and password_file"));
  if (authority.empty() || authority.front() == ':') return fail(std::string("url has no host"));
  return url;
}

std::string toString(const MxSetting& s) {
  return "mx=" + s.mx + " backmx=" + (s.backmx ? "YES" : "NO");
}

Result<MxSetting> mxSettingFor(std::string_view host, const std::vector<MxRecord>& records, bool hostFirst) {
  const auto self = normalizeHostname(host);
  const std::string me = self ? *self : std::string(host);
  const auto isMe = [&](const MxRecord& r) { return r.host == me; };
  if (!hostFirst) {
    if (records.size() != 1 || isMe(records.front()))
      return fail("dyndns2 publishes a multidrop set as exactly one MX other than " + me +
                  " (mx=HOST&backmx=NO)");
    return MxSetting{records.front().host, false};
  }
  const bool ordered =
      records.size() == 1 || (records.size() == 2 && records[0].preference < records[1].preference);
  if (records.empty() || records.size() > 2 || !isMe(records.front()) || !ordered ||
      (records.size() == 2 && isMe(records[1])))
    return fail("dyndns2 publishes a direct set as " + me +
                " itself first, then at most one backup MX with a higher preference (mx=HOST&backmx=YES)");
  if (records.size() == 1) return MxSetting{me, false};
  return MxSetting{records[1].host, true};
}

bool supportsMx(const DdnsAccount& account) {
  const auto preset = findPreset(account.provider);
  return preset ? preset->supportsMx : account.provider == "custom";
}

Duration serverErrorRetry(const DdnsAccount& account) {
  Duration d = std::max(kMinServerErrorRetry, account.retryAfterServerError);
  if (const auto preset = findPreset(account.provider)) d = std::max(d, preset->minRetry);
  return d;
}

Duration minUpdateInterval(const DdnsAccount& account) {
  const auto preset = findPreset(account.provider);
  const Duration floor = preset ? preset->minInterval : kMinSettableInterval;
  if (account.minInterval) return std::max(floor, *account.minInterval);
  return preset ? preset->minInterval : kDefaultMinInterval;
}

std::size_t hostsPerRequest(const DdnsAccount& account) {
  const auto preset = findPreset(account.provider);
  std::size_t limit = preset ? preset->batchLimit : kMaxHostsPerRequest;
  if (account.maxHostsPerRequest > 0)
    limit = std::min(limit, static_cast<std::size_t>(account.maxHostsPerRequest));
  return std::clamp<std::size_t>(limit, 1, kMaxHostsPerRequest);
}

Result<RequestPlan> buildRequests(const DdnsAccount& account,
                                  const std::vector<std::string>& hosts,
                                  const AddressSet& addresses, const RequestOptions& options) {
  auto endpoint = endpointFor(account);
  if (!endpoint) return fail(endpoint.error());
  const auto preset = findPreset(account.provider);
  const DualStack dual = preset ? preset->dualStack : DualStack::CommaInMyip;
  const std::size_t batch = hostsPerRequest(account);

  if (options.offline && preset && !preset->supportsOffline)
    return fail("provider " + account.provider + " does not support offline=YES");
  if (options.mx && !supportsMx(account))
    return fail("provider " + account.provider + " does not support mx=/backmx=");
  std::optional<MxSetting> mx;
  if (options.mx) {
    // Only a hostname goes into the query: nothing a caller passes can add a parameter.
    auto host = normalizeHostname(options.mx->mx);
    if (!host) return fail("mx \"" + options.mx->mx + "\" is not a hostname: " + host.error());
    mx = MxSetting{*host, options.mx->backmx};
  }
  if (addresses.empty() && !options.offline)
    return fail(std::string("no address to publish"));
  if (addresses.v4 && addresses.v4->family() != Family::V4)
    return fail(std::string("IPv4 slot holds an IPv6 address"));
  if (addresses.v6 && addresses.v6->family() != Family::V6)
    return fail(std::string("IPv6 slot holds an IPv4 address"));
  for (const auto* a : {&addresses.v4, &addresses.v6}) {
    // Never publish what detection got wrong (ddclient once erased users' records that way).
    if (*a && !isPublishable(**a))
      return fail("refusing to publish " + std::string(toString(classify(**a))) + " address " +
                  (*a)->toString());
  }

  std::string addressQuery;
  switch (dual) {
    case DualStack::CommaInMyip:
    case DualStack::SingleAddress: {
      std::string v;
      if (addresses.v4) v = percentEscape(addresses.v4->toString());
      if (addresses.v6) v += (v.empty() ? "" : ",") + percentEscape(addresses.v6->toString());
      if (!v.empty()) addressQuery = "&myip=" + v;
      break;
    }
    case DualStack::SeparateMyipv6:
      if (addresses.v4) addressQuery += "&myip=" + percentEscape(addresses.v4->toString());
      if (addresses.v6) addressQuery += "&myipv6=" + percentEscape(addresses.v6->toString());
      break;
  }

  RequestPlan plan;
  std::vector<std::string> good;
  std::set<std::string> seen;
  for (const auto& h : hosts) {
    auto n = normalizeHostname(h);
    if (!n) {
      plan.rejected.push_back({h, n.error()});
    } else if (!seen.insert(*n).second) {
      plan.rejected.push_back({h, "hostname listed twice"});
    } else {
      good.push_back(*n);
    }
  }

  // A provider that takes one address per request gets one request per family: each family
  // is published on its own (FreeDNS dual stack).
  std::vector<AddressSet> rounds{addresses};
  if (addresses.v4 && addresses.v6 && dual == DualStack::SingleAddress)
    rounds = {AddressSet{addresses.v4, std::nullopt}, AddressSet{std::nullopt, addresses.v6}};
  const bool partial = rounds.size() > 1;
  const char sep = endpoint->find('?') == std::string::npos ? '?' : '&';
  for (const AddressSet& round : rounds)
  for (std::size_t i = 0; i < good.size(); i += batch) {
    std::string roundQuery = addressQuery;
    if (partial) roundQuery = "&myip=" + percentEscape((round.v4 ? *round.v4 : *round.v6).toString());
    UpdateRequest r;
    r.account = account.name;
    r.username = account.username;
    r.partialAddress = partial;
    r.myip = round.toString();
    r.offline = options.offline;
    r.allowInsecureHttp = account.allowInsecureHttp;
    r.tlsVerify = account.tlsVerify;
    r.caFile = account.caFile;
    std::string names;
    for (std::size_t j = i; j < std::min(good.size(), i + batch); ++j) {
      if (!names.empty()) names += ',';
      names += percentEscape(good[j]);
      r.hostnames.push_back(good[j]);
    }
    r.url = *endpoint + sep + "hostname=" + names + roundQuery;
    if (options.offline) r.url += "&offline=YES";
    if (mx) {
      r.url += "&mx=" + percentEscape(mx->mx) + "&backmx=" + (mx->backmx ? "YES" : "NO");
      r.mx = mx;
    }
    plan.requests.push_back(std::move(r));
  }
  return plan;
}

}  // namespace dynmx::ddns
