// `styleseg embed`: CLIP embeddings of prompts and images into one HDF5 file, for retrieval
// and prompt engineering, and the way CLIP parity is checked from outside.
//
// OUT.h5 (written collectively by all ranks, under a temporary name, renamed when complete):
//   tokens            int64   [N, context]  clip.tokenize of the prompts
//   text_embeddings   float32 [N, E]
//   image_embeddings  float32 [B, E]        (images of the model's resolution)
//   logits            float32 [B, N]        logits_per_image, when both are given
//   dense_embeddings  float32 [B, E, h, w]  with --dense (models/clip/model.h)
//   attributes: prompts (JSON), image_source, clip, clip_sha256, architecture,
//   logit_scale, output_stride, options, styleseg_version.
// Images: an HDF5 dataset of preprocessed float32 [B, 3, H, W] (used as they are) or of
// uint8 [B, H, W, 3] pixels (a synthetic dataset's `images`), or image files; pixels get
// CLIP's preprocessing (models/clip/preprocess.h). Ranks split the images in contiguous
// blocks, so any number of ranks writes the same file.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct EmbedOptions {
  std::string clip;                      // CLIP model (.pt)
  std::string vocab;                     // bpe_simple_vocab_16e6.txt.gz (needed with texts)
  std::string texts;                     // JSON file: an array of prompt strings
  std::string images;                    // HDF5 file with images
  std::string dataset = "images";        // its dataset
  std::vector<std::string> image_files;  // or image files (PNG, JPEG)
  bool truncate = false;                 // cut prompts longer than the context
  bool dense = false;                    // also write dense_embeddings
  int output_stride = 0;                 // of the dense embeddings (0: the model's finest)
  std::string out;
  int batch = 16;
  std::string device = "auto";
  std::string clip_precision = "float32";
  bool force = false;                    // replace an existing OUT
};

struct EmbedSummary {
  int64_t texts = 0;
  int64_t images = 0;
  double seconds = 0;
};

// Collective.
EmbedSummary embed(const EmbedOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

// The strings of a JSON array file; InputError naming the file otherwise.
std::vector<std::string> read_json_strings(const std::string& path);
// The same from the file's text, already read (`path` names it in errors).
std::vector<std::string> parse_json_strings(const std::string& text, const std::string& path);

}  // namespace styleseg::stages
