// Configuration: Boost.Program_options with INI files. A subcommand declares its options in
// groups; a group named "train" holds keys "train.lr", ... which the INI file sets as
//   [train]
//   lr = 3e-4
// and the command line overrides as --train.lr 3e-4. The command line wins over the file.
// An unknown key, in the file or on the command line, is a UsageError (exit 2) naming the key
// and the closest known key. Abbreviated options are not accepted: a config must say what it
// means even after new options are added.
#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace trafficfm::core {

namespace po = boost::program_options;

// Adds --help and --config FILE to a subcommand's options.
void add_common_options(po::options_description& options);

// Levenshtein distance; used to suggest the closest known key.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The known long option name closest to `unknown` ("" when there are none).
std::string closest_option(const std::string& unknown, const po::options_description& options);

// Parses `args` (the words after the subcommand name) and, if --config is given, that INI
// file. `command` prefixes error messages ("trafficfm synth"). Throws UsageError.
// read_config_file = false: `config` names a file for somebody else (trafficfm submit).
po::variables_map parse_options(const std::string& command, const po::options_description& options,
                                const std::vector<std::string>& args,
                                const po::positional_options_description* positional = nullptr,
                                bool read_config_file = true);

// The non-empty items of a comma-separated list ("a,,b" -> {"a", "b"}).
std::vector<std::string> split_list(const std::string& text);

// The value of an on | off option; throws UsageError naming --key and the value otherwise.
bool on_off_option(const po::variables_map& values, const std::string& key);

// The resolved options as INI text, grouped by section, one "key = value" per line, so that a
// run directory records exactly what ran (and `--config RUN/config.ini` repeats it).
std::string options_to_ini(const po::variables_map& values, const po::options_description& options);

// Text of one stored value (numbers, strings, bools, vectors of strings).
std::string option_value_text(const po::variable_value& value);

}  // namespace trafficfm::core
