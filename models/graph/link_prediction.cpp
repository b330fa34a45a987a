#include "models/graph/link_prediction.h"

#include <unordered_set>

#include "core/rng.h"

namespace trafficfm::models {

LinkTargets draw_link_targets(const GraphInputs& in, double fraction,
                              const std::vector<std::uint64_t>& keys) {
  LinkTargets out;
  const auto flow_own = in.flow_own.cpu(), ip_own = in.ip_own.cpu();
  const auto* flow_own_p = flow_own.data_ptr<bool>();
  const auto* ip_own_p = ip_own.data_ptr<bool>();
  for (int t = 0; t < kEdgeTypes; ++t) {
    const auto type = static_cast<datasets::EdgeType>(t);
    const bool source_flow = datasets::edge_source_type(type) == datasets::NodeType::kFlow;
    const bool target_flow = datasets::edge_target_type(type) == datasets::NodeType::kFlow;
    const auto edges = in.edges[t].cpu().contiguous();
    const auto* src = edges.data_ptr<std::int64_t>();
    const auto* dst = src + edges.size(1);
    std::vector<std::int64_t> keep[2], pos[2], neg[2];
    for (std::int64_t r = 0; r < in.rows; ++r) {
      const std::int64_t first = in.edge_begin[t][r], last = in.edge_begin[t][r + 1];
      std::uint64_t state = core::derive_seed(keys[r], 0x6c696e6b00ULL + static_cast<std::uint64_t>(t));
      auto uniform = [&] { return static_cast<double>(core::splitmix64(state) >> 11) * 0x1.0p-53; };
      // This sample's own targets of the type (where negatives come from), and its edges.
      const auto& begin = target_flow ? in.flow_begin : in.ip_begin;
      const bool* own_target = target_flow ? flow_own_p : ip_own_p;
      const bool* own_source = source_flow ? flow_own_p : ip_own_p;
      std::vector<std::int64_t> candidates;
      for (std::int64_t v = begin[r]; v < begin[r + 1]; ++v) {
        if (own_target[v]) candidates.push_back(v);
      }
      std::unordered_set<std::uint64_t> existing;
      auto pair_key = [](std::int64_t a, std::int64_t b) {
        return (static_cast<std::uint64_t>(a) << 32) ^ static_cast<std::uint64_t>(b);
      };
      for (std::int64_t e = first; e < last; ++e) existing.insert(pair_key(src[e], dst[e]));
      for (std::int64_t e = first; e < last; ++e) {
        const bool eligible = own_source[src[e]] && own_target[dst[e]];
        if (!eligible || uniform() >= fraction) {
          keep[0].push_back(src[e]);
          keep[1].push_back(dst[e]);
          continue;
        }
        pos[0].push_back(src[e]);
        pos[1].push_back(dst[e]);
        // A few tries for a non-edge; a source linked to every candidate gets no negative.
        for (int attempt = 0; attempt < 16 && !candidates.empty(); ++attempt) {
          const auto v =
              candidates[static_cast<std::size_t>(uniform() * candidates.size()) % candidates.size()];
          if (v == src[e] && source_flow == target_flow) continue;
          if (existing.count(pair_key(src[e], v))) continue;
          neg[0].push_back(src[e]);
          neg[1].push_back(v);
          break;
        }
      }
    }
    auto pack = [&](std::vector<std::int64_t>* rows) {
      const auto n = static_cast<std::int64_t>(rows[0].size());
      return torch::stack({torch::tensor(rows[0], torch::kInt64), torch::tensor(rows[1], torch::kInt64)})
          .reshape({2, n})
          .to(in.edges[t].device());
    };
    out.message[t] = pack(keep);
    out.positive[t] = pack(pos);
    out.negative[t] = pack(neg);
  }
  return out;
}

}  // namespace trafficfm::models
