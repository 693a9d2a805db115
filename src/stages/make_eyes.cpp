#include "stages/make_eyes.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "dataset/dataset_file.h"
#include "domains/eyes.h"
#include "evaluate/metrics.h"
#include "io/atomic_output.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "io/image.h"
#include "io/output_policy.h"
#include "io/visualize.h"
#include "mpi/communicator.h"
#include "mpi/mpi_io.h"

namespace fs = std::filesystem;

namespace styleseg::stages {
namespace {

const std::vector<std::array<uint8_t, 3>>& eye_palette() {
  static const std::vector<std::array<uint8_t, 3>> colours{{{0, 0, 0}}, {{60, 180, 75}}, {{0, 130, 200}}, {{230, 25, 75}}};
  return colours;
}

}  // namespace

MakeEyesSummary make_eyes(const MakeEyesOptions& given, comm::Communicator& comm, const nlohmann::json& provenance) {
  MakeEyesOptions o = given;
  if (o.size > 0) o.height = o.width = o.size;
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "make-eyes: --out is required");
  STYLESEG_CHECK(o.count > 0, ConfigError, "make-eyes: --count must be positive");
  STYLESEG_CHECK(o.height >= 16 && o.width >= 16 && o.height <= 4096 && o.width <= 4096, ConfigError,
                 "make-eyes: --height and --width (or --size) must be in 16..4096");
  STYLESEG_CHECK(o.batch > 0 && o.grid_count > 0 && o.first_index >= 0, ConfigError,
                 "make-eyes: --batch and --grid-count must be positive, --first-index >= 0");
  STYLESEG_CHECK(o.baseline_test >= 0 && o.baseline_test < o.count, ConfigError,
                 "make-eyes: --baseline-test must be below --count (the rest fits the baseline)");
  const auto start_time = std::chrono::steady_clock::now();
  const dataset::DatasetLayout layout{o.count, o.height, o.width, 0, 0, false, 0};
  OutputPlan("make-eyes")
      .output("--out", o.out)
      .output("--grid", o.grid)
      .output_folder("--png-dir", o.png_dir)
      .needs_bytes(dataset::planned_bytes(layout))
      .decide({false, o.force, !o.no_space_check}, comm);
  const eyes::EyeOptions eye{o.height, o.width, o.colour};
  AtomicOutput output(o.out, comm::decide_on_root(comm, [] { return AtomicOutput::make_token(); }));
  {
    h5::File file = h5::File::create(output.temp_path(), comm::mpi_comm_of(comm));
    dataset::create_datasets(file, layout);
    dataset::write_dataset_attributes(file, eyes::class_names(), eye_palette(), o.count, o.height, o.width,
                                      {{"generator", "styleseg make-eyes"}, {"seed", std::to_string(o.seed)},
                                       {"first_index", std::to_string(o.first_index)},
                                       {"look", o.colour ? "colour" : "near-infrared grey"},
                                       {"options", provenance.dump()}, {"styleseg_version", STYLESEG_VERSION}});
    if (!o.png_dir.empty() && comm.rank() == 0) {
      fs::create_directories(fs::path(o.png_dir) / "images");
      fs::create_directories(fs::path(o.png_dir) / "masks");
    }
    comm.barrier();
    const int64_t chunks = (o.count + o.batch - 1) / o.batch;
    const int64_t rounds = (chunks + comm.size() - 1) / comm.size();
    Progress progress("make-eyes", o.count, comm.rank() == 0, "images");
    for (int64_t round = 0; round < rounds; ++round) {
      const int64_t chunk = round * comm.size() + comm.rank();
      const int64_t first = chunk < chunks ? chunk * o.batch : 0;
      const int64_t n = chunk < chunks ? std::min(o.batch, o.count - first) : 0;
      at::Tensor images, masks;
      if (n > 0) {
        images = at::empty({n, o.height, o.width, 3}, at::kByte);
        masks = at::empty({n, o.height, o.width}, at::kByte);
        for (int64_t j = 0; j < n; ++j) {
          const eyes::EyeSample s = eyes::render_eye(eye, o.seed, o.first_index + first + j);
          images[j].copy_(s.image);
          masks[j].copy_(s.mask);
          if (!o.png_dir.empty()) {
            const std::string name = "eye_" + std::to_string(o.first_index + first + j) + ".png";
            write_png((fs::path(o.png_dir) / "images" / name).string(), s.image);
            write_png((fs::path(o.png_dir) / "masks" / name).string(), s.mask);
          }
        }
      }
      const int64_t needed = std::min(o.count, (round + 1) * comm.size() * o.batch);
      dataset::grow_datasets(file, needed, comm.size() * o.batch);
      h5::write_tensor_rows(file, "images", first, images);
      h5::write_tensor_rows(file, "masks", first, masks);
      file.flush();
      h5::write_tensor_rows(file, "done", first, n > 0 ? at::ones({n}, at::kByte) : at::Tensor());
      progress.advance(comm::allreduce_sum(comm, n));
    }
    file.write_int_attribute("/", "complete", 1);
    file.close();
  }
  comm.barrier();
  if (comm.rank() == 0) output.commit();
  comm.barrier();

  MakeEyesSummary summary;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  log::info("wrote {} eye images ({}x{}, {}) with their masks to {} in {:.1f} s ({:.0f} images/s on {} ranks)", o.count,
            o.width, o.height, o.colour ? "colour" : "near-infrared grey", o.out, summary.seconds,
            static_cast<double>(o.count) / summary.seconds, comm.size());
  if (comm.rank() == 0 && (o.baseline_test > 0 || !o.grid.empty())) {
    const h5::File file = h5::File::open(o.out, h5::Mode::Read);
    if (!o.grid.empty()) {
      const int64_t shown = std::min(o.grid_count, o.count);
      write_png(o.grid, make_segmentation_preview(h5::read_tensor(file, "images", 0, shown), h5::read_tensor(file, "masks", 0, shown),
                                                  colour_table(eye_palette()), eyes::class_names()));
    }
    if (o.baseline_test > 0) {
      const int64_t fit = o.count - o.baseline_test;
      const at::Tensor lookup = eyes::fit_intensity_baseline(h5::read_tensor(file, "images", 0, fit), h5::read_tensor(file, "masks", 0, fit));
      const at::Tensor predicted = eyes::apply_intensity_baseline(lookup, h5::read_tensor(file, "images", fit, o.baseline_test));
      evaluate::Confusion confusion(eyes::kClasses, eyes::kClasses);
      confusion.add(predicted, h5::read_tensor(file, "masks", fit, o.baseline_test).to(at::kLong));
      const evaluate::Scores scores = evaluate::score(confusion.counts(), evaluate::identity_mapping(eyes::kClasses, eyes::kClasses));
      summary.baseline_miou = scores.mean_iou;
      summary.baseline_iou = scores.iou;
      log::info("intensity-threshold baseline (best class per grey level, fitted on {} images) on the last {}: mIoU {:.4f} "
                "(background {:.3f}, sclera {:.3f}, iris {:.3f}, pupil {:.3f})", fit, o.baseline_test, scores.mean_iou,
                scores.iou[0], scores.iou[1], scores.iou[2], scores.iou[3]);
    }
  }
  return summary;
}

}  // namespace styleseg::stages
