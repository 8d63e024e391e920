// TempDir and small file helpers for the testbed.
#include "testbed/temp_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dynmx::testbed {

TempDir::TempDir(std::string_view tag) {
  std::string tmpl = "/tmp/dmx-" + std::string(tag.substr(0, 12)) + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  path_ = tmpl;
  // mkdtemp makes 0700; dovecot's mail processes (uid 65534) must be able to traverse it.
  ::chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  const char* keep = std::getenv("DYNMX_KEEP_TESTBED");
  if (keep != nullptr && std::string(keep) == "1") return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);  // best effort: a leftover dir must not fail a test
}

std::string TempDir::file(std::string_view name) const { return path_ + "/" + std::string(name); }

std::string TempDir::subdir(std::string_view name, unsigned mode) const {
  std::string p = file(name);
  if (::mkdir(p.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST)
    throw std::runtime_error("mkdir " + p + ": " + std::strerror(errno));
  ::chmod(p.c_str(), static_cast<mode_t>(mode));
  return p;
}

void writeTextFile(const std::string& path, std::string_view text, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw std::runtime_error("write " + path + ": " + std::strerror(e));
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, static_cast<mode_t>(mode));  // the umask must not widen or narrow it
  ::close(fd);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace dynmx::testbed
