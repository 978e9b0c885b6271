// CLIP BPE tokenizer: ids checked against CLIP's algorithm (simple_tokenizer.py without ftfy),
// worked out independently of this code, and two published CLIP anchors.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "text/clip_tokenizer.h"
#include "test_util.h"

using fratmae::text::ClipTokenizer;
using Ids = std::vector<int64_t>;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kSot = ClipTokenizer::kStartOfText;
constexpr int64_t kEot = ClipTokenizer::kEndOfText;

fs::path vocab_path() {
  return fratmae::test::test_path("assets") / "clip" / "bpe_simple_vocab_16e6.txt.gz";
}

const ClipTokenizer& tok() {
  static const ClipTokenizer t(vocab_path());
  return t;
}

/// A file under the temp folder, removed at scope exit.
struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name)
      : path(fs::temp_directory_path() /
             ("fratmae-clip-" + std::to_string(::getpid()) + "-" + name)) {}
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

void write_gzip(const fs::path& path, const std::string& text) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())),
            static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// Constructing a tokenizer from `path` throws a FileError that names the path.
void expect_file_error(const fs::path& path, const std::string& problem) {
  try {
    ClipTokenizer t(path);
    FAIL() << "no error for " << path;
  } catch (const fratmae::FileError& e) {
    EXPECT_EQ(e.path(), path);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(problem), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(ClipTokenizer, VocabularyHas49408Ids) {
  EXPECT_EQ(tok().vocab_size(), 49408);
  EXPECT_EQ(kSot, 49406);
  EXPECT_EQ(kEot, 49407);
  EXPECT_EQ(ClipTokenizer::kContextLength, 77);
  EXPECT_EQ(tok().decode({kSot}), "<|startoftext|>");
  EXPECT_EQ(tok().decode({kEot}), "<|endoftext|>");
  EXPECT_EQ(tok().decode({40862}), "melanoma ");  // merge 40350 makes "melanoma</w>"
}

TEST(ClipTokenizer, DefaultPathIsTheAssetsFile) {
  EXPECT_EQ(fratmae::text::default_clip_vocab_path(), vocab_path());
  EXPECT_TRUE(fs::is_regular_file(fratmae::text::default_clip_vocab_path()));
}

TEST(ClipTokenizer, PublishedAnchors) {
  EXPECT_EQ(tok().tokenize("hello world"), (Ids{kSot, 3306, 1002, kEot}));
  EXPECT_EQ(tok().tokenize("a photo of a cat"), (Ids{kSot, 320, 1125, 539, 320, 2368, kEot}));
}

TEST(ClipTokenizer, PaperPromptFdgMelanoma) {
  // < tracer > 1 8 f fdg < diagnosis > melanoma < age > 6 1 < sex > m
  EXPECT_EQ(tok().encode("<tracer> 18F FDG <diagnosis> melanoma <age> 61 <sex> M"),
            (Ids{283, 2266,  528, 285, 272, 279, 325, 69,  9742, 283, 15715,
                 285, 40862, 283, 805, 285, 277, 272, 283, 5937, 285, 332}));
}

TEST(ClipTokenizer, PaperPromptPsmaLymphoma) {
  // < tracer > 6 8 ga psma < diagnosis > lymphoma < age > 7 4 < sex > f
  EXPECT_EQ(tok().encode("<tracer> 68Ga PSMA <diagnosis> lymphoma <age> 74 <sex> F"),
            (Ids{283, 2266,  528, 285, 277, 279, 1531, 79,  11854, 283, 15715,
                 285, 37648, 283, 805, 285, 278, 275,  283, 5937,  285, 325}));
}

TEST(ClipTokenizer, Punctuation) {
  const std::string text = "Hello, world! (SUVmax: 12.5; p<0.05)";
  EXPECT_EQ(tok().encode(text), (Ids{3306, 267, 1002, 256, 263, 605, 85,  3902, 281, 272, 273,
                                     269,  276, 282,  335, 283, 271, 269, 271,  276, 264}));
  EXPECT_EQ(tok().decode(tok().encode(text)),
            "hello , world ! ( suvmax : 1 2 . 5 ; p < 0 . 0 5 ) ");
  EXPECT_EQ(tok().encode("T1-weighted"), (Ids{339, 272, 268, 43179}));
}

TEST(ClipTokenizer, EachDigitIsOneToken) {
  EXPECT_EQ(tok().encode("2024"), (Ids{273, 271, 273, 275}));
  for (int d = 0; d <= 9; ++d) EXPECT_EQ(tok().encode(std::to_string(d)), (Ids{271 + d})) << d;
}

TEST(ClipTokenizer, WhitespaceRunsCollapse) {
  EXPECT_EQ(tok().encode("  a  b\t\tc\n\nd  "), (Ids{320, 321, 322, 323}));
  EXPECT_EQ(tok().encode("a\u00A0b\u3000c\r\nd"), tok().encode("a b c d"));  // Unicode spaces too
  EXPECT_EQ(tok().encode(" \t\n "), Ids{});
}

TEST(ClipTokenizer, CapitalsAreLowerCased) {
  EXPECT_EQ(tok().encode("MELANOMA Melanoma melanoma"), (Ids{40862, 40862, 40862}));
}

TEST(ClipTokenizer, NonAsciiText) {
  EXPECT_EQ(tok().encode("Ärztin"), (Ids{10896, 81, 89, 5420}));
  EXPECT_EQ(tok().encode("Ärztin"), tok().encode("ärztin"));
  EXPECT_EQ(tok().encode("naïve café"), (Ids{1097, 35689, 563, 15304}));
  EXPECT_EQ(tok().encode("Καλημέρα"),
            (Ids{138, 118, 138, 109, 138, 119, 138, 115, 138, 120, 138, 255, 139, 223, 138, 365}));
  EXPECT_EQ(tok().decode(tok().encode("ΟΔΟΣ")), "οδος ");  // final sigma, as Python's lower()
  EXPECT_EQ(tok().encode("ΟΔΟΣ"), (Ids{138, 123, 138, 112, 138, 123, 139, 480}));
  EXPECT_EQ(tok().encode("рак лёгких"),
            (Ids{16370, 31090, 374, 47611, 141, 239, 140, 111, 27152, 16701, 141, 483}));
  EXPECT_EQ(tok().encode("肺癌"), (Ids{164, 224, 118, 163, 247, 490}));
  EXPECT_EQ(tok().encode("İ"), (Ids{328, 16384}));  // Python: "i" + U+0307
}

TEST(ClipTokenizer, HtmlEntitiesAreUnescapedTwice) {
  const std::string text =
      "&amp; &lt;b&gt; &quot;q&quot; &#39;s&#39; &#65;&#x42; &amp;amp; &amp;lt;";
  EXPECT_EQ(tok().encode(text), (Ids{261, 283, 321, 285, 257, 336, 257, 568, 262, 3937, 261, 283}));
  EXPECT_EQ(tok().decode(tok().encode(text)), "& < b > \" q \" 's ' ab & < ");
  EXPECT_EQ(tok().encode("&nbsp;a&nbsp;&nbsp;b"), tok().encode("a b"));  // U+00A0 is whitespace
  EXPECT_EQ(tok().encode("&zzz;"), tok().encode("& zzz ;"));             // unknown name: as written
}

TEST(ClipTokenizer, Contractions) {
  EXPECT_EQ(tok().encode("don't we'll they're I'm it's he'd you've"),
            (Ids{847, 713, 649, 1342, 889, 982, 328, 880, 585, 568, 797, 1896, 592, 1200}));
}

TEST(ClipTokenizer, EmptyString) {
  EXPECT_EQ(tok().encode(""), Ids{});
  EXPECT_EQ(tok().tokenize(""), (Ids{kSot, kEot}));
  EXPECT_EQ(tok().decode({}), "");
}

TEST(ClipTokenizer, SpecialTokensInText) {
  EXPECT_EQ(tok().encode("<|startoftext|>"), (Ids{kSot}));
  EXPECT_EQ(tok().encode("<|ENDOFTEXT|>"), (Ids{kEot}));  // lower-cased first
  EXPECT_EQ(tok().encode("a<|endoftext|>b"), (Ids{320, kEot, 321}));
}

TEST(ClipTokenizer, InvalidUtf8IsReplacementCharacter) {
  EXPECT_EQ(tok().encode("a\xFF"), tok().encode("a\xEF\xBF\xBD"));
}

TEST(ClipTokenizer, PadsToContextLength) {
  const Ids ids = tok().tokenize_padded("a photo of a cat");
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(Ids(ids.begin(), ids.begin() + 7), (Ids{kSot, 320, 1125, 539, 320, 2368, kEot}));
  EXPECT_EQ(Ids(ids.begin() + 7, ids.end()), Ids(70, 0));
  EXPECT_EQ(tok().tokenize_padded("", 4), (Ids{kSot, kEot, 0, 0}));
  EXPECT_EQ(tok().tokenize_padded("hello world", 4), (Ids{kSot, 3306, 1002, kEot}));  // exact fit
}

TEST(ClipTokenizer, TruncatesWithEndTokenLast) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "melanoma ";
  const Ids ids = tok().tokenize_padded(text);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), kSot);
  EXPECT_EQ(ids.back(), kEot);
  EXPECT_EQ(Ids(ids.begin() + 1, ids.end() - 1), Ids(75, 40862));
  EXPECT_EQ(tok().tokenize_padded("hello world", 3), (Ids{kSot, 3306, kEot}));
}

TEST(ClipTokenizer, TooLongWithoutTruncationThrows) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "melanoma ";
  try {
    tok().tokenize_padded(text, 77, false);
    FAIL() << "no error";
  } catch (const fratmae::Error& e) {
    EXPECT_NE(std::string(e.what()).find("102 CLIP tokens"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("context length 77"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(tok().tokenize_padded("hello world", 4, false));
  EXPECT_THROW(tok().tokenize_padded("hello", 1), fratmae::Error);
}

TEST(ClipTokenizer, DecodeGivesTheCleanedText) {
  // CLIP's decode ends every word with a space (and puts spaces around punctuation).
  const std::pair<std::string, std::string> cases[] = {
      {"a photo of a cat", "a photo of a cat"},
      {"Melanoma   in\tthe\nLEFT lung", "melanoma in the left lung"},
      {" Naïve Café ", "naïve café"},
      {"肺癌 ΟΔΟΣ", "肺癌 οδος"},
  };
  for (const auto& [text, cleaned] : cases)
    EXPECT_EQ(tok().decode(tok().encode(text)), cleaned + " ") << text;
  EXPECT_EQ(tok().decode(tok().tokenize("hello world")),
            "<|startoftext|>hello world <|endoftext|>");
}

TEST(ClipTokenizer, DecodeRejectsUnknownIds) {
  EXPECT_THROW(tok().decode({49408}), fratmae::Error);
  EXPECT_THROW(tok().decode({-1}), fratmae::Error);
}

TEST(ClipTokenizer, CacheAndThreadsGiveTheSameIds) {
  std::vector<std::string> prompts;
  for (int age = 0; age < 100; ++age)
    prompts.push_back("<tracer> 18F FDG <diagnosis> melanoma <age> " + std::to_string(age) +
                      " <sex> F");
  std::vector<Ids> expected;
  for (const auto& p : prompts) expected.push_back(tok().encode(p));  // fills the cache
  const ClipTokenizer fresh(vocab_path());
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(fresh.encode(prompts[i]), expected[i]);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = 0; i < prompts.size(); ++i)
        failures[t] += tok().encode(prompts[i]) != expected[i];
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST(ClipTokenizer, MissingVocabularyNamesThePath) {
  expect_file_error("/nonexistent/clip/bpe_simple_vocab_16e6.txt.gz", "not found");
}

TEST(ClipTokenizer, CorruptVocabularyNamesThePath) {
  TempFile garbage("garbage.txt.gz");
  write_bytes(garbage.path, "this is not a vocabulary\n");
  expect_file_error(garbage.path, "no version header");

  TempFile short_list("short.txt.gz");
  write_gzip(short_list.path, "\"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\nt h\n");
  expect_file_error(short_list.path, "ends before line 4");

  TempFile bad_line("bad_line.txt.gz");
  write_gzip(bad_line.path, "\"bpe_simple_vocab_16e6.txt#version: 0.2\ni n\nthree parts here\n");
  expect_file_error(bad_line.path, "line 3 is not a BPE merge");

  // The real file cut in half: gzip reports the damage.
  std::ifstream in(vocab_path(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TempFile truncated("truncated.txt.gz");
  write_bytes(truncated.path, bytes.substr(0, bytes.size() / 2));
  expect_file_error(truncated.path, "corrupt gzip");
}
