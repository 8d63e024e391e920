#include "dynmx/status/json.hpp"

#include <limits>

namespace dynmx::status {
namespace {

using nlohmann::json;

json timeOrNull(const std::optional<TimePoint>& t) { return t ? json(formatTime(*t)) : json(nullptr); }
json stringOrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json reasonsJson(const std::vector<Reason>& reasons) {
  json out = json::array();
  for (const auto& r : reasons) out.push_back({{"code", r.code}, {"text", r.text}, {"since", timeOrNull(r.since)}});
  return out;
}

// The loader: every getter checks the JSON type and names the key path on error. Missing
// keys and nulls keep the default, so older and newer files still load.
class Reader {
 public:
  explicit Reader(std::string& error) : error_(error) {}

  bool object(const json& v, const std::string& path) {
    if (v.is_object()) return true;
    return bad(path, "expected an object");
  }

  const json* member(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  bool str(const json& obj, const char* key, const std::string& path, std::string& out) {
    const json* v = member(obj, key);
    if (!v) return true;
    if (!v->is_string()) return bad(path + key, "expected a string");
    out = v->get<std::string>();
    return true;
  }

  bool boolean(const json& obj, const char* key, const std::string& path, bool& out) {
    const json* v = member(obj, key);
    if (!v) return true;
    if (!v->is_boolean()) return bad(path + key, "expected true or false");
    out = v->get<bool>();
    return true;
  }

  template <typename Int>
  bool integer(const json& obj, const char* key, const std::string& path, Int& out) {
    const json* v = member(obj, key);
    if (!v) return true;
    return integerValue(*v, path + key, out);
  }

  bool seconds(const json& obj, const char* key, const std::string& path, Duration& out) {
    std::int64_t s = out.count();
    if (!integer(obj, key, path, s)) return false;
    if (s < 0) return bad(path + key, "expected seconds, 0 or more");
    out = Duration{s};
    return true;
  }

  template <typename Int>
  bool integerValue(const json& v, const std::string& path, Int& out) {
    if (v.is_number_unsigned()) {
      auto u = v.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) return bad(path, "integer out of range");
      out = static_cast<Int>(u);
      return true;
    }
    if (v.is_number_integer()) {
      auto i = v.get<std::int64_t>();
      if (i < static_cast<std::int64_t>(std::numeric_limits<Int>::min()) ||
          i > static_cast<std::int64_t>(std::numeric_limits<Int>::max()))
        return bad(path, "integer out of range");
      out = static_cast<Int>(i);
      return true;
    }
    return bad(path, "expected an integer");
  }

  template <typename Int>
  bool optInteger(const json& obj, const char* key, const std::string& path, std::optional<Int>& out) {
    const json* v = member(obj, key);
    if (!v) {
      out.reset();
      return true;
    }
    Int x{};
    if (!integerValue(*v, path + key, x)) return false;
    out = x;
    return true;
  }

  bool time(const json& obj, const char* key, const std::string& path, std::optional<TimePoint>& out) {
    const json* v = member(obj, key);
    if (!v) {
      out.reset();
      return true;
    }
    if (!v->is_string()) return bad(path + key, "expected an RFC 3339 time string");
    auto t = parseTime(v->get_ref<const std::string&>());
    if (!t) return bad(path + key, "expected an RFC 3339 time like 2026-11-23T10:00:00Z");
    out = t;
    return true;
  }

  bool requiredTime(const json& obj, const char* key, const std::string& path, TimePoint& out) {
    std::optional<TimePoint> t;
    if (!time(obj, key, path, t)) return false;
    if (!t) return bad(path + key, "missing");
    out = *t;
    return true;
  }

  bool strings(const json& obj, const char* key, const std::string& path, std::vector<std::string>& out) {
    const json* v = member(obj, key);
    if (!v) return true;
    if (!v->is_array()) return bad(path + key, "expected an array of strings");
    out.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& e = (*v)[i];
      if (!e.is_string()) return bad(path + key + "[" + std::to_string(i) + "]", "expected a string");
      out.push_back(e.get<std::string>());
    }
    return true;
  }

  bool reasons(const json& obj, const char* key, const std::string& path, std::vector<Reason>& out) {
    const json* v = member(obj, key);
    if (!v) return true;
    if (!v->is_array()) return bad(path + key, "expected an array");
    out.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const std::string p = path + key + "[" + std::to_string(i) + "].";
      const json& e = (*v)[i];
      if (!object(e, p.substr(0, p.size() - 1))) return false;
      Reason r;
      if (!str(e, "code", p, r.code) || !str(e, "text", p, r.text) || !time(e, "since", p, r.since)) return false;
      out.push_back(std::move(r));
    }
    return true;
  }

  bool bad(const std::string& path, const std::string& what) {
    if (error_.empty()) error_ = path + ": " + what;
    return false;
  }

 private:
  std::string& error_;
};

bool readDaemon(Reader& rd, const json& v, DaemonInfo& d) {
  const std::string p = "daemon.";
  return rd.object(v, "daemon") && rd.boolean(v, "running", p, d.running) && rd.integer(v, "pid", p, d.pid) &&
         rd.time(v, "since", p, d.since) && rd.str(v, "policy", p, d.policyFile) &&
         rd.strings(v, "policy_errors", p, d.policyErrors) && rd.str(v, "state_error", p, d.stateError) &&
         rd.str(v, "version", p, d.version) && rd.strings(v, "restart_needed", p, d.restartNeeded) &&
         rd.time(v, "stopped_at", p, d.stoppedAt) && rd.time(v, "state_written_at", p, d.stateWrittenAt);
}

bool readMode(Reader& rd, const json& v, ModeInfo& m) {
  const std::string p = "mode.";
  return rd.object(v, "mode") && rd.str(v, "current", p, m.current) && rd.str(v, "wanted", p, m.wanted) &&
         rd.time(v, "since", p, m.since) && rd.str(v, "policy", p, m.policy) && rd.reasons(v, "reasons", p, m.reasons) &&
         rd.time(v, "review_at", p, m.reviewAt) && rd.boolean(v, "switching", p, m.switching) &&
         rd.str(v, "step", p, m.step) && rd.time(v, "step_since", p, m.stepSince) &&
         rd.time(v, "step_until", p, m.stepUntil) && rd.boolean(v, "multidrop_active", p, m.multidropActive);
}

bool readLink(Reader& rd, const json& v, LinkInfo& l) {
  const std::string p = "link.";
  return rd.object(v, "link") && rd.str(v, "type", p, l.type) && rd.str(v, "interface", p, l.interface) &&
         rd.boolean(v, "up", p, l.up) && rd.time(v, "since", p, l.since);
}

bool readHosts(Reader& rd, const json& v, std::vector<DdnsHostInfo>& hosts) {
  if (!v.is_array()) return rd.bad("ddns", "expected an array of hosts");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string p = "ddns[" + std::to_string(i) + "].";
    const json& e = v[i];
    DdnsHostInfo h;
    if (!rd.object(e, p.substr(0, p.size() - 1)) || !rd.str(e, "host", p, h.host) ||
        !rd.str(e, "account", p, h.account) || !rd.str(e, "provider", p, h.provider) ||
        !rd.str(e, "address", p, h.address) || !rd.boolean(e, "verified", p, h.verified) ||
        !rd.str(e, "verification", p, h.verification) || !rd.str(e, "last_result", p, h.lastResult) ||
        !rd.time(e, "last_update", p, h.lastUpdate) || !rd.time(e, "retry_after", p, h.retryAfter) ||
        !rd.str(e, "fatal", p, h.fatal) || !rd.str(e, "last_error", p, h.lastError) ||
        !rd.str(e, "condition", p, h.condition) || !rd.boolean(e, "withdrawn", p, h.withdrawn))
      return false;
    hosts.push_back(std::move(h));
  }
  return true;
}

bool readDdnsHealth(Reader& rd, const json& v, DdnsInfo& d) {
  const std::string p = "ddns_health.";
  return rd.object(v, "ddns_health") && rd.str(v, "state", p, d.health) && rd.str(v, "code", p, d.code) &&
         rd.str(v, "text", p, d.text) && rd.time(v, "since", p, d.since) &&
         rd.str(v, "public_address", p, d.publicAddress) && rd.str(v, "nat_note", p, d.natNote) &&
         rd.str(v, "intent", p, d.intent) && rd.boolean(v, "intent_met", p, d.intentMet) &&
         rd.seconds(v, "withdrawal_cache_ttl", p, d.withdrawalCacheTtl);
}

bool readFetchmail(Reader& rd, const json& v, FetchmailInfo& f) {
  const std::string p = "fetchmail.";
  return rd.object(v, "fetchmail") && rd.boolean(v, "wanted", p, f.wanted) && rd.boolean(v, "running", p, f.running) &&
         rd.integer(v, "pid", p, f.pid) && rd.time(v, "last_poll", p, f.lastPoll) &&
         rd.optInteger(v, "last_exit", p, f.lastExit) && rd.str(v, "last_error", p, f.lastError) &&
         rd.integer(v, "restarts", p, f.restarts) && rd.integer(v, "polls", p, f.polls) &&
         rd.integer(v, "poll_errors", p, f.pollErrors) && rd.optInteger(v, "messages_waiting", p, f.messagesWaiting);
}

bool readSweep(Reader& rd, const json& v, SweepInfo& s) {
  const std::string p = "sweep.";
  return rd.object(v, "sweep") && rd.seconds(v, "interval", p, s.interval) && rd.time(v, "last", p, s.last) &&
         rd.boolean(v, "last_ok", p, s.lastOk) && rd.str(v, "last_detail", p, s.lastDetail) &&
         rd.time(v, "next", p, s.next) && rd.integer(v, "failures", p, s.failures);
}

bool readGuard(Reader& rd, const json& v, GuardInfo& g) {
  const std::string p = "guard.";
  if (!(rd.object(v, "guard") && rd.boolean(v, "enabled", p, g.enabled) && rd.boolean(v, "listening", p, g.listening) &&
        rd.str(v, "socket", p, g.socket) && rd.integer(v, "fetched", p, g.fetched) &&
        rd.integer(v, "delivered", p, g.delivered) && rd.integer(v, "postmaster", p, g.postmaster) &&
        rd.integer(v, "duplicates", p, g.duplicates) && rd.integer(v, "deferred", p, g.deferred) &&
        rd.integer(v, "discarded", p, g.discarded) && rd.integer(v, "no_envelope", p, g.noEnvelope) &&
        rd.str(v, "summary", p, g.summary) && rd.str(v, "warning", p, g.warning) &&
        rd.str(v, "last_error", p, g.lastError)))
    return false;
  if (const json* reasons = rd.member(v, "postmaster_reasons")) {
    if (!rd.object(*reasons, p + "postmaster_reasons")) return false;
    for (const auto& [code, n] : reasons->items()) {
      long count = 0;
      if (!rd.integerValue(n, p + "postmaster_reasons." + code, count)) return false;
      g.postmasterReasons[code] = count;
    }
  }
  return true;
}

bool readSwitches(Reader& rd, const json& v, std::vector<SwitchRecord>& out) {
  if (!v.is_array()) return rd.bad("switches", "expected an array");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string p = "switches[" + std::to_string(i) + "].";
    const json& e = v[i];
    SwitchRecord s;
    if (!rd.object(e, p.substr(0, p.size() - 1)) || !rd.requiredTime(e, "at", p, s.at) || !rd.str(e, "from", p, s.from) ||
        !rd.str(e, "to", p, s.to) || !rd.strings(e, "reasons", p, s.reasons) || !rd.str(e, "detail", p, s.detail))
      return false;
    out.push_back(std::move(s));
  }
  return true;
}

bool readMx(Reader& rd, const json& v, std::vector<MxInfo>& out) {
  if (!v.is_array()) return rd.bad("mx", "expected an array");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string p = "mx[" + std::to_string(i) + "].";
    const json& e = v[i];
    MxInfo m;
    if (!rd.object(e, p.substr(0, p.size() - 1)) || !rd.str(e, "domain", p, m.domain) ||
        !rd.str(e, "lever", p, m.lever) || !rd.str(e, "wanted", p, m.wanted) ||
        !rd.strings(e, "records", p, m.records) || !rd.str(e, "state", p, m.state) ||
        !rd.boolean(e, "verified", p, m.verified) || !rd.time(e, "published_at", p, m.publishedAt) ||
        !rd.time(e, "verified_at", p, m.verifiedAt) || !rd.str(e, "detail", p, m.detail))
      return false;
    out.push_back(std::move(m));
  }
  return true;
}

bool readExposure(Reader& rd, const json& v, ExposureInfo& x) {
  const std::string p = "exposure.";
  return rd.object(v, "exposure") && rd.boolean(v, "exposed", p, x.exposed) && rd.str(v, "text", p, x.text) &&
         rd.time(v, "direct_mx_until", p, x.directMxUntil);
}

bool readSteps(Reader& rd, const json& v, std::vector<StepRecord>& out) {
  if (!v.is_array()) return rd.bad("steps", "expected an array");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string p = "steps[" + std::to_string(i) + "].";
    const json& e = v[i];
    StepRecord s;
    if (!rd.object(e, p.substr(0, p.size() - 1)) || !rd.requiredTime(e, "at", p, s.at) ||
        !rd.str(e, "step", p, s.step) || !rd.str(e, "detail", p, s.detail))
      return false;
    out.push_back(std::move(s));
  }
  return true;
}

bool readHooks(Reader& rd, const json& v, std::vector<HookRecord>& out) {
  if (!v.is_array()) return rd.bad("hooks", "expected an array");
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string p = "hooks[" + std::to_string(i) + "].";
    const json& e = v[i];
    HookRecord h;
    if (!rd.object(e, p.substr(0, p.size() - 1)) || !rd.requiredTime(e, "at", p, h.at) ||
        !rd.str(e, "argv0", p, h.argv0) || !rd.str(e, "mode", p, h.mode) || !rd.boolean(e, "ok", p, h.ok) ||
        !rd.str(e, "error", p, h.error))
      return false;
    out.push_back(std::move(h));
  }
  return true;
}

}  // namespace

const char* toString(Health h) {
  switch (h) {
    case Health::Ok: return "ok";
    case Health::Warning: return "warning";
    case Health::Critical: return "critical";
    case Health::Unknown: return "unknown";
  }
  return "unknown";
}

std::optional<Health> parseHealth(std::string_view text) {
  if (text == "ok") return Health::Ok;
  if (text == "warning") return Health::Warning;
  if (text == "critical") return Health::Critical;
  if (text == "unknown") return Health::Unknown;
  return std::nullopt;
}

nlohmann::json toJson(const Report& r) {
  json out = json::object();
  out["daemon"] = {{"running", r.daemon.running},
                   {"pid", r.daemon.pid},
                   {"since", timeOrNull(r.daemon.since)},
                   {"stopped_at", timeOrNull(r.daemon.stoppedAt)},
                   {"state_written_at", timeOrNull(r.daemon.stateWrittenAt)},
                   {"policy", r.daemon.policyFile},
                   {"policy_errors", r.daemon.policyErrors},
                   {"state_error", stringOrNull(r.daemon.stateError)},
                   {"version", r.daemon.version}};
  // Only when a reload changed keys a restart applies: the usual shape stays as it was.
  if (!r.daemon.restartNeeded.empty()) out["daemon"]["restart_needed"] = r.daemon.restartNeeded;
  out["mode"] = {{"current", r.mode.current},   {"wanted", r.mode.wanted},
                 {"since", timeOrNull(r.mode.since)}, {"policy", r.mode.policy},
                 {"reasons", reasonsJson(r.mode.reasons)}, {"review_at", timeOrNull(r.mode.reviewAt)},
                 {"switching", r.mode.switching}, {"step", stringOrNull(r.mode.step)},
                 {"step_since", timeOrNull(r.mode.stepSince)}, {"step_until", timeOrNull(r.mode.stepUntil)},
                 {"multidrop_active", r.mode.multidropActive}};
  out["link"] = {{"type", r.link.type},
                 {"interface", r.link.interface},
                 {"up", r.link.up},
                 {"since", timeOrNull(r.link.since)}};
  json hosts = json::array();
  for (const auto& h : r.ddns.hosts) {
    hosts.push_back({{"host", h.host},
                     {"account", h.account},
                     {"provider", h.provider},
                     {"address", h.address},
                     {"verified", h.verified},
                     {"verification", h.verification},
                     {"last_result", h.lastResult},
                     {"last_update", timeOrNull(h.lastUpdate)},
                     {"retry_after", timeOrNull(h.retryAfter)},
                     {"fatal", stringOrNull(h.fatal)},
                     {"last_error", stringOrNull(h.lastError)},
                     {"condition", stringOrNull(h.condition)},
                     {"withdrawn", h.withdrawn}});
  }
  out["ddns"] = std::move(hosts);
  out["ddns_health"] = {{"state", r.ddns.health},
                        {"code", stringOrNull(r.ddns.code)},
                        {"text", stringOrNull(r.ddns.text)},
                        {"since", timeOrNull(r.ddns.since)},
                        {"public_address", stringOrNull(r.ddns.publicAddress)},
                        {"nat_note", stringOrNull(r.ddns.natNote)},
                        {"intent", r.ddns.intent},
                        {"intent_met", r.ddns.intentMet},
                        {"withdrawal_cache_ttl", r.ddns.withdrawalCacheTtl.count()}};
  const auto& f = r.fetchmail;
  out["fetchmail"] = {{"wanted", f.wanted},
                      {"running", f.running},
                      {"pid", f.pid},
                      {"last_poll", timeOrNull(f.lastPoll)},
                      {"last_exit", f.lastExit ? json(*f.lastExit) : json(nullptr)},
                      {"last_exit_meaning", f.lastExit ? json(exitMeaningText(*f.lastExit)) : json(nullptr)},
                      {"last_error", stringOrNull(f.lastError)},
                      {"restarts", f.restarts},
                      {"polls", f.polls},
                      {"poll_errors", f.pollErrors},
                      {"messages_waiting", f.messagesWaiting ? json(*f.messagesWaiting) : json(nullptr)}};
  out["sweep"] = {{"interval", r.sweep.interval.count()},
                  {"last", timeOrNull(r.sweep.last)},
                  {"last_ok", r.sweep.lastOk},
                  {"last_detail", stringOrNull(r.sweep.lastDetail)},
                  {"next", timeOrNull(r.sweep.next)},
                  {"failures", r.sweep.failures}};
  const auto& g = r.guard;
  out["guard"] = {{"enabled", g.enabled},
                  {"listening", g.listening},
                  {"socket", stringOrNull(g.socket)},
                  {"fetched", g.fetched},
                  {"delivered", g.delivered},
                  {"postmaster", g.postmaster},
                  {"postmaster_reasons", json(g.postmasterReasons)},
                  {"duplicates", g.duplicates},
                  {"deferred", g.deferred},
                  {"discarded", g.discarded},
                  {"no_envelope", g.noEnvelope},
                  {"summary", stringOrNull(g.summary)},
                  {"warning", stringOrNull(g.warning)},
                  {"last_error", stringOrNull(g.lastError)}};
  json switches = json::array();
  for (const auto& s : r.switches)
    switches.push_back(
        {{"at", formatTime(s.at)}, {"from", s.from}, {"to", s.to}, {"reasons", s.reasons}, {"detail", s.detail}});
  out["switches"] = std::move(switches);
  json hooks = json::array();
  for (const auto& h : r.hooks)
    hooks.push_back({{"at", formatTime(h.at)}, {"argv0", h.argv0}, {"mode", h.mode}, {"ok", h.ok},
                     {"error", stringOrNull(h.error)}});
  out["hooks"] = std::move(hooks);
  json mx = json::array();
  for (const auto& m : r.mx)
    mx.push_back({{"domain", m.domain},
                  {"lever", m.lever},
                  {"wanted", m.wanted},
                  {"records", m.records},
                  {"state", m.state},
                  {"verified", m.verified},
                  {"published_at", timeOrNull(m.publishedAt)},
                  {"verified_at", timeOrNull(m.verifiedAt)},
                  {"detail", stringOrNull(m.detail)}});
  out["mx"] = std::move(mx);
  out["exposure"] = {{"exposed", r.exposure.exposed},
                     {"text", stringOrNull(r.exposure.text)},
                     {"direct_mx_until", timeOrNull(r.exposure.directMxUntil)}};
  json steps = json::array();
  for (const auto& st : r.steps)
    steps.push_back({{"at", formatTime(st.at)}, {"step", st.step}, {"detail", st.detail}});
  out["steps"] = std::move(steps);
  out["health"] = toString(r.health);
  out["health_reasons"] = reasonsJson(r.healthReasons);
  return out;
}

Result<Report> reportFromJson(const nlohmann::json& v) {
  std::string error;
  Reader rd(error);
  Report r;
  if (!v.is_object()) return fail(std::string("status: expected a JSON object"));
  bool ok = true;
  if (const json* d = rd.member(v, "daemon")) ok = ok && readDaemon(rd, *d, r.daemon);
  if (const json* m = rd.member(v, "mode")) ok = ok && readMode(rd, *m, r.mode);
  if (const json* l = rd.member(v, "link")) ok = ok && readLink(rd, *l, r.link);
  if (const json* h = rd.member(v, "ddns")) ok = ok && readHosts(rd, *h, r.ddns.hosts);
  if (const json* h = rd.member(v, "ddns_health")) ok = ok && readDdnsHealth(rd, *h, r.ddns);
  if (const json* f = rd.member(v, "fetchmail")) ok = ok && readFetchmail(rd, *f, r.fetchmail);
  if (const json* s = rd.member(v, "sweep")) ok = ok && readSweep(rd, *s, r.sweep);
  if (const json* g = rd.member(v, "guard")) ok = ok && readGuard(rd, *g, r.guard);
  if (const json* s = rd.member(v, "switches")) ok = ok && readSwitches(rd, *s, r.switches);
  if (const json* h = rd.member(v, "hooks")) ok = ok && readHooks(rd, *h, r.hooks);
  if (const json* m = rd.member(v, "mx")) ok = ok && readMx(rd, *m, r.mx);
  if (const json* x = rd.member(v, "exposure")) ok = ok && readExposure(rd, *x, r.exposure);
  if (const json* s = rd.member(v, "steps")) ok = ok && readSteps(rd, *s, r.steps);
  if (ok) {
    std::string health = "unknown";
    ok = rd.str(v, "health", "", health);
    if (ok) {
      auto h = parseHealth(health);
      if (!h) ok = rd.bad("health", "expected ok, warning, critical or unknown");
      else r.health = *h;
    }
  }
  ok = ok && rd.reasons(v, "health_reasons", "", r.healthReasons);
  if (!ok) return fail(std::move(error));
  return r;
}

std::string dumpJson(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

Result<Report> reportFromJson(std::string_view text) {
  json v = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return fail(std::string("status: not valid JSON"));
  return reportFromJson(v);
}

}  // namespace dynmx::status
