#include "dynmx/background_files.hpp"

#include <boost/asio/post.hpp>

namespace dynmx {

BackgroundFiles::BackgroundFiles(boost::asio::io_context& io) : io_(io), thread_([this] { worker(); }) {}

BackgroundFiles::~BackgroundFiles() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void BackgroundFiles::writeAtomic(std::string path, std::string content, AtomicWriteOptions options,
                                  std::function<void(Status<>)> done) {
  run([path = std::move(path), content = std::move(content), options] { return writeFileAtomic(path, content, options); },
      std::move(done));
}

void BackgroundFiles::run(std::function<Status<>()> work, std::function<void(Status<>)> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back({std::move(work), std::move(done)});
  }
  wake_.notify_one();
}

void BackgroundFiles::flush() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return jobs_.empty() && !busy_; });
}

void BackgroundFiles::worker() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, and everything queued has run
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    Status<> result = job.work();
    if (job.done) boost::asio::post(io_, [done = std::move(job.done), result = std::move(result)] { done(result); });
    lock.lock();
    busy_ = false;
    if (jobs_.empty()) idle_.notify_all();
  }
}

void InlineFiles::writeAtomic(std::string path, std::string content, AtomicWriteOptions options,
                              std::function<void(Status<>)> done) {
  Status<> result = writeFileAtomic(path, content, options);
  if (done) boost::asio::post(io_, [done = std::move(done), result = std::move(result)] { done(result); });
}

void InlineFiles::run(std::function<Status<>()> work, std::function<void(Status<>)> done) {
  Status<> result = work();
  if (done) boost::asio::post(io_, [done = std::move(done), result = std::move(result)] { done(result); });
}

}  // namespace dynmx
