#include "models/clip/tokenizer.h"

#include <ATen/ATen.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/error.h"

namespace styleseg::clip {
namespace {

#include "models/clip/unicode_tables.inc"

// ---- UTF-8 -------------------------------------------------------------------------------

// Strict decoding (no overlong forms, surrogates or code points above U+10FFFF). Returns
// false and the offset of the first bad byte otherwise.
bool decode_utf8(std::string_view text, std::u32string& out, std::size_t& bad_offset) {
  out.clear();
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b0 = s[i];
    char32_t c;
    std::size_t len;
    if (b0 < 0x80) { c = b0; len = 1; }
    else if (b0 >= 0xC2 && b0 <= 0xDF) { c = b0 & 0x1F; len = 2; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { c = b0 & 0x0F; len = 3; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { c = b0 & 0x07; len = 4; }
    else { bad_offset = i; return false; }
    if (i + len > n) { bad_offset = i; return false; }
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) { bad_offset = i; return false; }
      c = (c << 6) | (s[i + k] & 0x3F);
    }
    const bool overlong = (len == 3 && c < 0x800) || (len == 4 && c < 0x10000);
    if (overlong || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) { bad_offset = i; return false; }
    out.push_back(c);
    i += len;
  }
  return true;
}

std::u32string decode_prompt(const std::string& text) {
  std::u32string out;
  std::size_t bad = 0;
  if (!decode_utf8(text, out, bad)) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[bad]));
    throw ConfigError("CLIP tokenizer: the prompt is not valid UTF-8 (byte " + std::string(byte) + " at offset " +
                      std::to_string(bad) + ")");
  }
  return out;
}

void append_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string encode_utf8(const std::u32string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(c, out);
  return out;
}

// ---- Python's character properties (unicode_tables.inc) ---------------------------------

template <std::size_t N>
bool in_ranges(const CodePointRange (&ranges)[N], char32_t c) {
  const auto* it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                                    [](char32_t value, const CodePointRange& r) { return value < r.first; });
  return it != std::begin(ranges) && c <= std::prev(it)->last;
}

bool is_space(char32_t c) { return in_ranges(kSpaceRanges, c); }                     // str.isspace
bool is_cased(char32_t c) { return in_ranges(kCasedRanges, c); }
bool is_case_ignorable(char32_t c) { return in_ranges(kCaseIgnorableRanges, c); }

// Appends Python's lower() of one character, except the context-dependent capital sigma.
void append_lower(char32_t c, std::u32string& out) {
  const auto* run = std::upper_bound(std::begin(kLowerRuns), std::end(kLowerRuns), c,
                                     [](char32_t value, const LowerRun& r) { return value < r.first; });
  if (run != std::begin(kLowerRuns)) {
    --run;
    if (c <= run->last && (c - run->first) % static_cast<char32_t>(run->stride) == 0) {
      out.push_back(static_cast<char32_t>(static_cast<std::int64_t>(c) + run->delta));
      return;
    }
  }
  for (const LowerExpansion& e : kLowerExpansions) {
    if (e.from == c) {
      for (char32_t t : e.to)
        if (t != 0) out.push_back(t);
      return;
    }
  }
  out.push_back(c);
}

// str.lower: per character, with CPython's final-sigma rule for U+03A3 (handle_capital_sigma
// in unicodeobject.c): 'ς' when a cased character precedes it (skipping case-ignorable
// ones) and none follows it (same skipping), else 'σ'.
std::u32string python_lower(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char32_t c = text[i];
    if (c != 0x3A3) {
      append_lower(c, out);
      continue;
    }
    std::size_t j = i;
    while (j > 0 && is_case_ignorable(text[j - 1])) --j;
    bool final_sigma = j > 0 && is_cased(text[j - 1]);
    if (final_sigma) {
      std::size_t k = i + 1;
      while (k < n && is_case_ignorable(text[k])) ++k;
      final_sigma = k == n || !is_cased(text[k]);
    }
    out.push_back(final_sigma ? 0x3C2 : 0x3C3);
  }
  return out;
}

// str.strip() without arguments.
std::u32string python_strip(const std::u32string& text) {
  std::size_t begin = 0, end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

// re.sub(r'\s+', ' ', text).strip(): `re`'s \s on str is str.isspace.
std::u32string whitespace_clean(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (is_space(text[i])) {
      while (i < text.size() && is_space(text[i])) ++i;
      out.push_back(U' ');
    } else {
      out.push_back(text[i++]);
    }
  }
  return python_strip(out);
}

// ---- html.unescape (Python 3.11, html/__init__.py) --------------------------------------

const Html5Entity* find_html5_entity(const std::u32string& text, std::size_t begin, std::size_t end) {
  std::string name;
  for (std::size_t i = begin; i < end; ++i) {
    if (text[i] >= 0x80) return nullptr;  // every entity name is ASCII
    name.push_back(static_cast<char>(text[i]));
  }
  const auto* it = std::lower_bound(std::begin(kHtml5Entities), std::end(kHtml5Entities), name,
                                    [](const Html5Entity& e, const std::string& key) { return std::strcmp(e.name, key.c_str()) < 0; });
  if (it == std::end(kHtml5Entities) || name != it->name) return nullptr;
  return it;
}

void append_entity(const Html5Entity& e, std::u32string& out) {
  out.push_back(e.value[0]);
  if (e.value[1] != 0) out.push_back(e.value[1]);
}

bool is_ascii_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_ascii_hex_digit(char32_t c) {
  return is_ascii_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F');
}

// A numeric reference's replacement (_replace_charref). `too_big` stands for any value
// above U+10FFFF (Python's ints are unbounded; the value itself no longer matters then).
void append_numeric_reference(std::uint32_t number, bool too_big, std::u32string& out) {
  if (!too_big) {
    for (const InvalidCharref& r : kInvalidCharrefs) {
      if (r.number == number) {
        out.push_back(r.replacement);
        return;
      }
    }
  }
  if (too_big || number > 0x10FFFF || (number >= 0xD800 && number <= 0xDFFF)) {
    out.push_back(0xFFFD);
    return;
  }
  if (in_ranges(kInvalidCodepointRanges, number)) return;  // dropped
  out.push_back(number);
}

// Python's int() refuses decimal strings of more than this many digits (3.11's
// sys.get_int_max_str_digits() default), so html.unescape raises ValueError on them.
constexpr std::size_t kPythonMaxDecimalDigits = 4300;

// html.unescape: every match of
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// scanned left to right without overlap, replaced as _replace_charref does.
std::u32string html_unescape(const std::u32string& text) {
  if (text.find(U'&') == std::u32string::npos) return text;
  std::u32string out;
  out.reserve(text.size());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    if (text[i] != U'&') {
      out.push_back(text[i++]);
      continue;
    }
    const std::size_t start = i + 1;  // after '&'
    if (start < n && text[start] == U'#') {
      const bool hex = start + 1 < n && (text[start + 1] == U'x' || text[start + 1] == U'X');
      const std::size_t digits_begin = hex ? start + 2 : start + 1;
      // The decimal alternative is tried first: "&#x" only reads as hex when the decimal
      // one fails, which it always does there ('x' is no digit).
      std::size_t digits_end = digits_begin;
      while (digits_end < n && (hex ? is_ascii_hex_digit(text[digits_end]) : is_ascii_digit(text[digits_end])))
        ++digits_end;
      if (digits_end == digits_begin) {  // "&#" + neither: the name alternative excludes '#'
        out.push_back(text[i++]);
        continue;
      }
      if (!hex && digits_end - digits_begin > kPythonMaxDecimalDigits)
        throw ConfigError("CLIP tokenizer: the prompt has a numeric HTML character reference of " +
                          std::to_string(digits_end - digits_begin) + " digits; Python's html.unescape fails on more than " +
                          std::to_string(kPythonMaxDecimalDigits));
      std::uint32_t number = 0;
      bool too_big = false;
      for (std::size_t k = digits_begin; k < digits_end; ++k) {
        const char32_t d = text[k];
        const std::uint32_t digit = is_ascii_digit(d) ? d - U'0' : (d | 0x20) - U'a' + 10;
        if (!too_big) {
          const std::uint64_t next = static_cast<std::uint64_t>(number) * (hex ? 16 : 10) + digit;
          if (next > 0x10FFFF) too_big = true;
          else number = static_cast<std::uint32_t>(next);
        }
      }
      append_numeric_reference(number, too_big, out);
      i = digits_end;
      if (i < n && text[i] == U';') ++i;
      continue;
    }
    // Named: up to 32 characters outside "\t\n\f <&#;", then an optional ';'.
    auto name_char = [](char32_t c) {
      return c != U'\t' && c != U'\n' && c != U'\f' && c != U' ' && c != U'<' && c != U'&' && c != U'#' && c != U';';
    };
    std::size_t end = start;
    while (end < n && end - start < 32 && name_char(text[end])) ++end;
    if (end == start) {
      out.push_back(text[i++]);
      continue;
    }
    if (end < n && text[end] == U';') ++end;
    if (const Html5Entity* e = find_html5_entity(text, start, end)) {
      append_entity(*e, out);
    } else {
      // The longest prefix of at least 2 characters that is an entity, then the rest.
      bool found = false;
      for (std::size_t len = end - start - 1; len >= 2; --len) {
        if (const Html5Entity* p = find_html5_entity(text, start, start + len)) {
          append_entity(*p, out);
          out.append(text, start + len, end - (start + len));
          found = true;
          break;
        }
      }
      if (!found) out.append(text, i, end - i);  // '&' + name unchanged
    }
    i = end;
  }
  return out;
}

std::u32string clean_code_points(const std::string& text) {
  // basic_clean: ftfy.fix_text (the identity here), html.unescape twice, strip.
  std::u32string t = python_strip(html_unescape(html_unescape(decode_prompt(text))));
  return python_lower(whitespace_clean(t));
}

// ---- byte-level alphabet (bytes_to_unicode) ---------------------------------------------

// The 256 byte characters in vocabulary order: printable bytes '!'..'~', '¡'..'¬', '®'..'ÿ'
// stand for themselves, the others (in byte order) for U+0100 onwards.
struct ByteAlphabet {
  std::string utf8_of_byte[256];   // byte -> its character, UTF-8
  std::string in_vocab_order[256];

  ByteAlphabet() {
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int index = 0;
    for (int b = 0; b < 256; ++b)
      if (printable(b)) set(b, static_cast<char32_t>(b), index++);
    int extra = 0;
    for (int b = 0; b < 256; ++b)
      if (!printable(b)) set(b, static_cast<char32_t>(256 + extra++), index++);
  }

 private:
  void set(int byte, char32_t c, int index) {
    append_utf8(c, utf8_of_byte[byte]);
    in_vocab_order[index] = utf8_of_byte[byte];
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

// ---- the merges file --------------------------------------------------------------------

// simple_tokenizer.py keeps lines[1 : 49152-256-2+1] (the first line is a version header).
constexpr std::size_t kMergeCount = 49152 - 256 - 2;

std::string read_gzip(const std::string& path) {
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw InputError("CLIP BPE merges '" + path + "': cannot open (" + std::strerror(errno) + ")");
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw InputError("CLIP BPE merges '" + path + "': cannot open");
  std::string data;
  char buffer[1 << 16];
  std::string error;
  if (gzdirect(file) != 0) {  // right after gzopen: looks for the gzip header
    gzclose(file);
    throw InputError("CLIP BPE merges '" + path + "': not a gzip file (expected bpe_simple_vocab_16e6.txt.gz)");
  }
  while (true) {
    const int got = gzread(file, buffer, sizeof buffer);
    if (got < 0) {
      int code = 0;
      error = gzerror(file, &code);
      break;
    }
    if (got == 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      if (code != Z_OK) error = message;
      break;
    }
    data.append(buffer, static_cast<std::size_t>(got));
  }
  gzclose(file);
  if (!error.empty()) throw InputError("CLIP BPE merges '" + path + "': corrupt or truncated gzip data (" + error + ")");
  return data;
}

}  // namespace

// ---- Tokenizer ----------------------------------------------------------------------------

struct Tokenizer::Impl {
  std::vector<std::string> vocabulary;                      // id -> byte-level string
  std::unordered_map<std::string, std::int64_t> ids;        // byte-level string -> id
  std::unordered_map<std::string, int> merge_ranks;         // "first second" -> rank
  std::unordered_map<std::string, std::string> bpe_cache;   // pre-token -> space-joined pieces
  pcre2_code* pattern = nullptr;
  pcre2_match_data* match = nullptr;

  ~Impl() {
    if (match) pcre2_match_data_free(match);
    if (pattern) pcre2_code_free(pattern);
  }

  const std::string& bpe(const std::string& token);
  // Calls emit(piece) for each vocabulary piece of clean(text).
  template <typename Emit>
  void for_each_piece(const std::string& text, Emit&& emit);
};

Tokenizer::Tokenizer(const std::string& merges_path) : impl_(std::make_unique<Impl>()) {
  const std::string data = read_gzip(merges_path);
  std::u32string decoded;
  std::size_t bad = 0;
  if (!decode_utf8(data, decoded, bad))
    throw InputError("CLIP BPE merges '" + merges_path + "': not UTF-8 text (byte offset " + std::to_string(bad) + ")");

  // Lines 1..kMergeCount (0-based; line 0 is the version header).
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(kMergeCount);
  std::size_t line_begin = 0, line_number = 0;
  while (merges.size() < kMergeCount) {
    if (line_begin > decoded.size()) break;  // no lines left
    std::size_t line_end = decoded.find(U'\n', line_begin);
    if (line_end == std::u32string::npos) {  // the last line (split('\n') keeps it without '\n')
      line_end = decoded.size();
      if (line_end == line_begin) break;  // empty: the file ended with '\n'
    }
    if (line_number > 0) {
      // tuple(line.split()): fields separated by runs of whitespace.
      std::vector<std::u32string> fields;
      for (std::size_t k = line_begin; k < line_end;) {
        if (is_space(decoded[k])) { ++k; continue; }
        std::size_t e = k;
        while (e < line_end && !is_space(decoded[e])) ++e;
        fields.push_back(decoded.substr(k, e - k));
        k = e;
      }
      if (fields.size() != 2)
        throw InputError("CLIP BPE merges '" + merges_path + "': line " + std::to_string(line_number + 1) +
                         " is not a pair of symbols");
      merges.emplace_back(encode_utf8(fields[0]), encode_utf8(fields[1]));
    }
    line_begin = line_end + 1;
    ++line_number;
  }
  if (merges.size() != kMergeCount)
    throw InputError("CLIP BPE merges '" + merges_path + "': " + std::to_string(merges.size()) +
                     " merge lines, CLIP's vocabulary needs " + std::to_string(kMergeCount) + " (truncated file?)");

  // vocab = byte characters, the same + '</w>', the merges joined, the two special tokens;
  // encoder = dict(zip(vocab, range(len(vocab)))), so a repeated string keeps its last id.
  Impl& m = *impl_;
  const ByteAlphabet& alphabet = byte_alphabet();
  m.vocabulary.reserve(kVocabSize);
  for (const std::string& c : alphabet.in_vocab_order) m.vocabulary.push_back(c);
  for (const std::string& c : alphabet.in_vocab_order) m.vocabulary.push_back(c + "</w>");
  m.merge_ranks.reserve(kMergeCount);
  for (std::size_t r = 0; r < merges.size(); ++r) {
    m.vocabulary.push_back(merges[r].first + merges[r].second);
    m.merge_ranks.insert_or_assign(merges[r].first + ' ' + merges[r].second, static_cast<int>(r));
  }
  m.vocabulary.push_back("<|startoftext|>");
  m.vocabulary.push_back("<|endoftext|>");
  if (static_cast<std::int64_t>(m.vocabulary.size()) != kVocabSize) throw std::logic_error("CLIP tokenizer: vocabulary size");
  m.ids.reserve(m.vocabulary.size());
  for (std::size_t id = 0; id < m.vocabulary.size(); ++id) m.ids.insert_or_assign(m.vocabulary[id], static_cast<std::int64_t>(id));
  m.bpe_cache.emplace("<|startoftext|>", "<|startoftext|>");
  m.bpe_cache.emplace("<|endoftext|>", "<|endoftext|>");

  // simple_tokenizer.py's pattern (the `regex` module, re.IGNORECASE), with \s spelled out
  // as Unicode's White_Space: PCRE2's \s also matches U+180E (Cf since Unicode 6.3), which
  // the reference keeps as a symbol (cleaning has turned every other space into ' ').
  static const char kPattern[] =
      R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|)"
      R"([^\t\n\x{0B}\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\p{L}\p{N}]+)";
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  m.pattern = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                            PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &error_code, &error_offset, nullptr);
  if (m.pattern == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof message);
    throw std::logic_error(std::string("CLIP tokenizer: PCRE2 rejects the split pattern: ") + reinterpret_cast<char*>(message));
  }
  pcre2_jit_compile(m.pattern, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is the fallback
  m.match = pcre2_match_data_create_from_pattern(m.pattern, nullptr);
  if (m.match == nullptr) throw std::bad_alloc();
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

// SimpleTokenizer.bpe: start from the characters (the last one with '</w>'), merge the
// lowest-ranked adjacent pair everywhere it occurs (left to right, without overlap) until
// no adjacent pair is a merge.
const std::string& Tokenizer::Impl::bpe(const std::string& token) {
  if (auto it = bpe_cache.find(token); it != bpe_cache.end()) return it->second;
  std::vector<std::string> word;
  for (std::size_t i = 0; i < token.size();) {
    std::size_t len = 1;
    const auto lead = static_cast<unsigned char>(token[i]);
    if (lead >= 0xF0) len = 4;
    else if (lead >= 0xE0) len = 3;
    else if (lead >= 0xC0) len = 2;
    word.push_back(token.substr(i, len));
    i += len;
  }
  if (word.empty()) throw std::logic_error("CLIP tokenizer: empty pre-token");
  word.back() += "</w>";

  std::string key;
  std::vector<std::string> merged;
  while (word.size() > 1) {
    int best_rank = std::numeric_limits<int>::max();
    std::size_t best = 0;
    for (std::size_t i = 0; i + 1 < word.size(); ++i) {
      key.assign(word[i]).append(1, ' ').append(word[i + 1]);
      if (auto it = merge_ranks.find(key); it != merge_ranks.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == std::numeric_limits<int>::max()) break;
    const std::string first = word[best], second = word[best + 1];
    merged.clear();
    for (std::size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(std::move(word[i]));
        ++i;
      }
    }
    word.swap(merged);
  }
  std::string joined;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (i) joined.push_back(' ');
    joined += word[i];
  }
  return bpe_cache.emplace(token, std::move(joined)).first->second;
}

template <typename Emit>
void Tokenizer::Impl::for_each_piece(const std::string& text, Emit&& emit) {
  const std::string cleaned = encode_utf8(clean_code_points(text));
  const ByteAlphabet& alphabet = byte_alphabet();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(cleaned.data());
  PCRE2_SIZE offset = 0;
  std::string byte_level;
  while (offset < cleaned.size()) {
    const int rc = pcre2_match(pattern, subject, cleaned.size(), offset, PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw std::runtime_error("CLIP tokenizer: PCRE2 match failed (" + std::to_string(rc) + ")");
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match);
    if (span[1] <= span[0]) throw std::logic_error("CLIP tokenizer: empty match");  // no alternative matches ""
    byte_level.clear();
    for (PCRE2_SIZE k = span[0]; k < span[1]; ++k) byte_level += alphabet.utf8_of_byte[static_cast<unsigned char>(cleaned[k])];
    const std::string& pieces = bpe(byte_level);
    std::size_t begin = 0;
    while (true) {
      const std::size_t space = pieces.find(' ', begin);
      emit(std::string_view(pieces).substr(begin, space == std::string::npos ? std::string::npos : space - begin));
      if (space == std::string::npos) break;
      begin = space + 1;
    }
    offset = span[1];
  }
}

std::vector<std::int64_t> Tokenizer::encode(const std::string& text) {
  std::vector<std::int64_t> out;
  impl_->for_each_piece(text, [&](std::string_view piece) {
    auto it = impl_->ids.find(std::string(piece));
    if (it == impl_->ids.end()) throw std::logic_error("CLIP tokenizer: BPE piece outside the vocabulary");
    out.push_back(it->second);
  });
  return out;
}

std::vector<std::string> Tokenizer::pieces(const std::string& text) {
  std::vector<std::string> out;
  impl_->for_each_piece(text, [&](std::string_view piece) { out.emplace_back(piece); });
  return out;
}

const std::string& Tokenizer::bpe(const std::string& byte_level_token) { return impl_->bpe(byte_level_token); }

std::string Tokenizer::clean(const std::string& text) const { return clean_text(text); }

const std::string& Tokenizer::piece(std::int64_t id) const {
  if (id < 0 || id >= kVocabSize) throw std::out_of_range("CLIP tokenizer: token id " + std::to_string(id) + " outside the vocabulary");
  return impl_->vocabulary[static_cast<std::size_t>(id)];
}

namespace {

// The prompt for an error message: at most ~60 characters, cut at a character boundary.
std::string shorten_for_message(const std::string& text) {
  constexpr std::size_t kMaxChars = 60;
  std::size_t chars = 0, i = 0;
  while (i < text.size() && chars < kMaxChars) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    ++chars;
  }
  return i < text.size() ? text.substr(0, i) + "..." : text;
}

}  // namespace

at::Tensor Tokenizer::tokenize(const std::vector<std::string>& texts, std::int64_t context_length, bool truncate) {
  if (context_length < 1)
    throw ConfigError("CLIP tokenizer: the context length must be at least 1 (got " + std::to_string(context_length) + ")");
  at::Tensor result = at::zeros({static_cast<std::int64_t>(texts.size()), context_length}, at::kLong);
  std::int64_t* rows = result.data_ptr<std::int64_t>();
  for (std::size_t n = 0; n < texts.size(); ++n) {
    std::vector<std::int64_t> ids = encode(texts[n]);
    ids.insert(ids.begin(), kStartOfText);
    ids.push_back(kEndOfText);
    const auto length = static_cast<std::int64_t>(ids.size());
    if (length > context_length) {
      if (!truncate)
        throw ConfigError("CLIP tokenizer: prompt \"" + shorten_for_message(texts[n]) + "\" needs " + std::to_string(length) +
                          " tokens (start and end included) but CLIP's context holds " + std::to_string(context_length) +
                          "; shorten it, or pass --truncate to keep its first " + std::to_string(context_length - 1) +
                          " tokens and the end token");
      ids.resize(static_cast<std::size_t>(context_length));
      ids.back() = kEndOfText;
    }
    std::copy(ids.begin(), ids.end(), rows + static_cast<std::int64_t>(n) * context_length);
  }
  return result;
}

at::Tensor Tokenizer::tokenize(const std::string& text, std::int64_t context_length, bool truncate) {
  return tokenize(std::vector<std::string>{text}, context_length, truncate);
}

std::string clean_text(const std::string& text) { return encode_utf8(clean_code_points(text)); }

}  // namespace styleseg::clip
