// Minimal RFC 4180 CSV: comma-separated, optional double quotes ("" inside quotes is a quote),
// LF or CRLF line ends. Enough for flows.csv, labels.csv and NetFlow exports.
#pragma once
#include <string>
#include <vector>

namespace trafficfm::datasets {

std::vector<std::string> split_csv_line(const std::string& line);

// Index of `name` in `header`, or -1.
int find_column(const std::vector<std::string>& header, const std::string& name);

}  // namespace trafficfm::datasets
