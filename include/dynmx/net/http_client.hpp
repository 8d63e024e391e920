#pragma once
// Asynchronous HTTP(S) on the Asio loop: libcurl's multi interface driven by Asio socket
// readiness and one timer. No thread per request; many requests run concurrently.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace dynmx::net {

/// How a transfer failed at the transport level (HTTP status errors are not transport errors).
enum class TransportError {
  None,
  Timeout,      ///< no complete answer within the deadline (includes a dripping server)
  Connect,      ///< refused, unreachable, name not resolved
  Tls,          ///< handshake or certificate verification failed
  Oversized,    ///< the body exceeded maxBody
  Protocol,     ///< malformed HTTP
  Other,
};

/// One request. The password is used for Basic auth and never logged or echoed.
struct HttpRequest {
  std::string url;
  std::string username;
  std::string password;
  std::string userAgent;
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds connectTimeout{std::chrono::seconds(10)};
  std::size_t maxBody = 64 * 1024;
  bool verifyTls = true;
  bool allowHttp = false;  ///< refuse plain http:// unless explicitly allowed
  std::string caFile;      ///< extra CA bundle (tests)
};

/// The outcome of one request.
struct HttpResponse {
  TransportError error = TransportError::None;
  std::string errorText;  ///< curl's description (contains no credentials)
  long status = 0;        ///< HTTP status, 0 if none was received
  std::string body;       ///< at most maxBody bytes
  std::chrono::milliseconds elapsed{0};
  long connectionsOpened = 0;  ///< new connections this transfer needed (0 = reused)
};

/// Callback with the outcome; always called exactly once, on the io_context.
using HttpHandler = std::function<void(HttpResponse)>;

/// The seam the DDNS engine talks to (a fake replaces it in unit tests).
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Start a request; `done` runs on the io_context when it completes.
  virtual void request(HttpRequest req, HttpHandler done) = 0;
};

/// The real client: curl multi on an io_context. Connections are kept alive and reused.
std::unique_ptr<HttpClient> makeCurlHttpClient(boost::asio::io_context& io);

}  // namespace dynmx::net
