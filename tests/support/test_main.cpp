// The one main() of every GoogleTest binary: under CI (or DYNMX_NO_SKIP=1, which
// scripts/test.sh exports) a skipped test is a failed test, because CI runs as root with
// every server installed and a skip there hides a broken test. Each run ends with its counts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace {

/// True when skips must fail: DYNMX_NO_SKIP=1, or CI set to anything but "" / "0" / "false".
bool skipsFail() {
  if (const char* v = std::getenv("DYNMX_NO_SKIP"); v != nullptr && std::string(v) == "1") return true;
  if (const char* ci = std::getenv("CI"); ci != nullptr) {
    const std::string s = ci;
    return !s.empty() && s != "0" && s != "false";
  }
  return false;
}

/// Turns a skip into a failure (at test end, so the skip's own message is printed first).
class NoSilentSkips : public ::testing::EmptyTestEventListener {
 public:
  explicit NoSilentSkips(bool fail) : fail_(fail) {}
  void OnTestEnd(const ::testing::TestInfo& info) override {
    const auto* r = info.result();
    if (r == nullptr || !r->Skipped()) return;
    if (fail_)
      ADD_FAILURE() << "skipped under CI / DYNMX_NO_SKIP=1: a test that cannot run here is a failure "
                       "(install what it needs, or run as root)";
  }
  void OnTestProgramEnd(const ::testing::UnitTest& u) override {
    // One line per binary run; scripts/test.sh also counts at the ctest level.
    std::cout << "[ dynmx    ] " << u.test_to_run_count() << " tests run, " << u.skipped_test_count()
              << " skipped, " << u.failed_test_count() << " failed"
              << (fail_ ? " (skips fail: CI / DYNMX_NO_SKIP=1)" : "") << std::endl;
  }

 private:
  bool fail_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Appended after the default printer: "end" events run in reverse order, so the failure
  // is added before the printer reports the test's outcome.
  ::testing::UnitTest::GetInstance()->listeners().Append(new NoSilentSkips(skipsFail()));
  return RUN_ALL_TESTS();
}
