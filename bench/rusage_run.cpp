// dynmx-bench-rusage: run a command and print its rusage as one JSON line on stderr.
//
// The benchmark driver is Python, and a child forked from a 20 MB Python process reports
// that parent's pages in ru_maxrss (the high-water mark is inherited across exec). This
// small launcher forks from a tiny image, so the peak RSS is the client's own, and it keeps
// the microsecond CPU times that /usr/bin/time rounds to 10 ms.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: dynmx-bench-rusage PROGRAM [ARGS...]\n");
    return 125;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "dynmx-bench-rusage: fork: %s\n", std::strerror(errno));
    return 125;
  }
  if (pid == 0) {
    ::execvp(argv[1], argv + 1);
    std::fprintf(stderr, "dynmx-bench-rusage: exec %s: %s\n", argv[1], std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) return 125;
  }
  const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::fprintf(stderr,
               "BENCH-RUSAGE {\"rc\":%d,\"maxrss_kb\":%ld,\"utime_s\":%.6f,\"stime_s\":%.6f,"
               "\"nvcsw\":%ld,\"nivcsw\":%ld}\n",
               rc, ru.ru_maxrss, seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_nvcsw, ru.ru_nivcsw);
  return rc;
}
