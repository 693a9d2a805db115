#include "stages/embed.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "io/atomic_output.h"
#include "io/output_policy.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "io/image.h"
#include "models/clip/model.h"
#include "models/clip/preprocess.h"
#include "models/clip/tokenizer.h"
#include "mpi/communicator.h"
#include "mpi/mpi_io.h"

namespace styleseg::stages {
namespace {

void validate(const EmbedOptions& o) {
  STYLESEG_CHECK(!o.clip.empty(), ConfigError, "embed: --clip is required");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "embed: --out is required");
  STYLESEG_CHECK(!o.texts.empty() || !o.images.empty() || !o.image_files.empty(), ConfigError,
                 "embed: nothing to embed: give --texts, --images or --image-files");
  STYLESEG_CHECK(o.images.empty() || o.image_files.empty(), ConfigError, "embed: give --images or --image-files, not both");
  STYLESEG_CHECK(o.texts.empty() || !o.vocab.empty(), ConfigError, "embed: --texts needs --vocab (bpe_simple_vocab_16e6.txt.gz)");
  STYLESEG_CHECK(o.batch > 0, ConfigError, "embed: --batch must be positive");
  STYLESEG_CHECK(o.output_stride >= 0, ConfigError, "embed: --output-stride must be >= 0");
  STYLESEG_CHECK(o.dense || o.output_stride == 0, ConfigError, "embed: --output-stride needs --dense");
}

// Where the images come from: rows of an HDF5 dataset or files, each batch preprocessed to
// the model's input.
class ImageSource {
 public:
  ImageSource(const EmbedOptions& o, int64_t resolution) : o_(o), resolution_(resolution) {
    if (!o.images.empty()) {
      file_ = std::make_unique<h5::File>(h5::File::open(o.images, h5::Mode::Read));
      STYLESEG_CHECK(file_->exists(o.dataset), InputError, o.images + ": no dataset '" + o.dataset + "' (--dataset)");
      const h5::DatasetInfo info = file_->info(o.dataset);
      pixels_ = info.dtype == h5::DType::U8 && info.shape.size() == 4 && info.shape[3] == 3;
      const bool tensors = info.dtype == h5::DType::F32 && info.shape.size() == 4 && info.shape[1] == 3;
      STYLESEG_CHECK(pixels_ || tensors, InputError,
                     o.images + ": dataset '" + o.dataset + "' is neither preprocessed float32 [B, 3, H, W] nor uint8 pixels [B, H, W, 3]");
      count_ = info.shape[0];
    } else {
      count_ = static_cast<int64_t>(o.image_files.size());
    }
  }
  int64_t count() const { return count_; }
  std::string describe() const {
    return o_.images.empty() ? std::to_string(count_) + " image files" : o_.images + ":" + o_.dataset;
  }

  // Rows [first, first + n) as model input [n, 3, H, W].
  at::Tensor batch(int64_t first, int64_t n) const {
    if (!o_.images.empty()) {
      const at::Tensor rows = h5::read_tensor(*file_, o_.dataset, first, n);
      return pixels_ ? clip::preprocess_pixels(rows, resolution_) : rows;
    }
    std::vector<at::Tensor> images;
    for (int64_t i = first; i < first + n; ++i)
      images.push_back(clip::preprocess_pixels(read_image(o_.image_files[static_cast<size_t>(i)]).unsqueeze(0), resolution_));
    return at::cat(images, 0);
  }

 private:
  const EmbedOptions& o_;
  int64_t resolution_;
  std::unique_ptr<h5::File> file_;  // with --images
  bool pixels_ = false;
  int64_t count_ = 0;
};

}  // namespace

std::vector<std::string> parse_json_strings(const std::string& text, const std::string& path) {
  try {
    return nlohmann::json::parse(text).get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not a JSON array of strings (" + std::string(e.what()) + ")");
  }
}

std::vector<std::string> read_json_strings(const std::string& path) {
  std::ifstream in(path);
  STYLESEG_CHECK(in, InputError, path + ": cannot read the file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_json_strings(buffer.str(), path);
}

EmbedSummary embed(const EmbedOptions& o, comm::Communicator& comm, const nlohmann::json& provenance) {
  validate(o);
  const auto start_time = std::chrono::steady_clock::now();
  OutputPlan plan("embed");
  plan.input("--clip", o.clip).input("--vocab", o.vocab).input("--texts", o.texts).input("--images", o.images);
  for (const std::string& file : o.image_files) plan.input("--image-files", file);
  plan.output("--out", o.out).decide({false, o.force}, comm);
  const c10::Device device = resolve_device(o.device, comm.local_rank());
  const clip::Model model = clip::load_model(o.clip, {device, parse_precision(o.clip_precision, "--clip-precision")});
  const clip::Architecture& arch = model.architecture();
  const int64_t stride = o.output_stride > 0 ? o.output_stride : model.output_strides().front();

  // Prompts: every rank tokenizes and embeds them (small); rank 0 writes them.
  std::vector<std::string> prompts;
  at::Tensor tokens, text_embeddings;
  if (!o.texts.empty()) {
    prompts = read_json_strings(o.texts);
    clip::Tokenizer tokenizer(o.vocab);
    tokens = tokenizer.tokenize(prompts, arch.context_length, o.truncate);
    text_embeddings = model.encode_text(tokens).cpu();
  }
  const ImageSource source(o, arch.image_resolution);
  const int64_t images = source.count();

  // The file: created by all ranks (parallel HDF5), written under a temporary name.
  const std::string token = comm::decide_on_root(comm, [] { return AtomicOutput::make_token(); });
  AtomicOutput output(o.out, token);
  h5::File file = h5::File::create(output.temp_path(), comm::mpi_comm_of(comm));
  const bool root = comm.rank() == 0;
  if (!prompts.empty()) {
    file.create_dataset("tokens", h5::DType::I64, {tokens.size(0), tokens.size(1)});
    file.create_dataset("text_embeddings", h5::DType::F32, {tokens.size(0), arch.embed_dim});
    h5::write_tensor_rows(file, "tokens", 0, root ? tokens : at::Tensor());
    h5::write_tensor_rows(file, "text_embeddings", 0, root ? text_embeddings : at::Tensor());
  }

  // Images: rank r embeds the contiguous block [r N / size, (r + 1) N / size), a batch per
  // collective round (a rank with fewer batches writes nothing and still takes part).
  bool pooled = true;
  if (images > 0) {
    const at::Tensor probe = source.batch(0, 1);
    pooled = probe.size(2) == arch.image_resolution && probe.size(3) == arch.image_resolution;
    STYLESEG_CHECK(pooled || o.dense, InputError,
                   source.describe() + ": images are " + std::to_string(probe.size(2)) + "x" + std::to_string(probe.size(3)) +
                       ", the model takes " + std::to_string(arch.image_resolution) + "x" +
                       std::to_string(arch.image_resolution) + " (preprocessed tensors are used as they are; only --dense takes other sizes)");
    if (pooled) file.create_dataset("image_embeddings", h5::DType::F32, {images, arch.embed_dim});
    if (pooled && !prompts.empty()) file.create_dataset("logits", h5::DType::F32, {images, static_cast<int64_t>(prompts.size())});
    if (o.dense) {
      // The map's size follows from the stride (dense_embeddings checks that it divides the sides).
      STYLESEG_CHECK(probe.size(2) % stride == 0 && probe.size(3) % stride == 0, InputError,
                     source.describe() + ": images of " + std::to_string(probe.size(2)) + "x" + std::to_string(probe.size(3)) +
                         " are not a multiple of the output stride " + std::to_string(stride));
      file.create_dataset("dense_embeddings", h5::DType::F32, {images, arch.embed_dim, probe.size(2) / stride, probe.size(3) / stride});
    }
  }
  const int64_t first = images * comm.rank() / comm.size(), last = images * (comm.rank() + 1) / comm.size();
  const int64_t most = (images + comm.size() - 1) / comm.size();
  const int64_t rounds = (most + o.batch - 1) / o.batch;
  Progress progress("embed", images, root, "images");
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t row = first + round * o.batch, n = std::max<int64_t>(0, std::min<int64_t>(o.batch, last - row));
    at::Tensor pooled_rows, logit_rows, dense_rows;
    if (n > 0) {
      const at::Tensor input = source.batch(row, n);
      if (pooled) pooled_rows = model.encode_image(input).cpu();
      if (pooled && !prompts.empty()) logit_rows = model.logits_per_image(pooled_rows, text_embeddings).cpu();
      if (o.dense) dense_rows = model.dense_embeddings(input, stride).cpu();
    }
    if (pooled) h5::write_tensor_rows(file, "image_embeddings", row, pooled_rows);
    if (pooled && !prompts.empty()) h5::write_tensor_rows(file, "logits", row, logit_rows);
    if (o.dense) h5::write_tensor_rows(file, "dense_embeddings", row, dense_rows);
    progress.advance(allreduce_sum(comm, n));
  }
  progress.finish();

  const std::map<std::string, std::string> text{
      {"prompts", nlohmann::json(prompts).dump()}, {"image_source", images > 0 ? source.describe() : ""},
      {"image_files", nlohmann::json(o.image_files).dump()}, {"clip", o.clip},
      {"clip_sha256", comm::decide_on_root(comm, [&] { return sha256_file(o.clip); })},
      {"architecture", arch.describe()}, {"options", provenance.dump()}, {"styleseg_version", STYLESEG_VERSION}};
  for (const auto& [name, value] : text) file.write_string_attribute("/", name, value);
  file.write_double_attribute("/", "logit_scale", model.logit_scale());
  if (o.dense) file.write_int_attribute("/", "output_stride", stride);
  file.close();
  comm.barrier();
  if (root) output.commit();
  comm.barrier();

  EmbedSummary summary{static_cast<int64_t>(prompts.size()), images,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count()};
  log::info("embedded {} prompts and {} images with {} ({}) in {:.1f} s ({:.1f} images/s): {}", summary.texts, summary.images,
            o.clip, arch.describe(), summary.seconds, summary.images / std::max(summary.seconds, 1e-9), o.out);
  return summary;
}

}  // namespace styleseg::stages
