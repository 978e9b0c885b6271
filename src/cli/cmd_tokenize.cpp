#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "text/clip_tokenizer.h"

namespace fratmae::cli {

void add_tokenize(CLI::App& app) {
  struct Args {
    std::vector<std::string> texts;
    std::string vocab;
    bool padded = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand(
      "tokenize", "Print CLIP token ids of each TEXT as one JSON array per line (start and end tokens, no padding)");
  sub->add_option("text", a->texts, "texts to tokenize")->required();
  sub->add_option("--vocab", a->vocab, "CLIP BPE vocabulary (.txt.gz); default: the one shipped with fratmae");
  sub->add_flag("--pad", a->padded, "pad (or truncate) to CLIP's context of 77 tokens");
  sub->callback([a] {
    const text::ClipTokenizer tok(a->vocab.empty() ? text::default_clip_vocab_path() : std::filesystem::path(a->vocab));
    for (const std::string& t : a->texts)
      std::cout << nlohmann::json(a->padded ? tok.tokenize_padded(t) : tok.tokenize(t)).dump() << "\n";
  });
}

}  // namespace fratmae::cli
