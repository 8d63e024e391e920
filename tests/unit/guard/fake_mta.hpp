#pragma once
// A scripted local MTA for the guard's tests: LMTP or SMTP (by the client's greeting) on a
// unix socket or a loopback TCP port, answering each recipient as the test says, and
// recording what it accepted. Written independently of the guard's own protocol code. Like
// Postfix and dovecot it offers PIPELINING (RFC 2920) unless told not to, and it reads
// whatever group of commands arrives, one line at a time.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace dynmx::guard::testing {

/// One accepted delivery: one recipient, one message.
struct Accepted {
  std::string rcpt;
  std::string data;  ///< dot-unstuffed, CRLF line ends
};

class FakeMta {
 public:
  /// Answer for one recipient after DATA (LMTP) or for the message (SMTP): "250 ok", "451 later", ...
  using Answer = std::function<std::string(const std::string& rcpt, const std::string& data)>;

  /// Listen on a unix socket at `path`, or on 127.0.0.1 (any port) if `path` is empty.
  explicit FakeMta(const std::string& path = "") : path_(path) {
    if (path.empty()) {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
      socklen_t len = sizeof a;
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
      port_ = ntohs(a.sin_port);
    } else {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
      ::unlink(path.c_str());
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind " + path);
    }
    ::listen(fd_, 16);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeMta() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  FakeMta(const FakeMta&) = delete;
  FakeMta& operator=(const FakeMta&) = delete;

  [[nodiscard]] int port() const { return port_; }
  /// How recipients are answered at RCPT time ("250 ok" unless set).
  void onRcpt(std::function<std::string(const std::string&)> f) {
    std::lock_guard<std::mutex> l(m_);
    rcpt_ = std::move(f);
  }
  /// How recipients are answered after the message ("250 ok" unless set).
  void onData(Answer f) {
    std::lock_guard<std::mutex> l(m_);
    data_ = std::move(f);
  }
  /// Called after the final dot, before any answer is sent (e.g. to stop fetchmail there).
  void beforeAnswer(std::function<void()> f) {
    std::lock_guard<std::mutex> l(m_);
    before_ = std::move(f);
  }
  [[nodiscard]] std::vector<Accepted> accepted() const {
    std::lock_guard<std::mutex> l(m_);
    return accepted_;
  }
  [[nodiscard]] int sessions() const { return sessions_; }
  /// Offer PIPELINING in the EHLO/LHLO reply (default: yes).
  void offerPipelining(bool on) { pipelining_ = on; }
  /// Pipelined command groups seen: more than one command line in one read.
  [[nodiscard]] int pipelinedGroups() const { return pipelinedGroups_; }
  /// Hold the reply to QUIT until releaseQuit() (at most 60 s).
  void holdQuit() {
    std::lock_guard<std::mutex> l(m_);
    holdQuit_ = true;
  }
  void releaseQuit() {
    {
      std::lock_guard<std::mutex> l(m_);
      quitReleased_ = true;
    }
    quitCv_.notify_all();
  }
  /// How many QUITs were held until releaseQuit(), rather than till the 60 s limit.
  [[nodiscard]] int quitsReleasedByTheTest() const { return quitsReleasedByTheTest_; }

 private:
  void loop() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      ++sessions_;
      session(c);  // one at a time: the guard opens one connection per message
      ::close(c);
    }
  }

  bool readLine(int c, std::string& buf, std::string& line) {
    while (true) {
      auto lf = buf.find('\n');
      if (lf != std::string::npos) {
        line = buf.substr(0, lf);
        buf.erase(0, lf + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 30000) != 1) return false;
      char tmp[65536];
      ssize_t n = ::read(c, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<std::size_t>(n));
      const auto firstLf = buf.find('\n');
      if (firstLf != std::string::npos && firstLf + 1 < buf.size() && buf.find('\n', firstLf + 1) != std::string::npos &&
          buf.compare(0, 4, "MAIL") == 0)
        ++pipelinedGroups_;
    }
  }

  static void send(int c, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }

  void session(int c) {
    std::string buf, line;
    bool lmtp = false;
    std::vector<std::string> rcpts;
    send(c, "220 fake-mta ready\r\n");
    while (readLine(c, buf, line)) {
      std::string verb = line.substr(0, 4);
      for (auto& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (verb == "LHLO" || verb == "EHLO" || verb == "HELO") {
        lmtp = verb == "LHLO";
        send(c, pipelining_ ? "250-fake-mta\r\n250-PIPELINING\r\n250 8BITMIME\r\n" : "250-fake-mta\r\n250 8BITMIME\r\n");
      } else if (verb == "MAIL") {
        rcpts.clear();
        send(c, "250 2.1.0 ok\r\n");
      } else if (verb == "RCPT") {
        auto lt = line.find('<'), gt = line.find('>');
        std::string r = line.substr(lt + 1, gt - lt - 1);
        std::string answer = "250 2.1.5 ok";
        {
          std::lock_guard<std::mutex> l(m_);
          if (rcpt_) answer = rcpt_(r);
        }
        if (answer[0] == '2') rcpts.push_back(r);
        send(c, answer + "\r\n");
      } else if (verb == "DATA") {
        send(c, "354 go\r\n");
        std::string data;
        while (readLine(c, buf, line) && line != ".") data += (line.rfind('.', 0) == 0 ? line.substr(1) : line) + "\r\n";
        std::function<void()> before;
        Answer answerFor;
        {
          std::lock_guard<std::mutex> l(m_);
          before = before_;
          answerFor = data_;
        }
        if (before) before();
        std::vector<std::string> answers;
        for (const auto& r : rcpts) {
          std::string a = answerFor ? answerFor(r, data) : "250 2.0.0 ok";
          if (a[0] == '2') {
            std::lock_guard<std::mutex> l(m_);
            accepted_.push_back({r, data});
          }
          answers.push_back(a);
          if (!lmtp) break;  // SMTP: one answer for the message (all recipients)
        }
        if (!lmtp && !answers.empty() && answers[0][0] == '2') {
          std::lock_guard<std::mutex> l(m_);
          for (std::size_t i = 1; i < rcpts.size(); ++i) accepted_.push_back({rcpts[i], data});
        }
        for (const auto& a : answers) send(c, a + "\r\n");
      } else if (verb == "QUIT") {
        std::unique_lock<std::mutex> l(m_);
        if (holdQuit_) {
          if (quitCv_.wait_for(l, std::chrono::seconds(60), [this] { return quitReleased_; })) ++quitsReleasedByTheTest_;
        }
        l.unlock();
        send(c, "221 bye\r\n");
        return;
      } else {
        send(c, "250 ok\r\n");
      }
    }
  }

  std::string path_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> sessions_{0};
  std::atomic<bool> pipelining_{true};
  std::atomic<int> pipelinedGroups_{0};
  std::condition_variable quitCv_;
  bool holdQuit_ = false;
  bool quitReleased_ = false;
  std::atomic<int> quitsReleasedByTheTest_{0};
  std::thread thread_;
  mutable std::mutex m_;
  std::function<std::string(const std::string&)> rcpt_;
  Answer data_;
  std::function<void()> before_;
  std::vector<Accepted> accepted_;
};

}  // namespace dynmx::guard::testing
