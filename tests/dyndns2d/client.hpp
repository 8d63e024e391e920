#pragma once
// A tiny blocking HTTP/1.1 client over one TCP connection, with a bound on every wait.
// Used by the server's tests and by --bench-floor; no TLS.
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dynmx/result.hpp"

namespace dynmx::dyndns2d {

/// One response. Header names are lower-cased.
struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};

/// One connection. Move-only; closes on destruction.
class HttpClient {
 public:
  /// Connect to host:port (an IPv4 or IPv6 literal).
  static Result<HttpClient> connect(const std::string& host, int port,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
  HttpClient(HttpClient&& other) noexcept;
  HttpClient& operator=(HttpClient&& other) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  ~HttpClient();

  /// Send raw bytes.
  Status<> send(const std::string& bytes);
  /// Send a request (Host and Content-Length are added).
  Status<> sendRequest(const std::string& method, const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& headers = {},
                       const std::string& body = {});
  /// Read one response (Content-Length framed, or to EOF without it).
  Result<HttpResponse> readResponse(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                    std::size_t maxBody = 64 << 20);
  /// sendRequest + readResponse.
  Result<HttpResponse> request(const std::string& method, const std::string& target,
                               const std::vector<std::pair<std::string, std::string>>& headers = {},
                               const std::string& body = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// Read whatever arrives within `timeout` (at most maxBytes); stops early at EOF.
  std::string readFor(std::chrono::milliseconds timeout, std::size_t maxBytes, bool* eof = nullptr);
  /// True if the peer closes the connection within `timeout` (data read meanwhile is dropped).
  bool waitClosed(std::chrono::milliseconds timeout);

 private:
  explicit HttpClient(int fd, std::string host) : fd_(fd), host_(std::move(host)) {}
  // Read into buffer_; false on timeout, error or EOF (eof_ set).
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string host_;
  std::string buffer_;
  bool eof_ = false;
};

/// `Authorization: Basic ...` value for user:password.
std::string basicAuth(const std::string& user, const std::string& password);

}  // namespace dynmx::dyndns2d
