// The guard's durable journal: append + fdatasync before fetchmail hears 250, so a crash
// between the MTA's answer and fetchmail's delete cannot deliver the message twice.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "dynmx/atomic_file.hpp"
#include "dynmx/guard_server.hpp"

namespace dynmx::guard {
namespace {

std::string doneKey(const std::string& key, const std::string& envelope, const std::string& user) {
  return key + '\x1f' + envelope + '\x1f' + user;
}

constexpr std::size_t kMaxJournalBytes = 256u << 20;  ///< refuse to load anything larger

}  // namespace

Result<std::unique_ptr<Journal>> Journal::open(const std::string& path, Duration retention, TimePoint now) {
  std::unique_ptr<Journal> j(new Journal());
  j->path_ = path;
  std::size_t lines = 0;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) return fail(path + " is not a regular file");
    if (static_cast<std::size_t>(st.st_size) > kMaxJournalBytes)
      return fail(path + " is larger than " + std::to_string(kMaxJournalBytes >> 20) + " MiB");
    auto text = readFile(path);
    if (!text.ok()) return fail(text.error());
    std::size_t pos = 0;
    while (pos < text->size()) {
      std::size_t lf = text->find('\n', pos);
      if (lf == std::string::npos) {  // a torn last line (crash mid-append): not a record
        ++j->skipped_;
        break;
      }
      ++lines;
      auto rec = parseRecord(std::string_view(*text).substr(pos, lf - pos));
      pos = lf + 1;
      if (!rec) {
        ++j->skipped_;
        continue;
      }
      if (rec->at < now - retention) continue;
      j->records_.push_back(*rec);
    }
    // Rewrite without the expired and torn lines (atomically: a crash keeps the old file).
    if (j->records_.size() != lines || j->skipped_ > 0) {
      std::string kept;
      for (const auto& r : j->records_) kept += formatRecord(r);
      if (auto s = writeFileAtomic(path, kept); !s.ok()) return fail(s.error());
    }
  }
  for (const auto& r : j->records_)
    if (r.outcome == Outcome::Delivered || r.outcome == Outcome::Postmaster)
      j->done_.insert(doneKey(r.key, r.envelope, r.user));
  j->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (j->fd_ < 0) return fail("cannot open " + path + ": " + std::strerror(errno));
  return j;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

bool Journal::delivered(const std::string& key, const std::string& envelope, const std::string& user) const {
  return done_.count(doneKey(key, envelope, user)) > 0;
}

Status<> Journal::append(const std::vector<JournalRecord>& records, bool sync) {
  std::string text;
  for (const auto& r : records) text += formatRecord(r);
  // One write with O_APPEND: the lines land together or (after a crash) as a torn tail
  // that open() skips.
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot append to " + path_ + ": " + std::strerror(errno));
    }
    off += static_cast<std::size_t>(n);
  }
  ++appended_;
  if (sync) {
    if (auto s = this->sync(); !s.ok()) return s;
  }
  for (const auto& r : records) {
    records_.push_back(r);
    if (r.outcome == Outcome::Delivered || r.outcome == Outcome::Postmaster)
      done_.insert(doneKey(r.key, r.envelope, r.user));
  }
  return Ok{};
}

Status<> Journal::sync() {
  if (durable_ == appended_) return Ok{};
  if (::fdatasync(fd_) != 0) return fail("cannot sync " + path_ + ": " + std::strerror(errno));
  durable_ = appended_;
  return Ok{};
}

std::optional<Journal::PendingSync> Journal::pendingSync() const {
  if (durable_ == appended_ || fd_ < 0) return std::nullopt;
  const int copy = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return std::nullopt;  // runs inline at the next sync() instead
  return PendingSync{std::shared_ptr<const int>(new int(copy),
                                                [](const int* fd) {
                                                  ::close(*fd);
                                                  delete fd;
                                                }),
                     path_, appended_};
}

Status<> Journal::runSync(const PendingSync& pending) {
  if (::fdatasync(*pending.fd) != 0) return fail("cannot sync " + pending.path + ": " + std::strerror(errno));
  return Ok{};
}

void Journal::synced(std::uint64_t upTo) { durable_ = std::max(durable_, upTo); }

Result<std::string> loadOrCreateMarkerId(const std::string& path) {
  if (auto text = readFile(path); text.ok()) {
    std::string id = *text;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    if (id.size() >= 8 && id.size() <= 64 &&
        id.find_first_not_of("0123456789abcdef") == std::string::npos)
      return id;
  }
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 16; ++i) id.push_back(hex[rd() & 15]);
  if (auto s = writeFileAtomic(path, id + "\n"); !s.ok()) return fail(s.error());
  return id;
}

}  // namespace dynmx::guard
