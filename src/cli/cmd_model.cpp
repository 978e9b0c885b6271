#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "model/fratmae.h"

namespace fratmae::cli {

void add_model(CLI::App& app) {
  struct Args {
    std::string preset = "paper", method = "fratmae";
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("model", "Print a model preset's configuration and parameter counts");
  sub->add_option("--preset", a->preset, "paper, small or tiny")->capture_default_str();
  sub->add_option("--method", a->method, "fratmae, fratmae-noalign, mae or mae-align")->capture_default_str();
  sub->add_flag("--json", a->json, "print JSON");
  sub->callback([a] {
    const model::ModelConfig cfg = model::ModelConfig::preset_config(a->preset, a->method);
    model::FratMae m(cfg);
    nlohmann::json counts = {{"pet_encoder", model::count_parameters(*m->pet_encoder)},
                             {"ct_encoder", model::count_parameters(*m->ct_encoder)},
                             {"pet_decoder", model::count_parameters(*m->pet_decoder)},
                             {"ct_decoder", model::count_parameters(*m->ct_decoder)},
                             {"text_encoder", m->text_encoder ? model::count_parameters(*m->text_encoder) : 0},
                             {"context_align", m->align ? model::count_parameters(*m->align) : 0},
                             {"total", model::count_parameters(*m)}};
    if (a->json) {
      std::cout << nlohmann::json{{"config", cfg.to_json()}, {"parameters", counts}}.dump(2) << "\n";
      return;
    }
    std::cout << cfg.to_json().dump(2) << "\nparameters:\n";
    for (const auto& [k, v] : counts.items()) std::cout << "  " << k << ": " << v.get<int64_t>() << "\n";
  });
}

}  // namespace fratmae::cli
