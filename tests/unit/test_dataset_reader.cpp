// The dataset reader: completeness, random access, per-epoch shards (disjoint, covering),
// and the prefetching loader.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "dataset/dataset_file.h"
#include "dataset/reader.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "support/fixtures.h"

namespace styleseg::dataset {
namespace {

constexpr int64_t kCount = 23, kSize = 6;

// Sample i: every image byte i, mask pixel p = (i + p) % 3. Samples in `not_done` are
// not marked done; complete when none is left out.
std::string make_dataset(const std::string& name, const std::set<int64_t>& not_done = {}) {
  const std::string path = test::scratch_dir("dataset_reader") + "/" + name + ".h5";
  h5::File file = h5::File::create(path, MPI_COMM_NULL);
  create_datasets(file, {kCount, kSize, kSize, 2, 4, false, 0});
  grow_datasets(file, kCount, kCount);
  at::Tensor images = at::arange(kCount, at::kByte).view({kCount, 1, 1, 1}).expand({kCount, kSize, kSize, 3}).contiguous();
  at::Tensor masks = ((at::arange(kCount).view({kCount, 1}) + at::arange(kSize * kSize).view({1, -1})) % 3)
                         .to(at::kByte).view({kCount, kSize, kSize});
  at::Tensor done = at::ones({kCount}, at::kByte);
  for (int64_t i : not_done) done[i] = 0;
  h5::write_tensor_rows(file, "images", 0, images);
  h5::write_tensor_rows(file, "masks", 0, masks.contiguous());
  h5::write_tensor_rows(file, "latents", 0, at::zeros({kCount, 2, 4}));
  h5::write_tensor_rows(file, "done", 0, done);
  file.write_string_attribute("/", "classes", R"(["a","b","c"])");
  file.write_string_attribute("/", "palette", "[[1,2,3],[4,5,6],[7,8,9]]");
  file.write_int_attribute("/", "ignore_label", 255);
  file.write_int_attribute("/", "complete", not_done.empty() ? 1 : 0);
  file.close();
  return path;
}

TEST(DatasetReader, ReadsSamplesByIndex) {
  const DatasetReader reader(make_dataset("complete"));
  EXPECT_EQ(reader.header().count, kCount);
  EXPECT_EQ(reader.header().classes, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(reader.available().size(), static_cast<size_t>(kCount));
  const Batch b = reader.read({17, 3, 17});
  ASSERT_EQ(b.images.sizes(), at::IntArrayRef({3, kSize, kSize, 3}));
  EXPECT_EQ(b.images[0].min().item<int>(), 17);
  EXPECT_EQ(b.images[1].max().item<int>(), 3);
  EXPECT_EQ(b.masks.scalar_type(), at::kLong);
  EXPECT_EQ(b.masks[1][0][0].item<int64_t>(), 0);  // (3 + 0) % 3
  EXPECT_EQ(b.masks[0][0][1].item<int64_t>(), 0);  // (17 + 1) % 3
  EXPECT_TRUE(at::equal(b.masks[0], b.masks[2]));
}

TEST(DatasetReader, RefusesAnIncompleteFileUnlessAskedAndThenUsesDoneSamplesOnly) {
  const std::string path = make_dataset("incomplete", {2, 5, 22});
  try {
    DatasetReader refused(path);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("incomplete (20 of 23 samples done)"), std::string::npos) << e.what();
  }
  const DatasetReader reader(path, /*allow_incomplete=*/true);
  EXPECT_EQ(reader.available().size(), 20u);
  for (int64_t i : {2, 5, 22}) EXPECT_EQ(std::count(reader.available().begin(), reader.available().end(), i), 0);
  for (int size : {1, 3}) {
    std::set<int64_t> seen;
    for (int rank = 0; rank < size; ++rank)
      for (int64_t i : reader.epoch_indices(0, 1, rank, size)) seen.insert(i);
    EXPECT_EQ(seen.size(), 20u);
    EXPECT_EQ(seen.count(5), 0u);
  }
}

TEST(DatasetReader, EpochShardsAreDisjointCoverEverythingAndReshuffle) {
  const DatasetReader reader(make_dataset("shards"));
  for (int size : {1, 2, 4, 5}) {
    std::vector<int64_t> all;
    size_t smallest = SIZE_MAX, largest = 0;
    for (int rank = 0; rank < size; ++rank) {
      const auto mine = reader.epoch_indices(3, 42, rank, size);
      smallest = std::min(smallest, mine.size());
      largest = std::max(largest, mine.size());
      all.insert(all.end(), mine.begin(), mine.end());
    }
    std::sort(all.begin(), all.end());
    std::vector<int64_t> expected(kCount);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(all, expected) << "size " << size;  // no sample twice, none missing
    EXPECT_LE(largest - smallest, 1u) << "size " << size;
  }
  EXPECT_EQ(reader.epoch_indices(3, 42, 0, 1), reader.epoch_indices(3, 42, 0, 1));
  EXPECT_NE(reader.epoch_indices(3, 42, 0, 1), reader.epoch_indices(4, 42, 0, 1));
  EXPECT_NE(reader.epoch_indices(3, 42, 0, 1), reader.epoch_indices(3, 43, 0, 1));
  const auto ordered = reader.epoch_indices(0, 0, 0, 1, /*shuffle=*/false);
  EXPECT_TRUE(std::is_sorted(ordered.begin(), ordered.end()));
}

TEST(DatasetReader, LoaderPrefetchesEveryBatchInOrder) {
  const DatasetReader reader(make_dataset("loader"));
  const std::vector<int64_t> order = reader.epoch_indices(1, 9, 0, 1);
  BatchLoader loader(reader, order, 5, 2);
  std::vector<int64_t> got;
  int batches = 0;
  while (auto batch = loader.next()) {
    ++batches;
    EXPECT_LE(batch->indices.size(0), 5);
    for (int64_t j = 0; j < batch->indices.size(0); ++j) {
      got.push_back(batch->indices[j].item<int64_t>());
      EXPECT_EQ(batch->images[j].min().item<int64_t>(), got.back());
    }
  }
  EXPECT_EQ(batches, 5);  // 23 = 4 * 5 + 3
  EXPECT_EQ(got, order);
  BatchLoader abandoned(reader, order, 2, 1);  // destroyed before it is drained: must not hang
  EXPECT_TRUE(abandoned.next().has_value());
}

TEST(DatasetReader, NotADatasetNamesTheFile) {
  const std::string path = test::scratch_dir("dataset_reader") + "/other.h5";
  h5::File file = h5::File::create(path, MPI_COMM_NULL);
  file.create_dataset("images", h5::DType::U8, {2, 4, 4, 3});
  file.close();
  try {
    DatasetReader reader(path);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": no dataset 'masks'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg::dataset

namespace styleseg::dataset {
namespace {

// A file with the datasets but none of the attributes (another program's, or a damaged
// one): an InputError naming the file and what is missing, not a JSON library's message.
TEST(DatasetHeader, AFileWithoutAttributesIsAnInputErrorNamingIt) {
  const std::string path = test::scratch_dir("dataset_no_attributes") + "/bare.h5";
  {
    h5::File file = h5::File::create(path, MPI_COMM_NULL);
    create_datasets(file, {2, kSize, kSize, 2, 4, false, 0});
    grow_datasets(file, 2, 2);
  }
  const h5::File file = h5::File::open(path, h5::Mode::Read);
  try {
    read_header(file);
    ADD_FAILURE() << "a dataset without attributes was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": the 'classes' and 'palette' attributes cannot be read"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace styleseg::dataset
