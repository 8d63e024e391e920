#pragma once
// A minimal, bounded SMTP client: how the world hands its message stream to the senders'
// Postfix, and how it checks that a server greets.
#include <chrono>
#include <string>
#include <vector>

#include "dynmx/result.hpp"

namespace dynmx::world {

/// One message to submit: the envelope and the raw message (CRLF lines, no final dot).
struct Submission {
  std::string mailFrom;
  std::vector<std::string> recipients;
  std::string data;
};

/// Connect to address:port and read a 220 greeting within `timeout`.
bool probeSmtp(const std::string& address, int port, std::chrono::milliseconds timeout);

/// EHLO, MAIL FROM, RCPT TO each, DATA, QUIT. Ok only if the server accepted the message.
Status<> submitSmtp(const std::string& address, int port, const Submission& message,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20));

}  // namespace dynmx::world
