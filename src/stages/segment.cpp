#include "stages/segment.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "io/atomic_output.h"
#include "io/image.h"
#include "io/output_policy.h"
#include "io/visualize.h"
#include "models/segmenter/model_file.h"
#include "models/segmenter/predict.h"
#include "mpi/communicator.h"

namespace fs = std::filesystem;

namespace styleseg::stages {
namespace {

void write_outputs(const SegmentOptions& o, const std::string& input, const at::Tensor& image, const at::Tensor& labels,
                   const at::Tensor& colours) {
  const std::string stem = fs::path(input).stem().string();
  write_png((fs::path(o.out) / (stem + ".png")).string(), labels.to(at::kByte).contiguous());
  if (!o.overlays) return;
  const at::Tensor colour = colorize_labels(labels.unsqueeze(0), colours)[0].to(at::kFloat);
  const at::Tensor blended = image.to(at::kFloat) * (1 - o.alpha) + colour * o.alpha;
  write_png((fs::path(o.out) / "overlay" / (stem + ".png")).string(), blended.round().clamp(0, 255).to(at::kByte).contiguous());
}

}  // namespace

std::vector<std::string> list_input_images(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& input : inputs) {
    std::error_code error;
    if (fs::is_directory(input, error)) {
      const std::vector<std::string> found = image_files_in(input);
      if (found.empty()) log::warn("--input {}: no PNG or JPEG file in this folder", input);
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(input, error)) {
      files.push_back(input);  // named explicitly: read whatever it is, and say so if it is not an image
    } else {
      throw InputError("--input " + input + ": no such file or folder");
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  std::map<std::string, std::string> by_stem;
  for (const std::string& file : files) {
    const auto [it, fresh] = by_stem.emplace(fs::path(file).stem().string(), file);
    STYLESEG_CHECK(fresh, ConfigError,
                   "--input: " + it->second + " and " + file + " would both be written as " + it->first + ".png");
  }
  return files;
}

SegmentSummary segment(const SegmentOptions& o, comm::Communicator& comm) {
  STYLESEG_CHECK(!o.model.empty(), ConfigError, "segment: --model is required");
  STYLESEG_CHECK(!o.inputs.empty(), ConfigError, "segment: --input is required (image files or folders)");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "segment: --out is required");
  STYLESEG_CHECK(o.batch > 0, ConfigError, "segment: --batch must be positive");
  STYLESEG_CHECK(o.alpha >= 0 && o.alpha <= 1, ConfigError, "segment: --alpha must be in [0, 1]");
  const auto start_time = std::chrono::steady_clock::now();
  OutputPlan plan("segment");
  plan.input("--model", o.model);
  for (const std::string& input : o.inputs) plan.input("--input", input);
  plan.output_folder("--out", o.out).decide({false, o.force}, comm);
  const c10::Device device = resolve_device(o.device, comm.local_rank());
  const c10::ScalarType precision = parse_precision(o.precision);
  segmenter::LoadedModel model = segmenter::load_model(o.model);
  STYLESEG_CHECK(model.info.classes.size() <= 256, InputError, o.model + ": more than 256 classes do not fit 8-bit mask PNGs");
  model.net.to(device);
  model.net.train(false);
  const at::Tensor colours = colour_table(model.info.palette);
  const std::vector<std::string> files = list_input_images(o.inputs);
  prepare_output_folder(o.out, "--out " + o.out);
  if (comm.rank() == 0) {
    write_png((fs::path(o.out) / "overlay" / "_legend.png").string(), make_legend(model.info.classes, colours, 480));
  }
  log::info("segmenting {} images with {} ({} classes, input {}x{}) on {}", files.size(), o.model, model.info.classes.size(),
            model.info.input_width, model.info.input_height, device.str());

  std::vector<std::string> mine;
  for (size_t i = static_cast<size_t>(comm.rank()); i < files.size(); i += static_cast<size_t>(comm.size())) mine.push_back(files[i]);
  int64_t done = 0, failed = 0;
  Progress progress("segment", static_cast<int64_t>(files.size()), comm.rank() == 0, "images");
  for (size_t start = 0; start < mine.size(); start += static_cast<size_t>(o.batch)) {
    std::vector<std::string> names;
    std::vector<at::Tensor> images;
    for (size_t i = start; i < std::min(mine.size(), start + static_cast<size_t>(o.batch)); ++i) {
      try {
        images.push_back(read_image(mine[i]));
        names.push_back(mine[i]);
      } catch (const InputError& e) {
        log::error("skipped: {}", e.what());
        ++failed;
      }
    }
    const std::vector<at::Tensor> labels = segmenter::predict_labels(model.net, model.info, images, device, precision);
    for (size_t j = 0; j < labels.size(); ++j) {
      try {
        write_outputs(o, names[j], images[j], labels[j], colours);
        ++done;
      } catch (const OutputError& e) {
        log::error("{}", e.what());
        ++failed;
      }
    }
    // Rank 0's bar counts its own share times the ranks: no collective per batch.
    progress.advance(static_cast<int64_t>(std::min(mine.size(), start + static_cast<size_t>(o.batch)) - start) * comm.size());
  }
  SegmentSummary summary;
  summary.images = comm::allreduce_sum(comm, done);
  summary.failed = comm::allreduce_sum(comm, failed);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  progress.finish();
  log::info("segmented {} images into {} in {:.1f} s ({:.1f} images/s){}", summary.images, o.out, summary.seconds,
            static_cast<double>(summary.images) / std::max(summary.seconds, 1e-9),
            summary.failed ? ", " + std::to_string(summary.failed) + " failed (named above)" : std::string());
  return summary;
}

}  // namespace styleseg::stages
