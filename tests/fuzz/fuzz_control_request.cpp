// The control-socket protocol: any request line parses to a request or an error value
// (never a throw); a parsed request re-serialises to the same request; dispatching it
// through a command table never throws; every reply is exactly one line and parses back.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "dynmx/status/control.hpp"
#include "dynmx/status/json.hpp"
#include "fuzz_common.hpp"

using namespace dynmx::status;
using dynmx::fuzz::check;

namespace {

CommandTable makeTable() {
  CommandTable t;
  t.add("status", [](const ControlRequest& r) {
    return ControlReply{0, "ok", nlohmann::json{{"echo", r.arguments}}};
  });
  t.add("reload", [](const ControlRequest&) { return ControlReply{1, "policy has errors", nullptr}; });
  // A handler that throws: dispatch must turn it into an error reply.
  t.add("boom", [](const ControlRequest& r) -> ControlReply {
    throw std::runtime_error("handler failed for " + r.command);
  });
  return t;
}

void checkReplyLine(const ControlReply& reply) {
  const std::string line = formatControlReply(reply);
  check(!line.empty() && line.back() == '\n', "a reply ends with a newline");
  check(line.find('\n') == line.size() - 1, "a reply is exactly one line");
  const auto back = parseControlReply(std::string_view(line).substr(0, line.size() - 1));
  check(back.ok(), "a formatted reply parses");
  check(back->result == reply.result, "reply result round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const CommandTable table = makeTable();
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  const auto req = parseControlRequest(in);
  if (req.ok()) {
    check(!req->command.empty(), "a request has a command");
    check(req->arguments.is_object(), "arguments are an object");
    check(in.size() <= kMaxControlRequest, "request size bounded");
    nlohmann::json v = {{"command", req->command}, {"arguments", req->arguments}};
    const auto again = parseControlRequest(dumpJson(v));
    check(again.ok() && again->command == req->command && again->arguments == req->arguments,
          "request round trip");
    checkReplyLine(table.dispatch(*req));
  } else {
    check(!req.error().empty(), "a refused request says why");
  }

  // The client side reads whatever the server (or an impostor) sends.
  const auto reply = parseControlReply(in);
  if (reply.ok()) checkReplyLine(*reply);
  return 0;
}
