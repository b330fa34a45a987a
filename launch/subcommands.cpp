#include "launch/subcommand.h"
#include "launch/torch_module.h"

namespace trafficfm::launch {

const std::vector<Subcommand>& subcommands() {
  static const std::vector<Subcommand> all = {
      {"synth", "write a synthetic, protocol-correct pcap corpus with labels (the demo's data)", run_synth},
      {"prep", "captures and flow logs -> sharded HDF5 corpus (mmae | lens | flows encodings)", run_prep},
      {"inspect", "summarize a corpus from its manifest; --sample N decodes one sample", run_inspect},
      {"pretrain",
       "pretrain a model on a corpus (alone or under mpirun/srun: dp x tp), with checkpoints and resume",
       run_pretrain_command},
      {"export", "a checkpoint -> one unsharded model.pt (torch.load) + model.json", run_export_command},
      {"finetune",
       "fine-tune a classifier from a pretraining run (or from scratch) on a labeled corpus; test report",
       run_finetune_command},
      {"submit",
       "render the Slurm batch script for a run (or a sweep as a job array) and sbatch it; --dry-run prints "
       "it",
       run_submit},
      {"eval", "measure a fine-tuned classifier on a split of any labeled corpus", run_eval_command},
      {"sweep",
       "scaling-law experiments: plan runs from FLOP budgets, run them (locally or as a Slurm array), fit "
       "and "
       "plot laws, predict",
       run_sweep_command},
      {"generate",
       "Lens: generate each flow's next packet header from its first packets; field report against "
       "copy-previous and marginal baselines",
       run_generate_command},
  };
  return all;
}

int run_pretrain_command(const std::vector<std::string>& args) {
  return run_torch_subcommand("pretrain", args);
}
int run_export_command(const std::vector<std::string>& args) { return run_torch_subcommand("export", args); }
int run_finetune_command(const std::vector<std::string>& args) {
  return run_torch_subcommand("finetune", args);
}
int run_eval_command(const std::vector<std::string>& args) { return run_torch_subcommand("eval", args); }
int run_generate_command(const std::vector<std::string>& args) {
  return run_torch_subcommand("generate", args);
}
int run_sweep_command(const std::vector<std::string>& args) { return run_torch_subcommand("sweep", args); }

}  // namespace trafficfm::launch
