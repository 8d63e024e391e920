// libcurl multi driven by Boost.Asio: curl tells us which sockets to watch (socket
// callback) and when to call back (timer callback); Asio tells curl when a socket is
// ready. Sockets are opened by us (opensocket callback) as Asio sockets so that Asio owns
// their registration and curl never closes a descriptor Asio still watches.
#include <curl/curl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <mutex>

#include "dynmx/net/http_client.hpp"

namespace dynmx::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

constexpr long kMaxConnectionsPerHost = 32;

void globalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

TransportError mapCurlError(CURLcode code, bool oversized) {
  switch (code) {
    case CURLE_OK: return TransportError::None;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::Timeout;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT: return TransportError::Connect;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE: return TransportError::Tls;
    case CURLE_WRITE_ERROR: return oversized ? TransportError::Oversized : TransportError::Other;
    case CURLE_FILESIZE_EXCEEDED: return TransportError::Oversized;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_BAD_CONTENT_ENCODING: return TransportError::Protocol;
    default: return TransportError::Other;
  }
}

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(asio::io_context& io) : io_(io), timer_(io) {
    globalInit();
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlHttpClient::onSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlHttpClient::onTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    // One connection per request batch: 500 hosts in 25 accounts are 25 batches, and each
    // provider still sees at most one request per account and pass.
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, kMaxConnectionsPerHost);
  }

  ~CurlHttpClient() override {
    timer_.cancel();
    for (auto& [easy, t] : transfers_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
    }
    transfers_.clear();
    curl_multi_cleanup(multi_);  // closes pooled connections through onCloseSocket
    sockets_.clear();
  }

  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  void request(HttpRequest req, HttpHandler done) override {
    auto transfer = std::make_unique<Transfer>();
    transfer->request = std::move(req);
    transfer->done = std::move(done);
    transfer->started = std::chrono::steady_clock::now();
    CURL* easy = curl_easy_init();
    if (easy == nullptr) {
      HttpResponse r;
      r.error = TransportError::Other;
      r.errorText = "curl_easy_init failed";
      asio::post(io_, [d = std::move(transfer->done), r]() { d(r); });
      return;
    }
    const HttpRequest& q = transfer->request;
    transfer->errorBuffer[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_URL, q.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->errorBuffer);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, q.allowHttp ? "http,https" : "https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, q.userAgent.c_str());
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(q.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(q.connectTimeout.count()));
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, q.verifyTls ? 1L : 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, q.verifyTls ? 2L : 0L);
    if (!q.caFile.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, q.caFile.c_str());
    if (!q.username.empty()) {
      curl_easy_setopt(easy, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      curl_easy_setopt(easy, CURLOPT_USERNAME, q.username.c_str());
      curl_easy_setopt(easy, CURLOPT_PASSWORD, q.password.c_str());
    }
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlHttpClient::onWrite);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &CurlHttpClient::onOpenSocket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, &CurlHttpClient::onCloseSocket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, this);
    transfers_.emplace(easy, std::move(transfer));
    curl_multi_add_handle(multi_, easy);  // arms the timer callback; work starts from the loop
  }

 private:
  struct Transfer {
    HttpRequest request;
    HttpHandler done;
    std::string body;
    bool oversized = false;
    std::chrono::steady_clock::time_point started;
    char errorBuffer[CURL_ERROR_SIZE];
  };

  struct Socket {
    explicit Socket(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    int wanted = 0;  // CURL_POLL_IN / OUT / INOUT, 0 = nothing
    bool readArmed = false;
    bool writeArmed = false;
  };

  static size_t onWrite(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::size_t n = size * count;
    if (t->body.size() + n > t->request.maxBody) {
      t->oversized = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    t->body.append(data, n);
    return n;
  }

  static curl_socket_t onOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
    auto* self = static_cast<CurlHttpClient*>(user);
    if (purpose != CURLSOCKTYPE_IPCXN || (address->family != AF_INET && address->family != AF_INET6))
      return CURL_SOCKET_BAD;
    auto s = std::make_unique<Socket>(self->io_);
    boost::system::error_code ec;
    s->socket.open(address->family == AF_INET ? tcp::v4() : tcp::v6(), ec);
    if (ec) return CURL_SOCKET_BAD;
    curl_socket_t fd = s->socket.native_handle();
    self->sockets_[fd] = std::move(s);
    return fd;
  }

  static int onCloseSocket(void* user, curl_socket_t fd) {
    auto* self = static_cast<CurlHttpClient*>(user);
    auto it = self->sockets_.find(fd);
    if (it == self->sockets_.end()) return ::close(fd);
    boost::system::error_code ec;
    it->second->socket.close(ec);  // cancels pending waits; their handlers see the map entry gone
    self->sockets_.erase(it);
    return 0;
  }

  static int onSocket(CURL*, curl_socket_t fd, int what, void* user, void*) {
    auto* self = static_cast<CurlHttpClient*>(user);
    auto it = self->sockets_.find(fd);
    if (it == self->sockets_.end()) return 0;
    it->second->wanted = what == CURL_POLL_REMOVE ? 0 : what;
    self->arm(fd);
    return 0;
  }

  static int onTimer(CURLM*, long timeoutMs, void* user) {
    auto* self = static_cast<CurlHttpClient*>(user);
    if (timeoutMs < 0) {
      self->timer_.cancel();
      return 0;
    }
    self->timer_.expires_after(std::chrono::milliseconds(timeoutMs));
    self->timer_.async_wait([self](const boost::system::error_code& ec) {
      if (ec) return;
      int running = 0;
      curl_multi_socket_action(self->multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      self->collectFinished();
    });
    return 0;
  }

  void arm(curl_socket_t fd) {
    auto it = sockets_.find(fd);
    if (it == sockets_.end()) return;
    Socket& s = *it->second;
    if ((s.wanted & CURL_POLL_IN) != 0 && !s.readArmed) {
      s.readArmed = true;
      s.socket.async_wait(tcp::socket::wait_read,
                          [this, fd](const boost::system::error_code& ec) { onReady(fd, ec, CURL_CSELECT_IN); });
    }
    if ((s.wanted & CURL_POLL_OUT) != 0 && !s.writeArmed) {
      s.writeArmed = true;
      s.socket.async_wait(tcp::socket::wait_write,
                          [this, fd](const boost::system::error_code& ec) { onReady(fd, ec, CURL_CSELECT_OUT); });
    }
  }

  void onReady(curl_socket_t fd, const boost::system::error_code& ec, int direction) {
    if (ec == asio::error::operation_aborted) return;  // socket closed or client gone
    auto it = sockets_.find(fd);
    if (it == sockets_.end()) return;
    Socket& s = *it->second;
    (direction == CURL_CSELECT_IN ? s.readArmed : s.writeArmed) = false;
    int wantedBit = direction == CURL_CSELECT_IN ? CURL_POLL_IN : CURL_POLL_OUT;
    if ((s.wanted & wantedBit) == 0) return;
    int running = 0;
    curl_multi_socket_action(multi_, fd, ec ? CURL_CSELECT_ERR : direction, &running);
    collectFinished();
    arm(fd);  // still wanted? wait again (the entry may be gone by now)
  }

  void collectFinished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      CURLcode code = msg->data.result;
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      transfers_.erase(it);
      HttpResponse r;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
      long connects = 0;
      curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
      r.connectionsOpened = connects;
      r.error = mapCurlError(code, t->oversized);
      if (code != CURLE_OK) {
        r.errorText = t->errorBuffer[0] != '\0' ? t->errorBuffer : curl_easy_strerror(code);
        if (r.error == TransportError::Oversized)
          r.errorText = "reply larger than " + std::to_string(t->request.maxBody) + " bytes";
      }
      r.body = std::move(t->body);
      r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                        t->started);
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      asio::post(io_, [done = std::move(t->done), r = std::move(r)]() mutable { done(std::move(r)); });
    }
  }

  asio::io_context& io_;
  asio::steady_timer timer_;
  CURLM* multi_ = nullptr;
  std::map<curl_socket_t, std::unique_ptr<Socket>> sockets_;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
};

}  // namespace

std::unique_ptr<HttpClient> makeCurlHttpClient(boost::asio::io_context& io) {
  return std::make_unique<CurlHttpClient>(io);
}

}  // namespace dynmx::net
