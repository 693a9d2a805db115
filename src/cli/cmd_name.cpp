#include "cli/cli.h"
#include "stages/name.h"

namespace styleseg::cli {

int name_main(const std::vector<std::string>& args) {
  stages::NameOptions o;
  OptionSet set("name",
                "Names the clusters with CLIP (the paper's section 2.4): ranks split N generated samples; each image's\n"
                "dense CLIP embeddings (a ResNet tower made dense by dilation, output stride 8 or 16) are averaged\n"
                "over each cluster's pixels (masks: nearest centroid at the CLIP input's size), summed over ranks,\n"
                "and compared with the prompts' text embeddings (--template). Each cluster's name, score and margin\n"
                "to the two runner-up prompts are written into the clusters file and printed; --merge-file writes\n"
                "the class map (clusters of one name merged) for `synthesize --merge-file`, --png samples with\n"
                "their named clusters. --assign 3=hair fixes a name by hand. Sample i is the same on any number of\n"
                "ranks.");
  add_sampler_options(set, o.sampling, /*with_latents_file=*/false);
  set.add("clusters", &o.clusters, "clusters file of `styleseg cluster` on the same generator")
      .add("out", &o.out, "the clusters with their names (a new file: --clusters stays as it is)")
      .add("clip", &o.clip, "CLIP model: OpenAI's TorchScript archive (the paper: RN50x64.pt) or a state dict")
      .add("vocab", &o.vocab, "BPE merges bpe_simple_vocab_16e6.txt.gz (shipped with OpenAI's CLIP package)")
      .add_optional("prompts", &o.prompts, "what the clusters may be, comma-separated: 'hair,skin,eyes,background'")
      .add_optional("prompts-file", &o.prompts_file, "the prompts in a file: a JSON array, or one a line (# comments)")
      .add("template", &o.prompt_template, "sentence around each prompt; {} is the prompt")
      .add_flag("truncate", &o.truncate, "cut prompts longer than CLIP's context instead of failing")
      .add("samples", &o.samples, "generated samples whose regions are averaged")
      .add("batch", &o.batch, "samples per forward pass")
      .add("output-stride", &o.output_stride, "of the dense CLIP embeddings: 8 or 16 (ResNet), the patch (ViT); 0: the finest")
      .add("clip-size", &o.clip_size, "side of the CLIP input (0: the model's resolution)")
      .add("clip-precision", &o.clip_precision, "float32, or bfloat16 (GPU)")
      .add_list("assign", &o.assign, "CLUSTER=NAME: a name fixed by hand (repeatable)")
      .add_optional("merge-file", &o.merge_file, "write the class map (clusters of one name merged) for synthesize --merge-file")
      .add_optional("png", &o.png, "PNG: samples beside their clusters, with a legend of names and scores")
      .add("png-count", &o.png_count, "samples in the PNG");
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    stages::name_clusters(o, comm, set.to_json(non_result_options()));
    return 0;
  });
}

}  // namespace styleseg::cli
