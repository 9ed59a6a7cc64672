// A child process for the RocksDB crash test: opens the store in argv[1]
// and creates keys /crash/<n> with ~1 KiB values as fast as it can, from
// argv[2] writer threads, printing "<revision> <key>\n" to stdout after each
// write is acknowledged. The test kills it with SIGKILL at a random moment.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "korch/store.h"

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  korch::store::RocksDbStorageOptions options;
  options.path = argv[1];
  auto store = korch::store::OpenRocksDbStorage(options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  const int threads = std::stoi(argv[2]);
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      // Bounded: the test kills the process long before this ends.
      for (int i = 0; i < 1000000; ++i) {
        std::string key = absl::StrCat("/crash/", ::getpid(), "/", t, "/", i);
        auto rev = (*store)->Create(key, std::string(1000, static_cast<char>('a' + i % 26)));
        if (!rev.ok()) {
          std::fprintf(stderr, "create: %s\n", std::string(rev.status().message()).c_str());
          _exit(1);
        }
        std::string line = absl::StrCat(*rev, " ", key, "\n");
        // One write(2) per line so that lines never interleave.
        if (::write(STDOUT_FILENO, line.data(), line.size()) < 0) _exit(1);
      }
    });
  }
  for (auto& w : writers) w.join();
  return 0;
}
