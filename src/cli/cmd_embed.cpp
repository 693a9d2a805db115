#include "cli/cli.h"
#include "stages/embed.h"

namespace styleseg::cli {

int embed_main(const std::vector<std::string>& args) {
  stages::EmbedOptions o;
  OptionSet set("embed",
                "CLIP embeddings of prompts and images into one HDF5 file: tokens [N, 77] and text_embeddings [N, E]\n"
                "for the prompts of --texts (a JSON array of strings, so prompts may hold newlines and tabs),\n"
                "image_embeddings [B, E] for --images (an HDF5 dataset of preprocessed float32 [B, 3, R, R] tensors,\n"
                "or uint8 [B, H, W, 3] pixels such as a synthetic dataset's images) or --image-files, logits [B, N]\n"
                "when both are given, and with --dense the per-location embeddings [B, E, h, w] (a ResNet tower\n"
                "dilated to output stride 8 or 16; a ViT's projected patch tokens). Pixels get CLIP's preprocessing\n"
                "(bicubic resize of the short side, centre crop, CLIP's mean and std). A prompt longer than CLIP's\n"
                "77 tokens is an error naming it, unless --truncate. Ranks split the images.");
  set.add("clip", &o.clip, "CLIP model: OpenAI's TorchScript archive (RN50.pt ... RN50x64.pt, ViT-B-32.pt) or a state dict")
      .add_optional("vocab", &o.vocab, "BPE merges bpe_simple_vocab_16e6.txt.gz (shipped with OpenAI's CLIP package)")
      .add_optional("texts", &o.texts, "JSON file: an array of prompt strings")
      .add_optional("images", &o.images, "HDF5 file holding images")
      .add("dataset", &o.dataset, "the dataset in --images")
      .add_list("image-files", &o.image_files, "image files (PNG, JPEG) instead of --images")
      .add_flag("truncate", &o.truncate, "cut prompts longer than the context (as clip.tokenize(truncate=True))")
      .add_flag("dense", &o.dense, "also write dense_embeddings [B, E, h, w]")
      .add("output-stride", &o.output_stride, "of the dense embeddings: 8, 16 or 32 (ResNet), the patch (ViT); 0: the finest")
      .add("out", &o.out, "output HDF5 file")
      .add("batch", &o.batch, "images per forward pass")
      .add("device", &o.device, "auto, cpu, cuda or cuda:N (auto: the rank's GPU if any)")
      .add("clip-precision", &o.clip_precision, "float32, or bfloat16 (GPU)");
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    stages::embed(o, comm, set.to_json(non_result_options()));
    return 0;
  });
}

}  // namespace styleseg::cli
