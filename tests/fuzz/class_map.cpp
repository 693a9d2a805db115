// Cluster-to-class maps (`--merge` text and `--merge-file`), for K from the first byte.
// Besides the rule of fuzz_input.h it checks a property: a map that parses prints as a
// canonical text that parses back to the same map.
#include "dataset/class_map.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

void check_round_trip(const styleseg::dataset::ClassMap& map, int64_t clusters) {
  const std::string text = map.to_string();
  const styleseg::dataset::ClassMap again = styleseg::dataset::ClassMap::parse(text, clusters);
  if (again.names() != map.names() || again.class_of_cluster() != map.class_of_cluster())
    styleseg::fuzz::finding("the class map's canonical text '" + text + "' parses to another map");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int64_t clusters = 1 + data[0] % 64;
  const std::string path = styleseg::fuzz::input_file(data + 1, size - 1, ".txt");
  styleseg::fuzz::expect_clean_refusal([&] {
    const std::string text = styleseg::dataset::read_merge_file(path);
    check_round_trip(styleseg::dataset::ClassMap::parse(text, clusters), clusters);
  });
  styleseg::fuzz::expect_clean_refusal([&] {
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    check_round_trip(styleseg::dataset::ClassMap::parse(text, clusters), clusters);
  });
  return 0;
}
