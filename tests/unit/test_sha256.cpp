#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/sha256.h"
#include "support/fixtures.h"

namespace styleseg {
namespace {

std::string hash_of(const std::string& text) { return sha256_hex(text.data(), text.size()); }

void write_file(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<unsigned char> pseudo_random_bytes(std::size_t size) {
  std::vector<unsigned char> bytes(size);
  std::uint32_t state = 12345;
  for (auto& byte : bytes) {
    state = state * 1664525u + 1013904223u;
    byte = static_cast<unsigned char>(state >> 24);
  }
  return bytes;
}

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf" and "SHA2_Additional.pdf").
TEST(Sha256, EmptyMessage) {
  EXPECT_EQ(hash_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256, Abc) {
  EXPECT_EQ(hash_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256, TwoBlockMessage448Bits) {
  EXPECT_EQ(hash_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, Message896Bits) {
  EXPECT_EQ(hash_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, OneMillionA) {
  const std::string million(1000000, 'a');
  EXPECT_EQ(hash_of(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesMatchOneShotForEverySplit) {
  const std::vector<unsigned char> bytes = pseudo_random_bytes(1000);
  const std::string whole = sha256_hex(bytes.data(), bytes.size());
  for (std::size_t piece : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 127u, 999u}) {
    Sha256 hash;
    for (std::size_t at = 0; at < bytes.size(); at += piece) {
      hash.update(bytes.data() + at, std::min(piece, bytes.size() - at));
    }
    EXPECT_EQ(Sha256::to_hex(hash.finish()), whole) << "pieces of " << piece << " bytes";
  }
}

TEST(Sha256, FileHashDoesNotDependOnBufferSize) {
  const std::string path = test::scratch_dir("sha") + "/data.bin";
  const std::vector<unsigned char> bytes = pseudo_random_bytes(200 * 1024 + 13);
  write_file(path, bytes);
  const std::string in_memory = sha256_hex(bytes.data(), bytes.size());
  EXPECT_EQ(sha256_file(path), in_memory);              // one read (1 MiB buffer)
  EXPECT_EQ(sha256_file(path, 4096), in_memory);        // many full buffers and a short one
  EXPECT_EQ(sha256_file(path, 1000), in_memory);        // buffers not aligned to 64-byte blocks
  EXPECT_EQ(sha256_file(path, 7), in_memory);
}

TEST(Sha256, MatchesSha256sumWhenAvailable) {
  const std::string path = test::scratch_dir("sha") + "/data.bin";
  write_file(path, pseudo_random_bytes(70001));
  std::FILE* pipe = popen(("sha256sum '" + path + "' 2>/dev/null").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char line[256] = {0};
  const bool got = std::fgets(line, sizeof(line), pipe) != nullptr;
  const int status = pclose(pipe);
  if (!got || status != 0) GTEST_SKIP() << "sha256sum not available";
  EXPECT_EQ(sha256_file(path), std::string(line).substr(0, 64));
}

TEST(Sha256, MissingFileIsAnInputErrorNamingIt) {
  const std::string path = test::scratch_dir("sha") + "/absent.bin";
  try {
    sha256_file(path);
    FAIL() << "no error for a missing file";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg
