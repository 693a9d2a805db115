// Dataset reader throughput: samples/s and MB/s reading a synthetic dataset
// (dataset/reader.h) through the prefetching loader, in file order and shuffled.
//
//   build/bench_reader DATASET.h5 [--batch 16] [--epochs 2]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "dataset/reader.h"
#include "core/memory_reuse.h"

int main(int argc, char** argv) {
  styleseg::keep_freed_memory_for_reuse();  // as the styleseg CLI does
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_reader DATASET.h5 [--batch 16] [--epochs 2]\n");
    return 2;
  }
  int64_t batch = 16;
  int epochs = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--batch")) batch = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
  }
  try {
    const styleseg::dataset::DatasetReader reader(argv[1]);
    const auto& h = reader.header();
    const double bytes_per_sample = static_cast<double>(h.height * h.width * (3 + (h.mask_uint16 ? 2 : 1)));
    std::printf("| order | samples/s | MB/s |\n|---|---:|---:|\n");
    for (const bool shuffle : {false, true}) {
      int64_t samples = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int epoch = 0; epoch < epochs; ++epoch) {
        styleseg::dataset::BatchLoader loader(reader, reader.epoch_indices(epoch, 1, 0, 1, shuffle), batch, 2);
        while (auto b = loader.next()) samples += b->indices.size(0);
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("| %s | %.0f | %.1f |\n", shuffle ? "shuffled" : "file order", samples / seconds,
                  samples * bytes_per_sample / seconds / 1e6);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_reader: %s\n", e.what());
    return 1;
  }
  return 0;
}
