// trafficfm prep --input PATH... --out CORPUS --encoder mmae|lens|flows [--labels CSV]
// Under `mpirun -np K` the input files are divided across ranks; each writes its own shards
// and rank 0 writes the manifest last.
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/task_pool.h"
#include "datasets/capture/capture_reader.h"
#include "datasets/encoders/lens_spm.h"
#include "datasets/flowlogs/flow_log_reader.h"
#include "datasets/prep/prep.h"
#include "distributed/mpi_session.h"
#include "launch/common_options.h"
#include "launch/subcommand.h"

namespace trafficfm::launch {
namespace {

namespace fs = std::filesystem;
namespace po = core::po;

po::options_description prep_options() {
  po::options_description options("Options");
  core::add_common_options(options);
  options.add_options()("input", po::value<std::vector<std::string>>()->multitoken()->required(),
                        "capture files or directories (walked recursively: .pcap .pcapng .cap, also .gz); "
                        "for --encoder flows also "
                        "Zeek conn.log and NetFlow-v2 CSV files")("out", po::value<std::string>()->required(),
                                                                  "corpus directory to create")(
      "encoder", po::value<std::string>()->default_value("mmae"), "mmae | lens | flows | graph")(
      "labels", po::value<std::string>()->default_value(""),
      "CSV of per-flow labels keyed by 5-tuple (src_ip,src_port,dst_ip,dst_port,l4[,file]); see "
      "docs/data-formats.md")(
      "label-column", po::value<std::string>()->default_value(""),
      "label column of --labels (default: label, else category) or of flow logs (default: label / Attack)")(
      "label-from", po::value<std::string>()->default_value(""),
      "dirname | filename: label each file's flows by it")(
      "anonymize", po::value<std::string>()->default_value("on"),
      "on | off: zero IP addresses, ports and checksums and make TCP sequence and acknowledgement "
      "numbers and IPv4 IDs relative in encoded bytes (off = byte-compatible with YaTC)")(
      "split-by", po::value<std::string>()->default_value("flow"),
      "flow (5-tuple hash) | file | time (graph only: per source file, its earliest flows train, then val, "
      "then test)")(
      "dedup", po::value<std::string>()->default_value("on"),
      "on | off: drop a sample whose encoded content is already in another split (one rank's files)")(
      "pseudonym-key", po::value<std::string>()->default_value(""),
      "flows: key of the host pseudonyms (default: random per corpus, not stored)")(
      "overwrite", po::bool_switch(), "replace an existing corpus in --out")(
      "threads", po::value<int>()->default_value(0),
      "threads per rank (0: the cores this rank may run on); the corpus bytes do not depend on it");
  po::options_description flow("Flows [flow]");
  flow.add_options()("flow.idle-timeout", po::value<double>()->default_value(120.0),
                     "seconds of silence that end a flow")("flow.active-timeout",
                                                           po::value<double>()->default_value(1800.0),
                                                           "seconds after which a long flow is cut");
  po::options_description split("Splits [split]");
  split.add_options()("split.val", po::value<double>()->default_value(0.1),
                      "fraction of flows in the val split")(
      "split.test", po::value<double>()->default_value(0.1), "fraction of flows in the test split");
  po::options_description lens("Lens encoder [lens]");
  lens.add_options()("lens.packets", po::value<int>()->default_value(5), "first K packets per sample")(
      "lens.max-tokens", po::value<int>()->default_value(512), "tokens per sample (padded)")(
      "lens.tokenizer", po::value<std::string>()->default_value("bigram"),
      "bigram (ET-BERT byte bigrams, fixed 65,642 ids) | spm (SentencePiece BPE trained on this corpus)")(
      "lens.spm-vocab", po::value<int>()->default_value(8000), "spm: vocabulary size (Lens used 32,112)")(
      "lens.spm-sample-flows", po::value<std::size_t>()->default_value(5000),
      "spm: flows (from the first input files) the tokenizer is trained on");
  po::options_description graph("Graph encoder [graph]");
  graph.add_options()("graph.window", po::value<double>()->default_value(5.0), "seconds per time slice")(
      "graph.slices", po::value<int>()->default_value(5), "consecutive slices per graph")(
      "graph.neighbors", po::value<int>()->default_value(20),
      "temporal edges from each flow to the next N flows of the same source (and destination) host in a "
      "slice")("graph.max-nodes", po::value<int>()->default_value(10000),
               "a larger graph is cut into METIS parts of about this many own nodes, each with its halo")(
      "graph.layers", po::value<int>()->default_value(2),
      "halo depth in hops: the message-passing layers of the model that reads the corpus")(
      "graph.seed", po::value<std::uint64_t>()->default_value(0), "METIS' seed");
  po::options_description shard("Shards [shard]");
  shard.add_options()("shard.mb", po::value<double>()->default_value(64.0),
                      "target uncompressed shard size in MB")(
      "shard.chunk-rows", po::value<std::size_t>()->default_value(256), "HDF5 chunk length in samples")(
      "shard.deflate", po::value<int>()->default_value(1),
      "deflate level 0-9 (0: no compression; 1: ISA-L's fast deflate; 2-9: zlib's levels)");
  options.add(flow).add(split).add(lens).add(graph).add(shard);
  add_logging_options(options);
  return options;
}

std::string random_key() {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  unsigned char bytes[16];
  urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  if (!urandom) throw std::runtime_error("cannot read /dev/urandom for the pseudonym key");
  std::string hex;
  char buf[3];
  for (unsigned char b : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    hex += buf;
  }
  return hex;
}

// The corpus-wide label list: every rank computes the same one from the same inputs.
std::unique_ptr<datasets::LabelTable> load_labels(const datasets::PrepOptions& options,
                                                  const std::string& csv, const std::string& column,
                                                  const std::vector<std::string>& files) {
  using datasets::LabelTable;
  if (!csv.empty()) return std::make_unique<LabelTable>(LabelTable::from_csv(csv, column));
  if (!options.label_from.empty()) {
    std::vector<std::string> names;
    for (const auto& f : files) {
      names.push_back(options.label_from == "dirname" ? fs::path(f).parent_path().filename().string()
                                                      : fs::path(f).filename().string());
    }
    return std::make_unique<LabelTable>(LabelTable::from_names(names));
  }
  if (options.encoder == "flows" || options.encoder == "graph") {  // the encoders that read flow logs
    std::set<std::string> names;
    for (const auto& f : files) {
      const auto format = datasets::detect_flow_log(f);
      if (format == datasets::FlowLogFormat::kNone) continue;
      const std::string col = column.empty() ? datasets::default_flow_log_label_column(format) : column;
      for (auto& n : datasets::flow_log_label_values(f, format, col)) names.insert(n);
    }
    if (!names.empty())
      return std::make_unique<LabelTable>(LabelTable::from_names({names.begin(), names.end()}));
  }
  return nullptr;
}

std::vector<std::string> list_inputs(const std::vector<std::string>& inputs, bool flow_logs) {
  auto files = datasets::list_capture_files(inputs);
  if (!flow_logs) return files;
  // Directories may also hold flow logs: conn.log*, *.csv.
  std::set<std::string> all(files.begin(), files.end());
  for (const auto& input : inputs) {
    if (!fs::is_directory(input)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(input)) {
      if (!entry.is_regular_file()) continue;
      const std::string name = entry.path().filename().string();
      if (name.find("conn.log") != std::string::npos || entry.path().extension() == ".csv") {
        all.insert(entry.path().string());
      }
    }
  }
  return {all.begin(), all.end()};
}

}  // namespace

int run_prep(const std::vector<std::string>& args) {
  const auto options = prep_options();
  po::positional_options_description positional;
  positional.add("input", -1);
  const auto values = core::parse_options("trafficfm prep", options, args, &positional);
  if (values.count("help")) {
    print_help(
        "usage: trafficfm prep --input PATH... --out CORPUS --encoder mmae|lens|flows [--labels CSV]\n"
        "       mpirun -np K trafficfm prep ...   (files divided across ranks)\n\n"
        "Turns captures (and, for --encoder flows, flow logs) into a sharded HDF5 corpus:\n"
        "CORPUS/manifest.json + CORPUS/shard-NNNNN.h5.",
        options);
    return core::kExitOk;
  }
  apply_logging_options(values);
  distributed::MpiSession session;

  datasets::PrepOptions prep;
  prep.out_dir = values["out"].as<std::string>();
  prep.encoder = values["encoder"].as<std::string>();
  const auto& names = datasets::encoder_names();
  if (std::find(names.begin(), names.end(), prep.encoder) == names.end()) {
    throw core::UsageError("trafficfm prep: --encoder must be mmae, lens, flows or graph, not '" +
                           prep.encoder + "'");
  }
  const std::string anonymize = values["anonymize"].as<std::string>();
  if (anonymize != "on" && anonymize != "off")
    throw core::UsageError("trafficfm prep: --anonymize must be on or off");
  prep.encoder_options.anonymize = anonymize == "on";
  prep.encoder_options.packets = values["lens.packets"].as<int>();
  prep.encoder_options.max_tokens = values["lens.max-tokens"].as<int>();
  prep.encoder_options.graph_window_s = values["graph.window"].as<double>();
  prep.encoder_options.graph_slices = values["graph.slices"].as<int>();
  prep.encoder_options.graph_neighbors = values["graph.neighbors"].as<int>();
  prep.encoder_options.graph_max_nodes = values["graph.max-nodes"].as<int>();
  prep.encoder_options.graph_layers = values["graph.layers"].as<int>();
  prep.encoder_options.graph_seed = values["graph.seed"].as<std::uint64_t>();
  const std::string tokenizer = values["lens.tokenizer"].as<std::string>();
  if (tokenizer != "bigram" && tokenizer != "spm") {
    throw core::UsageError("trafficfm prep: --lens.tokenizer must be bigram or spm");
  }
  prep.flow_options.idle_timeout_s = values["flow.idle-timeout"].as<double>();
  prep.flow_options.active_timeout_s = values["flow.active-timeout"].as<double>();
  prep.split_by = values["split-by"].as<std::string>();
  const std::string dedup = values["dedup"].as<std::string>();
  if (dedup != "on" && dedup != "off")
    throw core::UsageError("trafficfm prep: --dedup must be on or off, not '" + dedup + "'");
  prep.dedup_across_splits = dedup == "on";
  if (prep.split_by != "flow" && prep.split_by != "file" && prep.split_by != "time")
    throw core::UsageError("trafficfm prep: --split-by must be flow, file or time");
  if (prep.split_by == "time" && prep.encoder != "graph")
    throw core::UsageError(
        "trafficfm prep: --split-by time is for --encoder graph (whole files in time order)");
  prep.val_fraction = values["split.val"].as<double>();
  prep.test_fraction = values["split.test"].as<double>();
  if (prep.val_fraction < 0 || prep.test_fraction < 0 || prep.val_fraction + prep.test_fraction > 1) {
    throw core::UsageError("trafficfm prep: --split.val and --split.test must be >= 0 and sum to at most 1");
  }
  prep.shard_bytes = static_cast<std::uint64_t>(values["shard.mb"].as<double>() * (1 << 20));
  prep.shard_options.chunk_rows = std::max<std::size_t>(1, values["shard.chunk-rows"].as<std::size_t>());
  prep.shard_options.deflate_level = values["shard.deflate"].as<int>();
  prep.label_from = values["label-from"].as<std::string>();
  if (!prep.label_from.empty() && prep.label_from != "dirname" && prep.label_from != "filename") {
    throw core::UsageError("trafficfm prep: --label-from must be dirname or filename");
  }
  prep.flow_log_label_column = values["label-column"].as<std::string>();
  prep.rank = session.rank();
  prep.world = session.size();
  prep.threads = values["threads"].as<int>();
  if (prep.threads < 0) throw core::UsageError("trafficfm prep: --threads must be >= 0");
  if (prep.threads == 0) prep.threads = core::available_cores();

  // Rank 0 prepares the directory; everyone waits for it.
  bool failed = false;
  std::string failure;
  if (session.rank() == 0) {
    try {
      fs::create_directories(prep.out_dir);
      const bool exists = fs::exists(prep.out_dir + "/manifest.json");
      if (exists && !values["overwrite"].as<bool>()) {
        throw core::UsageError("trafficfm prep: '" + prep.out_dir +
                               "' already holds a corpus (use --overwrite)");
      }
      for (const auto& entry : fs::directory_iterator(prep.out_dir)) {
        const std::string name = entry.path().filename().string();
        if (name == "manifest.json" || name == "tokenizer.model" || name.rfind("shard-", 0) == 0 ||
            name.rfind(".prep-rank-", 0) == 0) {
          fs::remove(entry.path());
        }
      }
    } catch (const std::exception& e) {
      failed = true;
      failure = e.what();
    }
  }
  if (session.any(failed)) {
    if (!failure.empty()) throw core::UsageError(failure);
    return core::kExitFailure;
  }

  const auto files = list_inputs(values["input"].as<std::vector<std::string>>(),
                                 prep.encoder == "flows" || prep.encoder == "graph");
  if (files.empty()) throw core::UsageError("trafficfm prep: no capture files found in --input");
  auto labels =
      load_labels(prep, values["labels"].as<std::string>(), values["label-column"].as<std::string>(), files);
  std::string key = values["pseudonym-key"].as<std::string>();
  if (key.empty() && prep.encoder == "flows") key = session.rank() == 0 ? random_key() : "";
  prep.encoder_options.pseudonym_key = session.broadcast(key);

  if (prep.encoder == "lens" && tokenizer == "spm") {
    // Rank 0 trains the vocabulary on the first flows of the inputs; every rank then loads it.
    const std::string model = prep.out_dir + "/tokenizer.model";
    std::string error;
    if (session.rank() == 0) {
      datasets::SpmTrainOptions spm;
      spm.vocab_size = values["lens.spm-vocab"].as<int>();
      spm.sample_flows = values["lens.spm-sample-flows"].as<std::size_t>();
      spm.packets = prep.encoder_options.packets;
      spm.anonymize = prep.encoder_options.anonymize;
      try {
        const auto used = datasets::train_lens_spm(files, spm, model);
        core::log_info("prep: trained a ", spm.vocab_size, "-piece BPE tokenizer on ", used, " flows -> ",
                       model);
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    if (session.any(!error.empty()))
      throw std::runtime_error(error.empty() ? "tokenizer training failed on rank 0" : error);
    prep.encoder_options.spm_model = model;
  }
  const auto mine = datasets::divide_files(files, session.rank(), session.size());
  core::log_info("prep: ", files.size(), " input files, ", mine.size(), " on this rank (", session.size(),
                 " ranks), encoder ", prep.encoder, " -> ", prep.out_dir);
  core::Progress progress("prep", mine.size(), "files");
  const auto result =
      datasets::prep_files(prep, mine, labels.get(), [&](const std::string&) { progress.advance(); });
  progress.finish();
  core::write_file_atomically(prep.out_dir + "/.prep-rank-" + std::to_string(session.rank()) + ".json",
                              datasets::result_to_json(result));
  session.barrier();
  if (session.rank() == 0) {
    std::vector<datasets::PrepResult> ranks;
    for (int r = 0; r < session.size(); ++r) {
      const std::string path = prep.out_dir + "/.prep-rank-" + std::to_string(r) + ".json";
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      ranks.push_back(datasets::result_from_json(text.str()));
    }
    const auto manifest =
        datasets::merge_results(prep, ranks, labels ? labels->names() : std::vector<std::string>{});
    for (int r = 0; r < session.size(); ++r)
      fs::remove(prep.out_dir + "/.prep-rank-" + std::to_string(r) + ".json");
    std::printf("%s", datasets::format_summary(manifest).c_str());
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("wrote %s/manifest.json (rank 0 peak memory %.1f MB)\n", prep.out_dir.c_str(),
                usage.ru_maxrss / 1024.0);
  }
  session.barrier();
  return result.counts.files > 0 && result.counts.files == result.counts.files_failed &&
                 files.size() == mine.size()
             ? core::kExitFailure
             : core::kExitOk;
}

}  // namespace trafficfm::launch
