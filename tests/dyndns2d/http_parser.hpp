#pragma once
// Strict, bounded HTTP/1.x request parsing for the loopback dyndns2 server. Pure: it
// looks at bytes and returns a request or the reason to answer 400, nothing else.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dynmx/result.hpp"

namespace dynmx::dyndns2d {

/// Limits that keep a hostile client from making us buffer without bound.
struct ParseLimits {
  std::size_t maxHeaderBytes = 16 * 1024;  ///< request line + headers + blank line
  std::size_t maxBodyBytes = 16 * 1024;    ///< only POST /control carries a body
};

/// One parsed request. Header names are lower-cased; values are trimmed.
struct HttpRequest {
  std::string method;
  std::string target;  ///< as sent (origin form after stripping an absolute URI)
  std::string path;    ///< target before '?'
  std::string query;   ///< target after '?', still encoded
  int minorVersion = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keepAlive = true;

  /// The first header of that (lower-case) name, or nullptr.
  [[nodiscard]] const std::string* header(std::string_view lowerName) const;
};

/// Where parsing of the buffered bytes stands.
enum class ParseStatus { NeedMore, Complete, Invalid };

/// Result of parseRequest: on Complete, `consumed` bytes form `request`.
struct ParseOutcome {
  ParseStatus status = ParseStatus::NeedMore;
  std::size_t consumed = 0;
  HttpRequest request;
  std::string error;  ///< why it is Invalid (for the 400 body and the log)
};

/// Parse one request from the front of `data` (which may hold more, pipelined).
ParseOutcome parseRequest(std::string_view data, const ParseLimits& limits);

/// Decoded query or form parameters, in order (keys may repeat; a bare key has value "").
using Params = std::vector<std::pair<std::string, std::string>>;

/// Decode `a=b&c=d` with %XX and '+' escapes; a bad escape is an error.
Result<Params> parseQuery(std::string_view query);

/// The first value of `key`, if present.
std::optional<std::string> findParam(const Params& params, std::string_view key);

/// Decode standard base64 (padding required when the length needs it).
std::optional<std::string> decodeBase64(std::string_view text);

/// Encode standard base64 (used by the test client).
std::string encodeBase64(std::string_view bytes);

/// The reason phrase for the status codes the server sends.
std::string_view reasonPhrase(int status);

}  // namespace dynmx::dyndns2d
