// Replays every file of a corpus directory (or one file) through a fuzz target's
// LLVMFuzzerTestOneInput, so the seeds and every past finding are re-checked by each `make test`
// without needing clang.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR|FILE\n", argv[0]);
    return 2;
  }
  std::size_t replayed = 0;
  const auto replay = [&](const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ++replayed;
  };
  if (std::filesystem::is_regular_file(argv[1])) {
    replay(argv[1]);  // one input, such as a crash file libFuzzer wrote
  } else {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[1])) {
      if (entry.is_regular_file()) replay(entry.path());
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "no corpus files under %s\n", argv[1]);
    return 1;
  }
  std::printf("replayed %zu corpus files without a crash\n", replayed);
  return 0;
}
