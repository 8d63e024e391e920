// Rendering of a pass report: the `dynmx update` table and its --json twin.
#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "dynmx/ddns_engine.hpp"

namespace dynmx::ddns {

namespace {

std::string retryOrFatal(const HostReport& h) {
  if (!h.fatal.empty()) return "fatal: " + h.fatal;
  if (h.retryAfter) return "retry after " + formatTime(*h.retryAfter);
  return "-";
}

}  // namespace

std::string formatPassTable(const PassReport& report) {
  constexpr std::size_t kCols = 6;
  std::vector<std::array<std::string, kCols>> rows;
  rows.push_back({"HOST", "ACCOUNT", "ADDRESS", "RESULT", "VERIFIED", "NEXT RETRY / FATAL"});
  for (const auto& h : report.hosts)
    rows.push_back({h.host, h.account, h.address.empty() ? "-" : h.address, h.result,
                    h.verified, retryOrFatal(h)});
  std::array<std::size_t, kCols> width{};
  for (const auto& r : rows)
    for (std::size_t i = 0; i < kCols; ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < kCols; ++i) {
      line += r[i];
      if (i + 1 < kCols) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  // The why of every host that is not fine, so a failing exit code explains itself.
  for (const auto& h : report.hosts) {
    if (h.fine) continue;
    std::string why = h.detail;
    if (!h.verification.empty() && h.verified != "yes")
      why += (why.empty() ? "" : "; ") + h.verification;
    out += "  " + h.host + " (" + h.account + "): " + (why.empty() ? h.result : why) + "\n";
  }
  if (!report.address.empty()) out += "address: " + report.address + "\n";
  if (report.nat && !report.nat->text.empty()) out += "nat: " + report.nat->text + "\n";
  out += "requests sent: " + std::to_string(report.requestsSent) + "\n";
  out += std::string("health: ") + mail::toString(report.health.state);
  if (!report.health.code.empty()) out += " " + report.health.code;
  if (!report.health.text.empty()) out += ": " + report.health.text;
  out += "\n";
  for (const auto& e : report.errors) out += "error: " + e + "\n";
  return out;
}

std::string passReportJson(const PassReport& report) {
  using nlohmann::json;
  json hosts = json::array();
  for (const auto& h : report.hosts) {
    hosts.push_back({{"host", h.host},
                     {"account", h.account},
                     {"address", h.address},
                     {"result", h.result},
                     {"sent", h.sent},
                     {"fine", h.fine},
                     {"verified", h.verified},
                     {"verification", h.verification},
                     {"retry_after", h.retryAfter ? json(formatTime(*h.retryAfter)) : json()},
                     {"fatal", h.fatal.empty() ? json() : json(h.fatal)},
                     {"detail", h.detail}});
  }
  json health = {{"state", mail::toString(report.health.state)},
                 {"code", report.health.code},
                 {"text", report.health.text},
                 {"since", formatTime(report.health.since)}};
  json out = {{"ok", report.ok()},
              {"address", report.address},
              {"nat", report.nat ? json(report.nat->text) : json()},
              {"nat_kind", report.nat ? json(toString(report.nat->kind)) : json()},
              {"requests_sent", report.requestsSent},
              {"errors", report.errors},
              {"health", health},
              {"hosts", hosts}};
  return out.dump(2) + "\n";
}

}  // namespace dynmx::ddns
