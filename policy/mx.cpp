// [[mx]]: MX steering per mail domain. One table per domain:
//
//   [[mx]]
//   domain    = "example.com"
//   direct    = ["10 office.dyn.example.net", "20 mx.isp.example"]
//   multidrop = ["10 mx.isp.example"]
//   ttl       = "5m"
//   lever     = "rfc2136"            # or "dyndns2" (the domain is a [[ddns.account]] host),
//                                    # or "none": status then reports the exposure
//   zone      = "example.com"        # default: the domain
//   server    = "192.0.2.53:53"      # default: the primary named in the zone's SOA
//   key_file  = "/etc/dynmx/example.com.key"
//   verify_servers = ["192.0.2.53:53", "198.51.100.53:53"]   # default: the zone's NS
//
// The one check that keeps mail safe: the multidrop set must not name a host that follows
// our dynamic address (a [ddns] host), or senders keep delivering to whoever holds it next.
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "dynmx/ddns/provider.hpp"
#include "internal.hpp"

namespace dynmx::policy_detail {
namespace {

SourcePos at(const toml::source_region& r) {
  return {static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

std::string normalized(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

bool isHostName(const std::string& d) {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string::npos) return false;
  std::size_t start = 0;
  while (start <= d.size()) {
    auto end = d.find('.', start);
    if (end == std::string::npos) end = d.size();
    std::string_view label(d.data() + start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!std::isalnum(c) && c != '-') return false;
    start = end + 1;
  }
  // All-numeric last label: an IP literal, never an MX exchange.
  const std::string last = d.substr(d.rfind('.') + 1);
  return !std::all_of(last.begin(), last.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

class MxParser {
 public:
  MxParser(Draft& d, const std::string& file) : d_(d), file_(file) {}

  void parse(const toml::table& root) {
    const toml::node* n = root.get("mx");
    if (n == nullptr) return;
    const auto* arr = n->as_array();
    if (arr == nullptr) {
      err(at(n->source()), "mx: expected an array of tables ([[mx]]), one per mail domain");
      return;
    }
    std::size_t i = 0;
    for (auto&& e : *arr) {
      ++i;
      const std::string path = "mx[" + std::to_string(i) + "]";
      const auto* t = e.as_table();
      if (t == nullptr) {
        err(at(e.source()), path + ": expected a table ([[mx]])");
        continue;
      }
      d_.pos.tables[path] = at(t->source());
      domain(*t, path);
    }
  }

 private:
  void err(SourcePos p, std::string m) { report(d_.diagnostics, file_, p, Severity::Error, std::move(m)); }

  const toml::node* node(const toml::table& t, std::string_view key, const std::string& path) {
    const toml::node* n = t.get(key);
    if (n != nullptr) d_.pos.keys[path] = at(n->source());
    return n;
  }

  bool str(const toml::table& t, std::string_view key, const std::string& path, std::string& out) {
    const toml::node* n = node(t, key, path);
    if (n == nullptr) return false;
    if (const auto* s = n->as_string()) {
      out = s->get();
      return true;
    }
    err(at(n->source()), path + ": expected a string");
    return false;
  }

  /// An array of strings with each element's position.
  bool strs(const toml::table& t, std::string_view key, const std::string& path,
            std::vector<std::pair<std::string, SourcePos>>& out) {
    const toml::node* n = node(t, key, path);
    if (n == nullptr) return false;
    const auto* a = n->as_array();
    if (a == nullptr) {
      err(at(n->source()), path + ": expected an array of strings");
      return false;
    }
    for (auto&& e : *a) {
      if (const auto* s = e.as_string())
        out.emplace_back(s->get(), at(e.source()));
      else
        err(at(e.source()), path + ": expected a string");
    }
    return true;
  }

  std::vector<MxRecord> records(const toml::table& t, std::string_view key, const std::string& path,
                                std::vector<SourcePos>& where) {
    std::vector<std::pair<std::string, SourcePos>> raw;
    std::vector<MxRecord> out;
    if (!strs(t, key, path, raw)) return out;
    for (const auto& [text, pos] : raw) {
      // "PREFERENCE HOST"
      const auto sp = text.find(' ');
      const std::string pref = sp == std::string::npos ? "" : text.substr(0, sp);
      std::string host = sp == std::string::npos ? "" : text.substr(text.find_first_not_of(' ', sp));
      host = normalized(host);
      const bool prefOk =
          !pref.empty() && pref.size() <= 5 &&
          std::all_of(pref.begin(), pref.end(), [](unsigned char c) { return std::isdigit(c) != 0; }) &&
          std::stoi(pref) <= 65535;
      if (!prefOk || !isHostName(host)) {
        err(pos, path + ": \"" + text +
                     "\" is not an MX record: write PREFERENCE HOST, e.g. \"10 mx.isp.example\"");
        continue;
      }
      out.push_back({std::stoi(pref), host});
      where.push_back(pos);
    }
    return out;
  }

  void domain(const toml::table& t, const std::string& path) {
    static constexpr std::string_view kKeys[] = {"domain", "zone",   "direct",   "multidrop",     "ttl",
                                                 "lever",  "server", "key_file", "verify_servers"};
    for (auto&& [k, v] : t) {
      const std::string name(k.str());
      if (std::find(std::begin(kKeys), std::end(kKeys), name) == std::end(kKeys))
        err(at(k.source()), "unknown key '" + name + "' in [[mx]]");
    }
    MxDomain m;
    m.pos = at(t.source());
    if (str(t, "domain", path + ".domain", m.domain)) {
      m.domain = normalized(m.domain);
      if (!isHostName(m.domain))
        err(d_.pos.key(path + ".domain"), path + ".domain: \"" + m.domain + "\" is not a domain name");
    } else {
      err(m.pos, path + ": domain is required (the mail domain whose MX is steered)");
    }
    m.zone = m.domain;
    const bool zoneGiven = str(t, "zone", path + ".zone", m.zone);
    if (zoneGiven) m.zone = normalized(m.zone);
    if (!m.zone.empty() && m.domain != m.zone &&
        (m.domain.size() <= m.zone.size() ||
         m.domain.compare(m.domain.size() - m.zone.size() - 1, std::string::npos, "." + m.zone) != 0))
      err(d_.pos.first({path + ".zone", path + ".domain"}),
          path + ".zone: \"" + m.zone + "\" does not contain the domain \"" + m.domain + "\"");

    std::vector<SourcePos> directWhere, multidropWhere;
    m.direct = records(t, "direct", path + ".direct", directWhere);
    m.multidrop = records(t, "multidrop", path + ".multidrop", multidropWhere);
    if (!d_.pos.has(path + ".direct"))
      err(m.pos, path + ": direct is required (the MX set while mail comes direct)");
    else if (m.direct.empty())
      err(d_.pos.key(path + ".direct"), path + ".direct: must name at least one MX");
    if (!d_.pos.has(path + ".multidrop"))
      err(m.pos, path + ": multidrop is required (the MX set while mail waits at the ISP)");
    else if (m.multidrop.empty())
      err(d_.pos.key(path + ".multidrop"), path + ".multidrop: must name at least one MX");

    // The safety check: a multidrop MX that follows our dynamic address leads senders to
    // whoever holds that address while we are away.
    std::set<std::string> dynamicHosts;
    for (const auto& a : d_.policy.ddns.accounts)
      for (const auto& h : a.hosts) dynamicHosts.insert(normalized(h));
    bool multidropFollowsUs = false;
    for (std::size_t i = 0; i < m.multidrop.size(); ++i) {
      if (dynamicHosts.count(m.multidrop[i].host) == 0) continue;
      multidropFollowsUs = true;
      err(multidropWhere[i], path + ".multidrop: \"" + toString(m.multidrop[i]) + "\" names " +
                                 m.multidrop[i].host +
                                 ", which follows our dynamic address ([ddns] host): while mail "
                                 "is on multidrop that address may belong to a stranger");
    }

    std::string ttl;
    if (str(t, "ttl", path + ".ttl", ttl)) {
      auto d = parseDuration(ttl);
      if (!d || *d < std::chrono::seconds(30) || *d > std::chrono::hours(24))
        err(d_.pos.key(path + ".ttl"),
            path + ".ttl: \"" + ttl + "\" must be a duration from 30s to 24h (e.g. \"5m\")");
      else
        m.ttl = *d;
    }

    std::string lever = "none";
    if (str(t, "lever", path + ".lever", lever)) {
      if (lever == "rfc2136")
        m.lever = MxLever::Rfc2136;
      else if (lever == "dyndns2")
        m.lever = MxLever::Dyndns2;
      else if (lever == "none")
        m.lever = MxLever::None;
      else
        err(d_.pos.key(path + ".lever"),
            path + ".lever: unknown value \"" + lever + "\": expected one of rfc2136, dyndns2, none");
    }
    if (m.lever == MxLever::Dyndns2) {
      // The provider's zone holds the hostname: its parent, unless written.
      if (!zoneGiven && m.domain.find('.') != std::string::npos)
        m.zone = m.domain.substr(m.domain.find('.') + 1);
      dyndns2(m, path, multidropFollowsUs);
    }
    std::string server;
    if (str(t, "server", path + ".server", server)) {
      if (auto hp = parseHostPort(server))
        m.server = *hp;
      else
        err(d_.pos.key(path + ".server"),
            path + ".server: \"" + server + "\" is not ADDRESS:PORT (e.g. \"192.0.2.53:53\")");
    }
    str(t, "key_file", path + ".key_file", m.keyFile);
    if (m.lever == MxLever::Rfc2136 && m.keyFile.empty())
      err(d_.pos.first({path + ".lever"}),
          path + ": lever \"rfc2136\" needs key_file (a BIND-format TSIG key, 0600)");
    if (m.lever != MxLever::Rfc2136 && (!m.keyFile.empty() || m.server))
      err(d_.pos.first({path + ".key_file", path + ".server"}),
          path + ": server and key_file are only used with lever = \"rfc2136\"");
    std::vector<std::pair<std::string, SourcePos>> vs;
    strs(t, "verify_servers", path + ".verify_servers", vs);
    for (const auto& [text, pos] : vs) {
      if (auto hp = parseHostPort(text))
        m.verifyServers.push_back(*hp);
      else
        err(pos, path + ".verify_servers: \"" + text + "\" is not ADDRESS:PORT");
    }
    for (const auto& other : d_.policy.mx)
      if (!m.domain.empty() && other.domain == m.domain)
        err(d_.pos.first({path + ".domain"}), path + ".domain: \"" + m.domain + "\" is steered twice");
    d_.policy.mx.push_back(std::move(m));
  }

  /// lever = "dyndns2": the domain is a host of a dyndns2 account whose provider takes mx=,
  /// and each set is one dyndns2 can publish (ddns::mxSettingFor, the rule the lever uses).
  void dyndns2(const MxDomain& m, const std::string& path, bool multidropFollowsUs) {
    const SourcePos leverAt = d_.pos.key(path + ".lever");
    const DdnsAccount* owner = nullptr;
    for (const auto& a : d_.policy.ddns.accounts) {
      if (a.provider == "rfc2136") continue;
      for (const auto& h : a.hosts)
        if (normalized(h) == m.domain) owner = &a;
    }
    if (owner == nullptr) {
      err(leverAt, path + ".lever: \"dyndns2\" sets the MX of a [[ddns.account]] host, and no dyndns2 "
                          "account updates \"" + m.domain + "\" (use lever = \"rfc2136\" for a mail domain "
                          "of your own)");
      return;
    }
    if (!ddns::supportsMx(*owner)) {
      err(leverAt, path + ".lever: provider " + owner->provider + " (account \"" + owner->name +
                       "\") documents no mx=/backmx=; use provider \"dyn\" or \"custom\", or lever "
                       "\"rfc2136\"");
      return;
    }
    if (!m.direct.empty())
      if (auto s = ddns::mxSettingFor(m.domain, m.direct, true); !s)
        err(d_.pos.key(path + ".direct"), path + ".direct: " + s.error());
    if (!m.multidrop.empty() && !multidropFollowsUs)
      if (auto s = ddns::mxSettingFor(m.domain, m.multidrop, false); !s)
        err(d_.pos.key(path + ".multidrop"), path + ".multidrop: " + s.error());
  }

  Draft& d_;
  const std::string& file_;
};

}  // namespace

void parseMx(const toml::table& root, Draft& draft, const std::string& file) {
  MxParser(draft, file).parse(root);
}

}  // namespace dynmx::policy_detail

namespace dynmx {

const char* toString(MxLever l) {
  switch (l) {
    case MxLever::Rfc2136: return "rfc2136";
    case MxLever::Dyndns2: return "dyndns2";
    case MxLever::None: break;
  }
  return "none";
}

std::string toString(const MxRecord& r) {
  return std::to_string(r.preference) + " " + r.host;
}

}  // namespace dynmx
