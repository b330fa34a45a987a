// trafficfm sweep plan: from a base config, a ladder of model sizes and compute budgets, the runs
// of a scaling-law experiment (docs/sweep.md).
//  - Each rung is built twice, never trained: on rank 0 of a shape-only grid at the base
//    config's tp (the model's own constructor says whether its sizes split over tp), and alone
//    at tp 1 for its parameter counts and training FLOPs per sample. A model that counts FLOPs
//    per batch (Lens: they depend on each batch's lengths) runs --measure-batches forward
//    passes of the train split to get its mean.
//  - IsoFLOP design (Chinchilla's approach 2): at budget C a rung trains on D = C / F samples.
//    It is admissible when that is at least --min-steps optimizer steps (at --dp ranks) and at
//    most --max-epochs passes over the train split (repeating data past ~4 epochs is another
//    regime: Muennighoff et al. 2023). Of the admissible rungs, --points are kept, evenly spaced
//    in log N from the smallest to the largest.
//  - Grid design (approach 3): every rung at every --samples count, the same admissibility.
//  - Every point is defined in samples (--train.samples D): its warm-up is the base config's
//    fraction of its own length and its schedule decays to its own last step, so each run is a
//    complete run of its length (Chinchilla matched the cosine to each run's length). It is
//    evaluated once, at its end, on the same val samples as every other point (the whole val
//    split, or its first --val-batches batches).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/trainer/parameter_count.h"
#include "datasets/corpus/manifest.h"
#include "launch/common_options.h"
#include "launch/sweep/sweep_files.h"
#include "launch/torch/sweep_commands.h"
#include "launch/torch/torch_commands.h"
#include "launch/torch/training_setup.h"
#include "models/registry.h"

namespace trafficfm::launch {

namespace po = core::po;

namespace {

po::options_description plan_options() {
  po::options_description options("Options");
  core::add_common_options(options);
  options.add_options()("ladder", po::value<std::string>()->required(),
                        "ladder file: `name KEY...` then one model size per line (docs/sweep.md)")(
      "corpus", po::value<std::string>()->required(), "corpus directory every run trains on")(
      "out", po::value<std::string>()->required(), "sweep directory to create")(
      "budgets", po::value<std::string>()->default_value(""),
      "IsoFLOP design: training FLOP budgets, comma-separated (1e15,3e15,1e16)")(
      "points", po::value<int>()->default_value(5), "IsoFLOP: model sizes per budget (at most)")(
      "grid", po::bool_switch(), "grid design (approach 3): every rung at every --samples count")(
      "samples", po::value<std::string>()->default_value(""),
      "grid: training samples per run, comma-separated")(
      "dp", po::value<int>()->default_value(1),
      "data-parallel ranks the runs will use (steps = D / global batch)")(
      "min-steps", po::value<std::uint64_t>()->default_value(100),
      "a run shorter than this many optimizer steps is left out")(
      "max-epochs", po::value<double>()->default_value(4.0),
      "a run longer than this many passes over the train split is left out")(
      "measure-batches", po::value<int>()->default_value(2),
      "train batches whose FLOPs are measured, for a model that counts them per batch")(
      "val-batches", po::value<std::size_t>()->default_value(0),
      "val batches of each run's final evaluation (0: the whole val split)");
  add_logging_options(options);
  return options;
}

std::vector<double> number_list(const std::string& text, const char* what) {
  std::vector<double> out;
  for (const auto& item : core::split_list(text)) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || !(v > 0) || !std::isfinite(v))
      throw core::UsageError(std::string("--") + what + ": '" + item + "' is not a positive number");
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct Measured {
  double params = 0, non_embedding = 0, flops_per_sample = 0, tokens_per_sample = 0;
  std::size_t batch = 0;  // samples per micro-batch x accumulation (per rank)
};

// The rung's values: the base config, the options for every point, then the rung's own.
po::variables_map rung_values(const std::string& config, const std::string& corpus,
                              const std::vector<std::string>& common, const Rung& rung) {
  std::vector<std::string> args{"--config", config, "--corpus", corpus, "--out", "."};
  args.insert(args.end(), common.begin(), common.end());
  for (const auto& a : rung.arguments()) args.push_back(a);
  try {
    return core::parse_options("trafficfm sweep plan", pretrain_options(), args);
  } catch (const core::UsageError& e) {
    throw core::UsageError("ladder rung '" + rung.name + "': " + e.what());
  }
}

Measured measure(const po::variables_map& values, const models::ModelEntry& model, const std::string& corpus,
                 const std::string& settings, int batches) {
  auto world = distributed::make_local_communicator();
  distributed::ProcessGrid grid(*world, 1);
  models::TaskContext context{grid, values, values["train.seed"].as<std::uint64_t>(), torch::kCPU};
  context.corpus_settings = settings;
  auto task = model.make_pretrain_task(context);
  Measured m;
  const auto count = core::count_parameters(*task, 1);
  m.params = static_cast<double>(count.total);
  m.non_embedding = static_cast<double>(count.non_embedding);
  m.batch = values["train.batch-size"].as<std::size_t>() * values["train.accumulation"].as<std::size_t>();
  m.flops_per_sample = task->flops_per_sample();
  m.tokens_per_sample = task->tokens_per_sample();
  if (m.flops_per_sample > 0) return m;
  // FLOPs counted per batch: the mean over a few train batches, run forward without gradients.
  const PerSampleMeans means =
      measure_per_sample(*task, loader_options(values, corpus, "train", grid, model.columns()), batches);
  if (!(means.flops > 0))
    throw std::runtime_error("model " + std::string(model.name) + " reports no FLOPs for its batches");
  m.flops_per_sample = means.flops;
  m.tokens_per_sample = means.tokens;
  return m;
}

// `count` of `items` evenly spaced from the first to the last (all when there are no more).
std::vector<std::size_t> evenly_spaced(std::size_t items, std::size_t count) {
  std::vector<std::size_t> out;
  if (count >= items) {
    for (std::size_t i = 0; i < items; ++i) out.push_back(i);
    return out;
  }
  for (std::size_t k = 0; k < count; ++k) {
    const auto i =
        static_cast<std::size_t>(std::llround(static_cast<double>(k) * static_cast<double>(items - 1) /
                                              static_cast<double>(std::max<std::size_t>(1, count - 1))));
    if (out.empty() || out.back() != i) out.push_back(i);
  }
  return out;
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw core::UsageError("cannot read config file '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int run_sweep_plan(const std::vector<std::string>& all_args) {
  std::vector<std::string> args, common;
  split_at_separator(all_args, args, common);
  const auto options = plan_options();
  const auto values =
      core::parse_options("trafficfm sweep plan", options, args, nullptr, /*read_config_file=*/false);
  if (values.count("help")) {
    print_help(
        "usage: trafficfm sweep plan --config BASE.ini --ladder FILE --corpus C --out SWEEP\n"
        "                            (--budgets C1,C2,... [--points 5] | --grid --samples D1,D2,...) [-- "
        "OPTIONS]",
        options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  if (!values.count("config")) throw core::UsageError("trafficfm sweep plan: --config BASE.ini is required");
  const std::string config = std::filesystem::absolute(values["config"].as<std::string>()).string();
  const std::string corpus = std::filesystem::absolute(values["corpus"].as<std::string>()).string();
  const std::string out = values["out"].as<std::string>();
  const bool grid_design = values["grid"].as<bool>();
  const auto budgets = number_list(values["budgets"].as<std::string>(), "budgets");
  const auto sample_counts = number_list(values["samples"].as<std::string>(), "samples");
  if (grid_design ? sample_counts.empty() : budgets.empty())
    throw core::UsageError(grid_design ? "--grid needs --samples D1,D2,..."
                                       : "give --budgets C1,C2,... (or --grid)");
  const int dp = values["dp"].as<int>(), points_per_budget = values["points"].as<int>();
  if (dp < 1 || points_per_budget < 1) throw core::UsageError("--dp and --points must be at least 1");
  const auto rungs = read_ladder(values["ladder"].as<std::string>());
  const auto manifest = datasets::read_manifest(corpus);
  const double train_samples = static_cast<double>(manifest.samples("train"));
  if (!(train_samples > 0)) throw core::UsageError("corpus " + corpus + " has no train split");

  SweepPlan plan;
  plan.mode = grid_design ? "grid" : "isoflop";
  plan.corpus = corpus;
  plan.config = "base.ini";
  plan.dp = dp;
  const std::size_t val_batches = values["val-batches"].as<std::size_t>();
  plan.common = common;
  for (const std::string& o :
       {std::string("--train.eval-every"), std::string("0"), std::string("--train.eval-batches"),
        std::to_string(val_batches > 0 ? val_batches : 1000000000)})
    plan.common.push_back(o);

  struct Candidate {
    Rung rung;
    Measured m;
  };
  std::vector<Candidate> candidates;
  for (const auto& rung : rungs) {
    const auto v = rung_values(config, corpus, plan.common, rung);
    const auto& model = models::find_model(v["model"].as<std::string>());
    if (plan.model.empty()) plan.model = model.name;
    if (model.size_column)
      throw core::UsageError("model " + std::string(model.name) + " batches by " + model.size_column +
                             " and its runs are sized in steps; sweep plans runs in samples (mmae, lens)");
    if (model.encoding != manifest.encoder)
      throw core::UsageError("corpus " + corpus + " holds the '" + manifest.encoder + "' encoding; model " +
                             model.name + " reads '" + model.encoding + "'");
    const int tp = v["parallel.tp"].as<int>();
    try {
      // Rank 0's shards at the runs' tp: the constructor refuses sizes that do not split.
      auto shapes = distributed::ProcessGrid::shape_only(tp);
      models::TaskContext context{*shapes, v, 0, torch::kCPU};
      context.corpus_settings = manifest.encoder_settings_json;
      model.make_pretrain_task(context);
    } catch (const std::exception& e) {
      plan.skipped.push_back(
          {"rung " + rung.name, "cannot be built at --parallel.tp " + std::to_string(tp) + ": " + e.what()});
      core::log_warn("sweep plan: rung ", rung.name, " left out: ", plan.skipped.back().reason);
      continue;
    }
    candidates.push_back({rung, measure(v, model, corpus, manifest.encoder_settings_json,
                                        values["measure-batches"].as<int>())});
    core::log_info("sweep plan: rung ", rung.name, ": ", candidates.back().m.params, " parameters (",
                   candidates.back().m.non_embedding, " non-embedding), ",
                   candidates.back().m.flops_per_sample, " training FLOPs per sample");
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.m.non_embedding < b.m.non_embedding; });

  const auto min_steps = values["min-steps"].as<std::uint64_t>();
  const double max_epochs = values["max-epochs"].as<double>();
  // The point of rung c trained on `samples`, or the reason it cannot be run.
  auto make_point = [&](const Candidate& c, double samples, double budget, std::string& why) {
    SweepPoint p;
    p.rung = c.rung.name;
    p.budget = budget;
    p.params = c.m.params;
    p.non_embedding_params = c.m.non_embedding;
    p.flops_per_sample = c.m.flops_per_sample;
    p.tokens_per_sample = c.m.tokens_per_sample;
    p.samples = static_cast<std::uint64_t>(std::llround(samples));
    const double global = static_cast<double>(c.m.batch) * dp;
    p.steps = static_cast<std::uint64_t>(std::ceil(static_cast<double>(p.samples) / global));
    std::ostringstream reason;
    if (p.steps < min_steps) {
      reason << p.steps << " steps of " << global << " samples (--min-steps " << min_steps << ")";
    } else if (static_cast<double>(p.samples) > max_epochs * train_samples) {
      reason << std::setprecision(3) << static_cast<double>(p.samples) / train_samples
             << " epochs of the train split (--max-epochs " << max_epochs << ")";
    }
    why = reason.str();
    p.options = c.rung.arguments();
    p.options.push_back("--train.samples");
    p.options.push_back(std::to_string(p.samples));
    return p;
  };
  if (grid_design) {
    for (double samples : sample_counts) {
      for (const auto& c : candidates) {
        std::string why;
        auto p = make_point(c, samples, 0.0, why);
        p.name = "d" + compact_number(samples) + "-" + c.rung.name;
        if (why.empty()) {
          plan.points.push_back(p);
        } else {
          plan.skipped.push_back({p.name, why});
        }
      }
    }
  } else {
    for (double budget : budgets) {
      std::vector<SweepPoint> admissible;
      for (const auto& c : candidates) {
        std::string why;
        auto p = make_point(c, budget / c.m.flops_per_sample, budget, why);
        p.name = "c" + compact_number(budget) + "-" + c.rung.name;
        if (why.empty()) {
          admissible.push_back(p);
        } else {
          plan.skipped.push_back({p.name, why});
        }
      }
      const auto keep = evenly_spaced(admissible.size(), static_cast<std::size_t>(points_per_budget));
      for (std::size_t i = 0, k = 0; i < admissible.size(); ++i) {
        if (k < keep.size() && keep[k] == i) {
          plan.points.push_back(admissible[i]);
          ++k;
        } else {
          plan.skipped.push_back({admissible[i].name, "not among the " + std::to_string(points_per_budget) +
                                                          " sizes kept for this budget (--points)"});
        }
      }
      if (keep.size() < 3)
        core::log_warn("sweep plan: budget ", compact_number(budget), " has ", keep.size(),
                       " admissible size(s); approach 2 needs 3 (add rungs or change the budget)");
    }
  }
  if (plan.points.empty()) throw core::UsageError("sweep plan: no run is admissible (see the reasons above)");

  std::filesystem::create_directories(out + "/runs");
  core::write_file_atomically(out + "/base.ini", read_whole(config));
  write_sweep_plan(out, plan);
  double total = 0;
  std::cout << "sweep plan (" << plan.mode << ", model " << plan.model << "): " << plan.points.size()
            << " runs in " << out << "\n";
  std::cout << std::left << std::setw(24) << "run" << std::right << std::setw(12) << "N" << std::setw(12)
            << "N (non-emb)" << std::setw(12) << "samples" << std::setw(8) << "steps" << std::setw(12)
            << "FLOPs"
            << "\n";
  for (const auto& p : plan.points) {
    const double flops = p.flops_per_sample * static_cast<double>(p.samples);
    total += flops;
    std::cout << std::left << std::setw(24) << p.name << std::right << std::setprecision(3) << std::setw(12)
              << p.params << std::setw(12) << p.non_embedding_params << std::setw(12) << p.samples
              << std::setw(8) << p.steps << std::setw(12) << flops << "\n";
  }
  for (const auto& s : plan.skipped) std::cout << "  left out " << s.what << ": " << s.reason << "\n";
  std::cout << "total: " << std::setprecision(3) << total
            << " training FLOPs; run it with `trafficfm sweep run " << out << " --local` (or --submit)\n";
  return core::kExitOk;
}

}  // namespace trafficfm::launch
