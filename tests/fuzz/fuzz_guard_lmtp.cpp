// The guard's wire machines on any bytes: the LMTP server fetchmail talks to, and the client
// that reads the MTA's replies. Replies are well-formed lines, buffers stay bounded, one
// answer per recipient, and nothing outside the limits gets through.
#include <cstdint>
#include <string>

#include "dynmx/guard.hpp"
#include "fuzz_common.hpp"

using namespace dynmx::guard;
using dynmx::fuzz::check;

namespace {

void checkReplyLines(const std::string& text) {
  check(text.size() >= 6 && text.compare(text.size() - 2, 2, "\r\n") == 0, "reply ends in CRLF");
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find("\r\n", pos);
    check(end != std::string::npos, "every reply line ends in CRLF");
    std::string_view line(text.data() + pos, end - pos);
    check(line.size() >= 4 && line[0] >= '2' && line[0] <= '5' && (line[3] == ' ' || line[3] == '-'), "reply line");
    for (char c : line) check(c != '\r' && c != '\n', "no bare CR/LF inside a reply");
    pos = end + 2;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + (data[0] & 31);
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  SessionLimits limits;
  limits.maxMessageBytes = 4096;
  limits.maxRecipients = 5;
  LmtpServerSession s(limits, "fuzz");
  checkReplyLines(s.greeting());
  bool closed = false;
  for (std::size_t i = 0; i < input.size() && !closed; i += chunk) {
    s.append(input.substr(i, chunk));
    while (true) {
      auto e = s.poll();
      if (e.kind == LmtpServerSession::Event::Kind::NeedMore) break;
      if (e.kind == LmtpServerSession::Event::Kind::Close) {
        checkReplyLines(e.text);
        closed = true;
        break;
      }
      if (e.kind == LmtpServerSession::Event::Kind::Reply) {
        checkReplyLines(e.text);
        continue;
      }
      // A message: recipients are plain addresses within the limit, the message within its.
      check(!s.recipients().empty() && s.recipients().size() <= limits.maxRecipients, "recipient count");
      for (const auto& r : s.recipients()) check(plainAddress(r).has_value(), "recipient is a plain address");
      check(s.message().size() <= limits.maxMessageBytes, "message within the limit");
      const std::size_t n = s.recipients().size();
      std::string replies = s.messageHandled(std::vector<Reply>(n, Reply{250, "ok"}));
      checkReplyLines(replies);
      std::size_t lines = 0;
      for (std::size_t p = replies.find("\r\n"); p != std::string::npos; p = replies.find("\r\n", p + 2)) ++lines;
      check(lines == n, "one answer per recipient");
    }
    check(s.buffered() <= limits.maxMessageBytes + 2 + chunk, "input buffer bounded");
  }

  // The same bytes as an MTA's replies.
  MtaClient c((data[0] & 32) != 0, "fuzz", "s@example.net", {"a@example.com", "b@example.com", "c@example.com"});
  for (std::size_t i = 0; i < input.size(); i += chunk) {
    auto step = c.feed(input.substr(i, chunk));
    if (step.kind == MtaClient::Step::Kind::SendMessage) step = c.messageSent();
    if (step.kind == MtaClient::Step::Kind::Send)
      check(step.text.size() >= 2 && step.text.compare(step.text.size() - 2, 2, "\r\n") == 0, "command ends in CRLF");
    // fetchmail hears the answers once the client sends QUIT (before the MTA's goodbye):
    // by then the MTA must have answered for every recipient. (Checked on the client's own
    // record: an MTA may well send the placeholder's text itself; regression input.)
    if (step.kind == MtaClient::Step::Kind::Send && c.answersFinal())
      check(c.everyRecipientAnswered(), "answers final at QUIT");
    if (step.kind == MtaClient::Step::Kind::Done) break;
  }
  check(c.results().size() == 3, "one result per recipient");
  for (const auto& r : c.results()) check(r.code >= 200 && r.code <= 599, "result code in range");
  return 0;
}
