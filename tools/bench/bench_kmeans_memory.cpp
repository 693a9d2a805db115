// k-means memory and throughput over ever more vectors: mini-batch k-means on a synthetic
// Gaussian mixture streamed from (seed, i) (cluster/feature_source.h), at 1e7, 1e8 and 1e9
// vectors by default, printing the peak resident memory after each run. Constant memory
// means the peak does not grow with the number of vectors.
//
//   build/bench_kmeans_memory [--vectors 1e7,1e8,1e9] [--dim 4] [--clusters 8] [--minibatch 1048576]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "cluster/feature_source.h"
#include "cluster/kmeans.h"
#include "core/log.h"
#include "mpi/local_communicator.h"
#include "core/memory_reuse.h"

namespace {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

std::vector<double> parse_list(const char* text) {
  std::vector<double> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(std::stod(item));
  return values;
}

}  // namespace

int main(int argc, char** argv) {
  styleseg::keep_freed_memory_for_reuse();  // as the styleseg CLI does
  std::vector<double> sizes{1e7, 1e8, 1e9};
  int64_t dim = 4, clusters = 8, minibatch = 1 << 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--vectors")) sizes = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dim")) dim = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--clusters")) clusters = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--minibatch")) minibatch = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  styleseg::log::configure(0, false, styleseg::log::parse_level("warn"));
  std::printf("mini-batch k-means on a streamed Gaussian mixture: D = %lld, K = %lld, %lld vectors a step, %d threads\n\n",
              static_cast<long long>(dim), static_cast<long long>(clusters), static_cast<long long>(minibatch),
              at::get_num_threads());
  std::printf("| vectors | steps | seconds | vectors/s | peak RSS (MiB) | max centre error |\n|---:|---:|---:|---:|---:|---:|\n");
  for (double size : sizes) {
    styleseg::cluster::MixtureSpec spec;
    spec.clusters = clusters;
    spec.dim = dim;
    spec.count = 0;  // unbounded: every step draws fresh vectors
    spec.chunk_items = 16384;
    spec.seed = 1;
    styleseg::cluster::MixtureSource source(spec);
    styleseg::cluster::KMeansParameters p;
    p.clusters = clusters;
    p.algorithm = styleseg::cluster::KMeansAlgorithm::Minibatch;
    p.fixed_items = 1 << 18;
    p.minibatch_items = minibatch;
    p.iterations = static_cast<int>(size / static_cast<double>(minibatch) + 0.5);
    p.tolerance = 0;
    styleseg::comm::LocalCommunicator comm;
    const auto start = std::chrono::steady_clock::now();
    const auto result = styleseg::cluster::train_kmeans(source, p, comm);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double error =
        (source.centres().unsqueeze(1) - result.centroids.unsqueeze(0)).pow(2).sum(2).sqrt().amin(1).max().item<double>();
    std::printf("| %.3g | %d | %.1f | %.3g | %.0f | %.3f |\n", static_cast<double>(result.vectors_processed), p.iterations,
                seconds, static_cast<double>(result.vectors_processed) / seconds, peak_rss_mib(), error);
    std::fflush(stdout);
  }
  return 0;
}
