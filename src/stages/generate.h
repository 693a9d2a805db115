// Stage 1, generate: images, per-layer latents and the feature maps of one synthesis layer
// from a StyleGAN2 generator, sharded across ranks into one HDF5 file.
//
// Sharding: samples are cut into batches of `batch` consecutive samples; batch c is made by
// rank c mod size, and each round every rank writes its batch collectively. Sample i's
// latent, noise and mixing latent come from (seed, i) alone (core/seeding.h), and a batch is
// computed the same way whatever the number of ranks, so the file's contents do not depend
// on how many ranks wrote it.
//
// Resuming: the output is written as OUT.tmp.partial and renamed to OUT when complete.
// Every `resume_interval` seconds the batches done so far are recorded in it and flushed;
// a run that finds a partial file of the same job (same options, checkpoint and batch
// size; any number of ranks) continues from there. `time_limit` stops a run cleanly (for
// Slurm allocations); a killed run resumes from its last resume point.
//
// Output file:
//   images   uint8   [N, H, W, 3]          (x * 127.5 + 128, clamped; NVlabs convention)
//   z        float32 [N, z_dim]            when latents were drawn or given as z
//   w        float32 [N, num_ws, w_dim]    per-layer latents used (after truncation, mixing)
//   raw      float32 [N, 3, H, W]          with save_raw: generator output before clamping
//   features float32 [N, C, h, w]          with a feature layer (h = w = feature_size if set)
//   attributes: styleseg_version, checkpoint, checkpoint_sha256, generator (JSON), options
//   (JSON), feature_layer names, image_convention.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "sampling/sampler.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct GenerateOptions {
  sampling::SamplerOptions sampling;  // generator, seed or latents, truncation, noise, layer, device
  std::string out;                 // output HDF5 file
  int64_t count = 0;               // number of samples (with seed); with latents: first `count` (0 = all)
  int batch = 8;
  std::string png_dir;             // one PNG per sample
  std::string grid;                // PNG grid of the first `grid_count` samples
  std::string feature_grid;        // PNG grid of their features (3 principal components as RGB)
  int grid_count = 64;
  bool save_raw = false;
  int compression = 0;             // gzip level for the datasets (0 = none)
  double time_limit = 0;           // seconds; > 0: stop cleanly after the round that passes it (resumable)
  double resume_interval = 60;     // seconds between resume points (flushes of the partial file)
  bool resume = false;             // continue OUT.tmp.partial (io/output_policy.h)
  bool force = false;              // replace existing outputs, remove a stale partial file
  bool no_space_check = false;     // write even when the planned size exceeds the free space
};

struct GenerateSummary {
  int64_t samples = 0;     // samples in the output (so far, when stopped)
  double seconds = 0.0;
  bool complete = true;    // false: stopped at the time limit; the same call resumes
};

// Collective: every rank calls it with the same options. `provenance` is stored as the
// file's `options` attribute.
GenerateSummary generate(const GenerateOptions& options, comm::Communicator& comm,
                         const nlohmann::json& provenance);

}  // namespace styleseg::stages
