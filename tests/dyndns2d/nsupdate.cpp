#include "nsupdate.hpp"

#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace dynmx::dyndns2d {
namespace {

bool inZone(const std::string& host, const std::string& zone) {
  if (zone.empty()) return true;
  return host == zone ||
         (host.size() > zone.size() && host.compare(host.size() - zone.size(), zone.size(), zone) == 0 &&
          host[host.size() - zone.size() - 1] == '.');
}

}  // namespace

std::string buildNsUpdateScript(const NsUpdateOptions& options, const std::vector<RecordChange>& changes) {
  std::string server = options.server;
  std::string port;
  // host:port, but a bare IPv6 address has colons of its own: [::1]:53 or ::1 port 53.
  if (!server.empty() && server.front() == '[') {
    auto close = server.find(']');
    if (close != std::string::npos) {
      if (close + 2 < server.size() && server[close + 1] == ':') port = server.substr(close + 2);
      server = server.substr(1, close - 1);
    }
  } else if (server.find(':') == server.rfind(':') && server.find(':') != std::string::npos) {
    port = server.substr(server.find(':') + 1);
    server = server.substr(0, server.find(':'));
  }
  std::string head = "server " + server + (port.empty() ? "" : " " + port) + "\n";
  if (!options.zone.empty()) head += "zone " + options.zone + "\n";
  std::string script;
  std::size_t ops = 0;
  const std::string ttl = std::to_string(options.ttl);
  for (const auto& c : changes) {
    if (!inZone(c.host, options.zone)) continue;
    if (ops == 0) script += head;
    script += "update delete " + c.host + ". A\n";
    script += "update delete " + c.host + ". AAAA\n";
    if (!c.record.offline) {
      if (c.record.ipv4) script += "update add " + c.host + ". " + ttl + " A " + *c.record.ipv4 + "\n";
      if (c.record.ipv6) script += "update add " + c.host + ". " + ttl + " AAAA " + *c.record.ipv6 + "\n";
    }
    // The MX follows mx=/backmx= once a client set it; a host nobody gave an MX keeps its own.
    if (const auto mx = c.record.mxRecords(c.host); !mx.empty()) {
      script += "update delete " + c.host + ". MX\n";
      for (const auto& r : mx) script += "update add " + c.host + ". " + ttl + " MX " + r + ".\n";
    }
    // Keep each message well inside what one UPDATE can carry.
    if (++ops == 100) {
      script += "send\n";
      ops = 0;
    }
  }
  if (ops > 0) script += "send\n";
  return script;
}

NsUpdater::NsUpdater(boost::asio::io_context& io, NsUpdateOptions options)
    : io_(io), options_(std::move(options)), launcher_(makeProcessLauncher(io)) {}

NsUpdater::~NsUpdater() {
  child_.reset();
  if (!scriptPath_.empty()) ::unlink(scriptPath_.c_str());
}

void NsUpdater::push(std::vector<RecordChange> changes, std::function<void(bool)> done) {
  stats_.pending += changes.size();
  for (auto& c : changes) queued_.push_back(std::move(c));
  if (done) queuedDone_.push_back(std::move(done));
  if (!busy_) startNext();
}

void NsUpdater::startNext() {
  if (queued_.empty() && queuedDone_.empty()) return;
  std::vector<RecordChange> batch;
  batch.swap(queued_);
  runningDone_.swap(queuedDone_);
  queuedDone_.clear();
  runningCount_ = batch.size();
  busy_ = true;
  std::string script = buildNsUpdateScript(options_, batch);
  if (script.empty()) {
    // Nothing in our zone: done at once, but never re-entrantly.
    boost::asio::post(io_, [this] { finished(true, ""); });
    return;
  }
  char path[] = "/tmp/dyndns2d-nsupdate-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) {
    boost::asio::post(io_, [this] { finished(false, "cannot create nsupdate script file"); });
    return;
  }
  bool written = ::write(fd, script.data(), script.size()) == static_cast<ssize_t>(script.size());
  ::close(fd);
  scriptPath_ = path;
  if (!written) {
    boost::asio::post(io_, [this] { finished(false, "cannot write nsupdate script file"); });
    return;
  }
  ProcessSpec spec;
  spec.argv = {options_.binary};
  if (!options_.keyFile.empty()) {
    spec.argv.push_back("-k");
    spec.argv.push_back(options_.keyFile);
  }
  spec.argv.push_back(scriptPath_);
  spec.timeout = std::chrono::seconds(20);
  stderr_.clear();
  ChildCallbacks cb;
  cb.onStdout = [](const std::string&) {};
  cb.onStderr = [this](const std::string& line) {
    if (stderr_.size() < 2048) stderr_ += (stderr_.empty() ? "" : " | ") + line;
  };
  cb.onExit = [this](const ChildExit& e) {
    bool ok = e.signal == 0 && !e.timedOut && e.exitCode == 0;
    std::string why = ok ? "" : (e.timedOut ? "nsupdate timed out" : "nsupdate exit " + std::to_string(e.exitCode) +
                                                                          (e.signal ? " signal " + std::to_string(e.signal) : "") +
                                                                          (stderr_.empty() ? "" : ": " + stderr_));
    // The Child handle may still be on the stack that called us: release it later.
    boost::asio::post(io_, [this, ok, why] { finished(ok, why); });
  };
  std::string error;
  child_ = launcher_->launch(spec, std::move(cb), error);
  if (!child_) boost::asio::post(io_, [this, error] { finished(false, "cannot start nsupdate: " + error); });
}

void NsUpdater::finished(bool ok, const std::string& error) {
  child_.reset();
  busy_ = false;
  if (!scriptPath_.empty()) {
    ::unlink(scriptPath_.c_str());
    scriptPath_.clear();
  }
  ++stats_.runs;
  if (!ok) {
    ++stats_.failures;
    stats_.lastError = error;
  }
  stats_.pending -= runningCount_;
  runningCount_ = 0;
  auto done = std::move(runningDone_);
  runningDone_.clear();
  for (auto& d : done) d(ok);
  startNext();
}

}  // namespace dynmx::dyndns2d
