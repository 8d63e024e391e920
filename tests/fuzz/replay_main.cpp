// Replays fuzz inputs through a libFuzzer target without libFuzzer: the GCC ASan+UBSan
// test build links every fuzz target with this main and runs the committed seeds and the
// kept crash inputs (tests/fuzz/{corpus,regressions}/<target>/) as ordinary tests, so a
// fixed crash cannot come back unseen. Fuzzing itself (new inputs) is scripts/fuzz.sh.
// Usage: <target> DIR_OR_FILE...   Exit 0 when every input ran; the target aborts otherwise.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const fs::path p = argv[i];
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(p))
        if (e.is_regular_file()) inputs.push_back(e.path());
    } else if (fs::is_regular_file(p, ec)) {
      inputs.push_back(p);
    } else {
      std::fprintf(stderr, "replay: %s: no such file or directory\n", p.c_str());
      return 2;
    }
  }
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs: a replay that runs nothing proves nothing\n");
    return 2;
  }
  std::sort(inputs.begin(), inputs.end());
  for (const auto& p : inputs) {
    std::ifstream in(p, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", p.c_str(), bytes.size());
    // An empty vector still hands the target a valid pointer, as libFuzzer does.
    std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
    copy.reserve(1);
    LLVMFuzzerTestOneInput(copy.data(), copy.size());
  }
  std::printf("replay: %zu inputs ran\n", inputs.size());
  return 0;
}
