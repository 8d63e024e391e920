// The header reader: where the ISP wrote the envelope recipient, and nothing a sender wrote.
#include <algorithm>
#include <cctype>

#include "dynmx/guard.hpp"

namespace dynmx::guard {
namespace {

bool isFieldNameChar(unsigned char c) { return c > 32 && c < 127 && c != ':'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

/// The line starting at `pos`: its content (without CR/LF) and the offset after its LF.
std::pair<std::string_view, std::size_t> lineAt(std::string_view m, std::size_t pos) {
  std::size_t lf = m.find('\n', pos);
  std::size_t next = lf == std::string_view::npos ? m.size() : lf + 1;
  std::string_view line = m.substr(pos, (lf == std::string_view::npos ? m.size() : lf) - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return {line, next};
}

bool startsWithFetchmailReceived(const HeaderField& f) {
  // fetchmail's own trace line: "from HOST by HOST with POP3 (fetchmail-6.4.37) ..." or
  // "... with IMAP (fetchmail-...)". Nobody else writes "(fetchmail-".
  return sameName(f.name, "Received") && f.value.find("(fetchmail-") != std::string::npos;
}

}  // namespace

bool sameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

HeaderBlock readHeaders(std::string_view m, std::size_t maxFields) {
  HeaderBlock block;
  std::size_t pos = 0;
  while (pos < m.size()) {
    auto [line, next] = lineAt(m, pos);
    if (line.empty()) {  // the empty line ends the header
      block.bodyOffset = next;
      return block;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !block.fields.empty()) {
      HeaderField& f = block.fields.back();
      std::string_view more = trim(line);
      if (!more.empty()) {
        if (!f.value.empty()) f.value += ' ';
        f.value.append(more);
      }
      f.end = next;
      pos = next;
      continue;
    }
    std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon),
                     [](char c) { return isFieldNameChar(static_cast<unsigned char>(c)); })) {
      block.bodyOffset = pos;  // not a header line: the body starts here (no empty line)
      return block;
    }
    if (block.fields.size() >= maxFields) {
      block.truncated = true;
      block.bodyOffset = pos;
      return block;
    }
    HeaderField f;
    f.name = std::string(line.substr(0, colon));
    f.value = std::string(trim(line.substr(colon + 1)));
    f.begin = pos;
    f.end = next;
    block.fields.push_back(std::move(f));
    pos = next;
  }
  block.bodyOffset = m.size();
  return block;
}

std::optional<std::string> plainAddress(std::string_view text) {
  std::string_view s = trim(text);
  if (!s.empty() && s.front() == '<') {
    if (s.size() < 2 || s.back() != '>') return std::nullopt;
    s = s.substr(1, s.size() - 2);
  }
  if (s.empty() || s.size() > 320) return std::nullopt;
  std::size_t at = s.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == s.size() || s.find('@', at + 1) != std::string_view::npos)
    return std::nullopt;
  for (unsigned char c : s)
    if (c <= 32 || c >= 127 || c == ',' || c == '"' || c == '<' || c == '>' || c == '(' || c == ')' || c == ';' ||
        c == '\\' || c == '[' || c == ']' || c == ':')
      return std::nullopt;
  return std::string(s);
}

MessageFacts inspect(std::string_view message, const EnvelopeRule& rule, std::string_view markerId) {
  MessageFacts facts;
  HeaderBlock block = readHeaders(message);
  facts.headerTruncated = block.truncated;
  std::size_t first = 0;
  if (!block.fields.empty() && startsWithFetchmailReceived(block.fields.front())) {
    facts.fetchmailReceived = true;
    facts.contentOffset = block.fields.front().end;
    first = 1;
  }
  // The ISP block: from the top down to the receivedAbove-th Received, before the next.
  std::size_t end = first;
  int receivedSeen = 0;
  for (; end < block.fields.size(); ++end) {
    if (sameName(block.fields[end].name, "Received")) {
      if (receivedSeen == std::max(0, rule.receivedAbove)) break;
      ++receivedSeen;
    }
  }
  facts.ispBlockEnd = end;

  std::vector<const HeaderField*> matches;
  for (std::size_t i = first; i < end; ++i)
    if (sameName(block.fields[i].name, rule.header)) matches.push_back(&block.fields[i]);
  facts.envelope.matches = matches.size();
  const std::size_t skip = static_cast<std::size_t>(std::max(0, rule.skip));
  if (rule.header.empty() || matches.size() <= skip) {
    facts.envelope.status = EnvelopeStatus::Missing;
  } else if (matches.size() > skip + 1) {
    facts.envelope.status = EnvelopeStatus::Ambiguous;
  } else if (auto addr = plainAddress(matches[skip]->value)) {
    facts.envelope.status = EnvelopeStatus::Found;
    facts.envelope.address = *addr;
  } else {
    facts.envelope.status = EnvelopeStatus::Malformed;
  }

  for (std::size_t i = first; i < block.fields.size(); ++i) {
    const HeaderField& f = block.fields[i];
    if (sameName(f.name, "Received")) ++facts.received;
    else if (sameName(f.name, kMarkerHeader) && !markerId.empty() && trim(f.value) == markerId) ++facts.ourMarkers;
    else if (facts.messageId.empty() && sameName(f.name, "Message-ID")) facts.messageId = std::string(trim(f.value));
  }
  return facts;
}

}  // namespace dynmx::guard
