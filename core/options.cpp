#include "core/options.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>

#include "core/errors.h"

namespace trafficfm::core {

void add_common_options(po::options_description& options) {
  options.add_options()("help,h", "print this help: every option with its default and meaning")(
      "config", po::value<std::string>(),
      "INI file of options; [section] key = value sets --section.key; the command line wins");
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest_option(const std::string& unknown, const po::options_description& options) {
  std::string key = unknown;
  key.erase(0, key.find_first_not_of('-'));
  std::string best;
  std::size_t best_distance = SIZE_MAX;
  for (const auto& option : options.options()) {
    const std::string& name = option->long_name();
    if (name.empty()) continue;
    const std::size_t d = edit_distance(key, name);
    if (d < best_distance) {
      best_distance = d;
      best = name;
    }
  }
  return best;
}

namespace {

std::string with_dashes(const std::string& name) {
  std::string key = name;
  key.erase(0, key.find_first_not_of('-'));
  return "--" + key;
}

// "train.lr" -> "[train] lr"; "flows" -> "flows"
std::string ini_spelling(const std::string& key) {
  const auto dot = key.find('.');
  if (dot == std::string::npos) return key;
  return "[" + key.substr(0, dot) + "] " + key.substr(dot + 1);
}

}  // namespace

po::variables_map parse_options(const std::string& command, const po::options_description& options,
                                const std::vector<std::string>& args,
                                const po::positional_options_description* positional, bool read_config_file) {
  po::variables_map values;
  const int style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  try {
    po::command_line_parser parser(args);
    parser.options(options).style(style);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), values);
  } catch (const po::unknown_option& e) {
    const std::string name = with_dashes(e.get_option_name());
    throw UsageError(command + ": unknown option '" + name + "'; did you mean '" +
                     with_dashes(closest_option(name, options)) + "'? (see " + command + " --help)");
  } catch (const po::error& e) {
    throw UsageError(command + ": " + e.what() + " (see " + command + " --help)");
  }

  if (read_config_file && values.count("config") && !values.count("help")) {
    const std::string path = values["config"].as<std::string>();
    std::ifstream file(path);
    if (!file) throw UsageError(command + ": cannot read config file '" + path + "'");
    try {
      po::store(po::parse_config_file(file, options, /*allow_unregistered=*/false), values);
    } catch (const po::unknown_option& e) {
      const std::string key = e.get_option_name();
      throw UsageError(command + ": unknown key '" + ini_spelling(key) + "' in config file '" + path +
                       "'; did you mean '" + ini_spelling(closest_option(key, options)) + "'?");
    } catch (const po::error& e) {
      throw UsageError(command + ": config file '" + path + "': " + e.what());
    }
  }
  if (values.count("help")) return values;  // --help needs no required options
  try {
    po::notify(values);
  } catch (const po::error& e) {
    throw UsageError(command + ": " + e.what() + " (see " + command + " --help)");
  }
  return values;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::string option_value_text(const po::variable_value& value) {
  const boost::any& v = value.value();
  std::ostringstream out;
  out.precision(17);
  if (auto p = boost::any_cast<std::string>(&v)) return *p;
  if (auto p = boost::any_cast<bool>(&v)) return *p ? "true" : "false";
  if (auto p = boost::any_cast<int>(&v))
    out << *p;
  else if (auto p = boost::any_cast<long>(&v))
    out << *p;
  else if (auto p = boost::any_cast<long long>(&v))
    out << *p;
  else if (auto p = boost::any_cast<unsigned>(&v))
    out << *p;
  else if (auto p = boost::any_cast<unsigned long>(&v))
    out << *p;
  else if (auto p = boost::any_cast<unsigned long long>(&v))
    out << *p;
  else if (auto p = boost::any_cast<double>(&v))
    out << *p;
  else if (auto p = boost::any_cast<float>(&v))
    out << *p;
  else if (auto p = boost::any_cast<std::vector<std::string>>(&v)) {
    for (size_t i = 0; i < p->size(); ++i) out << (i ? " " : "") << (*p)[i];
  } else {
    return "?";
  }
  return out.str();
}

std::string options_to_ini(const po::variables_map& values, const po::options_description& options) {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections;
  for (const auto& option : options.options()) {
    const std::string& name = option->long_name();
    if (name.empty() || name == "help" || name == "config" || !values.count(name)) continue;
    const auto dot = name.find('.');
    const std::string section = dot == std::string::npos ? "" : name.substr(0, dot);
    const std::string key = dot == std::string::npos ? name : name.substr(dot + 1);
    sections[section].emplace_back(key, option_value_text(values[name]));
  }
  std::string out;
  for (const auto& [section, entries] : sections) {
    if (!section.empty()) out += (out.empty() ? "[" : "\n[") + section + "]\n";
    for (const auto& [key, text] : entries) out += key + " = " + text + "\n";
  }
  return out;
}

bool on_off_option(const po::variables_map& values, const std::string& key) {
  const std::string v = values[key].as<std::string>();
  if (v == "on") return true;
  if (v == "off") return false;
  throw UsageError("--" + key + " must be on or off, not '" + v + "'");
}

}  // namespace trafficfm::core
