// TOML → Draft. Every key is read through one small set of getters so that type errors,
// unknown keys and positions are reported the same way everywhere, and so that a secret's
// value can never end up in a message (getters never echo what they read, except enum
// and duration values, which are never secrets).
#include <toml++/toml.h>

#include <algorithm>
#include <regex>

#include "internal.hpp"

namespace dynmx::policy_detail {

/// [[mx]] (policy/mx.cpp): parsed last, since it checks MX names against the [ddns] hosts.
void parseMx(const toml::table& root, Draft& draft, const std::string& file);

namespace {

const char* typeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

SourcePos at(const toml::source_region& r) {
  return {static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

/// "host:port" or "[v6]:port" → HostPort; nullopt when malformed.
std::optional<HostPort> parseHostPort(const std::string& s) {
  std::string host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.find(':');
    if (colon == std::string::npos || s.find(':', colon + 1) != std::string::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return std::nullopt;
  if (!std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c) != 0; }))
    return std::nullopt;
  int p = std::stoi(port);
  if (p < 1 || p > 65535) return std::nullopt;
  return HostPort{host, p};
}

namespace {

/// A domain we receive mail for: LDH labels, at least two of them.
bool isDomainName(const std::string& d) {
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
  return true;
}

class Parser {
 public:
  Parser(Draft& draft, const std::string& file) : d_(draft), file_(file) {}

  void err(SourcePos p, std::string m) { report(d_.diagnostics, file_, p, Severity::Error, std::move(m)); }

  /// Report every key of `t` that is not in `allowed`, with a did-you-mean when one is close.
  void checkKeys(const toml::table& t, const std::string& where,
                 std::initializer_list<std::string_view> allowed) {
    for (auto&& [k, v] : t) {
      const std::string name(k.str());
      if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
      std::string msg = "unknown key '" + shortened(name) + "' " + where;
      std::string_view best;
      int bestDist = 3;
      for (auto a : allowed) {
        int dist = editDistance(name, a);
        if (dist < bestDist) bestDist = dist, best = a;
      }
      if (!best.empty()) msg += " (did you mean '" + std::string(best) + "'?)";
      err(at(k.source()), msg);
    }
  }

  /// Sub-table `key` of `t`; nullptr when absent or not a table (then a type error is reported).
  const toml::table* table(const toml::table& t, std::string_view key, const std::string& path) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return nullptr;
    if (const auto* tt = n->as_table()) {
      d_.pos.tables[path] = at(tt->source());
      return tt;
    }
    typeError(path, *n, "a table");
    return nullptr;
  }

  const toml::node* node(const toml::table& t, std::string_view key, const std::string& path) {
    const toml::node* n = t.get(key);
    if (n != nullptr) d_.pos.keys[path] = at(n->source());
    return n;
  }

  void typeError(const std::string& path, const toml::node& n, std::string_view expected) {
    err(at(n.source()), path + ": expected " + std::string(expected) + ", got " + typeName(n.type()));
  }

  bool getString(const toml::table& t, std::string_view key, const std::string& path, std::string& out) {
    const toml::node* n = node(t, key, path);
    if (n == nullptr) return false;
    if (const auto* s = n->as_string()) {
      out = s->get();
      return true;
    }
    typeError(path, *n, "a string");
    return false;
  }

  bool getBool(const toml::table& t, std::string_view key, const std::string& path, bool& out) {
    const toml::node* n = node(t, key, path);
    if (n == nullptr) return false;
    if (const auto* b = n->as_boolean()) {
      out = b->get();
      return true;
    }
    typeError(path, *n, "a boolean (true or false)");
    return false;
  }

  bool getInt(const toml::table& t, std::string_view key, const std::string& path, long long& out) {
    const toml::node* n = node(t, key, path);
    if (n == nullptr) return false;
    if (const auto* i = n->as_integer()) {
      out = i->get();
      return true;
    }
    typeError(path, *n, "an integer");
    return false;
  }

  bool getPort(const toml::table& t, std::string_view key, const std::string& path, int& out) {
    long long v = 0;
    if (!getInt(t, key, path, v)) return false;
    if (v < 1 || v > 65535) {
      err(d_.pos.key(path), path + ": port " + std::to_string(v) + " is out of range (1-65535)");
      return false;
    }
    out = static_cast<int>(v);
    return true;
  }

  bool getDuration(const toml::table& t, std::string_view key, const std::string& path, Duration& out) {
    const toml::node* n = node(t, key, path);
    if (n == nullptr) return false;
    const auto* s = n->as_string();
    if (s == nullptr) {
      typeError(path, *n, "a duration string such as \"90s\", \"5m\" or \"1h\"");
      return false;
    }
    auto parsed = parseDuration(s->get());
    if (!parsed) {
      err(at(n->source()), path + ": invalid duration " + quoted(s->get()) +
                               ": write a number and a unit (s, m, h, d, w), e.g. \"90s\", \"5m\", "
                               "\"1h\" or \"1h30m\"");
      return false;
    }
    out = *parsed;
    return true;
  }

  bool getStrings(const toml::table& t, std::string_view key, const std::string& path,
                  std::vector<std::string>& out, std::vector<SourcePos>* positions = nullptr) {
    const toml::node* n = node(t, key, path);
    if (n == nullptr) return false;
    const auto* a = n->as_array();
    if (a == nullptr) {
      typeError(path, *n, "an array of strings");
      return false;
    }
    bool ok = true;
    std::vector<std::string> values;
    std::size_t i = 0;
    for (auto&& e : *a) {
      ++i;
      if (const auto* s = e.as_string()) {
        values.push_back(s->get());
        if (positions != nullptr) positions->push_back(at(e.source()));
      } else {
        typeError(path + "[" + std::to_string(i) + "]", e, "a string");
        ok = false;
      }
    }
    out = std::move(values);
    return ok;
  }

  template <typename E>
  bool getChoice(const toml::table& t, std::string_view key, const std::string& path,
                 std::initializer_list<std::pair<std::string_view, E>> choices, E& out) {
    std::string s;
    if (!getString(t, key, path, s)) return false;
    std::string list;
    for (const auto& [name, value] : choices) {
      if (s == name) {
        out = value;
        return true;
      }
      list += (list.empty() ? "" : ", ") + std::string(name);
    }
    err(d_.pos.key(path), path + ": unknown value " + quoted(s) + ": expected one of " + list);
    return false;
  }

  void parse(const toml::table& root) {
    checkKeys(
        root, "at the top level",
        {"mail", "link", "health", "isp", "envelope", "users", "delivery", "fetchmail", "ddns", "daemon", "guard", "mx"});
    mail(root);
    link(root);
    health(root);
    isp(root);
    envelope(root);
    users(root);
    delivery(root);
    guard(root);
    fetchmail(root);
    ddns(root);
    daemon(root);
    parseMx(root, d_, file_);  // last: it checks MX names against the [ddns] hosts
  }

 private:
  Policy& p() { return d_.policy; }

  void mail(const toml::table& root) {
    const auto* t = table(root, "mail", "mail");
    if (t == nullptr) return;
    checkKeys(*t, "in [mail]", {"mode", "domains"});
    getChoice(
        *t, "mode", "mail.mode",
        {{"direct", MailPolicy::Direct}, {"multidrop", MailPolicy::Multidrop}, {"auto", MailPolicy::Auto}},
        p().mail.mode);
    p().mail.modePos = d_.pos.key("mail.mode");
    std::vector<std::string> raw;
    std::vector<SourcePos> where;
    getStrings(*t, "domains", "mail.domains", raw, &where);
    for (std::size_t i = 0; i < raw.size(); ++i) {
      std::string dom = lower(raw[i]);
      if (!dom.empty() && dom.back() == '.') dom.pop_back();
      if (!isDomainName(dom)) {
        err(where[i], "mail.domains: " + quoted(raw[i]) + " is not a domain name (e.g. \"example.com\")");
      } else if (std::find(p().mail.domains.begin(), p().mail.domains.end(), dom) != p().mail.domains.end()) {
        err(where[i], "mail.domains: " + quoted(dom) + " is listed twice");
      } else {
        p().mail.domains.push_back(dom);
      }
    }
  }

  void link(const toml::table& root) {
    const auto* t = table(root, "link", "link");
    if (t == nullptr) return;
    checkKeys(*t, "in [link]", {"type", "interface"});
    getChoice(*t, "type", "link.type",
              {{"dedicated", LinkType::Dedicated}, {"dialup", LinkType::Dialup}, {"auto", LinkType::Auto}},
              p().link.type);
    getString(*t, "interface", "link.interface", p().link.interface);
  }

  void health(const toml::table& root) {
    const auto* t = table(root, "health", "health");
    if (t == nullptr) return;
    checkKeys(*t, "in [health]", {"ddns_failing_max", "link_down_max", "hold_down"});
    getDuration(*t, "ddns_failing_max", "health.ddns_failing_max", p().health.ddnsFailingMax);
    getDuration(*t, "link_down_max", "health.link_down_max", p().health.linkDownMax);
    getDuration(*t, "hold_down", "health.hold_down", p().health.holdDown);
  }

  void isp(const toml::table& root) {
    const auto* t = table(root, "isp", "isp");
    if (t == nullptr) return;
    checkKeys(*t, "in [isp]",
              {"server", "protocol", "port", "tls", "certificate_check", "ssl_proto", "user", "password_file",
               "password", "timeout", "keep", "fetch_all", "password_credential", "password_env"});
    auto& i = p().isp;
    getString(*t, "server", "isp.server", i.server);
    getChoice(*t, "protocol", "isp.protocol", {{"pop3", MailProtocol::Pop3}, {"imap", MailProtocol::Imap}},
              i.protocol);
    getPort(*t, "port", "isp.port", i.port);
    getChoice(*t, "tls", "isp.tls",
              {{"implicit", TlsMode::Implicit}, {"starttls", TlsMode::StartTls}, {"none", TlsMode::None}},
              i.tls);
    getBool(*t, "certificate_check", "isp.certificate_check", i.certificateCheck);
    getString(*t, "ssl_proto", "isp.ssl_proto", i.sslProto);
    getString(*t, "user", "isp.user", i.user);
    getString(*t, "password_file", "isp.password_file", i.passwordFile);
    i.passwordFilePos = d_.pos.key("isp.password_file");
    std::string pw;
    if (getString(*t, "password", "isp.password", pw)) i.password = std::move(pw);
    getDuration(*t, "timeout", "isp.timeout", i.timeout);
    getBool(*t, "keep", "isp.keep", i.keep);
    getBool(*t, "fetch_all", "isp.fetch_all", i.fetchAll);
    getString(*t, "password_credential", "isp.password_credential", i.passwordCredential);
    getString(*t, "password_env", "isp.password_env", i.passwordEnv);
  }

  void envelope(const toml::table& root) {
    const auto* t = table(root, "envelope", "envelope");
    if (t == nullptr) return;
    checkKeys(*t, "in [envelope]", {"header", "skip"});
    getString(*t, "header", "envelope.header", p().envelope.header);
    long long skip = 0;
    if (getInt(*t, "skip", "envelope.skip", skip)) {
      // Range is a semantic check; clamp here only so the int cannot overflow.
      p().envelope.skip = static_cast<int>(std::clamp<long long>(skip, -1, 1000000));
    }
  }

  void users(const toml::table& root) {
    const auto* t = table(root, "users", "users");
    if (t == nullptr) return;
    checkKeys(*t, "in [users]", {"map", "wildcard", "postmaster"});
    if (const auto* m = table(*t, "map", "users.map")) {
      d_.pos.keys["users.map"] = at(m->source());
      for (auto&& [k, v] : *m) {
        const std::string remote(k.str());
        const std::string path = "users.map." + remote;
        if (const auto* s = v.as_string()) {
          p().users.map[remote] = s->get();
          d_.pos.keys[path] = at(v.source());
        } else {
          typeError(path, v, "a string (a local user name)");
        }
      }
    }
    getBool(*t, "wildcard", "users.wildcard", p().users.wildcard);
    getString(*t, "postmaster", "users.postmaster", p().users.postmaster);
  }

  void delivery(const toml::table& root) {
    p().delivery.guard = true;  // the envelope guard is on unless the policy says otherwise
    const auto* t = table(root, "delivery", "delivery");
    if (t == nullptr) return;
    checkKeys(*t, "in [delivery]", {"method", "host", "port", "mda", "guard"});
    getBool(*t, "guard", "delivery.guard", p().delivery.guard);
    auto& dl = p().delivery;
    getChoice(*t, "method", "delivery.method",
              {{"smtp", DeliveryMethod::Smtp}, {"lmtp", DeliveryMethod::Lmtp}, {"mda", DeliveryMethod::Mda}},
              dl.method);
    getString(*t, "host", "delivery.host", dl.target.host);
    getPort(*t, "port", "delivery.port", dl.target.port);
    getString(*t, "mda", "delivery.mda", dl.mda);
  }

  void guard(const toml::table& root) {
    const auto* t = table(root, "guard", "guard");
    if (t == nullptr) return;
    checkKeys(*t, "in [guard]",
              {"socket", "journal", "received_above", "max_received", "max_message_size", "retention", "journal_sync"});
    auto& g = p().guard;
    getString(*t, "socket", "guard.socket", g.socket);
    getString(*t, "journal", "guard.journal", g.journal);
    long long n = 0;
    if (getInt(*t, "received_above", "guard.received_above", n)) {
      if (n < 0 || n > 100) err(d_.pos.key("guard.received_above"), "guard.received_above must be 0-100");
      else g.receivedAbove = static_cast<int>(n);
    }
    if (getInt(*t, "max_received", "guard.max_received", n)) {
      if (n < 1 || n > 1000) err(d_.pos.key("guard.max_received"), "guard.max_received must be 1-1000");
      else g.maxReceived = static_cast<int>(n);
    }
    if (getInt(*t, "max_message_size", "guard.max_message_size", n)) {
      if (n < 1024 || n > (1LL << 31)) err(d_.pos.key("guard.max_message_size"), "guard.max_message_size must be 1024 bytes to 2 GiB");
      else g.maxMessageSize = n;
    }
    getDuration(*t, "retention", "guard.retention", g.retention);
    getString(*t, "journal_sync", "guard.journal_sync", g.journalSync);
    if (g.journalSync != "second" && g.journalSync != "message")
      err(d_.pos.key("guard.journal_sync"), "guard.journal_sync: expected \"second\" or \"message\"");
  }

  void fetchmail(const toml::table& root) {
    const auto* t = table(root, "fetchmail", "fetchmail");
    if (t == nullptr) return;
    checkKeys(*t, "in [fetchmail]", {"binary", "rc_path", "user", "home", "poll_interval", "sweep_interval"});
    auto& f = p().fetchmail;
    getString(*t, "binary", "fetchmail.binary", f.binary);
    getString(*t, "rc_path", "fetchmail.rc_path", f.rcPath);
    getString(*t, "user", "fetchmail.user", f.user);
    getString(*t, "home", "fetchmail.home", f.home);
    getDuration(*t, "poll_interval", "fetchmail.poll_interval", f.pollInterval);
    getDuration(*t, "sweep_interval", "fetchmail.sweep_interval", f.sweepInterval);
  }

  void ddns(const toml::table& root) {
    const auto* t = table(root, "ddns", "ddns");
    if (t == nullptr) return;
    checkKeys(
        *t, "in [ddns]",
        {"enabled", "static_address", "check_interval", "request_timeout", "detect", "verify", "account"});
    auto& dd = p().ddns;
    getBool(*t, "enabled", "ddns.enabled", dd.enabled);
    std::string addr;
    if (getString(*t, "static_address", "ddns.static_address", addr)) dd.staticAddress = addr;
    getDuration(*t, "check_interval", "ddns.check_interval", dd.checkInterval);
    getDuration(*t, "request_timeout", "ddns.request_timeout", dd.requestTimeout);

    if (const auto* det = table(*t, "detect", "ddns.detect")) {
      checkKeys(*det, "in [ddns.detect]",
                {"ipv4", "ipv6", "interface", "web_sources", "agreement", "timeout"});
      getBool(*det, "ipv4", "ddns.detect.ipv4", dd.detect.ipv4);
      getBool(*det, "ipv6", "ddns.detect.ipv6", dd.detect.ipv6);
      getString(*det, "interface", "ddns.detect.interface", dd.detect.interface);
      std::vector<SourcePos> where;
      getStrings(*det, "web_sources", "ddns.detect.web_sources", dd.detect.webSources, &where);
      for (std::size_t i = 0; i < where.size(); ++i) {
        const std::string& url = dd.detect.webSources[i];
        // http:// only to a literal loopback host: the test and benchmark sources.
        const bool loopbackHttp = url.rfind("http://127.", 0) == 0 || url.rfind("http://[::1]", 0) == 0;
        if (url.rfind("https://", 0) != 0 && !loopbackHttp)
          err(where[i], "ddns.detect.web_sources: " + quoted(url) +
                            " must be an https:// URL (a forged answer over http would publish a stranger's "
                            "address)");
      }
      std::string agreement;
      if (getString(*det, "agreement", "ddns.detect.agreement", agreement)) {
        if (agreement == "majority" || agreement == "all" || agreement == "first")
          dd.detect.agreement = agreement;
        else
          err(d_.pos.key("ddns.detect.agreement"), "ddns.detect.agreement: unknown value " +
                                                       quoted(agreement) +
                                                       ": expected one of majority, all, first");
      }
      getDuration(*det, "timeout", "ddns.detect.timeout", dd.detect.timeout);
    }

    if (const auto* ver = table(*t, "verify", "ddns.verify")) {
      checkKeys(*ver, "in [ddns.verify]", {"servers", "interval", "timeout"});
      std::vector<std::string> servers;
      std::vector<SourcePos> where;
      getStrings(*ver, "servers", "ddns.verify.servers", servers, &where);
      for (std::size_t i = 0; i < servers.size(); ++i) {
        if (auto hp = parseHostPort(servers[i]))
          dd.verify.servers.push_back(*hp);
        else
          err(where[i], "ddns.verify.servers: " + quoted(servers[i]) +
                            " is not HOST:PORT (e.g. \"192.0.2.53:53\" or \"[2001:db8::53]:53\")");
      }
      getDuration(*ver, "interval", "ddns.verify.interval", dd.verify.interval);
      getDuration(*ver, "timeout", "ddns.verify.timeout", dd.verify.timeout);
    }

    if (const toml::node* n = node(*t, "account", "ddns.account")) {
      const auto* arr = n->as_array();
      if (arr == nullptr) {
        typeError("ddns.account", *n, "an array of tables ([[ddns.account]])");
        return;
      }
      std::size_t i = 0;
      for (auto&& e : *arr) {
        ++i;
        const std::string path = "ddns.account[" + std::to_string(i) + "]";
        const auto* at_ = e.as_table();
        if (at_ == nullptr) {
          typeError(path, e, "a table ([[ddns.account]])");
          continue;
        }
        d_.pos.tables[path] = at(at_->source());
        dd.accounts.push_back(account(*at_, path));
      }
    }
  }

  DdnsAccount account(const toml::table& t, const std::string& path) {
    checkKeys(t, "in [[ddns.account]]",
              {"name", "provider", "url", "allow_insecure_http", "tls_verify", "ca_file", "username",
               "password_file", "password", "hosts", "offline_on_multidrop", "retry_after_server_error", "min_interval",
               "key_file", "zone", "server", "ttl", "max_hosts_per_request", "password_credential",
               "password_env"});
    DdnsAccount a;
    a.pos = at(t.source());
    getString(t, "name", path + ".name", a.name);
    std::string provider;
    if (getString(t, "provider", path + ".provider", provider)) {
      const auto& known = knownDdnsProviders();
      if (std::find(known.begin(), known.end(), provider) != known.end()) {
        a.provider = provider;
      } else {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        err(d_.pos.key(path + ".provider"),
            path + ".provider: unknown provider " + quoted(provider) + ": expected one of " + list);
      }
    }
    getString(t, "url", path + ".url", a.url);
    getBool(t, "allow_insecure_http", path + ".allow_insecure_http", a.allowInsecureHttp);
    getBool(t, "tls_verify", path + ".tls_verify", a.tlsVerify);
    getString(t, "ca_file", path + ".ca_file", a.caFile);
    getString(t, "username", path + ".username", a.username);
    getString(t, "password_file", path + ".password_file", a.passwordFile);
    a.passwordFilePos = d_.pos.key(path + ".password_file");
    std::string pw;
    if (getString(t, "password", path + ".password", pw)) a.password = std::move(pw);
    std::vector<std::string> hosts;
    getStrings(t, "hosts", path + ".hosts", hosts);
    for (auto& h : hosts) {
      h = lower(h);
      if (!h.empty() && h.back() == '.') h.pop_back();
    }
    a.hosts = std::move(hosts);
    getBool(t, "offline_on_multidrop", path + ".offline_on_multidrop", a.offlineOnMultidrop);
    getDuration(t, "retry_after_server_error", path + ".retry_after_server_error", a.retryAfterServerError);
    if (Duration d{}; getDuration(t, "min_interval", path + ".min_interval", d)) a.minInterval = d;
    // provider = "rfc2136" (checked in policy/rfc2136.cpp)
    getString(t, "key_file", path + ".key_file", a.rfc2136.keyFile);
    a.rfc2136.keyFilePos = d_.pos.key(path + ".key_file");
    if (getString(t, "zone", path + ".zone", a.rfc2136.zone)) a.rfc2136.zone = lower(a.rfc2136.zone);
    if (!a.rfc2136.zone.empty() && a.rfc2136.zone.back() == '.') a.rfc2136.zone.pop_back();
    getString(t, "server", path + ".server", a.rfc2136.server);
    getInt(t, "ttl", path + ".ttl", a.rfc2136.ttl);
    long long maxHosts = 0;
    if (getInt(t, "max_hosts_per_request", path + ".max_hosts_per_request", maxHosts))
      a.maxHostsPerRequest = static_cast<int>(std::clamp<long long>(maxHosts, -1, 1000000));
    getString(t, "password_credential", path + ".password_credential", a.passwordCredential);
    getString(t, "password_env", path + ".password_env", a.passwordEnv);
    return a;
  }

  void daemon(const toml::table& root) {
    const auto* t = table(root, "daemon", "daemon");
    if (t == nullptr) return;
    checkKeys(*t, "in [daemon]",
              {"user", "state_dir", "control_socket", "log", "log_level", "metrics", "offline_on_shutdown",
               "hook"});
    auto& dm = p().daemon;
    getString(*t, "user", "daemon.user", dm.user);
    if (dm.user == "root" || dm.user.empty())
      err(d_.pos.key("daemon.user"), "daemon.user: " + quoted(dm.user) + " is not an unprivileged user");
    getString(*t, "state_dir", "daemon.state_dir", dm.stateDir);
    getString(*t, "control_socket", "daemon.control_socket", dm.controlSocket);
    std::string log;
    if (getString(*t, "log", "daemon.log", log)) {
      if (log == "stderr" || log == "syslog")
        dm.log = log;
      else
        err(d_.pos.key("daemon.log"),
            "daemon.log: unknown value " + quoted(log) + ": expected one of stderr, syslog");
    }
    std::string level;
    if (getString(*t, "log_level", "daemon.log_level", level)) {
      static const std::vector<std::string> levels{"trace", "debug",    "info", "warn",
                                                   "error", "critical", "off"};
      if (std::find(levels.begin(), levels.end(), level) != levels.end())
        dm.logLevel = level;
      else
        err(d_.pos.key("daemon.log_level"),
            "daemon.log_level: unknown value " + quoted(level) +
                ": expected one of trace, debug, info, warn, error, critical, off");
    }
    std::string metrics;
    if (getString(*t, "metrics", "daemon.metrics", metrics)) {
      if (auto hp = parseHostPort(metrics))
        dm.metrics = *hp;
      else
        err(d_.pos.key("daemon.metrics"),
            "daemon.metrics: " + quoted(metrics) + " is not HOST:PORT (e.g. \"127.0.0.1:9387\")");
    }
    getBool(*t, "offline_on_shutdown", "daemon.offline_on_shutdown", dm.offlineOnShutdown);

    if (const toml::node* n = node(*t, "hook", "daemon.hook")) {
      const auto* arr = n->as_array();
      if (arr == nullptr) {
        typeError("daemon.hook", *n, "an array of tables ([[daemon.hook]])");
        return;
      }
      std::size_t i = 0;
      for (auto&& e : *arr) {
        ++i;
        const std::string path = "daemon.hook[" + std::to_string(i) + "]";
        const auto* ht = e.as_table();
        if (ht == nullptr) {
          typeError(path, e, "a table ([[daemon.hook]])");
          continue;
        }
        d_.pos.tables[path] = at(ht->source());
        checkKeys(*ht, "in [[daemon.hook]]", {"argv", "timeout"});
        Hook h;
        getStrings(*ht, "argv", path + ".argv", h.argv);
        getDuration(*ht, "timeout", path + ".timeout", h.timeout);
        dm.hooks.push_back(std::move(h));
      }
    }
  }

  Draft& d_;
  const std::string& file_;
};

/// The text of 1-based line `n`.
std::string_view lineOf(std::string_view text, std::size_t n) {
  std::size_t start = 0;
  for (std::size_t i = 1; i < n; ++i) {
    auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) return {};
    start = nl + 1;
  }
  auto end = text.find('\n', start);
  return text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

/// Where a string that is never closed was opened, and with which delimiter.
struct OpenString {
  SourcePos pos;
  std::string_view delimiter;
};

/// The first string in `text` that is never closed, if any. toml++ reports such a string
/// where it gave up (for """ and ''' the end of the file), but the admin has to edit where
/// it was opened. This only follows quotes, escapes and comments to find that place; toml++
/// alone decides what is valid TOML. Columns count characters, as toml++'s do.
std::optional<OpenString> firstUnterminatedString(std::string_view text) {
  int line = 1, col = 1;
  std::size_t i = 0;
  auto advance = [&](std::size_t n) {
    for (; n > 0 && i < text.size(); --n, ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c == '\n') {
        ++line, col = 1;
      } else if ((c & 0xC0U) != 0x80U) {  // a UTF-8 continuation byte is no new column
        ++col;
      }
    }
  };
  auto startsWith = [&](std::string_view s) { return text.substr(i, s.size()) == s; };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') advance(1);
      continue;
    }
    if (c != '"' && c != '\'') {
      advance(1);
      continue;
    }
    const bool basic = c == '"';
    const std::string_view delimiter =
        basic ? (startsWith("\"\"\"") ? "\"\"\"" : "\"") : (startsWith("'''") ? "'''" : "'");
    const bool multiLine = delimiter.size() == 3;
    const OpenString opened{{line, col}, delimiter};
    advance(delimiter.size());
    for (;;) {
      if (i >= text.size() || (!multiLine && text[i] == '\n')) return opened;
      if (basic && text[i] == '\\') {
        advance(2);
      } else if (startsWith(delimiter)) {
        advance(delimiter.size());
        // A multi-line string may end in up to two quotes of its own before the delimiter.
        for (int extra = 0; multiLine && extra < 2 && i < text.size() && text[i] == c; ++extra) advance(1);
        break;
      } else {
        advance(1);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

Draft parseDraft(std::string_view text, const std::string& fileName) {
  Draft d;
  d.policy.sourceFile = fileName;
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(fileName));
  } catch (const toml::parse_error& e) {
    std::string desc(e.description());
    SourcePos where = at(e.source());
    // A string left open: point at its opening quote, not where toml++ ran out of text.
    if (desc.find("string") != std::string::npos) {
      const auto open = firstUnterminatedString(text);
      if (open && std::pair(open->pos.line, open->pos.column) <= std::pair(where.line, where.column)) {
        where = open->pos;
        desc = "the string opened here with " + std::string(open->delimiter) +
               (open->delimiter.size() == 3 ? " is never closed" : " is not closed on its line");
      }
    }
    // toml++ quotes the character it stopped at; on a password line that is part of the secret.
    std::string_view line = lineOf(text, e.source().begin.line);
    if (line.substr(0, line.find('=')).find("password") != std::string_view::npos)
      desc = std::regex_replace(desc, std::regex("'[^']*'"), "(hidden: secret value)");
    report(d.diagnostics, fileName, where, Severity::Error, "TOML syntax: " + desc);
    return d;
  }
  d.syntaxOk = true;
  Parser parser(d, fileName);
  parser.parse(root);
  return d;
}

std::string shortened(std::string_view value) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if ((static_cast<unsigned char>(value[i]) & 0xC0U) == 0x80U) continue;  // inside a character
    if (chars++ == kShownValueChars) return std::string(value.substr(0, i)) + "\u2026";
  }
  return std::string(value);
}

std::string quoted(std::string_view value) {
  return "\"" + shortened(value) + "\"";
}

}  // namespace dynmx::policy_detail
