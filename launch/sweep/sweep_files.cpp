#include "launch/sweep/sweep_files.h"

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/json_value.h"

namespace trafficfm::launch {

namespace {

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool directory_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string json_array(const std::vector<std::string>& encoded) {
  std::string out = "[";
  for (std::size_t i = 0; i < encoded.size(); ++i) out += (i ? "," : "") + encoded[i];
  return out + "]";
}

std::vector<std::string> string_list(const core::JsonValue& value) {
  std::vector<std::string> out;
  for (const auto& v : value.as_array()) out.push_back(v.as_string());
  return out;
}

}  // namespace

std::vector<std::string> Rung::arguments() const {
  std::vector<std::string> out;
  for (const auto& [key, value] : options) {
    out.push_back("--" + key);
    out.push_back(value);
  }
  return out;
}

std::vector<Rung> read_ladder(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw core::UsageError("cannot read the ladder file '" + path + "'");
  std::vector<std::string> header;
  std::vector<Rung> rungs;
  std::set<std::string> names;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    const auto words = words_of(line);
    if (words.empty()) continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    if (header.empty()) {
      if (words.front() != "name" || words.size() < 2)
        throw core::UsageError(where +
                               "the first line names the columns: `name KEY...` (KEY: a pretrain option "
                               "such as mmae.dim)");
      header = words;
      for (std::size_t k = 1; k < header.size(); ++k) {
        if (header[k].rfind("--", 0) == 0) header[k] = header[k].substr(2);
      }
      continue;
    }
    if (words.size() != header.size())
      throw core::UsageError(where + "rung '" + words.front() + "' has " + std::to_string(words.size() - 1) +
                             " values for " + std::to_string(header.size() - 1) + " columns");
    if (!directory_name(words.front()))
      throw core::UsageError(where + "rung name '" + words.front() +
                             "' must be letters, digits, '-', '_' or '.' (it names run directories)");
    if (!names.insert(words.front()).second)
      throw core::UsageError(where + "rung '" + words.front() + "' appears twice");
    Rung rung;
    rung.name = words.front();
    for (std::size_t k = 1; k < header.size(); ++k) rung.options.emplace_back(header[k], words[k]);
    rungs.push_back(rung);
  }
  if (rungs.empty()) throw core::UsageError("the ladder file '" + path + "' has no rungs");
  return rungs;
}

std::string compact_number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.3g", value);
  std::string s = buffer;
  const auto e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
  if (!exponent.empty() && exponent[0] == '+') exponent.erase(0, 1);
  while (exponent.size() > 1 && exponent[0] == '0') exponent.erase(0, 1);
  return mantissa + "e" + exponent;
}

std::string point_run_dir(const std::string& sweep_dir, const SweepPoint& point) {
  return sweep_dir + "/runs/" + point.name;
}

void write_sweep_plan(const std::string& dir, const SweepPlan& plan) {
  std::vector<std::string> points, skipped;
  std::ostringstream table, sweep;
  table << "name\trung\tbudget_flops\tparams\tnon_embedding_params\tflops_per_sample\ttokens_per_sample"
           "\tsamples\tsteps\toptions\n";
  sweep << "# trafficfm sweep plan (" << plan.mode
        << "): one run per line, `NAME OPTIONS...`; every run also gets"
        << " --config base.ini, the corpus and:";
  for (const auto& c : plan.common) sweep << " " << c;
  sweep << "\n";
  for (const auto& p : plan.points) {
    points.push_back(core::JsonObject()
                         .set("name", p.name)
                         .set("rung", p.rung)
                         .set("budget", p.budget)
                         .set("params", p.params)
                         .set("non_embedding_params", p.non_embedding_params)
                         .set("flops_per_sample", p.flops_per_sample)
                         .set("tokens_per_sample", p.tokens_per_sample)
                         .set("samples", p.samples)
                         .set("steps", p.steps)
                         .set("options", p.options)
                         .str());
    std::string options;
    for (const auto& o : p.options) options += (options.empty() ? "" : " ") + o;
    table << p.name << '\t' << p.rung << '\t' << p.budget << '\t' << p.params << '\t'
          << p.non_embedding_params << '\t' << p.flops_per_sample << '\t' << p.tokens_per_sample << '\t'
          << p.samples << '\t' << p.steps << '\t' << options << '\n';
    sweep << p.name << ' ' << options << '\n';
  }
  for (const auto& s : plan.skipped)
    skipped.push_back(core::JsonObject().set("what", s.what).set("reason", s.reason).str());
  core::JsonObject json;
  json.set("format", 1).set("mode", plan.mode).set("model", plan.model).set("config", plan.config);
  json.set("corpus", plan.corpus).set("common", plan.common).set("dp", plan.dp);
  json.set_raw("points", json_array(points)).set_raw("skipped", json_array(skipped));
  core::write_file_atomically(dir + "/plan.tsv", table.str());
  core::write_file_atomically(dir + "/sweep.txt", sweep.str());
  core::write_file_atomically(dir + "/sweep.json", json.str() + "\n");
}

SweepPlan read_sweep_plan(const std::string& dir) {
  const std::string path = dir + "/sweep.json";
  std::ifstream in(path);
  if (!in) throw core::UsageError(dir + " is not a sweep: no sweep.json (trafficfm sweep plan writes it)");
  std::stringstream text;
  text << in.rdbuf();
  try {
    const auto json = core::JsonValue::parse(text.str());
    SweepPlan plan;
    plan.mode = json["mode"].as_string();
    plan.model = json["model"].as_string();
    plan.config = json["config"].as_string();
    plan.corpus = json["corpus"].as_string();
    plan.common = string_list(json["common"]);
    plan.dp = static_cast<int>(json["dp"].as_int());
    for (const auto& p : json["points"].as_array()) {
      SweepPoint point;
      point.name = p["name"].as_string();
      point.rung = p["rung"].as_string();
      point.budget = p["budget"].as_number();
      point.params = p["params"].as_number();
      point.non_embedding_params = p["non_embedding_params"].as_number();
      point.flops_per_sample = p["flops_per_sample"].as_number();
      point.tokens_per_sample = p["tokens_per_sample"].as_number();
      point.samples = static_cast<std::uint64_t>(p["samples"].as_int());
      point.steps = static_cast<std::uint64_t>(p["steps"].as_int());
      point.options = string_list(p["options"]);
      plan.points.push_back(point);
    }
    for (const auto& s : json["skipped"].as_array())
      plan.skipped.push_back({s["what"].as_string(), s["reason"].as_string()});
    return plan;
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

}  // namespace trafficfm::launch
