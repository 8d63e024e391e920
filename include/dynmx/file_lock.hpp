#pragma once
// An exclusive advisory lock (flock) on a lock file: the one rule that keeps a single writer
// of a state file across processes. The lock lives as long as the object (and dies with the
// process, so a killed holder never leaves a stale lock behind).
#include <string>

#include "dynmx/result.hpp"

namespace dynmx {

/// An exclusive flock held on a file; released when destroyed.
class FileLock {
 public:
  /// Take the lock without waiting. Creates the file (mode 0644: anyone who may read it may
  /// wait for it; flock needs no write access). Fails when another process holds it, naming
  /// the path, or when the file cannot be opened.
  static Result<FileLock> tryAcquire(const std::string& path);

  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  /// The lock file's path.
  [[nodiscard]] const std::string& path() const { return path_; }
  /// True when another process holds the lock on `path` right now (a probe; takes nothing).
  static bool heldElsewhere(const std::string& path);

 private:
  FileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

}  // namespace dynmx
