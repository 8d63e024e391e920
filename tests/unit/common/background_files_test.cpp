// BackgroundFiles: the fsyncs of a running daemon happen on one worker thread, in order, and
// come back to the loop as values; the loop keeps running while the disk stalls.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "dynmx/background_files.hpp"

using namespace dynmx;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = "/tmp/dmxbg-XXXXXX";
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string slurp(const std::string& path) {
  auto r = readFile(path);
  return r.ok() ? *r : "?";
}

/// Run the loop until `pred` holds (bounded: a hang fails instead of blocking).
template <typename Pred>
bool runUntil(boost::asio::io_context& io, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_one_for(20ms);
  }
  return true;
}

/// A gate the worker waits at: a disk that stalls until the test opens it.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  bool reached = false;
  void wait() {
    std::unique_lock<std::mutex> lock(m);
    reached = true;
    cv.notify_all();
    cv.wait(lock, [this] { return open; });
  }
  void waitReached() {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [this] { return reached; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(m);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

TEST(BackgroundFiles, WritesInOrderOffTheLoopAndReportsBackOnIt) {
  TempDir d;
  const std::string path = (d.path / "state.json").string();
  boost::asio::io_context io;
  BackgroundFiles files(io);
  const auto loopThread = std::this_thread::get_id();
  std::atomic<bool> workedOnLoopThread{false};
  files.run(
      [&] {
        workedOnLoopThread = std::this_thread::get_id() == loopThread;
        return Status<>(Ok{});
      },
      {});
  std::vector<int> completed;
  bool completionsOnLoop = true;
  for (int i = 0; i < 50; ++i)
    files.writeAtomic(path, std::to_string(i), {}, [&, i](Status<> s) {
      EXPECT_TRUE(s.ok()) << s.error();
      completionsOnLoop = completionsOnLoop && std::this_thread::get_id() == loopThread;
      completed.push_back(i);
    });
  ASSERT_TRUE(runUntil(io, [&] { return completed.size() == 50; }));
  EXPECT_FALSE(workedOnLoopThread.load());
  EXPECT_TRUE(completionsOnLoop);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(completed[static_cast<std::size_t>(i)], i) << "out of order";
  EXPECT_EQ(slurp(path), "49") << "an earlier write landed after a later one";
}

TEST(BackgroundFiles, AStalledDiskDoesNotStallTheLoop) {
  TempDir d;
  boost::asio::io_context io;
  BackgroundFiles files(io);
  Gate disk;
  bool synced = false;
  files.run(
      [&] {
        disk.wait();
        return Status<>(Ok{});
      },
      [&](Status<>) { synced = true; });
  disk.waitReached();
  // The worker is stuck in the "fsync"; the loop still answers.
  bool answered = false;
  boost::asio::post(io, [&] { answered = true; });
  ASSERT_TRUE(runUntil(io, [&] { return answered; }));
  EXPECT_FALSE(synced);
  disk.release();
  ASSERT_TRUE(runUntil(io, [&] { return synced; }));
}

TEST(BackgroundFiles, AFailedWriteComesBackAsAValueNamingThePath) {
  TempDir d;
  const std::string path = (d.path / "missing-dir" / "state.json").string();
  boost::asio::io_context io;
  BackgroundFiles files(io);
  std::optional<Status<>> result;
  files.writeAtomic(path, "x", {}, [&](Status<> s) { result = s; });
  ASSERT_TRUE(runUntil(io, [&] { return result.has_value(); }));
  ASSERT_FALSE(result->ok());
  EXPECT_NE(result->error().find(path), std::string::npos) << result->error();
}

TEST(BackgroundFiles, WhatWasQueuedIsWrittenBeforeTheWorkerEnds) {
  TempDir d;
  const std::string path = (d.path / "state.json").string();
  boost::asio::io_context io;
  {
    BackgroundFiles files(io);
    Gate disk;
    files.run(
        [&] {
          disk.wait();
          return Status<>(Ok{});
        },
        {});
    disk.waitReached();
    for (int i = 0; i < 20; ++i) files.writeAtomic(path, "last=" + std::to_string(i), {}, {});
    disk.release();
  }  // the destructor: every queued write runs, then the thread ends
  EXPECT_EQ(slurp(path), "last=19");
}

TEST(InlineFiles, WritesAtOnceAndCompletesOnTheLoop) {
  TempDir d;
  const std::string path = (d.path / "state.json").string();
  boost::asio::io_context io;
  InlineFiles files(io);
  bool done = false;
  files.writeAtomic(path, "now", {}, [&](Status<> s) {
    EXPECT_TRUE(s.ok());
    done = true;
  });
  EXPECT_EQ(slurp(path), "now");
  EXPECT_FALSE(done) << "the completion runs from the loop, never inside the call";
  io.poll();
  EXPECT_TRUE(done);
}
