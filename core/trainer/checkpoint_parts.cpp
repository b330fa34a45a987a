#include "core/trainer/checkpoint_parts.h"

#include <stdexcept>

#include "core/checkpoint_store.h"
#include "core/sha256.h"
#include "core/trainer/trainer_checkpoint.h"

namespace trafficfm::core {

std::string model_part(int tp_rank) { return "model-tp" + std::to_string(tp_rank) + ".pt"; }
std::string optim_part(int tp_rank) { return "optim-tp" + std::to_string(tp_rank) + ".pt"; }
std::string zero_optim_part(int dp_rank, int tp_rank) {
  return "optim-dp" + std::to_string(dp_rank) + "-tp" + std::to_string(tp_rank) + ".pt";
}

CheckpointLayout CheckpointLayout::from_meta(const JsonValue& meta) {
  CheckpointLayout l;
  l.format = meta.has("format") ? static_cast<int>(meta["format"].as_int()) : 1;
  if (l.format > kCheckpointFormat) {
    throw std::runtime_error("checkpoint format " + std::to_string(l.format) +
                             " is newer than this build reads (" + std::to_string(kCheckpointFormat) + ")");
  }
  l.dp = static_cast<int>(meta["layout"]["dp"].as_int());
  l.tp = static_cast<int>(meta["layout"]["tp"].as_int());
  l.zero = meta.has("zero") && meta["zero"].as_bool();
  if (l.format < 2) return l;
  for (const auto& [name, t] : meta["tensors"].as_object())
    l.tensors[name] = {static_cast<int>(t["split_dim"].as_int()), t["rows"].as_int()};
  if (meta.has("zero_buckets")) {
    for (const auto& b : meta["zero_buckets"].as_array()) {
      SavedBucket bucket;
      bucket.numel = b["numel"].as_int();
      for (const auto& p : b["parameters"].as_array()) {
        const auto& v = p.as_array();
        bucket.parameters.push_back({v.at(0).as_string(), v.at(1).as_int(), v.at(2).as_int()});
      }
      l.buckets.push_back(bucket);
    }
  }
  return l;
}

void CheckpointLayout::add_to(JsonObject& meta) const {
  meta.set("format", format);
  JsonObject tensors_json;
  for (const auto& [name, t] : tensors)
    tensors_json.set(name, JsonObject().set("split_dim", t.split_dim).set("rows", t.rows));
  meta.set("tensors", tensors_json);
  if (buckets.empty()) return;
  std::string list = "[";
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    std::string params = "[";
    for (std::size_t i = 0; i < buckets[b].parameters.size(); ++i) {
      const auto& p = buckets[b].parameters[i];
      params += (i ? ", [" : "[") + json_escape(p.name) + ", " + std::to_string(p.offset) + ", " +
                std::to_string(p.numel) + "]";
    }
    list += (b ? ", " : "") +
            JsonObject().set("numel", buckets[b].numel).set_raw("parameters", params + "]").str();
  }
  meta.set_raw("zero_buckets", list + "]");
}

torch::Tensor join_shards(const std::vector<torch::Tensor>& shards, const SavedTensor& saved) {
  if (shards.empty()) throw std::invalid_argument("join_shards: no shards");
  auto full =
      saved.split_dim < 0 || shards.size() == 1 ? shards.front() : torch::cat(shards, saved.split_dim);
  if (saved.rows >= 0 && full.dim() > 0 && full.size(0) > saved.rows)
    full = full.narrow(0, 0, saved.rows).clone();
  return full;
}

std::string read_checked_part(const std::string& dir, const JsonValue& meta, const std::string& name) {
  const std::string path = dir + "/" + name;
  const auto& files = meta["files"];
  if (!files.has(name)) throw std::runtime_error(dir + "/meta.json lists no part '" + name + "'");
  const std::string data = read_whole_file(path);
  const std::string actual = sha256_hex(data.data(), data.size());
  const std::string expected = files[name]["sha256"].as_string();
  if (actual != expected)
    throw std::runtime_error(path + " has SHA-256 " + actual + ", meta.json says " + expected);
  return data;
}

std::vector<std::pair<std::string, torch::Tensor>> read_full_model(const std::string& dir) {
  const auto meta = JsonValue::parse(read_whole_file(dir + "/meta.json"));
  const auto layout = CheckpointLayout::from_meta(meta);
  if (layout.format < 2) return unpickle_tensors(read_checked_part(dir, meta, "model.pt"), dir + "/model.pt");
  std::vector<std::map<std::string, torch::Tensor>> shards(static_cast<std::size_t>(layout.tp));
  std::vector<std::string> order;
  for (int k = 0; k < layout.tp; ++k) {
    for (auto& [name, t] :
         unpickle_tensors(read_checked_part(dir, meta, model_part(k)), dir + "/" + model_part(k))) {
      if (k == 0) order.push_back(name);
      shards[static_cast<std::size_t>(k)][name] = t;
    }
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& name : order) {
    const auto saved = layout.tensors.find(name);
    if (saved == layout.tensors.end())
      throw std::runtime_error(dir + "/meta.json does not describe '" + name + "'");
    std::vector<torch::Tensor> pieces;
    for (const auto& part : shards) {
      const auto it = part.find(name);
      if (it == part.end()) throw std::runtime_error(dir + ": a model part lacks '" + name + "'");
      pieces.push_back(it->second);
    }
    out.emplace_back(name, join_shards(pieces, saved->second));
  }
  return out;
}

}  // namespace trafficfm::core
