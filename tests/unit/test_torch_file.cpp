// Tests of the torch.save reader (src/io/torch_file.h, unpickler.h, py_value.h).
//
// Data: the reference checkpoints (../shared/fixtures, skipped when absent) and the small
// files tests/data/make_torch_files.py wrote into tests/data/torch_files. The expected
// values below are recomputed from the same torch.arange formulas as that script.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/py_value.h"
#include "io/torch_file.h"
#include "io/unpickler.h"
#include "support/fixtures.h"

namespace styleseg::io {
namespace {

namespace fs = std::filesystem;

// Bytes of a string literal, embedded NULs included.
#define PICKLE_BYTES(literal) std::string(literal, sizeof(literal) - 1)

// tests/data/torch_files: from STYLESEG_TEST_DATA, else beside this source file (ctest
// does not always pass the whole environment list through gtest_discover_tests).
std::string data_file(const std::string& name) {
  fs::path dir = fs::path(test::test_data_dir()) / "torch_files";
  if (!fs::is_directory(dir)) dir = fs::path(__FILE__).parent_path().parent_path() / "data" / "torch_files";
  const fs::path path = dir / name;
  EXPECT_TRUE(fs::exists(path)) << "test data missing: " << path
                                << " (regenerate with tests/data/make_torch_files.py)";
  return path.string();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Message of the InputError that f throws; a test failure for any other outcome.
std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return "";
}

bool bit_identical(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  // memcmp of 0 bytes still needs valid pointers; an empty tensor's may be null.
  return ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

// Same tree: kinds, keys, scalars, class names; tensors with equal dtype, shape, strides
// and bytes.
void expect_same_tree(const PyValue& a, const PyValue& b, const std::string& where) {
  ASSERT_EQ(a.kind(), b.kind()) << where << ": " << a.describe() << " vs " << b.describe();
  switch (a.kind()) {
    case PyValue::Kind::None: break;
    case PyValue::Kind::Bool: EXPECT_EQ(a.as_bool(), b.as_bool()) << where; break;
    case PyValue::Kind::Int: EXPECT_EQ(a.as_int(), b.as_int()) << where; break;
    case PyValue::Kind::Float: {
      const double x = a.as_float(), y = b.as_float();
      EXPECT_EQ(std::memcmp(&x, &y, sizeof x), 0) << where;
      break;
    }
    case PyValue::Kind::String: EXPECT_EQ(a.as_string(), b.as_string()) << where; break;
    case PyValue::Kind::Bytes: EXPECT_EQ(a.as_bytes(), b.as_bytes()) << where; break;
    case PyValue::Kind::Tensor:
      EXPECT_EQ(a.as_tensor().strides(), b.as_tensor().strides()) << where;
      EXPECT_TRUE(bit_identical(a.as_tensor(), b.as_tensor()))
          << where << ": " << a.describe() << " vs " << b.describe();
      break;
    case PyValue::Kind::List:
    case PyValue::Kind::Tuple:
      ASSERT_EQ(a.items().size(), b.items().size()) << where;
      for (size_t i = 0; i < a.items().size(); ++i)
        expect_same_tree(a.items()[i], b.items()[i], where + "[" + std::to_string(i) + "]");
      break;
    case PyValue::Kind::Dict:
      ASSERT_EQ(a.size(), b.size()) << where;
      for (size_t i = 0; i < a.size(); ++i) {
        const auto& [ka, va] = a.dict_items()[i];
        const auto& [kb, vb] = b.dict_items()[i];
        expect_same_tree(ka, kb, where + " key#" + std::to_string(i));
        const std::string name = ka.is_string() ? ka.as_string() : ka.describe();
        expect_same_tree(va, vb, where + "." + name);
      }
      break;
    case PyValue::Kind::Object:
      EXPECT_EQ(a.class_name(), b.class_name()) << where;
      expect_same_tree(a.object_args(), b.object_args(), where + "(args)");
      expect_same_tree(a.object_state(), b.object_state(), where + "(state)");
      break;
  }
}

std::set<std::string> string_keys(const PyValue& dict) {
  std::set<std::string> keys;
  for (const auto& [k, v] : dict.dict_items()) keys.insert(k.as_string());
  return keys;
}

// Zip and legacy copies of one checkpoint: same keys (in order), dtypes, shapes, bytes.
void expect_zip_and_legacy_agree(const std::string& zip_path, const std::string& legacy_path) {
  const PyValue zip = load_torch_file(zip_path);
  const PyValue legacy = load_torch_file(legacy_path);
  expect_same_tree(zip, legacy, "checkpoint");
}

// Every tensor below a value, with its path.
void collect_tensors(const PyValue& v, const std::string& path,
                     std::vector<std::pair<std::string, at::Tensor>>* out) {
  if (v.is_tensor()) out->emplace_back(path, v.as_tensor());
  if (v.is_dict())
    for (const auto& [k, x] : v.dict_items())
      collect_tensors(x, path + "/" + (k.is_string() ? k.as_string() : k.describe()), out);
  if (v.is_sequence())
    for (size_t i = 0; i < v.items().size(); ++i)
      collect_tensors(v.items()[i], path + "/" + std::to_string(i), out);
}

// ---- reference fixtures ----------------------------------------------------------------

TEST(TorchFileFixtures, RosinalityZipAndLegacyAreIdentical) {
  STYLESEG_REQUIRE_FIXTURE(zip, "stylegan2_rosinality/checkpoint.pt");
  STYLESEG_REQUIRE_FIXTURE(legacy, "stylegan2_rosinality/checkpoint_legacy.pt");
  expect_zip_and_legacy_agree(zip, legacy);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  collect_tensors(load_torch_file(legacy), "", &tensors);
  EXPECT_GT(tensors.size(), 20u);
}

TEST(TorchFileFixtures, NvlabsZipAndLegacyAreIdentical) {
  STYLESEG_REQUIRE_FIXTURE(zip, "stylegan2_nvlabs/checkpoint.pt");
  STYLESEG_REQUIRE_FIXTURE(legacy, "stylegan2_nvlabs/checkpoint_legacy.pt");
  expect_zip_and_legacy_agree(zip, legacy);
}

TEST(TorchFileFixtures, RosinalityStructure) {
  STYLESEG_REQUIRE_FIXTURE(path, "stylegan2_rosinality/checkpoint.pt");
  const PyValue ckpt = load_torch_file(path);
  ASSERT_TRUE(ckpt.is_dict());
  EXPECT_EQ(string_keys(ckpt), (std::set<std::string>{"g_ema", "latent_avg", "g"}));

  const PyValue& g_ema = ckpt.at("g_ema");
  ASSERT_TRUE(g_ema.is_dict());
  const auto tensors = tensor_items(g_ema);
  EXPECT_EQ(tensors.size(), g_ema.size());  // a state dict: every entry a tensor
  EXPECT_GT(tensors.size(), 20u);
  EXPECT_EQ(string_keys(ckpt.at("g")), string_keys(g_ema));
  EXPECT_EQ(tensors.front().first, g_ema.dict_items().front().first.as_string());  // file order

  const at::Tensor& latent_avg = ckpt.at("latent_avg").as_tensor();
  EXPECT_EQ(latent_avg.dim(), 1);
  EXPECT_EQ(latent_avg.scalar_type(), at::kFloat);
  EXPECT_TRUE(latent_avg.isfinite().all().item<bool>());
  EXPECT_GT(latent_avg.abs().sum().item<double>(), 0.0);
}

TEST(TorchFileFixtures, NvlabsStructure) {
  STYLESEG_REQUIRE_FIXTURE(path, "stylegan2_nvlabs/checkpoint.pt");
  const PyValue sd = load_torch_file(path);
  ASSERT_TRUE(sd.is_dict());
  EXPECT_EQ(tensor_items(sd).size(), sd.size());
  ASSERT_TRUE(sd.contains("mapping.w_avg"));
  EXPECT_EQ(sd.at("mapping.w_avg").as_tensor().dim(), 1);
  const at::Tensor& c = sd.at("synthesis.b4.const").as_tensor();
  EXPECT_EQ(c.dim(), 3);
  EXPECT_EQ(c.size(1), 4);
  EXPECT_EQ(c.size(2), 4);
  // resample_filter buffers sum to 1 (fixtures README).
  EXPECT_NEAR(sd.at("synthesis.b4.resample_filter").as_tensor().sum().item<double>(), 1.0, 1e-6);
}

// ---- generated data: tests/data/make_torch_files.py ------------------------------------

class TorchFileData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { zip_ = new PyValue(load_torch_file(data_file("train_ckpt.pt"))); }
  static void TearDownTestSuite() {
    delete zip_;
    zip_ = nullptr;
  }
  static const PyValue& ckpt() { return *zip_; }
  static PyValue* zip_;
};
PyValue* TorchFileData::zip_ = nullptr;

TEST_F(TorchFileData, ZipWithFolderNotNamedAfterTheFileLoads) {
  // train_ckpt.pt was saved through a BytesIO: its records live under "archive/".
  const std::string bytes = read_bytes(data_file("train_ckpt.pt"));
  ASSERT_NE(bytes.find("archive/data.pkl"), std::string::npos);
  EXPECT_EQ(bytes.find("train_ckpt/"), std::string::npos);
  EXPECT_EQ(ckpt().at("iteration").as_int(), 1234);
}

TEST_F(TorchFileData, TensorValuesOfEveryDtype) {
  const PyValue& c = ckpt();
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  EXPECT_TRUE(bit_identical(c.at("weight").as_tensor(),
                            at::arange(12, f32).reshape({3, 4}) * 0.5 - 1));
  EXPECT_TRUE(bit_identical(c.at("half").as_tensor(),
                            (at::arange(6, f32).reshape({2, 3}) / 4).to(at::kHalf)));
  EXPECT_TRUE(bit_identical(c.at("bf16").as_tensor(),
                            ((at::arange(5, f32) - 2) * 0.25).to(at::kBFloat16)));
  EXPECT_TRUE(bit_identical(c.at("long").as_tensor(),
                            at::arange(-3, 5, at::TensorOptions().dtype(at::kLong)) * 1000000007));
  EXPECT_TRUE(bit_identical(c.at("int32").as_tensor(), at::arange(4, at::kInt) - 2));
  EXPECT_TRUE(bit_identical(c.at("int16").as_tensor(), at::arange(3, at::kShort) * -300));
  EXPECT_TRUE(bit_identical(c.at("int8").as_tensor(), at::arange(3, at::kChar) - 1));
  EXPECT_TRUE(bit_identical(c.at("uint8").as_tensor(), at::arange(250, 256, at::kLong).to(at::kByte)));
  EXPECT_TRUE(bit_identical(c.at("float64").as_tensor(), at::arange(3, at::kDouble) / 3));
  EXPECT_TRUE(bit_identical(c.at("mask").as_tensor(), at::arange(7, at::kLong).remainder(3) == 0));
  EXPECT_TRUE(bit_identical(c.at("param").as_tensor(), at::arange(3, f32) + 0.5));
  EXPECT_EQ(c.at("half").describe(), "tensor float16 [2, 3]");
  // Spot values, independent of the formulas above.
  EXPECT_EQ(c.at("long").as_tensor()[0].item<int64_t>(), -3000000021LL);
  EXPECT_EQ(c.at("uint8").as_tensor()[5].item<int64_t>(), 255);
  EXPECT_EQ(c.at("bf16").as_tensor()[0].item<float>(), -0.5f);
}

TEST_F(TorchFileData, ViewsShareTheStorageOfTheirBase) {
  const PyValue& c = ckpt();
  const at::Tensor& base = c.at("base").as_tensor();
  const at::Tensor& base_t = c.at("base_t").as_tensor();
  const at::Tensor& window = c.at("window").as_tensor();
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor expected_base = at::arange(24, f32).reshape({4, 6});

  EXPECT_TRUE(bit_identical(base, expected_base));
  EXPECT_FALSE(base_t.is_contiguous());
  EXPECT_EQ(base_t.strides(), (std::vector<int64_t>{1, 6}));
  EXPECT_TRUE(bit_identical(base_t, expected_base.t()));
  EXPECT_EQ(window.storage_offset(), 8);
  EXPECT_EQ(window.strides(), (std::vector<int64_t>{6, 1}));
  EXPECT_TRUE(bit_identical(window, expected_base.slice(0, 1, 3).slice(1, 2, 5)));

  EXPECT_EQ(window.storage().data_ptr().get(), base.storage().data_ptr().get());
  EXPECT_EQ(base_t.storage().data_ptr().get(), base.storage().data_ptr().get());
  EXPECT_TRUE(window.is_alias_of(base));

  // The same tensor object saved twice is one value (pickle memo).
  EXPECT_TRUE(c.at("shared").same(c.at("shared_again")));
}

TEST_F(TorchFileData, ZeroDimEmptyAndExpandedTensors) {
  const PyValue& c = ckpt();
  const at::Tensor& scalar = c.at("scalar").as_tensor();
  EXPECT_EQ(scalar.dim(), 0);
  EXPECT_EQ(scalar.item<float>(), 3.5f);
  EXPECT_EQ(c.at("scalar_long").as_tensor().dim(), 0);
  EXPECT_EQ(c.at("scalar_long").as_tensor().item<int64_t>(), -7);
  EXPECT_EQ(c.at("empty").as_tensor().sizes(), (std::vector<int64_t>{0, 3}));
  const at::Tensor& expanded = c.at("expanded").as_tensor();
  EXPECT_EQ(expanded.strides(), (std::vector<int64_t>{0, 1}));
  EXPECT_TRUE(bit_identical(expanded, at::arange(3, at::kFloat).expand({2, 3})));
}

TEST_F(TorchFileData, NamespaceIsAnObjectWithReadableFields) {
  const PyValue& args = ckpt().at("args");
  ASSERT_TRUE(args.is_object());
  EXPECT_EQ(args.class_name(), "argparse.Namespace");
  const PyValue& fields = args.object_state();
  ASSERT_TRUE(fields.is_dict());
  EXPECT_DOUBLE_EQ(fields.at("lr").as_float(), 0.002);
  EXPECT_EQ(fields.at("size").as_int(), 64);
  EXPECT_DOUBLE_EQ(fields.at("size").as_float(), 64.0);  // as_float accepts ints
  EXPECT_EQ(fields.at("name").as_string(), "ffhq");
  EXPECT_TRUE(fields.at("mixing").is_none());
  EXPECT_TRUE(fields.at("use_ema").as_bool());
  ASSERT_EQ(fields.at("channels").items().size(), 2u);
  EXPECT_EQ(fields.at("channels").items()[1].as_int(), 256);
  EXPECT_TRUE(fields.at("betas").is_tuple());
  EXPECT_DOUBLE_EQ(fields.at("betas").items()[1].as_float(), 0.99);
}

TEST_F(TorchFileData, OptimizerStateDicts) {
  const PyValue& optim = ckpt().at("optim");
  const PyValue& state = optim.at("state");
  ASSERT_TRUE(state.contains(int64_t{0}));
  ASSERT_TRUE(state.contains(int64_t{1}));
  EXPECT_EQ(state.at(int64_t{0}).at("step").as_tensor().item<float>(), 3.0f);
  EXPECT_TRUE(bit_identical(state.at(int64_t{0}).at("exp_avg").as_tensor(),
                            at::arange(4, at::kFloat) * 0.1));
  EXPECT_EQ(state.at(int64_t{1}).at("step").as_int(), 7);
  EXPECT_TRUE(state.at(int64_t{1}).at("momentum_buffer").is_none());
  const PyValue& group = optim.at("param_groups").items().at(0);
  EXPECT_DOUBLE_EQ(group.at("lr").as_float(), 0.01);
  EXPECT_FALSE(group.at("amsgrad").as_bool());
  EXPECT_EQ(group.at("params").items()[1].as_int(), 1);

  // A real torch.optim.Adam after one step with beta1 = 0: exp_avg is the gradient.
  const PyValue& adam = ckpt().at("adam");
  const PyValue& s0 = adam.at("state").at(int64_t{0});
  const PyValue& s1 = adam.at("state").at(int64_t{1});
  const PyValue& step = s0.at("step");
  EXPECT_EQ(step.is_tensor() ? step.as_tensor().item<double>() : step.as_float(), 1.0);
  EXPECT_TRUE(bit_identical(s0.at("exp_avg").as_tensor(), at::ones({2, 2}, at::kFloat)));
  EXPECT_TRUE(bit_identical(s1.at("exp_avg").as_tensor(), at::full({3}, 2.0, at::kFloat)));
  EXPECT_DOUBLE_EQ(adam.at("param_groups").items()[0].at("lr").as_float(), 0.002);
}

TEST_F(TorchFileData, ModuleStateDictKeepsOrderAndBuffers) {
  const PyValue& model = ckpt().at("model");
  const auto tensors = tensor_items(model);
  std::vector<std::string> names;
  for (const auto& [name, t] : tensors) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias",
                                             "1.running_mean", "1.running_var",
                                             "1.num_batches_tracked"}));
  EXPECT_TRUE(bit_identical(tensors[0].second, at::arange(6, at::kFloat).reshape({2, 3}) - 2.5));
  EXPECT_EQ(tensors[1].second[1].item<float>(), -0.75f);
  EXPECT_EQ(tensors[4].second[1].item<float>(), 2.0f);
  EXPECT_EQ(tensors[6].second.dim(), 0);
  EXPECT_EQ(tensors[6].second.scalar_type(), at::kLong);
  EXPECT_EQ(tensors[6].second.item<int64_t>(), 11);
}

TEST_F(TorchFileData, PlainPythonValues) {
  const auto& n = ckpt().at("nested").items();
  ASSERT_EQ(n.size(), 16u);
  EXPECT_EQ(n[0].as_int(), 1);
  EXPECT_EQ(n[1].as_int(), -2);
  EXPECT_EQ(n[2].as_int(), int64_t{1} << 40);
  EXPECT_EQ(n[3].as_float(), 3.25);
  EXPECT_EQ(n[4].as_string(), "h\xc3\xa9llo \xe2\x98\x83");  // UTF-8 of "héllo ☃"
  EXPECT_EQ(n[5].as_bytes(), std::string("\x00\x01\xff", 3));
  EXPECT_TRUE(n[6].is_none());
  EXPECT_TRUE(n[7].as_bool());
  EXPECT_FALSE(n[8].as_bool());
  ASSERT_TRUE(n[9].is_tuple());
  EXPECT_EQ(n[9].items()[1].items()[1].as_string(), "x");
  EXPECT_TRUE(n[10].is_list());
  EXPECT_EQ(n[10].size(), 0u);
  EXPECT_TRUE(n[11].is_dict());
  EXPECT_TRUE(n[12].at("a").items()[0].is_none());
  EXPECT_EQ(n[13].as_int(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(n[14].is_object());  // 2**70 does not fit an int64
  EXPECT_EQ(n[14].class_name(), "builtins.int");
  EXPECT_TRUE(std::isinf(n[15].as_float()) && n[15].as_float() < 0);

  EXPECT_EQ(ckpt().at("device").as_string(), "cuda:1");
  const PyValue& size = ckpt().at("size");
  ASSERT_TRUE(size.is_tuple());
  EXPECT_EQ(size.items()[1].as_int(), 3);
  EXPECT_EQ(ckpt().at("set").class_name(), "builtins.set");
}

TEST_F(TorchFileData, ZipLegacyAndProtocol4Agree) {
  const PyValue legacy = load_torch_file(data_file("train_ckpt_legacy.pt"));
  const PyValue proto4 = load_torch_file(data_file("train_ckpt_proto4.pt"));
  expect_same_tree(ckpt(), legacy, "zip vs legacy");
  expect_same_tree(ckpt(), proto4, "zip vs protocol 4");
  // Storage sharing survives the legacy layout too.
  EXPECT_EQ(legacy.at("window").as_tensor().storage().data_ptr().get(),
            legacy.at("base").as_tensor().storage().data_ptr().get());
  EXPECT_TRUE(proto4.at("window").as_tensor().is_alias_of(proto4.at("base").as_tensor()));
}

TEST_F(TorchFileData, DescribeTreeShowsKeysAndShapes) {
  const std::string tree = describe_tree(ckpt(), 2);
  EXPECT_NE(tree.find("weight: tensor float32 [3, 4]"), std::string::npos) << tree;
  EXPECT_NE(tree.find("args: object argparse.Namespace"), std::string::npos) << tree;
  EXPECT_NE(tree.find("  model: dict with 7 keys"), std::string::npos) << tree;
  EXPECT_NE(tree.find("    0.weight: tensor float32 [2, 3]"), std::string::npos) << tree;
  // Depth 2 stops above the optimizer's per-parameter state.
  EXPECT_EQ(tree.find("exp_avg"), std::string::npos) << tree;
}

TEST_F(TorchFileData, WrongKindAccessThrowsInputError) {
  const std::string missing = input_error_of([] { ckpt().at("model").at("0.wieght"); });
  EXPECT_NE(missing.find("'0.wieght'"), std::string::npos) << missing;
  EXPECT_NE(missing.find("'0.weight'"), std::string::npos) << missing;  // keys present
  const std::string kind = input_error_of([] { ckpt().at("model").as_tensor(); });
  EXPECT_NE(kind.find("expected a tensor"), std::string::npos) << kind;
  EXPECT_NE(kind.find("dict with 7 keys"), std::string::npos) << kind;
  input_error_of([] { ckpt().at("iteration").as_string(); });
  input_error_of([] { ckpt().at("weight").items(); });
  input_error_of([] { ckpt().at("args").dict_items(); });
  input_error_of([] { tensor_items(ckpt().at("nested")); });
}

// ---- errors ------------------------------------------------------------------------------

TEST(TorchFileErrors, MissingFile) {
  const std::string path = test::scratch_dir("missing") + "/nothing_here.pt";
  const std::string msg = input_error_of([&] { load_torch_file(path); });
  EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
}

TEST(TorchFileErrors, EmptyFile) {
  const std::string path = test::scratch_dir("empty") + "/empty.pt";
  write_bytes(path, "");
  const std::string msg = input_error_of([&] { load_torch_file(path); });
  EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
}

// Truncated copies of a file at many offsets: each an InputError naming the file.
void expect_truncations_fail(const std::string& source, size_t step) {
  const std::string bytes = read_bytes(source);
  ASSERT_GT(bytes.size(), 100u);
  const std::string path = test::scratch_dir("truncated") + "/cut.pt";
  for (size_t cut = 1; cut < bytes.size(); cut += step) {
    write_bytes(path, bytes.substr(0, cut));
    const std::string msg = input_error_of([&] { load_torch_file(path); });
    ASSERT_EQ(msg.rfind(path, 0), 0u) << "cut at " << cut << ": " << msg;
    ASSERT_NE(msg.find("truncated or corrupt"), std::string::npos) << "cut at " << cut << ": " << msg;
  }
}

TEST(TorchFileErrors, TruncatedZipArchive) { expect_truncations_fail(data_file("train_ckpt.pt"), 97); }

TEST(TorchFileErrors, TruncatedLegacyFileAtEveryOffset) {
  expect_truncations_fail(data_file("train_ckpt_legacy.pt"), 1);
}

TEST(TorchFileErrors, TruncatedReferenceCheckpoint) {
  STYLESEG_REQUIRE_FIXTURE(legacy, "stylegan2_nvlabs/checkpoint_legacy.pt");
  expect_truncations_fail(legacy, 4099);
}

TEST(TorchFileErrors, RandomBytes) {
  std::mt19937 rng(1234);
  const std::string path = test::scratch_dir("random") + "/random.pt";
  // Plain random, and random after the first bytes of a pickle / zip so that the deeper
  // parsers see garbage too.
  for (const std::string prefix : {std::string(), std::string("\x80\x02", 2), std::string("PK\x03\x04")}) {
    for (int trial = 0; trial < 50; ++trial) {
      std::string bytes = prefix;
      const size_t n = 1 + rng() % 4000;
      for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(rng() & 0xFF));
      write_bytes(path, bytes);
      const std::string msg = input_error_of([&] { load_torch_file(path); });
      ASSERT_EQ(msg.rfind(path, 0), 0u) << msg;
    }
  }
}

TEST(TorchFileErrors, CorruptedBytesNeverCrash) {
  // Random byte changes inside valid files: either still loadable (a changed value) or an
  // InputError, never a crash or another exception type.
  std::mt19937 rng(99);
  const std::string path = test::scratch_dir("corrupt") + "/corrupt.pt";
  int errors = 0;
  for (const char* name : {"train_ckpt_legacy.pt", "train_ckpt.pt", "train_ckpt_proto4.pt"}) {
    const std::string original = read_bytes(data_file(name));
    ASSERT_FALSE(original.empty()) << name;
    for (int trial = 0; trial < 150; ++trial) {
      std::string bytes = original;
      for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng() & 0xFF);
      write_bytes(path, bytes);
      try {
        load_torch_file(path);
      } catch (const InputError& e) {
        ++errors;
        ASSERT_EQ(std::string(e.what()).rfind(path, 0), 0u) << e.what();
      }
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(TorchFileErrors, NvlabsNetworkPickleNamesTheConverter) {
  const std::string path = data_file("fake_nvlabs_network.pkl");
  const std::string msg = input_error_of([&] { load_torch_file(path); });
  EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
  EXPECT_NE(msg.find("NVlabs"), std::string::npos) << msg;
  EXPECT_NE(msg.find("python tools/convert_nvlabs_pkl.py NETWORK.pkl OUT.pt"), std::string::npos) << msg;
}

TEST(TorchFileErrors, PlainPickleIsNotATorchSaveFile) {
  const std::string path = data_file("plain_pickle.pkl");
  const std::string msg = input_error_of([&] { load_torch_file(path); });
  EXPECT_EQ(msg.rfind(path, 0), 0u) << msg;
  EXPECT_NE(msg.find("not a torch.save file"), std::string::npos) << msg;
}

TEST(TorchFileErrors, DirectoryAndTextFile) {
  const std::string dir = test::scratch_dir("notfiles");
  EXPECT_NE(input_error_of([&] { load_torch_file(dir); }).find("directory"), std::string::npos);
  write_bytes(dir + "/notes.txt", "hello, I am not a checkpoint\n");
  EXPECT_NE(input_error_of([&] { load_torch_file(dir + "/notes.txt"); }).find("not a torch.save file"),
            std::string::npos);
}

// ---- the unpickler on crafted bytes --------------------------------------------------------

TEST(TorchFileUnpickler, DeeplyNestedListsDoNotOverflowTheStack) {
  // [[[[...]]]] a million levels deep: building and destroying it must not recurse.
  constexpr size_t kDepth = 1000000;
  std::string bytes("\x80\x02", 2);
  bytes.append(kDepth, ']');
  bytes.append(kDepth - 1, 'a');
  bytes.push_back('.');
  PyValue v = unpickle(bytes.data(), bytes.size());
  EXPECT_TRUE(v.is_list());
  EXPECT_EQ(v.size(), 1u);
}

// A container that holds itself (through the memo, or DUP) is refused: no checkpoint has
// one, recursive readers would never end, and its shared handles would leak. Shared leaves
// (the same list twice) stay allowed, and a cycle the result does not hold is freed.
TEST(TorchFileUnpickler, SelfContainingContainersAreRefused) {
  // l = []; l.append(l): EMPTY_LIST, BINPUT 0, BINGET 0, APPEND, STOP.
  const std::string through_memo = PICKLE_BYTES("\x80\x02" "]q\x00" "h\x00" "a" ".");
  EXPECT_NE(input_error_of([&] { unpickle(through_memo.data(), through_memo.size()); }).find("list that contains itself"),
            std::string::npos);
  // EMPTY_LIST, DUP, APPEND, STOP.
  const std::string through_dup = PICKLE_BYTES("\x80\x02" "]2a" ".");
  EXPECT_NE(input_error_of([&] { unpickle(through_dup.data(), through_dup.size()); }).find("contains itself"),
            std::string::npos);
  // d = {}; d['k'] = [d]: EMPTY_DICT, BINPUT 0, 'k', MARK, BINGET 0, LIST, SETITEM, STOP.
  const std::string dict_cycle = PICKLE_BYTES("\x80\x02" "}q\x00" "X\x01\x00\x00\x00" "k" "(h\x00l" "s" ".");
  EXPECT_NE(input_error_of([&] { unpickle(dict_cycle.data(), dict_cycle.size()); }).find("dict that contains itself"),
            std::string::npos);
  // x = []; [x, x]: MARK, EMPTY_LIST, BINPUT 0, BINGET 0, LIST, STOP - shared, not a cycle.
  const std::string shared = PICKLE_BYTES("\x80\x02" "(]q\x00h\x00l" ".");
  const PyValue v = unpickle(shared.data(), shared.size());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(v.items()[0].same(v.items()[1]));
  // A self-containing list dropped before STOP: the result (None) is read.
  const std::string dropped = PICKLE_BYTES("\x80\x02" "]2a0" "N" ".");
  EXPECT_TRUE(unpickle(dropped.data(), dropped.size()).is_none());
}

TEST(TorchFileUnpickler, PlainClassesBecomeObjectsAndUnknownOnesAreRefused) {
  // pickle.dumps(Namespace.__new__(Namespace) with state {'x': 1}, protocol=2):
  // GLOBAL 'argparse Namespace', EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, 'x', 1, SETITEM, BUILD, STOP.
  const std::string bytes = PICKLE_BYTES("\x80\x02" "cargparse\nNamespace\n" ")\x81" "}" "X\x01\x00\x00\x00" "x"
                                         "K\x01" "s" "b" ".");
  const PyValue v = unpickle(bytes.data(), bytes.size());
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.class_name(), "argparse.Namespace");
  EXPECT_EQ(v.object_state().at("x").as_int(), 1);
  EXPECT_EQ(v.describe(), "object argparse.Namespace");
  // The same for a class mod.Foo of the program that saved it: refused (io/unpickler.h).
  const std::string foo = PICKLE_BYTES("\x80\x02" "cmod\nFoo\n" ")\x81" "}" "X\x01\x00\x00\x00" "x"
                                       "K\x01" "s" "b" ".");
  EXPECT_THROW(unpickle(foo.data(), foo.size()), RefusedGlobal);
}

// MARK 'storage' GLOBAL(torch FloatStorage) '0' 'cpu' 4 TUPLE BINPERSID: a float storage.
#define FLOAT_STORAGE_PID                                                              \
  "(" "X\x07\x00\x00\x00" "storage" "ctorch\nFloatStorage\n" "X\x01\x00\x00\x00" "0" \
  "X\x03\x00\x00\x00" "cpu" "K\x04" "t" "Q"

TEST(TorchFileUnpickler, StorageWithoutResolverAndBadLengthsAreErrors) {
  const std::string persid = PICKLE_BYTES("\x80\x02" FLOAT_STORAGE_PID ".");
  EXPECT_NE(input_error_of([&] { unpickle(persid.data(), persid.size()); }).find("storage"),
            std::string::npos);
  // BINUNICODE claiming 4 GiB with 3 bytes left: a bounds error, not an allocation.
  const std::string huge = PICKLE_BYTES("\x80\x02" "X\xff\xff\xff\xff" "abc");
  EXPECT_NE(input_error_of([&] { unpickle(huge.data(), huge.size()); }).find("ends early"),
            std::string::npos);
}

TEST(TorchFileUnpickler, TensorsAreViewsOfTheResolvedStorage) {
  int calls = 0;
  StorageResolver four_floats = [&calls](const StorageRef& ref) {
    ++calls;
    EXPECT_EQ(ref.key, "0");
    EXPECT_EQ(ref.dtype, at::kFloat);
    EXPECT_EQ(ref.numel, 4);
    EXPECT_EQ(ref.nbytes(), 16);
    return at::arange(4, at::kFloat).storage();
  };
  // _rebuild_tensor_v2(storage, offset 1, size (3,), stride (1,), False, None)
  const std::string ok = PICKLE_BYTES("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n"
                                      "(" FLOAT_STORAGE_PID "K\x01" "K\x03\x85" "K\x01\x85" "\x89" "N" "t" "R" ".");
  const at::Tensor t = unpickle(ok.data(), ok.size(), four_floats).as_tensor();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(t.storage_offset(), 1);
  EXPECT_TRUE(bit_identical(t, at::arange(1, 4, at::kFloat)));

  // size 5 from offset 0 reaches past the 4 floats of the storage.
  const std::string past = PICKLE_BYTES("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n"
                                        "(" FLOAT_STORAGE_PID "K\x00" "K\x05\x85" "K\x01\x85" "\x89" "N" "t" "R" ".");
  const std::string msg = input_error_of([&] { unpickle(past.data(), past.size(), four_floats); });
  EXPECT_NE(msg.find("beyond its storage"), std::string::npos) << msg;
}

}  // namespace
}  // namespace styleseg::io

namespace styleseg::io {
namespace {

// Checkpoints are data, by rule (io/unpickler.h): files made by torch.save and pickle whose
// payload would run a command under torch.load (tests/data/make_hostile_files.py) are
// refused at the global, naming the file and the global.
TEST(TorchFileAllowList, HostileGlobalsAreRefusedNamingFileAndGlobal) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"hostile_os_system.pt", "posix.system"},         // zip format
      {"hostile_eval_legacy.pt", "builtins.eval"},      // legacy format
      {"hostile_popen_proto4.pt", "subprocess.Popen"},  // protocol 4 (STACK_GLOBAL)
      {"hostile_unknown_class.pt", "__main__.Unknown"}, // a class of the saving program
      {"hostile_plain_pickle.pkl", "posix.system"}};    // a plain pickle
  for (const auto& [file, global] : cases) {
    const std::string path = data_file(file);
    const std::string msg = input_error_of([&] { load_torch_file(path); });
    EXPECT_EQ(msg.rfind(path + ": refused: the pickle names the global '" + global + "'", 0), 0u) << msg;
  }
}

TEST(TorchFileAllowList, CraftedGlobalIsRefusedBeforeReadingOn) {
  // GLOBAL 'builtins eval', then bytes that are not a pickle at all: the refusal comes first.
  const std::string bytes("\x80\x02" "cbuiltins\neval\n" "\xff\xff\xff", 20);
  try {
    unpickle(bytes.data(), bytes.size());
    ADD_FAILURE() << "builtins.eval was accepted";
  } catch (const RefusedGlobal& e) {
    EXPECT_NE(std::string(e.what()).find("'builtins.eval' (at byte 2)"), std::string::npos) << e.what();
  }
}

TEST(TorchFileAllowList, WhatCheckpointsNeedIsAllowedAndNothingElse) {
  for (const char* name : {"torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "collections.OrderedDict",
                           "torch.FloatStorage", "torch.cuda.HalfStorage", "torch.storage.UntypedStorage", "torch.bfloat16",
                           "argparse.Namespace", "torch.Size", "_codecs.encode"})
    EXPECT_TRUE(allowed_global(name)) << name;
  for (const char* name : {"posix.system", "os.system", "builtins.eval", "builtins.exec", "builtins.getattr",
                           "builtins.__import__", "subprocess.Popen", "torch.load", "torch.storage._load_from_bytes",
                           "numpy.core.multiarray._reconstruct", "torch.FloatStorageX", "evil.FloatStorage"})
    EXPECT_FALSE(allowed_global(name)) << name;
}

}  // namespace
}  // namespace styleseg::io
