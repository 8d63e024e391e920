#include "dynmx/ddns/state.hpp"

#include <nlohmann/json.hpp>

namespace dynmx::ddns {

namespace {

using nlohmann::json;

json timeOrNull(const std::optional<TimePoint>& t) {
  return t ? json(formatTime(*t)) : json(nullptr);
}

// Field readers: each returns false with a message instead of throwing on a wrong type.
struct Reader {
  const json& obj;
  std::string where;
  std::string error;

  bool str(const char* key, std::string& out, bool required = true) {
    const auto it = obj.find(key);
    if (it == obj.end()) return !required || bad(key, "is missing");
    if (!it->is_string()) return bad(key, "must be a string");
    out = it->get<std::string>();
    return true;
  }
  bool time(const char* key, std::optional<TimePoint>& out) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return true;
    if (!it->is_string()) return bad(key, "must be a time string or null");
    out = parseTime(it->get<std::string>());
    return out || bad(key, "is not an RFC 3339 UTC time");
  }
  bool integer(const char* key, int& out) {
    const auto it = obj.find(key);
    if (it == obj.end()) return true;
    if (!it->is_number_integer()) return bad(key, "must be an integer");
    const auto v = it->get<long long>();
    if (v < 0 || v > 1'000'000) return bad(key, "is out of range");
    out = static_cast<int>(v);
    return true;
  }
  bool boolean(const char* key, bool& out) {
    const auto it = obj.find(key);
    if (it == obj.end()) return true;
    if (!it->is_boolean()) return bad(key, "must be true or false");
    out = it->get<bool>();
    return true;
  }
  bool bad(const char* key, const char* what) {
    error = where + "." + key + " " + what;
    return false;
  }
};

}  // namespace

const HostState* StateStore::find(const std::string& account, const std::string& host) const {
  const auto it = hosts.find({account, host});
  return it == hosts.end() ? nullptr : &it->second;
}

HostState StateStore::get(const std::string& account, const std::string& host) const {
  if (const auto* s = find(account, host)) return *s;
  HostState fresh;
  fresh.account = account;
  fresh.host = host;
  return fresh;
}

void StateStore::put(HostState state) {
  auto key = std::make_pair(state.account, state.host);
  hosts.insert_or_assign(std::move(key), std::move(state));
}

std::string toJson(const StateStore& store) {
  json accounts = json::object();
  for (const auto& [key, s] : store.hosts) {
    json h = {
        {"last_address_sent", s.lastAddressSent},
        {"confirmed_address", s.confirmedAddress},
        {"last_result", s.lastResult ? json(toString(*s.lastResult)) : json(nullptr)},
        {"last_attempt", timeOrNull(s.lastAttempt)},
        {"last_success", timeOrNull(s.lastSuccess)},
        {"retry_not_before", timeOrNull(s.retryNotBefore)},
        {"failing_since", timeOrNull(s.failingSince)},
        {"fatal_reason", s.fatalReason.empty() ? json(nullptr) : json(s.fatalReason)},
        {"config_fingerprint", s.configFingerprint},
        {"consecutive_failures", s.consecutiveFailures},
        {"unexpected_nochg", s.unexpectedNochg},
        {"offline", s.offline},
        {"offline_refused", s.offlineRefused},
    };
    // A tag of the password (never the password): lets a new password lift a ban.
    if (!s.secretTag.empty()) h["secret_tag"] = s.secretTag;
    // Written only when there is something to say: older readers and files stay as they were.
    if (s.confirmedMx) h["confirmed_mx"] = {{"mx", s.confirmedMx->mx}, {"backmx", s.confirmedMx->backmx}};
    if (s.mxRefused) h["mx_refused"] = true;
    accounts[key.first][key.second] = std::move(h);
  }
  json doc = {{"version", kStateVersion}, {"accounts", std::move(accounts)}};
  if (store.anchor)
    doc["clock_anchor"] = {{"boot_id", store.anchor->bootId},
                           {"wall", formatTime(store.anchor->wall)},
                           {"boot_seconds", store.anchor->bootSeconds}};
  // Replace invalid UTF-8 rather than throw: provider text may end up in fatal_reason.
  return doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<StateStore> parseState(std::string_view text) {
  const json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(std::string("state: not valid JSON"));
  if (!doc.is_object()) return fail(std::string("state: top level must be an object"));
  const auto v = doc.find("version");
  if (v == doc.end() || !v->is_number_integer())
    return fail(std::string("state: version is missing or not an integer"));
  if (v->get<long long>() != kStateVersion)
    return fail("state: unsupported version " + v->dump() + " (this dynmx reads " +
                std::to_string(kStateVersion) + ")");
  const auto accounts = doc.find("accounts");
  if (accounts == doc.end() || !accounts->is_object())
    return fail(std::string("state: accounts is missing or not an object"));

  StateStore store;
  if (const auto a = doc.find("clock_anchor"); a != doc.end() && !a->is_null()) {
    if (!a->is_object()) return fail(std::string("state: clock_anchor must be an object"));
    ClockAnchor anchor;
    std::optional<TimePoint> wall;
    Reader r{*a, "state: clock_anchor", {}};
    if (!r.str("boot_id", anchor.bootId) || !r.time("wall", wall)) return fail(r.error);
    const auto b = a->find("boot_seconds");
    if (!wall || b == a->end() || !b->is_number_integer() || b->get<long long>() < 0)
      return fail(std::string("state: clock_anchor needs wall and a non-negative integer boot_seconds"));
    anchor.wall = *wall;
    anchor.bootSeconds = b->get<std::int64_t>();
    store.anchor = std::move(anchor);
  }
  for (const auto& [account, hosts] : accounts->items()) {
    if (!hosts.is_object()) return fail("state: accounts." + account + " must be an object");
    for (const auto& [host, rec] : hosts.items()) {
      const std::string where = "state: accounts." + account + "." + host;
      if (!rec.is_object()) return fail(where + " must be an object");
      HostState s;
      s.account = account;
      s.host = host;
      Reader r{rec, where, {}};
      const auto lr = rec.find("last_result");
      if (lr != rec.end() && !lr->is_null()) {
        if (!lr->is_string()) return fail(where + ".last_result must be a string or null");
        s.lastResult = parseResultCode(lr->get<std::string>());
        if (!s.lastResult) return fail(where + ".last_result is not a known result code");
      }
      const auto fr = rec.find("fatal_reason");
      if (fr != rec.end() && !fr->is_null()) {
        if (!fr->is_string()) return fail(where + ".fatal_reason must be a string or null");
        s.fatalReason = fr->get<std::string>();
      }
      const bool ok = r.str("last_address_sent", s.lastAddressSent, false) &&
                      r.str("confirmed_address", s.confirmedAddress, false) &&
                      r.time("last_attempt", s.lastAttempt) &&
                      r.time("last_success", s.lastSuccess) &&
                      r.time("retry_not_before", s.retryNotBefore) &&
                      r.time("failing_since", s.failingSince) &&
                      r.str("config_fingerprint", s.configFingerprint) &&
                      r.str("secret_tag", s.secretTag, false) &&
                      r.integer("consecutive_failures", s.consecutiveFailures) &&
                      r.integer("unexpected_nochg", s.unexpectedNochg) &&
                      r.boolean("offline", s.offline) &&
                      r.boolean("offline_refused", s.offlineRefused) &&
                      r.boolean("mx_refused", s.mxRefused);
      if (!ok) return fail(r.error);
      if (const auto cm = rec.find("confirmed_mx"); cm != rec.end() && !cm->is_null()) {
        MxSetting mx;
        Reader m{*cm, where + ".confirmed_mx", {}};
        if (!cm->is_object() || !m.str("mx", mx.mx) || !m.boolean("backmx", mx.backmx) || mx.mx.empty())
          return fail(where + ".confirmed_mx must be an object with a non-empty mx and a boolean backmx");
        s.confirmedMx = std::move(mx);
      }
      for (const std::string* a : {&s.lastAddressSent, &s.confirmedAddress})
        if (!a->empty() && !parseAddressSet(*a))
          return fail(where + " holds a malformed address \"" + *a + "\"");
      store.put(std::move(s));
    }
  }
  return store;
}

}  // namespace dynmx::ddns
