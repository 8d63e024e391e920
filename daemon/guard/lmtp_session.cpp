// The LMTP server fetchmail talks to (RFC 2033): strict, bounded, no PIPELINING. Bytes in,
// events out; the edge owns the socket.
#include <algorithm>
#include <cctype>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && upper(s.substr(0, prefix.size())) == prefix;
}

/// The <path> after "MAIL FROM:" / "RCPT TO:", and nothing but ESMTP parameters after it.
std::optional<std::string> pathArgument(std::string_view rest, std::size_t maxAddress, bool allowEmpty) {
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.empty() || rest.front() != '<') return std::nullopt;
  std::size_t close = rest.find('>');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view addr = rest.substr(1, close - 1);
  std::string_view params = rest.substr(close + 1);
  if (!params.empty() && params.front() != ' ') return std::nullopt;
  for (unsigned char c : params)
    if (c < 32 || c >= 127) return std::nullopt;
  if (addr.empty()) {
    if (allowEmpty) return std::string();
    return std::nullopt;
  }
  if (addr.size() > maxAddress) return std::nullopt;
  auto plain = plainAddress(addr);
  if (!plain) return std::nullopt;
  return plain;
}

LmtpServerSession::Event reply(std::string text) {
  return {LmtpServerSession::Event::Kind::Reply, std::move(text) + "\r\n"};
}

}  // namespace

LmtpServerSession::LmtpServerSession(SessionLimits limits, std::string hostname)
    : limits_(limits), hostname_(std::move(hostname)) {}

std::string LmtpServerSession::greeting() const { return "220 " + hostname_ + " LMTP dynmx envelope guard\r\n"; }

void LmtpServerSession::append(std::string_view bytes) {
  // Compact consumed input so the buffer stays bounded by what is not yet parsed.
  if (pos_ > 0 && pos_ >= in_.size() / 2) {
    in_.erase(0, pos_);
    scan_ -= pos_;
    pos_ = 0;
  }
  in_.append(bytes);
}

std::optional<std::string_view> LmtpServerSession::nextLine(std::size_t limit, bool& tooLong) {
  tooLong = false;
  std::size_t lf = in_.find('\n', std::max(scan_, pos_));
  if (lf == std::string::npos) {
    scan_ = in_.size();
    if (in_.size() - pos_ > limit) {
      // Drop what we have of an over-long line; keep dropping until its end.
      pos_ = in_.size();
      discardingLine_ = true;
    }
    return std::nullopt;
  }
  std::string_view line(in_.data() + pos_, lf - pos_);
  pos_ = lf + 1;
  scan_ = pos_;
  if (discardingLine_) {
    discardingLine_ = false;
    tooLong = true;
    return std::string_view();
  }
  if (line.size() + 1 > limit) tooLong = true;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

LmtpServerSession::Event LmtpServerSession::poll() {
  while (true) {
    if (state_ == State::Closed || state_ == State::Awaiting) return {};
    const bool inData = state_ == State::Data || state_ == State::DataDiscard;
    // In DATA a line may be long (a whole message on one line); only the size limit applies.
    const std::size_t limit = inData ? limits_.maxMessageBytes + 2 : limits_.maxCommandLine;
    bool tooLong = false;
    auto line = nextLine(limit, tooLong);
    if (!line) {
      if (inData && discardingLine_) state_ = State::DataDiscard;
      return {};
    }
    if (inData) {
      if (tooLong) state_ = State::DataDiscard;
      Event e = dataLine(*line);
      if (e.kind != Event::Kind::NeedMore) return e;
      continue;
    }
    if (tooLong) return reply("500 5.5.2 line too long");
    return command(*line);
  }
}

LmtpServerSession::Event LmtpServerSession::command(std::string_view line) {
  const std::string verb = upper(line.substr(0, std::min<std::size_t>(line.find(' '), line.size())));
  if (verb == "QUIT") {
    state_ = State::Closed;
    return {Event::Kind::Close, "221 2.0.0 bye\r\n"};
  }
  if (verb == "NOOP") return reply("250 2.0.0 ok");
  if (verb == "RSET") {
    resetTransaction();
    if (state_ != State::Greeted) state_ = State::Ready;
    return reply("250 2.0.0 ok");
  }
  if (verb == "LHLO") {
    if (line.size() < 6) return reply("501 5.5.4 LHLO needs a name");
    resetTransaction();
    state_ = State::Ready;
    return reply("250-" + hostname_ + "\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE " +
                 std::to_string(limits_.maxMessageBytes));
  }
  if (verb == "HELO" || verb == "EHLO") return reply("500 5.5.1 this is LMTP: use LHLO");
  if (state_ == State::Greeted) return reply("503 5.5.1 LHLO first");
  if (startsWithNoCase(line, "MAIL FROM:")) {
    if (state_ != State::Ready) return reply("503 5.5.1 nested MAIL");
    auto from = pathArgument(line.substr(10), limits_.maxAddress, true);
    if (!from) return reply("501 5.1.7 bad sender address");
    from_ = *from;
    state_ = State::Mail;
    return reply("250 2.1.0 ok");
  }
  if (startsWithNoCase(line, "RCPT TO:")) {
    if (state_ != State::Mail && state_ != State::Rcpt) return reply("503 5.5.1 MAIL first");
    if (rcpts_.size() >= limits_.maxRecipients) return reply("452 4.5.3 too many recipients");
    auto to = pathArgument(line.substr(8), limits_.maxAddress, false);
    if (!to) return reply("501 5.1.3 bad recipient address");
    rcpts_.push_back(*to);
    state_ = State::Rcpt;
    return reply("250 2.1.5 ok");
  }
  if (verb == "DATA") {
    if (line.size() != 4) return reply("501 5.5.4 DATA takes no argument");
    if (state_ != State::Rcpt) return reply("503 5.5.1 RCPT first");
    data_.clear();
    state_ = State::Data;
    return reply("354 2.0.0 end with <CRLF>.<CRLF>");
  }
  return reply("502 5.5.2 command not implemented");
}

LmtpServerSession::Event LmtpServerSession::dataLine(std::string_view line) {
  if (line == ".") {
    if (state_ == State::DataDiscard) {
      std::vector<Reply> refusals(rcpts_.size(), Reply{552, "5.3.4 message larger than " +
                                                                std::to_string(limits_.maxMessageBytes) + " bytes"});
      state_ = State::Awaiting;
      return {Event::Kind::Reply, messageHandled(refusals)};
    }
    state_ = State::Awaiting;
    return {Event::Kind::Message, {}};
  }
  if (state_ == State::DataDiscard) return {};
  if (!line.empty() && line.front() == '.') line.remove_prefix(1);
  if (data_.size() + line.size() + 1 > limits_.maxMessageBytes) {
    data_.clear();
    data_.shrink_to_fit();
    state_ = State::DataDiscard;
    return {};
  }
  data_.append(line);
  data_.push_back('\n');
  return {};
}

std::string LmtpServerSession::takeMessage() {
  std::string m = std::move(data_);
  data_.clear();
  return m;
}

std::string LmtpServerSession::messageHandled(const std::vector<Reply>& perRecipient) {
  std::string out;
  for (std::size_t i = 0; i < rcpts_.size(); ++i) {
    Reply r = i < perRecipient.size() ? perRecipient[i] : Reply{451, "4.3.0 no answer for this recipient"};
    if (r.code < 200 || r.code > 599) r = Reply{451, "4.3.0 internal error"};
    std::string text = r.text;
    std::replace_if(text.begin(), text.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
    out += std::to_string(r.code) + " " + text + "\r\n";
  }
  resetTransaction();
  state_ = State::Ready;
  return out;
}

void LmtpServerSession::resetTransaction() {
  from_.clear();
  rcpts_.clear();
  data_.clear();
}

}  // namespace dynmx::guard
