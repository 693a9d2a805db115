// CLIP tokenizer (models/clip/tokenizer.h) against openai/CLIP's simple_tokenizer.py and
// clip.tokenize: every prompt of ../shared/fixtures/clip/tokenizer.h5 (ids, cleaned text,
// BPE pieces, which prompts are too long), the prompts of clip/ and clip_vit/ expected.h5,
// and hand-made cases whose expected values come from Python 3.11's html.unescape,
// str.lower and the tokenizer's rules (computed with /usr/bin/python3).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "models/clip/tokenizer.h"
#include "support/fixtures.h"

namespace styleseg::clip {
namespace {

// Strings stored as `<name>_utf8` (uint8 bytes) + `<name>_offsets` (int64, N + 1).
std::vector<std::string> read_strings(const h5::File& file, const std::string& name) {
  const auto bytes = file.read_all<std::uint8_t>(name + "_utf8");
  const auto offsets = file.read_all<std::int64_t>(name + "_offsets");
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 1 < offsets.size(); ++i)
    out.emplace_back(bytes.begin() + offsets[i], bytes.begin() + offsets[i + 1]);
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? " " : "") + parts[i];
  return out;
}

// The ids of a row of a tokenize() result, up to and including the end token.
std::vector<std::int64_t> row(const at::Tensor& tokens, std::int64_t i) {
  const at::Tensor r = tokens[i].contiguous();
  return {r.data_ptr<std::int64_t>(), r.data_ptr<std::int64_t>() + r.numel()};
}

TEST(ClipTokenizer, MatchesReferenceOnEveryFixturePrompt) {
  STYLESEG_REQUIRE_FIXTURE(merges, "clip/bpe_simple_vocab_16e6.txt.gz");
  STYLESEG_REQUIRE_FIXTURE(path, "clip/tokenizer.h5");
  Tokenizer tokenizer(merges);
  h5::File file = h5::File::open(path, h5::Mode::Read);
  EXPECT_EQ(file.read_int_attribute("/", "sot_token"), tokenizer.start_token());
  EXPECT_EQ(file.read_int_attribute("/", "eot_token"), tokenizer.end_token());
  const std::int64_t context = file.read_int_attribute("/", "context_length");
  ASSERT_EQ(context, Tokenizer::kDefaultContextLength);

  const auto prompts = read_strings(file, "prompts");
  const auto categories = read_strings(file, "categories");
  const auto cleaned = read_strings(file, "cleaned_text");
  const auto pieces = read_strings(file, "bpe_pieces");
  const auto raises = file.read_all<std::uint8_t>("raises_without_truncate");
  const auto lengths = file.read_all<std::int64_t>("n_tokens_untruncated");
  const at::Tensor expected = h5::read_tensor(file, "tokens");
  ASSERT_EQ(prompts.size(), 51u);
  ASSERT_EQ(expected.sizes(), (std::vector<std::int64_t>{51, context}));

  const at::Tensor all = tokenizer.tokenize(prompts, context, /*truncate=*/true);
  EXPECT_EQ(all.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(all, expected));
  int raising = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    SCOPED_TRACE("prompt " + std::to_string(i) + " (" + categories[i] + "): " + prompts[i]);
    EXPECT_EQ(row(all, i), row(expected, i));
    EXPECT_EQ(tokenizer.clean(prompts[i]), cleaned[i]);
    EXPECT_EQ(clean_text(prompts[i]), cleaned[i]);
    EXPECT_EQ(join(tokenizer.pieces(prompts[i])), pieces[i]);
    const std::vector<std::int64_t> ids = tokenizer.encode(prompts[i]);
    EXPECT_EQ(static_cast<std::int64_t>(ids.size()) + 2, lengths[i]);
    for (std::size_t k = 0; k < ids.size() && k + 2 < static_cast<std::size_t>(context); ++k)  // before the end token
      EXPECT_EQ(ids[k], expected[i][k + 1].item<std::int64_t>());
    if (raises[i]) {
      ++raising;
      EXPECT_THROW(tokenizer.tokenize(prompts[i]), ConfigError);
    } else {
      EXPECT_NO_THROW(tokenizer.tokenize(prompts[i]));
      EXPECT_TRUE(at::equal(tokenizer.tokenize(prompts[i])[0], expected[i]));
    }
  }
  EXPECT_EQ(raising, 2);  // boundary_78 and long
}

TEST(ClipTokenizer, MatchesExpectedPromptsOfBothClipFixtures) {
  STYLESEG_REQUIRE_FIXTURE(merges, "clip/bpe_simple_vocab_16e6.txt.gz");
  Tokenizer tokenizer(merges);
  for (const char* name : {"clip/expected.h5", "clip_vit/expected.h5"}) {
    STYLESEG_REQUIRE_FIXTURE(path, name);
    SCOPED_TRACE(name);
    h5::File file = h5::File::open(path, h5::Mode::Read);
    const auto prompts = read_strings(file, "prompts");
    EXPECT_TRUE(at::equal(tokenizer.tokenize(prompts, 77, /*truncate=*/true), h5::read_tensor(file, "tokens")));
  }
}

TEST(ClipTokenizer, TooLongPromptErrorQuotesPromptLengthAndLimit) {
  STYLESEG_REQUIRE_FIXTURE(merges, "clip/bpe_simple_vocab_16e6.txt.gz");
  Tokenizer tokenizer(merges);
  std::string prompt;
  for (int i = 0; i < 76; ++i) prompt += "cat ";  // 76 + start + end = 78
  try {
    tokenizer.tokenize(std::vector<std::string>{"dog", prompt});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("\"cat cat cat"), std::string::npos) << message;
    EXPECT_NE(message.find("..."), std::string::npos) << message;  // shortened
    EXPECT_NE(message.find("78"), std::string::npos) << message;
    EXPECT_NE(message.find("77"), std::string::npos) << message;
    EXPECT_NE(message.find("--truncate"), std::string::npos) << message;
  }
  // Truncation keeps the first context_length - 1 ids and ends with the end token.
  const at::Tensor cut = tokenizer.tokenize("a photo of a cat", 4, /*truncate=*/true);
  EXPECT_EQ(row(cut, 0), (std::vector<std::int64_t>{49406, 320, 1125, 49407}));
  EXPECT_THROW(tokenizer.tokenize("a photo of a cat", 4), ConfigError);
  EXPECT_THROW(tokenizer.tokenize("a", 0, true), ConfigError);
  EXPECT_EQ(tokenizer.tokenize(std::vector<std::string>{}).sizes(), (std::vector<std::int64_t>{0, 77}));
}

TEST(ClipTokenizer, HandMadeCases) {
  STYLESEG_REQUIRE_FIXTURE(merges, "clip/bpe_simple_vocab_16e6.txt.gz");
  Tokenizer tokenizer(merges);
  EXPECT_EQ(tokenizer.vocab_size(), 49408);
  EXPECT_EQ(tokenizer.piece(0), "!");
  EXPECT_EQ(tokenizer.piece(256), "!</w>");
  EXPECT_EQ(tokenizer.piece(49406), "<|startoftext|>");
  EXPECT_EQ(tokenizer.piece(49407), "<|endoftext|>");
  EXPECT_THROW(tokenizer.piece(49408), std::out_of_range);

  struct Case {
    std::string text;
    std::vector<std::string> pieces;
    std::vector<std::int64_t> ids;
  };
  const std::vector<Case> cases = {
      {"&#128; euro", {"\xC3\xA2\xC4\xA4\xC2\xAC</w>", "euro</w>"}, {6309, 8463}},  // 'â Ĥ ¬' = bytes of €
      // Final sigma: ς (CF 82) -> 'Ï', 'Ĥ'; σ would be CF 83 -> 'ĥ'.
      {"\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3",
       {"\xC3\x8E", "\xC2\xBF", "\xC3\x8E", "\xC2\xB4", "\xC3\x8E", "\xC2\xBF", "\xC3\x8F", "\xC4\xA4</w>"},
       {138, 123, 138, 112, 138, 123, 139, 480}},
      {"hello<|endoftext|>world", {"hello</w>", "<|endoftext|>", "world</w>"}, {3306, 49407, 1002}},
      {"<|startoftext|>x", {"<|startoftext|>", "x</w>"}, {49406, 343}},
      {"IT'S", {"it</w>", "'s</w>"}, {585, 568}},
      {"&notit; a&amp;amp;b", {"\xC3\x82", "\xC2\xAC</w>", "it</w>", ";</w>", "a</w>", "&</w>", "b</w>"},
       {126, 361, 585, 282, 320, 261, 321}},
      {"a\xE3\x80\x80" "b", {"a</w>", "b</w>"}, {320, 321}},  // U+3000 ideographic space
      {"xxx", {"xxx</w>"}, {8352}},
      {"12345", {"1</w>", "2</w>", "3</w>", "4</w>", "5</w>"}, {272, 273, 274, 275, 276}},
      {"na\xC3\xAFve", {"na", "\xC3\x83\xC2\xAF", "ve</w>"}, {1097, 35689, 563}},
      {std::string("\0", 1), {"\xC4\x80</w>"}, {444}},  // byte 0 -> U+0100
      {"\xC4\x80", {"\xC3\x84", "\xC4\xA3</w>"}, {128, 479}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(tokenizer.pieces(c.text), c.pieces);
    EXPECT_EQ(tokenizer.encode(c.text), c.ids);
    const std::vector<std::int64_t> r = row(tokenizer.tokenize(c.text), 0);
    EXPECT_EQ(r[0], Tokenizer::kStartOfText);
    EXPECT_EQ(r[c.ids.size() + 1], Tokenizer::kEndOfText);
    EXPECT_EQ(r[c.ids.size() + 2], 0);
  }
  EXPECT_EQ(tokenizer.bpe("hello"), "hello</w>");
  EXPECT_EQ(tokenizer.bpe("<|endoftext|>"), "<|endoftext|>");
  EXPECT_EQ(tokenizer.encode(""), std::vector<std::int64_t>{});
  EXPECT_THROW(tokenizer.encode("bad \xFF byte"), ConfigError);
}

// Expected values: html.unescape(html.unescape(t)).strip(), re.sub(r'\s+', ' ', .).strip(),
// .lower(), in Python 3.11.
TEST(ClipTokenizer, CleanFollowsPythonHtmlWhitespaceAndLowercaseRules) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"&#128;", "\xE2\x82\xAC"},             // _invalid_charrefs: 0x80 -> €
      {"&#150;", "\xE2\x80\x93"},             // 0x96 -> en dash
      {"&#0;", "\xEF\xBF\xBD"},               // 0 -> U+FFFD
      {"&#xD800;", "\xEF\xBF\xBD"},           // surrogate -> U+FFFD
      {"&#x110000;", "\xEF\xBF\xBD"},         // above U+10FFFF
      {"&#99999999999999999999;", "\xEF\xBF\xBD"},  // Python ints do not overflow
      {"a&#1;b", "ab"},                       // _invalid_codepoints -> ''
      {"&#xfdd0;x", "x"},
      {"a&#13;&#12;b", "a b"},                // \r and \f: whitespace, collapsed
      {"&#x41;&#66", "ab"},                   // hex, and no ';'
      {"&#", "&#"},
      {"&#x;", "&#x;"},
      {"&notit;", "\xC2\xAC" "it;"},          // longest prefix 'not' -> ¬, rest kept
      {"&not\xC3\xA9", "\xC2\xAC\xC3\xA9"},   // '&noté' -> '¬é'
      {"&ampx", "&x"},
      {"&zz;", "&zz;"},                       // no entity: unchanged
      {"&Amp;", "&amp;"},                     // 'Amp;' unknown, no prefix: unchanged, then lowered
      {"&AMP", "&"},                          // legacy name without ';'
      {"&amp;amp;lt;", "&lt;"},               // unescaped twice, not three times
      {"x &lt &gt; y", "x < > y"},
      {"&nbsp;a&nbsp;", "a"},                 // U+00A0 is whitespace: stripped
      {"&NotEqualTilde;", "\xE2\x89\x82\xCC\xB8"},  // two code points
      {"  a\t\nb\xC2\xA0" "c  ", "a b c"},
      {"a\xE3\x80\x80\x1C\xC2\x85" "b", "a b"},     // U+3000, U+001C, U+0085
      {"\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82"},  // ΟΔΟΣ -> οδος (final ς)
      {"\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 \xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3.",
       "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82 \xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82."},
      {"\xCE\xA3\xCE\x91", "\xCF\x83\xCE\xB1"},      // ΣΑ -> σα (not final)
      {"\xCE\xA3", "\xCF\x83"},                      // lone Σ -> σ
      {"\xCE\x91'\xCE\xA3'", "\xCE\xB1'\xCF\x82'"},  // Α'Σ' -> α'ς' (' is case-ignorable)
      {"A\xCE\xA3\xCC\x81" "B", "a\xCF\x83\xCC\x81" "b"},  // cased letter after an ignorable mark
      {"\xC4\xB0", "i\xCC\x87"},                     // İ -> i + U+0307
      {"\xE1\xBA\x9E", "\xC3\x9F"},                  // ẞ -> ß
      {"\xE2\x84\xA6 \xE2\x84\xAA \xE2\x84\xAB", "\xCF\x89 k \xC3\xA5"},  // Ω K Å signs
      {"", ""},
  };
  for (const auto& [text, expected] : cases) EXPECT_EQ(clean_text(text), expected) << text;

  // Python's int() refuses more than 4300 decimal digits, so html.unescape raises.
  EXPECT_NO_THROW(clean_text("&#" + std::string(4300, '0') + ";"));
  EXPECT_THROW(clean_text("&#" + std::string(4301, '1') + ";"), ConfigError);
  try {
    clean_text("ok \xC3\x28");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("UTF-8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(clean_text("\xED\xA0\x80"), ConfigError);  // encoded surrogate
  EXPECT_THROW(clean_text("\xC0\xAF"), ConfigError);      // overlong
}

// ---- bad merges files ----------------------------------------------------------------

std::uint32_t crc32_of(const std::string& data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A gzip file holding `text` in one stored (uncompressed) deflate block (text < 64 KiB).
void write_gzip(const std::string& path, const std::string& text) {
  std::string out = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, '\x03'};
  out += '\x01';  // final stored block
  const auto n = static_cast<std::uint16_t>(text.size());
  for (std::uint16_t v : {n, static_cast<std::uint16_t>(~n)}) {
    out += static_cast<char>(v & 0xFF);
    out += static_cast<char>(v >> 8);
  }
  out += text;
  for (std::uint32_t v : {crc32_of(text), static_cast<std::uint32_t>(text.size())})
    for (int k = 0; k < 4; ++k) out += static_cast<char>((v >> (8 * k)) & 0xFF);
  std::ofstream(path, std::ios::binary) << out;
}

void expect_input_error_naming(const std::string& path, const std::string& what) {
  try {
    Tokenizer tokenizer(path);
    FAIL() << "no error for " << path;
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
}

TEST(ClipTokenizer, BadMergesFilesAreInputErrorsNamingThem) {
  const std::string dir = test::scratch_dir("clip_tokenizer_files");
  expect_input_error_naming(dir + "/absent.txt.gz", "cannot open");

  const std::string plain = dir + "/plain.txt";
  std::ofstream(plain) << "#version: 0.2\ni n\nt h\n";
  expect_input_error_naming(plain, "not a gzip file");

  const std::string few = dir + "/few_lines.txt.gz";
  write_gzip(few, "#version: 0.2\ni n\nt h\n");
  expect_input_error_naming(few, "2 merge lines");

  std::string lines = "#version: 0.2\n";
  for (int i = 0; i < 48894; ++i) lines += (i == 7 ? "a b c\n" : "a b\n");
  lines.resize(60000);  // stay in one stored block; still too few lines, but line 9 is bad first
  write_gzip(dir + "/bad_line.txt.gz", lines);
  expect_input_error_naming(dir + "/bad_line.txt.gz", "line 9");

  STYLESEG_REQUIRE_FIXTURE(merges, "clip/bpe_simple_vocab_16e6.txt.gz");
  std::ifstream in(merges, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string truncated = dir + "/truncated.txt.gz";
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_input_error_naming(truncated, "truncated");
}

}  // namespace
}  // namespace styleseg::clip
