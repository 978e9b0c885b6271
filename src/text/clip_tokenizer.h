// CLIP's byte-pair-encoding tokenizer (the algorithm of openai/CLIP clip/simple_tokenizer.py).
//
//   text -> clean: html-unescape twice, collapse whitespace runs to one space, strip, lower-case
//        -> pre-tokens: CLIP's pattern  <|startoftext|> | <|endoftext|> | 's 't 're 've 'm 'll 'd
//                       | letter run | ONE digit | run of other non-space characters
//        -> each pre-token's UTF-8 bytes as GPT-2 byte symbols, "</w>" on the last one
//        -> BPE merges, lowest rank first -> ids
//
// Ids (vocab_size() = 49,408): 0..255 the byte symbols in GPT-2's bytes_to_unicode order,
// 256..511 the same with "</w>", 512 + r the symbol made by merge r (r = 0..48,893),
// 49406 <|startoftext|>, 49407 <|endoftext|>. No padding id of its own: padding is 0, as in CLIP.
//
// Differences from CLIP (see clip_tokenizer.cpp for details): no ftfy repair, and the Unicode
// letter / number / lower-case tables cover the common scripts only.
// Plain C++17 + zlib; thread-safe (the word cache is locked).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace fratmae::text {

/// <assets>/clip/bpe_simple_vocab_16e6.txt.gz, where <assets> is build_assets_dir()
/// (core/build_paths.h): the checkout's assets/ folder, else the relative folder "assets".
std::filesystem::path default_clip_vocab_path();

class ClipTokenizer {
 public:
  static constexpr int64_t kStartOfText = 49406;
  static constexpr int64_t kEndOfText = 49407;
  static constexpr int kContextLength = 77;

  /// Reads CLIP's gzip'd merges file. Throws fratmae::FileError(path, ...) when it is missing,
  /// unreadable, or not a CLIP merges list.
  explicit ClipTokenizer(const std::filesystem::path& vocab_gz = default_clip_vocab_path());
  ~ClipTokenizer();
  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;

  /// Ids of the cleaned UTF-8 text, without start/end tokens; each in [0, vocab_size()).
  /// Invalid UTF-8 bytes are read as U+FFFD. "" gives {}.
  std::vector<int64_t> encode(const std::string& text) const;

  /// {kStartOfText, encode(text)..., kEndOfText}: size encode(text).size() + 2, no padding.
  std::vector<int64_t> tokenize(const std::string& text) const;

  /// Exactly `context` ids: start, ids, end, then zeros. When tokenize(text) is longer than
  /// `context`: with truncate, its first `context` ids with kEndOfText as the last one (as
  /// open_clip); without, throws fratmae::Error. context must be >= 2.
  std::vector<int64_t> tokenize_padded(const std::string& text, int context = kContextLength,
                                       bool truncate = true) const;

  /// UTF-8 text of the ids, as CLIP's decode: every word ends in a space ("</w>" -> " "), so
  /// decode(encode("a cat!")) == "a cat ! ". Special tokens decode to their names; byte
  /// sequences that are not valid UTF-8 become U+FFFD. Throws fratmae::Error on an id outside
  /// [0, vocab_size()).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const { return static_cast<int64_t>(token_bytes_.size()); }

 private:
  struct Merge {
    int32_t rank;    // line in the merges list, 0-based; lower merges first
    int32_t result;  // id of the merged symbol
  };
  struct Cache;

  /// BPE of one pre-token (its UTF-8 bytes), appended to `out`.
  void encode_word(const std::string& word, std::vector<int64_t>& out) const;
  std::vector<int32_t> bpe(const std::string& word) const;

  std::vector<int32_t> byte_id_;                // byte -> id 0..255
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
  std::vector<std::string> token_bytes_;        // id -> raw bytes, "</w>" as a trailing ' '
  std::unique_ptr<Cache> cache_;                // pre-token -> ids
};

}  // namespace fratmae::text
