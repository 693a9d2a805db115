// evaluate: scores predicted index masks against ground-truth masks (per-class IoU, mIoU,
// pixel accuracy, confusion matrix), after mapping predicted labels to classes.
//
// Files are paired by name: every ground-truth PNG needs a prediction PNG of the same stem.
// --mapping hungarian (one-to-one, maximal total overlap, fitted on all evaluated pixels:
// the usual protocol for unsupervised segmentation), majority (many-to-one: each label to
// the class it overlaps most), identity (labels are classes), or a file of "LABEL CLASS"
// lines. --save-mapping writes the mapping used as such a file: fitted on a labelled subset,
// it is then applied unchanged to the test split.
#pragma once

#include <cstdint>
#include <string>

namespace styleseg::stages {

struct EvaluateOptions {
  std::string pred;              // folder of predicted index masks (PNG)
  std::string gt;                // folder of ground-truth index masks (PNG)
  std::string mapping = "hungarian";
  int64_t classes = 0;           // ground-truth classes (0: the largest label seen + 1)
  int64_t labels = 0;            // predicted labels (0: the largest label seen + 1)
  int64_t ignore_label = 255;
  std::string out;               // JSON report
  std::string confusion;         // PNG of the row-normalised confusion matrix
  std::string save_mapping;      // the mapping used, as a file of 'LABEL CLASS' lines (--mapping FILE reads it)
  // Ground-truth classes merged before scoring: a preset (celebamask-hq, openeds), a file
  // or the text itself, in the class-map syntax "0:background;4,5:eyes" (dataset/class_map.h);
  // classes left out are ignored.
  std::string merge;
  bool force = false;            // replace existing outputs (io/output_policy.h)
};

// The merge presets: name -> class map over the dataset's own label indices.
//  celebamask-hq: the 19 labels of the dataset's g_mask.py (0 background, 1 skin, 2 nose,
//    3 eyeglasses, 4/5 left/right eye, 6/7 brows, 8/9 ears, 10 mouth, 11 upper lip, 12 lower
//    lip, 13 hair, 14 hat, 15 earring, 16 necklace, 17 neck, 18 cloth) with left and right
//    merged and earring and necklace dropped, as the paper evaluates it: 14 classes.
//  celeba-mask8: the 8 classes of the semi-supervised face-parsing benchmarks the paper
//    compares with (Repurposing GANs, semanticGAN): background, skin, eyes, brows, ears,
//    nose, mouth (mouth and both lips), hair. Labels with no class there (eyeglasses, hat,
//    earring, necklace, neck, cloth) count as background.
//  openeds: background, sclera, iris, pupil as they are.
const char* merge_preset(const std::string& name);

struct EvaluateSummary {
  double mean_iou = 0;
  double pixel_accuracy = 0;
  int64_t images = 0;
};

// Local (run it on one rank). The report is printed and written to `out`.
EvaluateSummary run_evaluate(const EvaluateOptions& options);

}  // namespace styleseg::stages
