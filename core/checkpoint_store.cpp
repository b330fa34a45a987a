#include "core/checkpoint_store.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/atomic_file.h"
#include "core/file_tree.h"
#include "core/json.h"
#include "core/json_value.h"
#include "core/sha256.h"

namespace trafficfm::core {
namespace fs = std::filesystem;

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

// "step-00000042" -> 42; false for anything else (temporary files, latest, ...).
bool parse_step(const std::string& name, std::uint64_t& step) {
  if (name.size() != 13 || name.compare(0, 5, "step-") != 0) return false;
  for (std::size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
  }
  step = std::stoull(name.substr(5));
  return true;
}

}  // namespace

std::string checkpoint_dir_name(std::uint64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08llu", static_cast<unsigned long long>(step));
  return buf;
}

CheckpointStore::CheckpointStore(std::string run_dir) : root_(std::move(run_dir) + "/checkpoints") {}

std::string CheckpointStore::step_dir(std::uint64_t step) const {
  return root_ + "/" + checkpoint_dir_name(step);
}

CheckpointStore::WrittenPart CheckpointStore::write_part(
    std::uint64_t step, const std::string& name, const std::function<void(const ByteSink&)>& produce) const {
  if (name.empty() || name.find('/') != std::string::npos || name == "meta.json" || name == "COMMIT") {
    throw std::invalid_argument("checkpoint part name '" + name + "' is reserved or not a plain file name");
  }
  fs::create_directories(step_dir(step));  // every rank may race to create it: harmless
  Sha256 hash;
  WrittenPart written;
  write_file_atomically(
      step_dir(step) + "/" + name,
      [&](const ByteSink& to_file) {
        produce([&](const void* data, std::size_t size) {
          hash.update(data, size);
          to_file(data, size);
          written.bytes += size;
        });
      },
      /*sync_directory=*/false);
  written.sha256 = hash.hex_digest();
  return written;
}

CheckpointStore::WrittenPart CheckpointStore::write_part(std::uint64_t step, const std::string& name,
                                                         const std::string& bytes) const {
  return write_part(step, name, [&](const ByteSink& sink) { sink(bytes.data(), bytes.size()); });
}

void CheckpointStore::commit(std::uint64_t step, const std::vector<std::string>& parts,
                             const std::string& meta_json,
                             const std::map<std::string, std::string>& known_sha256) const {
  const std::string dir = step_dir(step);
  std::string files = "{";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string path = dir + "/" + parts[i];
    if (!fs::exists(path))
      throw std::runtime_error("checkpoint " + dir + ": part '" + parts[i] + "' is missing");
    const auto known = known_sha256.find(parts[i]);
    const std::string sha256 = known != known_sha256.end() ? known->second : sha256_file(path);
    const auto bytes = static_cast<std::uint64_t>(fs::file_size(path));
    files += (i ? ", " : "") + json_escape(parts[i]) + ": " +
             JsonObject().set("sha256", sha256).set("bytes", bytes).str();
  }
  files += "}";
  // meta_json is an object: splice "files" in before its closing brace.
  std::string meta = meta_json;
  const auto close = meta.find_last_of('}');
  if (close == std::string::npos) throw std::invalid_argument("checkpoint meta must be a JSON object");
  const bool empty = meta.find_first_not_of(" \t\n{", 0) == close;
  meta.insert(close,
              std::string(empty ? "" : ", ") + "\"step\": " + std::to_string(step) + ", \"files\": " + files);
  write_file_atomically(dir + "/meta.json", meta + "\n");
  write_file_atomically(dir + "/COMMIT", checkpoint_dir_name(step) + "\n");
  write_file_atomically(root_ + "/latest", checkpoint_dir_name(step) + "\n");
}

std::vector<std::uint64_t> CheckpointStore::committed_steps() const {
  std::vector<std::uint64_t> steps;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return steps;
  for (const auto& entry : fs::directory_iterator(root_)) {
    std::uint64_t step = 0;
    if (entry.is_directory() && parse_step(entry.path().filename().string(), step) &&
        fs::exists(entry.path() / "COMMIT")) {
      steps.push_back(step);
    }
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

namespace {
// The steps of every step-NNNNNNNN directory under `root`, committed or not, newest first.
std::vector<std::uint64_t> step_dirs_newest_first(const std::string& root) {
  std::vector<std::uint64_t> all;
  std::error_code ec;
  if (fs::is_directory(root, ec)) {
    for (const auto& entry : fs::directory_iterator(root)) {
      std::uint64_t step = 0;
      if (entry.is_directory() && parse_step(entry.path().filename().string(), step)) all.push_back(step);
    }
  }
  std::sort(all.rbegin(), all.rend());
  return all;
}
}  // namespace

bool verify_checkpoint_dir(const std::string& dir, std::string* why, bool hashes) {
  if (!fs::exists(dir + "/COMMIT")) {
    if (why) *why = "no COMMIT marker (interrupted while writing)";
    return false;
  }
  try {
    const auto meta = JsonValue::parse(read_whole_file(dir + "/meta.json"));
    for (const auto& [name, info] : meta["files"].as_object()) {
      const std::string path = dir + "/" + name;
      if (!hashes) {
        if (!fs::exists(path)) throw std::runtime_error("part '" + name + "' is missing");
        const auto bytes = static_cast<std::int64_t>(fs::file_size(path));
        if (bytes != info["bytes"].as_int())
          throw std::runtime_error("part '" + name + "' has " + std::to_string(bytes) +
                                   " bytes, meta.json says " + std::to_string(info["bytes"].as_int()));
        continue;
      }
      const std::string actual = sha256_file(path);
      if (actual != info["sha256"].as_string()) {
        throw std::runtime_error("part '" + name + "' has SHA-256 " + actual + ", meta.json says " +
                                 info["sha256"].as_string());
      }
    }
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return false;
  }
  return true;
}

std::string resolve_checkpoint_dir(const std::string& path) {
  std::string why;
  if (fs::exists(path + "/meta.json") || fs::exists(path + "/COMMIT")) {
    if (!verify_checkpoint_dir(path, &why)) throw std::runtime_error("checkpoint " + path + ": " + why);
    return path;
  }
  std::string run = path;
  if (fs::path(path).filename() == "checkpoints") run = fs::path(path).parent_path().string();
  CheckpointStore store(run);
  CheckpointStore::Found found;
  std::vector<std::string> warnings;
  if (store.newest_valid(found, &warnings)) return found.dir;
  std::string detail;
  for (const auto& w : warnings) detail += "\n  " + w;
  throw std::runtime_error("no valid checkpoint in " + path +
                           (detail.empty() ? " (none written)" : ":" + detail));
}

bool CheckpointStore::newest_valid(Found& found, std::vector<std::string>* warnings) const {
  const std::vector<std::uint64_t> all = step_dirs_newest_first(root_);
  auto warn = [&](const std::string& line) {
    if (warnings) warnings->push_back(line);
  };
  for (std::uint64_t step : all) {
    const std::string dir = step_dir(step);
    std::string why;
    if (verify_checkpoint_dir(dir, &why)) {
      found.step = step;
      found.dir = dir;
      return true;
    }
    warn(dir + ": " + why + "; skipped");
  }
  return false;
}

std::vector<std::uint64_t> CheckpointStore::committed_candidates(std::vector<std::string>* warnings) const {
  std::vector<std::uint64_t> out;
  for (std::uint64_t step : step_dirs_newest_first(root_)) {
    std::string why;
    if (verify_checkpoint_dir(step_dir(step), &why, /*hashes=*/false)) {
      out.push_back(step);
    } else if (warnings) {
      warnings->push_back(step_dir(step) + ": " + why + "; skipped");
    }
  }
  return out;
}

std::string CheckpointStore::read_part(const std::string& dir, const std::string& name) const {
  return read_whole_file(dir + "/" + name);
}

std::vector<std::uint64_t> CheckpointStore::apply_retention(std::size_t keep_last,
                                                            std::uint64_t milestone_every) const {
  std::vector<std::uint64_t> removed;
  const auto committed = committed_steps();
  if (committed.empty()) return removed;
  const std::uint64_t newest = committed.back();
  std::vector<std::uint64_t> keep(committed.end() - std::min(keep_last, committed.size()), committed.end());
  for (const auto& entry : fs::directory_iterator(root_)) {
    std::uint64_t step = 0;
    if (!entry.is_directory() || !parse_step(entry.path().filename().string(), step)) continue;
    const bool is_committed = std::binary_search(committed.begin(), committed.end(), step);
    const bool recent = std::find(keep.begin(), keep.end(), step) != keep.end();
    const bool milestone = milestone_every > 0 && step % milestone_every == 0 && is_committed;
    // Uncommitted directories newer than the newest commit may be another rank's write in
    // progress: leave them.
    if (recent || milestone || (!is_committed && step > newest)) continue;
    remove_tree(entry.path().string());
    removed.push_back(step);
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

}  // namespace trafficfm::core
