// The zip reader of torch.save files (io/zip_archive.h) on archives made by Python's zipfile
// and by hand in PyTorch's zip64 layout (tests/data/make_zip_files.py).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/torch_file.h"
#include "io/zip_archive.h"
#include "support/fixtures.h"

namespace styleseg::io {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string zip_file(const std::string& name) { return test::test_data_dir() + "/zip/" + name; }

std::string expected_b() {
  std::string b;
  for (int i = 0; i < 1000; ++i) b.push_back(static_cast<char>((i * 7) % 256));
  return b;
}

ZipArchive open_zip(const std::string& bytes) {
  return ZipArchive(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

TEST(ZipArchive, StoredDeflatedAndZip64ArchivesGiveTheSameRecords) {
  for (const char* name : {"stored.zip", "deflated.zip", "zip64.zip"}) {
    SCOPED_TRACE(name);
    const std::string bytes = read_bytes(zip_file(name));
    ASSERT_FALSE(bytes.empty());
    const ZipArchive zip = open_zip(bytes);
    EXPECT_EQ(zip.names(), (std::vector<std::string>{"archive/a.txt", "archive/b.bin"}));
    EXPECT_EQ(zip.size_of("archive/b.bin"), 1000u);
    EXPECT_EQ(zip.read_string("archive/a.txt"), "hello");
    EXPECT_EQ(zip.read_string("archive/b.bin"), expected_b());
    EXPECT_FALSE(zip.has("archive/c"));
    EXPECT_THROW(zip.read_string("archive/c"), InputError);
  }
}

TEST(ZipArchive, ChangedDataFailsItsCrc) {
  const std::string bytes = read_bytes(zip_file("bad_crc.zip"));
  const ZipArchive zip = open_zip(bytes);
  try {
    zip.read_string("archive/a.txt");
    ADD_FAILURE() << "a changed byte was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("CRC-32 mismatch"), std::string::npos) << e.what();
  }
  EXPECT_EQ(zip.read_string("archive/b.bin"), expected_b());
}

// Cut anywhere, an archive is refused when opened or when a record is read; never a crash.
TEST(ZipArchive, EveryTruncationIsRefused) {
  for (const char* name : {"stored.zip", "deflated.zip", "zip64.zip"}) {
    const std::string whole = read_bytes(zip_file(name));
    for (size_t keep = 0; keep < whole.size(); ++keep) {
      const std::string cut = whole.substr(0, keep);
      EXPECT_THROW(
          {
            const ZipArchive zip = open_zip(cut);
            for (const std::string& record : zip.names()) zip.read_string(record);
          },
          InputError)
          << name << " cut to " << keep << " bytes";
    }
  }
}

// A directory entry that claims a record larger than the file is refused before anything
// is allocated for it.
TEST(ZipArchive, SizesBeyondTheFileAreRefusedOnOpening) {
  std::string bytes = read_bytes(zip_file("zip64.zip"));
  // The first central entry's zip64 extra field: uncompressed then compressed size (8 bytes
  // each) right after its name "archive/a.txt" and the extra field's 4-byte header.
  const size_t entry = bytes.find(std::string("PK\x01\x02", 4));
  ASSERT_NE(entry, std::string::npos);
  const size_t sizes = bytes.find("archive/a.txt", entry) + 13 + 4;
  for (size_t i = 0; i < 16; ++i) bytes[sizes + i] = (i % 8 == 6) ? '\x01' : '\0';  // 2^48 bytes
  try {
    open_zip(bytes);
    ADD_FAILURE() << "a record of 2^48 bytes was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("past the end of the file"), std::string::npos) << e.what();
  }
}

// torch.save files whose records another tool deflated load as the original.
TEST(ZipArchive, DeflatedTorchFileLoadsAsTheStoredOne) {
  const PyValue stored = load_torch_file(test::test_data_dir() + "/torch_files/train_ckpt.pt");
  const PyValue deflated = load_torch_file(test::test_data_dir() + "/torch_files/train_ckpt_deflated.pt");
  EXPECT_EQ(describe_tree(deflated, 8), describe_tree(stored, 8));
  EXPECT_TRUE(deflated.at("weight").as_tensor().equal(stored.at("weight").as_tensor()));
  EXPECT_TRUE(deflated.at("long").as_tensor().equal(stored.at("long").as_tensor()));
}

}  // namespace
}  // namespace styleseg::io
