// Loader throughput: samples/s of one rank's loader (one assembling thread) over a corpus
// already in the page cache (the first pass warms it and is not counted).
//   trafficfm_loader_bench CORPUS [batch=256] [epochs=3]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "datasets/loader/loader.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS [batch] [epochs]\n", argv[0]);
    return 2;
  }
  trafficfm::datasets::LoaderOptions options;
  options.corpus = argv[1];
  options.batch_size = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 256;
  const int epochs = argc > 3 ? std::atoi(argv[3]) : 3;
  trafficfm::datasets::Loader loader(options);
  const auto steps = loader.steps_per_epoch();
  for (std::uint64_t s = 0; s < steps; ++s) loader.next();  // warm the page cache
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t samples = 0, bytes = 0;
  for (int e = 0; e < epochs; ++e) {
    for (std::uint64_t s = 0; s < steps; ++s) {
      const auto batch = loader.next();
      samples += batch.rows;
      for (const auto& column : batch.data) bytes += column.size();
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("loader: %llu samples (%s, %zu columns) in %.3f s = %.0f samples/s, %.1f MB/s, batch %zu\n",
              static_cast<unsigned long long>(samples), loader.manifest().encoder.c_str(),
              loader.columns().size(), seconds, samples / seconds, bytes / seconds / 1e6, options.batch_size);
  return 0;
}
