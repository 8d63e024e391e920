#include "dynmx/atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace dynmx {
namespace {

std::string errnoText(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

std::string dirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

StagedFile::StagedFile(const std::string& path, std::string_view content,
                       const AtomicWriteOptions& options)
    : path_(path) {
  std::string tmpl = path + ".tmp.XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) {
    error_ = errnoText("cannot create temporary file for", path);
    return;
  }
  tempPath_ = tmpl;
  auto failWith = [&](const std::string& what) {
    error_ = errnoText(what, path);
    ::close(fd);
    ::unlink(tempPath_.c_str());
    tempPath_.clear();
  };
  if (::fchmod(fd, options.mode) != 0) {
    failWith("cannot set mode on");
    return;
  }
  if (options.owner || options.group) {
    if (::fchown(fd, options.owner.value_or(static_cast<uid_t>(-1)),
                 options.group.value_or(static_cast<gid_t>(-1))) != 0)
      { failWith("cannot set owner on"); return; }
  }
  if (!writeAll(fd, content)) { failWith("cannot write"); return; }
  if (::fsync(fd) != 0) { failWith("cannot sync"); return; }
  if (::close(fd) != 0) {
    error_ = errnoText("cannot close", path);
    ::unlink(tempPath_.c_str());
    tempPath_.clear();
  }
}

StagedFile::~StagedFile() {
  if (!committed_ && !tempPath_.empty()) ::unlink(tempPath_.c_str());
}

Status<> StagedFile::commit() {
  if (!ok()) return fail(error_);
  if (committed_) return Ok{};
  if (::rename(tempPath_.c_str(), path_.c_str()) != 0) return fail(errnoText("cannot replace", path_));
  committed_ = true;
  std::string dir = dirOf(path_);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: the rename is already visible
    ::close(dfd);
  }
  return Ok{};
}

Status<> writeFileAtomic(const std::string& path, std::string_view content,
                         const AtomicWriteOptions& options) {
  StagedFile staged(path, content, options);
  if (!staged.ok()) return fail(staged.error());
  return staged.commit();
}

std::size_t removeStaleTemps(const std::string& path) {
  // A writer killed between mkostemp and rename leaves its temp file, which may hold a
  // secret (the fetchmail rc) and would pile up over many crashes.
  const std::string dir = dirOf(path);
  const auto slash = path.rfind('/');
  const std::string prefix = (slash == std::string::npos ? path : path.substr(slash + 1)) + ".tmp.";
  constexpr std::size_t kSuffix = 6;  // mkostemp's XXXXXX
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::size_t removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name.size() != prefix.size() + kSuffix || name.substr(0, prefix.size()) != prefix) continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

Result<std::string> readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(errnoText("cannot open", path));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string e = errnoText("cannot read", path);
      ::close(fd);
      return fail(e);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace dynmx
