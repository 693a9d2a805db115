// The segmenter's training step alone (no data loading): forward, cross-entropy, backward,
// Adam, on random images [B, 3, S, S] with 8 classes, timed per phase. bench_train.py runs
// the same step in Python (--step-only) to tell the framework's cost from the data path.
//
//   build/bench_train_step [--size 128] [--batch 16] [--steps 10] [--threads 2] [--channels-last 1]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "models/segmenter/segmenter.h"
#include "train/optimizer.h"
#include "core/memory_reuse.h"

int main(int argc, char** argv) {
  styleseg::keep_freed_memory_for_reuse();  // as the styleseg CLI does
  int64_t size = 128, batch = 16, steps = 10;
  int threads = 2;
  bool channels_last = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--size")) size = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steps")) steps = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--channels-last")) channels_last = std::atoi(argv[i + 1]) != 0;
  }
  at::set_num_threads(threads);
  at::manual_seed(0);
  styleseg::segmenter::Segmenter net(8);
  net.train(true);
  if (channels_last)
    for (at::Tensor& p : net.parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  styleseg::train::Optimizer adam(net.parameters(), {});
  at::Tensor images = at::randn({batch, 3, size, size});
  if (channels_last) images = images.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor labels = at::randint(0, 8, {batch, size, size}, at::kLong);
  using Clock = std::chrono::steady_clock;
  double forward = 0, backward = 0, update = 0;
  for (int64_t step = 0; step < steps; ++step) {
    const auto t0 = Clock::now();
    adam.zero_grad();
    const at::Tensor loss = at::cross_entropy_loss(net.forward(images), labels, {}, at::Reduction::Mean, 255);
    const auto t1 = Clock::now();
    loss.backward();
    const auto t2 = Clock::now();
    adam.step(1e-4);
    const auto t3 = Clock::now();
    if (step < 2) continue;  // warm-up
    forward += std::chrono::duration<double>(t1 - t0).count();
    backward += std::chrono::duration<double>(t2 - t1).count();
    update += std::chrono::duration<double>(t3 - t2).count();
  }
  const double n = static_cast<double>(steps - 2);
  std::printf("forward %.3f s, backward %.3f s, optimiser %.3f s per step: %.2f images/s\n", forward / n, backward / n,
              update / n, static_cast<double>(batch) * n / (forward + backward + update));
  return 0;
}
