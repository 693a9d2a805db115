#include "cli/cli.h"
#include "stages/probe.h"

namespace styleseg::cli {

int probe_main(const std::vector<std::string>& args) {
  stages::ProbeOptions o;
  OptionSet set("probe",
                "Where the unsupervised result loses to supervision, measured on the generator's own samples: a\n"
                "reference segmenter (--reference; for the eyes the job's supervised model) labels --samples images;\n"
                "on the first half it fits, per feature variant, a linear classifier on the pixel features (the\n"
                "ceiling any clustering of them could reach) and k-means at --clusters K (clusters mapped to the\n"
                "class most of their pixels carry), and scores both on the second half: IoU per class, mIoU, and\n"
                "per class the best cluster's precision and recall. Variants (--variant, repeatable) change the\n"
                "base options: layer=5+7,size=64,normalize=l2,noise=none,truncation=0.7,clusters=32,space=whiten.\n"
                "Ranks split the samples; the report does not depend on their number. Output: a table, --out JSON,\n"
                "--picture PNG (per score sample: image | reference | k-means classes | linear classes).");
  add_sampler_options(set, o.sampling, /*with_latents_file=*/false);
  set.add_list("variant", &o.variants, "feature variant key=value,... over the base options (repeatable)")
      .add("reference", &o.reference, "segmenter model file (styleseg train) whose labels are the reference")
      .add("samples", &o.samples, "generated samples: the first half fits, the second half is scored")
      .add("fit-pixels", &o.fit_pixels, "pixels drawn from each fit sample (fixed by --seed and the sample)")
      .add("clusters", &o.clusters, "k-means K (0: the reference's number of classes)")
      .add("cluster-space", &o.cluster_space,
           "where k-means runs: raw, standardize (per dimension), pca[:D] (leading axes) or whiten[:D] (same, unit variance)")
      .add("batch", &o.batch, "samples per batch, a rank's unit of work")
      .add_optional("out", &o.out, "JSON file of the figures")
      .add_optional("picture", &o.picture, "PNG: score samples with reference, k-means and linear-probe classes")
      .add("picture-samples", &o.picture_samples, "samples shown per variant");
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    stages::run_probe(o, comm);
    return 0;
  });
}

}  // namespace styleseg::cli
