#pragma once
// The loop never waits for the disk. Every fsync dynmx does while running (the DDNS state,
// the daemon's state file, the guard journal's group commit) runs on one worker thread, in
// the order asked; the result comes back to the io_context as a value. One worker, FIFO: a
// later write of a file never lands before an earlier one, and two writes of one file never
// run at once. The owner of each file stays its only writer; this is just where the syscalls
// happen.
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dynmx/atomic_file.hpp"
#include "dynmx/result.hpp"

namespace dynmx {

/// Where a file's bytes reach the disk: off the loop (BackgroundFiles) or inline (tests,
/// one-shot commands). `done` always runs on the caller's io_context, never inside the call.
class FileSink {
 public:
  virtual ~FileSink() = default;
  /// writeFileAtomic(path, content, options), then done(result).
  virtual void writeAtomic(std::string path, std::string content, AtomicWriteOptions options,
                           std::function<void(Status<>)> done) = 0;
  /// Any blocking file work (e.g. an fdatasync), then done(result).
  virtual void run(std::function<Status<>()> work, std::function<void(Status<>)> done) = 0;
};

/// One worker thread. The destructor finishes every job already queued (the last state
/// write of a stopping daemon is not lost) and then joins; completions that could no longer
/// be delivered are dropped.
class BackgroundFiles final : public FileSink {
 public:
  explicit BackgroundFiles(boost::asio::io_context& io);
  ~BackgroundFiles() override;
  BackgroundFiles(const BackgroundFiles&) = delete;
  BackgroundFiles& operator=(const BackgroundFiles&) = delete;

  void writeAtomic(std::string path, std::string content, AtomicWriteOptions options,
                   std::function<void(Status<>)> done) override;
  void run(std::function<Status<>()> work, std::function<void(Status<>)> done) override;
  /// Block until every queued job has run (their completions are posted, not yet run).
  void flush();

 private:
  struct Job {
    std::function<Status<>()> work;
    std::function<void(Status<>)> done;
  };
  void worker();

  boost::asio::io_context& io_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Job> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

/// The same on the calling thread (unit tests, `dynmx update`): the work runs at once and
/// `done` is posted to `io`.
class InlineFiles final : public FileSink {
 public:
  explicit InlineFiles(boost::asio::io_context& io) : io_(io) {}
  void writeAtomic(std::string path, std::string content, AtomicWriteOptions options,
                   std::function<void(Status<>)> done) override;
  void run(std::function<Status<>()> work, std::function<void(Status<>)> done) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace dynmx
