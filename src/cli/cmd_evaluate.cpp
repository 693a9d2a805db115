#include "cli/cli.h"
#include "mpi/communicator.h"
#include "stages/evaluate.h"

namespace styleseg::cli {

int evaluate_main(const std::vector<std::string>& args) {
  stages::EvaluateOptions o;
  OptionSet set("evaluate",
                "Scores predicted index masks (grey PNGs) against ground truth paired by file name: per-class\n"
                "IoU, mIoU, pixel accuracy and the confusion matrix. --mapping hungarian maps predicted labels\n"
                "(clusters) one-to-one to classes by maximal total overlap over all evaluated pixels; identity\n"
                "takes labels as classes; majority maps each label to the class it overlaps most (many-to-one); a file\n"
                "gives 'LABEL CLASS' lines. --save-mapping writes the mapping used as such a file, so a mapping fitted\n"
                "on a labelled subset can be applied unchanged to a test split.");
  set.add("pred", &o.pred, "folder of predicted masks")
      .add("gt", &o.gt, "folder of ground-truth masks")
      .add("mapping", &o.mapping, "hungarian, majority, identity, or a file of 'LABEL CLASS' lines")
      .add("classes", &o.classes, "ground-truth classes (0: the largest label seen + 1)")
      .add("labels", &o.labels, "predicted labels (0: the largest label seen + 1)")
      .add("ignore-label", &o.ignore_label, "ground-truth value that is not scored")
      .add_optional("merge", &o.merge, "merge ground-truth classes first: celebamask-hq, celeba-mask8, openeds, a file, or '0:bg;4,5:eyes'")
      .add_optional("out", &o.out, "JSON report")
      .add_optional("confusion", &o.confusion, "PNG of the row-normalised confusion matrix")
      .add_optional("save-mapping", &o.save_mapping, "write the mapping used as 'LABEL CLASS' lines");
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    if (comm.rank() == 0) stages::run_evaluate(o);
    comm.barrier();
    return 0;
  });
}

}  // namespace styleseg::cli
