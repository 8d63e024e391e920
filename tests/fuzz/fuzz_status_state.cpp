// The status/state-file loader (the report as JSON): any bytes give a report or an error
// value, never a throw; a loaded report re-serialises and loads to the same JSON; the
// human report, health and metrics render from whatever loaded, and metrics stay one
// sample per line whatever the strings hold.
#include <cstdint>
#include <string>
#include <string_view>

#include "dynmx/status.hpp"
#include "dynmx/status/health.hpp"
#include "dynmx/status/human.hpp"
#include "dynmx/status/json.hpp"
#include "dynmx/status/metrics.hpp"
#include "dynmx/status/state.hpp"
#include "fuzz_common.hpp"

using namespace dynmx::status;
using dynmx::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto escaped = escapeLabelValue(in);
  check(escaped.find('\n') == std::string::npos, "label values have no raw newline");

  const auto loaded = reportFromJson(in);
  if (!loaded.ok()) {
    check(!loaded.error().empty(), "a refused report says why");
    return 0;
  }
  const std::string text = dumpJson(toJson(*loaded));
  const auto again = reportFromJson(std::string_view(text));
  check(again.ok(), "a serialised report loads");
  check(dumpJson(toJson(*again)) == text, "load(save(load(x))) == load(x)");

  const dynmx::TimePoint now = dynmx::fromUnix(1'795'000'000);
  (void)renderHuman(*loaded, now);
  (void)summaryLine(*loaded);
  Report stale = staleReport(*loaded, "/var/lib/dynmx/state.json", now);
  check(!stale.daemon.running, "a stale report is not running");
  check(stale.health != Health::Ok, "a stale report is never OK");
  Report healthy = *loaded;
  computeHealth(healthy);
  (void)toString(healthy.health);

  const std::string metrics = renderMetrics(*loaded, Counters{});
  for (auto line : dynmx::fuzz::split(metrics, '\n')) {
    if (line.empty()) continue;
    check(line.rfind("# ", 0) == 0 || line.rfind("dynmx_", 0) == 0,
          "every metrics line is a comment or a dynmx_ sample");
  }
  return 0;
}
