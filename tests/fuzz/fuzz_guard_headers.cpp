// The guard's header reader and decision on any message: the envelope comes only from the
// ISP's block, a field added below that block never changes it, the plan follows the rules,
// and what we hand the MTA survives dot-stuffing byte for byte.
#include <cstdint>
#include <string>

#include "dynmx/guard.hpp"
#include "fuzz_common.hpp"

using namespace dynmx::guard;
using dynmx::fuzz::check;

namespace {

/// The message as the LMTP session hands it over after dot-stuffing: LF line ends, one CR
/// before each LF dropped, a final LF added.
std::string normalised(std::string_view m) {
  std::string out;
  std::size_t pos = 0;
  while (pos < m.size()) {
    std::size_t lf = m.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? m.size() : lf;
    std::string_view line = m.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.append(line).push_back('\n');
    pos = end + 1;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const char* kHeaders[] = {"Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"};
  EnvelopeRule rule{kHeaders[data[0] & 3], (data[0] >> 2) & 3, (data[0] >> 4) & 3};
  const bool rcptFromEnvelope = (data[1] & 1) != 0;
  std::string_view message(reinterpret_cast<const char*>(data) + 2, size - 2);

  MessageFacts f = inspect(message, rule, "feedfacefeedface");
  check(f.contentOffset <= message.size(), "contentOffset inside the message");
  if (f.envelope.status == EnvelopeStatus::Found) {
    check(plainAddress(f.envelope.address).has_value(), "a found envelope is a plain address");
    check(f.envelope.matches == static_cast<std::size_t>(rule.skip) + 1, "found at exactly skip + 1 matches");
    check(message.find(f.envelope.address) != std::string_view::npos, "the envelope address is in the message");
  }
  if (f.envelope.status == EnvelopeStatus::Missing)
    check(f.envelope.matches <= static_cast<std::size_t>(rule.skip), "missing means too few matches");
  if (f.envelope.status == EnvelopeStatus::Ambiguous)
    check(f.envelope.matches > static_cast<std::size_t>(rule.skip) + 1, "ambiguous means too many matches");

  // A sender's forgery below the ISP's block never changes what is read.
  HeaderBlock block = readHeaders(message);
  if (f.ispBlockEnd < block.fields.size() && !block.truncated) {
    // After the Received that closes the ISP's block: where the sender's part begins.
    const std::size_t at = block.fields[f.ispBlockEnd].end;
    std::string forged(message.substr(0, at));
    if (!forged.empty() && forged.back() != '\n') forged += '\n';
    forged += std::string(rule.header) + ": forged@example.com\n";
    forged += message.substr(at);
    MessageFacts g = inspect(forged, rule, "feedfacefeedface");
    check(g.envelope.status == f.envelope.status, "a forgery below the ISP block changed the status");
    check(g.envelope.address == f.envelope.address, "a forgery below the ISP block changed the address");
  }

  UserMap users;
  users.domains = {"example.com"};
  users.names = {{"alice", "alice"}, {"bob", "robert"}};
  users.postmaster = "postmaster";
  std::vector<std::string> rcpts;
  if (rcptFromEnvelope && !f.envelope.address.empty()) rcpts.push_back(localUserFor(f.envelope.address, users) + "@example.com");
  else rcpts.push_back("alice@example.com");
  Plan p = decide(f, rcpts, users, LoopLimits{30});
  switch (p.kind) {
    case Plan::Kind::Deliver:
      check(f.envelope.status == EnvelopeStatus::Found && f.ourMarkers == 0 && f.received <= 30, "deliver needs a proven envelope");
      check(p.users.size() == 1 && p.users[0] == localUserFor(f.envelope.address, users), "deliver to the mapped user only");
      break;
    case Plan::Kind::Postmaster:
      check(p.users == std::vector<std::string>{"postmaster"}, "postmaster plans go to the postmaster only");
      break;
    case Plan::Kind::Discard: check(f.ourMarkers >= 2, "discard only for a second loop"); break;
  }

  // What the MTA gets: marker on top, no Delivered-To in its header, and a dot-stuffing
  // round trip through our own LMTP server gives the same bytes.
  std::string out = outgoingMessage(message, f, "feedfacefeedface", std::string("x\r\ny"));
  check(out.rfind("X-Dynmx-Guard: feedfacefeedface\n", 0) == 0, "marker first");
  for (const auto& field : readHeaders(out).fields) check(!sameName(field.name, "Delivered-To"), "Delivered-To removed");
  SessionLimits limits;
  LmtpServerSession s(limits, "f");
  s.append("LHLO f\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n");
  s.append(dotStuff(out));
  LmtpServerSession::Event e;
  while ((e = s.poll()).kind == LmtpServerSession::Event::Kind::Reply) {
  }
  check(e.kind == LmtpServerSession::Event::Kind::Message, "the stuffed message ends");
  check(s.message() == normalised(out), "dot-stuffing round trip");
  check(messageKey(message, f) == messageKey(message, inspect(message, rule, "feedfacefeedface")), "key is stable");
  return 0;
}
