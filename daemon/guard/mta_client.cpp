// Our client towards the local MTA: greeting, EHLO/LHLO, MAIL, one RCPT per recipient,
// DATA, the message, then one answer (SMTP) or one per accepted recipient (LMTP). When the
// MTA offers PIPELINING (Postfix and dovecot do), MAIL, the RCPTs and DATA go as one group
// (RFC 2920): one round trip instead of two plus one per recipient, on the path where
// fetchmail waits for its answer.
#include <algorithm>
#include <cctype>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

constexpr std::size_t kMaxReplyLine = 4096;
constexpr std::size_t kMaxReplyText = 16384;

}  // namespace

MtaClient::MtaClient(bool lmtp, std::string helo, std::string sender, std::vector<std::string> rcpts)
    : lmtp_(lmtp), helo_(std::move(helo)), sender_(std::move(sender)), rcpts_(std::move(rcpts)) {
  results_.assign(rcpts_.size(), Reply{451, "4.4.2 no answer from the local MTA"});
  final_.assign(rcpts_.size(), false);
}

MtaClient::Step MtaClient::feed(std::string_view bytes) {
  in_.append(bytes);
  while (true) {
    if (stage_ == Stage::Done) return {Step::Kind::Done, {}};
    std::size_t lf = in_.find('\n');
    if (lf == std::string::npos) {
      if (in_.size() > kMaxReplyLine) {
        protocolError_ = true;
        return failAll({451, "4.4.2 the local MTA sent an over-long reply line"});
      }
      return {};
    }
    std::string line = in_.substr(0, lf);
    in_.erase(0, lf + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const bool wellFormed = line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
                            std::isdigit(static_cast<unsigned char>(line[1])) &&
                            std::isdigit(static_cast<unsigned char>(line[2])) &&
                            (line.size() == 3 || line[3] == ' ' || line[3] == '-') && line[0] >= '2' && line[0] <= '5';
    const int code = wellFormed ? std::stoi(line.substr(0, 3)) : 0;
    if (!wellFormed || (pendingCode_ != 0 && code != pendingCode_)) {
      protocolError_ = true;
      return failAll({451, "4.4.2 the local MTA sent a malformed reply"});
    }
    pendingCode_ = code;
    if (pendingText_.size() < kMaxReplyText) {
      if (!pendingText_.empty()) pendingText_ += ' ';
      pendingText_ += line.size() > 4 ? line.substr(4) : "";
    }
    if (line.size() > 3 && line[3] == '-') continue;
    Reply r{code, std::move(pendingText_)};
    pendingText_.clear();
    pendingCode_ = 0;
    Step s = onReply(r);
    if (s.kind != Step::Kind::Wait) return s;
  }
}

MtaClient::Step MtaClient::failAll(const Reply& r) {
  failure_ = r;
  // Answers already final (a RCPT refusal, an LMTP per-recipient answer) stand.
  for (std::size_t i = 0; i < results_.size(); ++i)
    if (!final_[i]) results_[i] = r;
  stage_ = Stage::Done;
  return {Step::Kind::Done, {}};
}

namespace {

/// True when an EHLO/LHLO reply (its lines joined by spaces) offers `keyword`.
bool offers(std::string_view replyText, std::string_view keyword) {
  std::size_t pos = 0;
  while (pos < replyText.size()) {
    std::size_t end = replyText.find(' ', pos);
    if (end == std::string_view::npos) end = replyText.size();
    std::string_view word = replyText.substr(pos, end - pos);
    if (word.size() == keyword.size() &&
        std::equal(word.begin(), word.end(), keyword.begin(), [](char a, char b) {
          return std::toupper(static_cast<unsigned char>(a)) == std::toupper(static_cast<unsigned char>(b));
        }))
      return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

std::string MtaClient::envelopeGroup() const {
  std::string group = "MAIL FROM:<" + sender_ + ">\r\n";
  for (const auto& r : rcpts_) group += "RCPT TO:<" + r + ">\r\n";
  group += "DATA\r\n";
  return group;
}

MtaClient::Step MtaClient::quit() {
  stage_ = Stage::Quit;
  return {Step::Kind::Send, "QUIT\r\n"};
}

MtaClient::Step MtaClient::onReply(const Reply& r) {
  switch (stage_) {
    case Stage::Greeting:
      if (r.code != 220) return failAll(r.permanent() ? Reply{451, "4.4.2 local MTA greeting: " + r.text} : r);
      stage_ = Stage::Hello;
      return {Step::Kind::Send, std::string(lmtp_ ? "LHLO " : "EHLO ") + helo_ + "\r\n"};
    case Stage::Hello:
      if (!r.positive()) return failAll(r.permanent() ? Reply{451, "4.4.2 local MTA refused " + std::string(lmtp_ ? "LHLO" : "EHLO") + ": " + r.text} : r);
      if (rcpts_.empty()) return failAll({451, "4.4.2 no recipients"});
      stage_ = Stage::Mail;
      pipelining_ = offers(r.text, "PIPELINING");
      if (pipelining_) return {Step::Kind::Send, envelopeGroup()};
      return {Step::Kind::Send, "MAIL FROM:<" + sender_ + ">\r\n"};
    case Stage::Mail:
      if (!r.positive()) {
        // A refused sender is about the message, not a recipient: keep it at the ISP. (A
        // pipelined group's other replies are not read: the edge closes the connection.)
        return failAll(Reply{451, "4.4.2 local MTA refused the sender: " + std::to_string(r.code) + " " + r.text});
      }
      stage_ = Stage::Rcpt;
      rcptIndex_ = 0;
      if (pipelining_) return {};
      return {Step::Kind::Send, "RCPT TO:<" + rcpts_[0] + ">\r\n"};
    case Stage::Rcpt:
      if (r.positive()) {
        accepted_.push_back(rcptIndex_);
      } else {
        results_[rcptIndex_] = r;
        final_[rcptIndex_] = true;
      }
      if (++rcptIndex_ < rcpts_.size()) {
        if (pipelining_) return {};
        return {Step::Kind::Send, "RCPT TO:<" + rcpts_[rcptIndex_] + ">\r\n"};
      }
      if (pipelining_) {
        stage_ = Stage::Data;  // DATA went with the group: its reply comes next
        return {};
      }
      if (accepted_.empty()) {
        stage_ = Stage::Done;
        return quit();
      }
      stage_ = Stage::Data;
      return {Step::Kind::Send, "DATA\r\n"};
    case Stage::Data:
      if (accepted_.empty()) {
        // Pipelined, every recipient refused: DATA should have been refused too (RFC 2920
        // 3.1). An MTA that says 354 anyway gets no message: closing the connection ends
        // the transaction before it has any content.
        if (r.code == 354) {
          stage_ = Stage::Done;
          return {Step::Kind::Done, {}};
        }
        return quit();
      }
      if (r.code != 354) {
        Reply why = r.permanent() ? Reply{451, "4.4.2 local MTA refused DATA: " + r.text} : r;
        for (std::size_t i : accepted_) {
          results_[i] = why;
          final_[i] = true;
        }
        failure_ = why;
        return quit();
      }
      return {Step::Kind::SendMessage, {}};
    case Stage::DataReplies:
      if (lmtp_) {
        results_[accepted_[dataReplies_]] = r;
        final_[accepted_[dataReplies_]] = true;
        if (++dataReplies_ < accepted_.size()) return {};
      } else {
        for (std::size_t i : accepted_) {
          results_[i] = r;
          final_[i] = true;
        }
        dataReplies_ = accepted_.size();
      }
      return quit();
    case Stage::Quit:
      stage_ = Stage::Done;
      return {Step::Kind::Done, {}};
    case Stage::Done: return {Step::Kind::Done, {}};
  }
  return {Step::Kind::Done, {}};
}

MtaClient::Step MtaClient::messageSent() {
  stage_ = Stage::DataReplies;
  return {};
}

std::string dotStuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 40 + 8);
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t lf = message.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? message.size() : lf;
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() == '.') out.push_back('.');
    out.append(line);
    out.append("\r\n");
    pos = end + 1;
  }
  out.append(".\r\n");
  return out;
}

std::string outgoingMessage(std::string_view message, const MessageFacts& facts, std::string_view markerId,
                            const std::optional<std::string>& reasonHeader) {
  (void)facts;
  std::string out;
  out.reserve(message.size() + 256);
  out.append(kMarkerHeader).append(": ").append(markerId).append("\n");
  if (reasonHeader) {
    std::string r = *reasonHeader;
    std::replace_if(r.begin(), r.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    out.append(kReasonHeader).append(": ").append(r).append("\n");
  }
  // A first line that starts with white space would fold into our header and turn what
  // follows into header fields: keep it the body it was (found by fuzz_guard_headers).
  if (!message.empty() && (message.front() == ' ' || message.front() == '\t')) out.append("\n");
  HeaderBlock block = readHeaders(message);
  std::size_t pos = 0;
  for (const auto& f : block.fields) {
    if (sameName(f.name, "Delivered-To")) {
      out.append(message.substr(pos, f.begin - pos));
      pos = f.end;
    }
  }
  out.append(message.substr(pos));
  return out;
}

}  // namespace dynmx::guard
