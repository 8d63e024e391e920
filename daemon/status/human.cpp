#include "dynmx/status/human.hpp"

#include <algorithm>
#include <sstream>

namespace dynmx::status {
namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return s;
}

std::string timeOr(const std::optional<TimePoint>& t, const char* none) { return t ? formatTime(*t) : none; }

// "2026-11-23T10:00:00Z (2h13m ago)" style, relative to now.
std::string sinceText(const std::optional<TimePoint>& t, TimePoint now) {
  if (!t) return "unknown";
  std::string out = formatTime(*t);
  if (*t <= now) out += ", for " + formatDuration(now - *t);
  return out;
}

std::string pad(const std::string& s, std::size_t width) {
  return s.size() >= width ? s + "  " : s + std::string(width - s.size() + 2, ' ');
}

const Reason* headline(const Report& r) {
  // A daemon that is not running is the news, whatever else the last state says.
  for (const auto& reason : r.healthReasons)
    if (reason.code == "daemon.not_running") return &reason;
  if (!r.healthReasons.empty()) return &r.healthReasons.front();
  if (!r.mode.reasons.empty()) return &r.mode.reasons.front();
  return nullptr;
}

}  // namespace

std::string summaryLine(const Report& r) {
  if (r.mode.current != "direct" && r.mode.current != "multidrop") {
    std::string line = "dynmx: " + upper(toString(r.health)) + ": mail mode unknown";
    if (!r.healthReasons.empty()) line += " (" + r.healthReasons.front().text + ")";
    return line;
  }
  std::string line = "dynmx: " + upper(toString(r.health)) + ": mail via " + r.mode.current;
  if (r.mode.since) line += " since " + formatTime(*r.mode.since);
  if (const Reason* reason = headline(r)) line += " (" + reason->code + ": " + reason->text + ")";
  return line;
}

std::string renderHuman(const Report& r, TimePoint now) {
  std::ostringstream out;
  out << summaryLine(r) << '\n';
  // Nothing known at all (no daemon, no state): defaults would only mislead.
  if (!r.daemon.running && r.mode.current != "direct" && r.mode.current != "multidrop") {
    for (const auto& reason : r.healthReasons)
      if (reason.code == "daemon.not_running") out << reason.text << '\n';
    return out.str();
  }
  out << '\n';

  out << "mode:       " << r.mode.current << " since " << sinceText(r.mode.since, now) << '\n';
  out << "policy:     " << r.mode.policy;
  if (r.mode.wanted != r.mode.current) out << "; switching to " << r.mode.wanted;
  else if (r.mode.switching) out << "; a switch is in progress";
  out << '\n';
  if (!r.mode.reasons.empty()) {
    // A live report's texts are as of this moment; a state file's as of its writing.
    if (!r.daemon.running && r.daemon.stateWrittenAt)
      out << "why (as of " << formatTime(*r.daemon.stateWrittenAt) << ", the last state written):\n";
    else
      out << "why:\n";
    for (const auto& reason : r.mode.reasons) out << "  - " << reason.code << ": " << reason.text << '\n';
  }
  if (r.mode.reviewAt) out << "review at:  " << formatTime(*r.mode.reviewAt) << '\n';
  if (!r.mode.step.empty()) {
    out << "returning:  step " << r.mode.step << " since " << sinceText(r.mode.stepSince, now);
    if (r.mode.stepUntil) out << ", until " << formatTime(*r.mode.stepUntil);
    out << '\n';
  }
  if (r.mode.current == "multidrop" && !r.mx.empty())
    out << "multidrop:  " << (r.mode.multidropActive ? "active (rc installed, fetchmail running, MX withdrawal verified)"
                                                     : "not fully active") << '\n';
  if (r.exposure.exposed) out << "exposure:   " << r.exposure.text << '\n';
  if (r.exposure.directMxUntil)
    out << "exposure:   senders may still use the direct MX until " << formatTime(*r.exposure.directMxUntil)
        << " (TTL of the last published set)\n";

  out << "health:     " << upper(toString(r.health)) << '\n';
  for (const auto& reason : r.healthReasons) out << "  - " << reason.code << ": " << reason.text << '\n';

  out << "daemon:     ";
  if (r.daemon.running) {
    out << "running, pid " << r.daemon.pid;
    if (r.daemon.since) out << ", since " << sinceText(r.daemon.since, now);
  } else if (r.daemon.stoppedAt) {
    out << "stopped cleanly at " << formatTime(*r.daemon.stoppedAt);
  } else {
    out << "not running (died or killed)";
  }
  if (!r.daemon.version.empty()) out << ", version " << r.daemon.version;
  out << '\n';
  if (!r.daemon.policyFile.empty()) out << "policy file: " << r.daemon.policyFile << '\n';
  if (!r.daemon.policyErrors.empty()) {
    out << "policy reload rejected (the previous policy stays in force):\n";
    for (const auto& e : r.daemon.policyErrors) out << "  " << e << '\n';
  }

  if (!r.daemon.restartNeeded.empty()) {
    out << "restart needed: the reloaded policy changed";
    for (const auto& k : r.daemon.restartNeeded) out << ' ' << k;
    out << " (running with the old values until dynmx restarts)\n";
  }
  if (!r.daemon.stateError.empty()) out << "state:      cannot persist state: " << r.daemon.stateError << '\n';

  out << "link:       " << r.link.type;
  if (!r.link.interface.empty()) out << " (" << r.link.interface << ")";
  out << (r.link.up ? ", up" : ", down");
  if (r.link.since) out << " since " << sinceText(r.link.since, now);
  out << '\n';

  out << "ddns:       " << r.ddns.health;
  if (r.ddns.since) out << " since " << sinceText(r.ddns.since, now);
  if (!r.ddns.code.empty()) out << " (" << r.ddns.code << (r.ddns.text.empty() ? "" : ": " + r.ddns.text) << ")";
  out << '\n';
  if (!r.ddns.publicAddress.empty()) out << "public address: " << r.ddns.publicAddress << '\n';
  if (!r.ddns.natNote.empty()) out << "note: " << r.ddns.natNote << '\n';
  if (!r.ddns.hosts.empty()) {
    const std::vector<std::string> head = {"HOST", "ADDRESS", "VERIFIED", "LAST RESULT", "LAST UPDATE", "NEXT RETRY"};
    std::vector<std::vector<std::string>> rows;
    for (const auto& h : r.ddns.hosts) {
      std::string result = h.lastResult.empty() ? "-" : h.lastResult;
      if (!h.fatal.empty()) result += " (disabled: " + h.fatal + ")";
      rows.push_back({h.host, h.address.empty() ? "-" : h.address, h.verified ? "yes" : "no", result,
                      timeOr(h.lastUpdate, "-"), timeOr(h.retryAfter, "-")});
    }
    std::vector<std::size_t> width(head.size());
    for (std::size_t c = 0; c < head.size(); ++c) {
      width[c] = head[c].size();
      for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
      std::string s = "  ";
      for (std::size_t c = 0; c < cells.size(); ++c) s += c + 1 == cells.size() ? cells[c] : pad(cells[c], width[c]);
      out << s << '\n';
    };
    line(head);
    for (const auto& row : rows) line(row);
    for (const auto& h : r.ddns.hosts)
      if (!h.verified && !h.verification.empty()) out << "  " << h.host << ": " << h.verification << '\n';
  }

  for (const auto& m : r.mx) {
    out << "mx " << m.domain << ": " << (m.wanted.empty() ? "-" : m.wanted) << " set";
    std::string recs;
    for (const auto& rec : m.records) recs += (recs.empty() ? "" : ", ") + rec;
    if (!recs.empty()) out << " (" << recs << ")";
    out << ", lever " << m.lever << ", " << m.state;
    if (m.verifiedAt) out << " since " << formatTime(*m.verifiedAt);
    if (!m.detail.empty()) out << ": " << m.detail;
    out << '\n';
  }

  const auto& f = r.fetchmail;
  // dynmx runs one fetchmail per poll: "polling" while one runs, "running" between polls.
  out << "fetchmail:  "
      << (!f.running ? std::string("not running")
                     : f.pid > 0 ? "running, polling now (pid " + std::to_string(f.pid) + ")"
                                 : std::string("running, between polls"));
  if (f.wanted && !f.running) out << " (wanted)";
  out << ", last poll " << timeOr(f.lastPoll, "never");
  out << "; " << f.polls << " polls, " << f.pollErrors << " errors, " << f.restarts << " restarts";
  if (f.messagesWaiting) out << "; " << *f.messagesWaiting << " waiting at the ISP";
  out << '\n';
  if (f.lastExit) out << "last exit:  " << *f.lastExit << " (" << exitMeaningText(*f.lastExit) << ")\n";
  if (!f.lastError.empty()) out << "last error: " << f.lastError << '\n';
  if (r.sweep.interval.count() > 0) {
    const auto& s = r.sweep;
    out << "sweep:      every " << formatDuration(s.interval) << " while direct; last "
        << (s.last ? formatTime(*s.last) + (s.lastOk ? " (" : " FAILED (") + s.lastDetail + ")" : std::string("never"));
    if (s.failures > 1) out << ", " << s.failures << " failures in a row";
    if (s.next) out << "; next " << formatTime(*s.next);
    out << '\n';
  }

  if (r.guard.enabled) {
    const auto& g = r.guard;
    out << "guard:      " << (g.listening ? "listening" : "NOT listening") << "; last 24 h: "
        << (g.summary.empty() ? "nothing fetched" : g.summary) << '\n';
    if (!g.warning.empty()) out << "guard warning: " << g.warning << '\n';
    if (!g.lastError.empty()) out << "guard error: " << g.lastError << '\n';
  }

  if (!r.switches.empty()) {
    out << "recent switches:\n";
    const std::size_t first = r.switches.size() > 5 ? r.switches.size() - 5 : 0;
    for (std::size_t i = first; i < r.switches.size(); ++i) {
      const auto& s = r.switches[i];
      std::string codes;
      for (const auto& c : s.reasons) codes += (codes.empty() ? "" : ",") + c;
      out << "  " << formatTime(s.at) << "  " << s.from << " -> " << s.to;
      if (!codes.empty()) out << " (" << codes << ")";
      if (!s.detail.empty()) out << ": " << s.detail;
      out << '\n';
    }
  }
  bool anyFailed = std::any_of(r.hooks.begin(), r.hooks.end(), [](const HookRecord& h) { return !h.ok; });
  if (anyFailed) {
    out << "failed hooks:\n";
    for (const auto& h : r.hooks)
      if (!h.ok) out << "  " << formatTime(h.at) << "  " << h.argv0 << " (" << h.mode << "): " << h.error << '\n';
  }
  return out.str();
}

}  // namespace dynmx::status
