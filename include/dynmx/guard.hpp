#pragma once
// The envelope guard, pure part: read the envelope recipient the ISP wrote, decide where a
// fetched message belongs, speak LMTP to fetchmail and SMTP/LMTP to the local MTA as state
// machines, and keep the journal's record format and 24-hour summary. No I/O, no clock:
// the edge (guard_server.hpp) feeds bytes and `now` in and carries the decisions out.
// Why each rule exists: docs/guard.md.
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "dynmx/time.hpp"

namespace dynmx::guard {

// ---------------------------------------------------------------------------------------
// Headers

/// One header field of a message: its name as written and its value unfolded and trimmed.
struct HeaderField {
  std::string name;
  std::string value;
  std::size_t begin = 0;  ///< offset of the field's first byte in the message
  std::size_t end = 0;    ///< offset just past its last line (including the line break)
};

/// The header block of a message, top to bottom.
struct HeaderBlock {
  std::vector<HeaderField> fields;
  std::size_t bodyOffset = 0;  ///< where the body starts (after the empty line), or the size
  bool truncated = false;      ///< more fields than the reader's limit: the rest were not read
};

/// Split the header block of `message` (LF or CRLF line ends) into fields, at most
/// `maxFields`. Lines that are neither a field nor a continuation end the block.
HeaderBlock readHeaders(std::string_view message, std::size_t maxFields = 2000);

/// Case-insensitive ASCII comparison of header names.
bool sameName(std::string_view a, std::string_view b);

/// Where the ISP writes the envelope recipient (the policy's [envelope] and [guard]).
struct EnvelopeRule {
  std::string header = "Delivered-To";  ///< the field name (exact, case-insensitive)
  int skip = 0;                         ///< matching fields the ISP writes above the recipient's
  int receivedAbove = 0;                ///< Received fields the ISP writes above it (its block ends after these)
};

/// What the reader found at the configured position.
enum class EnvelopeStatus {
  Found,      ///< exactly one recipient at the position
  Missing,    ///< the ISP block has no field at the position
  Ambiguous,  ///< more matching fields in the ISP block than the rule allows (a second copy, or a forgery)
  Malformed,  ///< the field is there but is not one plain address
};

/// The envelope recipient as read, or why not.
struct EnvelopeRead {
  EnvelopeStatus status = EnvelopeStatus::Missing;
  std::string address;  ///< Found: the address, without <>, as written
  std::size_t matches = 0;  ///< matching fields inside the ISP block
};

/// Everything the guard needs to know about one fetched message.
struct MessageFacts {
  EnvelopeRead envelope;
  bool fetchmailReceived = false;  ///< the top field is fetchmail's own Received (skipped)
  std::size_t ispBlockEnd = 0;     ///< index into fields where the ISP block ends
  int received = 0;                ///< Received fields in the whole header
  int ourMarkers = 0;              ///< our hop markers carrying our id
  std::string messageId;           ///< the Message-ID value (trimmed), "" if none
  std::size_t contentOffset = 0;   ///< where the message as the ISP stored it begins (after fetchmail's Received)
  bool headerTruncated = false;
};

/// The hop marker we add to every message we pass on; a message carrying ours came back.
inline constexpr std::string_view kMarkerHeader = "X-Dynmx-Guard";
/// Why a message went to the postmaster, for the admin reading it.
inline constexpr std::string_view kReasonHeader = "X-Dynmx-Guard-Reason";

/// Inspect a message as fetchmail handed it over. The ISP block is the run of fields from
/// the top (after fetchmail's own Received) down to and including the `receivedAbove`-th
/// Received, stopping before the next one: the ISP writes there, the sender cannot. The
/// envelope is the field at index `skip` among the matching fields of that block, and the
/// block must hold no more than skip + 1 of them.
MessageFacts inspect(std::string_view message, const EnvelopeRule& rule, std::string_view markerId);

/// Parse one address as a header value or SMTP path: optional <...>, one '@', printable,
/// no spaces, commas or quotes, at most 320 bytes. nullopt otherwise.
std::optional<std::string> plainAddress(std::string_view text);

// ---------------------------------------------------------------------------------------
// Decision

/// How names map to local users: the same rules the rendered rc gives fetchmail.
struct UserMap {
  std::vector<std::string> domains;          ///< ours, lower case
  std::map<std::string, std::string> names;  ///< remote local part (lower case) -> local user
  bool wildcard = false;                     ///< any other name in our domains: the same name
  std::string postmaster;                    ///< local user for everything unmapped
};

/// The local user an envelope recipient belongs to (postmaster when unmapped or foreign).
std::string localUserFor(const std::string& envelopeAddress, const UserMap& users);

/// Why a message went where it went: a stable machine code per case.
enum class Reason {
  Matched,          ///< envelope and fetchmail agree; delivered to the mapped user
  Unmapped,         ///< envelope is ours but unknown (or foreign): postmaster, as fetchmail does too
  NoEnvelope,       ///< no envelope field where the ISP writes it
  AmbiguousEnvelope,
  MalformedEnvelope,
  Mismatch,         ///< fetchmail chose other recipients than the envelope names
  Loop,             ///< our hop marker, or too many Received fields
  LoopDiscarded,    ///< came back again after going to the postmaster for a loop: dropped
  MtaRefused,       ///< the MTA refused the mapped user permanently: postmaster
  Duplicate,        ///< delivered before (journal): not again
  Deferred,         ///< MTA down or temporary failure: stays at the ISP
  TooLarge,
};

/// The code written to the journal, status and headers ("no-envelope", ...).
const char* toString(Reason r);
/// Parse a code back; nullopt if unknown.
std::optional<Reason> reasonFromString(std::string_view code);
/// One human sentence for the reason header and status.
const char* describe(Reason r);

/// Limits for loop detection.
struct LoopLimits {
  int maxReceived = 30;
};

/// Where one message goes.
struct Plan {
  enum class Kind { Deliver, Postmaster, Discard } kind = Kind::Postmaster;
  Reason reason = Reason::NoEnvelope;
  std::vector<std::string> users;  ///< local users to deliver to (Deliver: in fetchmail's RCPT order)
  std::string envelope;            ///< the envelope address read ("" if none)
  std::string detail;              ///< for the reason header: what disagreed (local names only)
};

/// The local user a fetchmail RCPT address names (its local part, lower case), or nullopt
/// if it is not in one of our domains (fetchmail renders `smtpaddress <our domain>`).
std::optional<std::string> rcptUser(const std::string& rcpt, const UserMap& users);

/// Decide where a message goes from its facts and fetchmail's recipients. Pure.
Plan decide(const MessageFacts& facts, const std::vector<std::string>& rcpts, const UserMap& users,
            const LoopLimits& limits);

// ---------------------------------------------------------------------------------------
// Wire protocols

/// One SMTP/LMTP reply (possibly multi-line): the code and the joined text.
struct Reply {
  int code = 0;
  std::string text;
  /// 2xx, 4xx, 5xx.
  [[nodiscard]] bool positive() const { return code >= 200 && code < 400; }
  [[nodiscard]] bool temporary() const { return code >= 400 && code < 500; }
  [[nodiscard]] bool permanent() const { return code >= 500; }
};

/// Bounds for the LMTP server session.
struct SessionLimits {
  std::size_t maxCommandLine = 2048;          ///< bytes including CRLF (RFC 5321 says 512)
  std::size_t maxMessageBytes = 64u << 20;    ///< larger messages are refused with 552
  std::size_t maxRecipients = 100;
  std::size_t maxAddress = 320;
};

/// Our LMTP server towards fetchmail, as a byte-in, event-out state machine (RFC 2033,
/// no PIPELINING). The edge appends what it reads and polls events until NeedMore.
class LmtpServerSession {
 public:
  /// What the edge must do next.
  struct Event {
    enum class Kind { NeedMore, Reply, Message, Close } kind = Kind::NeedMore;
    std::string text;  ///< Reply/Close: bytes to send (with CRLF)
  };

  explicit LmtpServerSession(SessionLimits limits = {}, std::string hostname = "dynmx-guard");
  /// The 220 greeting.
  [[nodiscard]] std::string greeting() const;
  /// Add bytes read from the client.
  void append(std::string_view bytes);
  /// The next event from the buffered input. After Message, call messageHandled() with one
  /// reply per recipient before polling again.
  Event poll();
  /// Recipients of the current transaction, in RCPT order.
  [[nodiscard]] const std::vector<std::string>& recipients() const { return rcpts_; }
  /// MAIL FROM of the current transaction (may be empty: <>).
  [[nodiscard]] const std::string& sender() const { return from_; }
  /// The message after DATA, dot-unstuffed, each line ending in LF.
  [[nodiscard]] const std::string& message() const { return data_; }
  /// Take the message out (the session keeps nothing).
  std::string takeMessage();
  /// One reply per recipient for the finished message; returns the bytes to send.
  std::string messageHandled(const std::vector<Reply>& perRecipient);
  /// Bytes buffered and not yet consumed (bounded by the limits).
  [[nodiscard]] std::size_t buffered() const { return in_.size() - pos_; }

 private:
  enum class State { Greeted, Ready, Mail, Rcpt, Data, DataDiscard, Awaiting, Closed };
  std::optional<std::string_view> nextLine(std::size_t limit, bool& tooLong);
  Event command(std::string_view line);
  Event dataLine(std::string_view line);
  void resetTransaction();

  SessionLimits limits_;
  std::string hostname_;
  State state_ = State::Greeted;
  std::string in_;
  std::size_t pos_ = 0;
  std::size_t scan_ = 0;  ///< where the search for the next LF resumes
  bool discardingLine_ = false;
  std::string from_;
  std::vector<std::string> rcpts_;
  std::string data_;
};

/// Our client towards the local MTA (SMTP or LMTP), as a reply-in, command-out machine.
class MtaClient {
 public:
  /// What the edge must do next.
  struct Step {
    enum class Kind { Wait, Send, SendMessage, Done } kind = Kind::Wait;
    std::string text;  ///< Send: the command line with CRLF
  };

  MtaClient(bool lmtp, std::string helo, std::string sender, std::vector<std::string> rcpts);
  /// Feed bytes read from the MTA; returns the next step (Wait = read more).
  Step feed(std::string_view bytes);
  /// The edge sent the message body: what next.
  Step messageSent();
  /// Per recipient: the MTA's final answer (RCPT refusal or the DATA/LMTP answer).
  [[nodiscard]] const std::vector<Reply>& results() const { return results_; }
  /// Set when the session failed as a whole before per-recipient answers (greeting, MAIL, DATA).
  [[nodiscard]] const std::optional<Reply>& sessionFailure() const { return failure_; }
  /// True when a reply line was not SMTP (the edge treats the MTA as broken: temporary).
  [[nodiscard]] bool protocolError() const { return protocolError_; }
  /// True once every recipient has the MTA's last word: the edge may answer fetchmail now,
  /// before the MTA's goodbye to our QUIT.
  [[nodiscard]] bool answersFinal() const { return stage_ == Stage::Quit || stage_ == Stage::Done; }
  /// True when every recipient's result is an answer the MTA gave (not a placeholder, not a
  /// failure of the session as a whole).
  [[nodiscard]] bool everyRecipientAnswered() const {
    for (bool f : final_)
      if (!f) return false;
    return true;
  }
  /// True when the MTA offered PIPELINING (RFC 2920): MAIL, every RCPT and DATA went in one
  /// write, and their replies are read in order.
  [[nodiscard]] bool pipelined() const { return pipelining_; }

 private:
  enum class Stage { Greeting, Hello, Mail, Rcpt, Data, DataReplies, Quit, Done };
  Step onReply(const Reply& r);
  Step failAll(const Reply& r);
  Step quit();
  /// MAIL, one RCPT per recipient and DATA, as one pipelined group.
  [[nodiscard]] std::string envelopeGroup() const;

  bool lmtp_;
  bool pipelining_ = false;
  std::string helo_;
  std::string sender_;
  std::vector<std::string> rcpts_;
  Stage stage_ = Stage::Greeting;
  std::string in_;
  std::string pendingText_;
  int pendingCode_ = 0;
  std::size_t rcptIndex_ = 0;
  std::vector<Reply> results_;
  std::vector<std::size_t> accepted_;  ///< indexes of recipients the MTA took at RCPT
  std::vector<bool> final_;            ///< the answer for this recipient is the MTA's last word
  std::size_t dataReplies_ = 0;
  std::optional<Reply> failure_;
  bool protocolError_ = false;
};

/// The message with CRLF line ends and leading dots doubled, ending in CRLF.CRLF.
std::string dotStuff(std::string_view message);

/// The message to hand the MTA: our marker (and reason) on top, fetchmail's and the ISP's
/// Delivered-To fields removed (Postfix and qmail take a Delivered-To naming the recipient
/// as a loop and bounce).
std::string outgoingMessage(std::string_view message, const MessageFacts& facts, std::string_view markerId,
                            const std::optional<std::string>& reasonHeader);

// ---------------------------------------------------------------------------------------
// Journal records and the 24-hour summary

/// What happened to one message for one local user.
enum class Outcome { Delivered, Postmaster, Duplicate, Deferred, Discarded };
const char* toString(Outcome o);
std::optional<Outcome> outcomeFromString(std::string_view s);

/// One line of the guard journal.
struct JournalRecord {
  TimePoint at{};
  std::string key;       ///< hex hash of Message-ID (or of the message when it has none)
  std::string envelope;  ///< envelope recipient ("-" if none)
  std::string user;      ///< local user ("-" if none)
  Outcome outcome = Outcome::Delivered;
  Reason reason = Reason::Matched;
  std::uint64_t message = 0;  ///< sequence number of the fetched message within this guard's life
};

/// One line, no spaces inside fields, ending in LF. Fields with spaces or controls are %-escaped.
std::string formatRecord(const JournalRecord& r);
/// Parse one line (without LF); nullopt for a torn or foreign line.
std::optional<JournalRecord> parseRecord(std::string_view line);

/// The dedup key: hash of the Message-ID, or of the message as the ISP stored it.
std::string messageKey(std::string_view message, const MessageFacts& facts);

/// The guard's counts over a window.
struct GuardCounts {
  long fetched = 0;     ///< messages handed over by fetchmail (each once per attempt)
  long delivered = 0;   ///< to the mapped user
  long postmaster = 0;  ///< to the postmaster
  std::map<std::string, long> postmasterReasons;  ///< reason code -> count
  long duplicates = 0;
  long deferred = 0;
  long discarded = 0;
  long noEnvelope = 0;
};

/// Count the records of [now - window, now]: one message counts once, by its most
/// important outcome (deferred < duplicate < postmaster < delivered).
GuardCounts summarize(const std::vector<JournalRecord>& records, TimePoint now, Duration window);

/// "fetched 132: delivered 129, to postmaster 2 (no envelope header 2), duplicates suppressed 1".
std::string summaryText(const GuardCounts& c);

/// A WARNING text when messages without an envelope header rise (>= 3 and >= 10 % of the
/// fetched in the window): the ISP changed its setup. "" otherwise.
std::string noEnvelopeWarning(const GuardCounts& c);

}  // namespace dynmx::guard
