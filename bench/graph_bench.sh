#!/usr/bin/env bash
# The graph model on this machine: graph build (flows/s of prep --encoder graph), METIS time and
# edge cut of the largest graph, and graph-base pretraining throughput against the same model in
# python3-torch (bench/graph_twin.py), same corpus, batch rule and intra-op threads.
#   bench/graph_bench.sh [BUILD_DIR] [THREADS]
# Inputs: ../shared/data (flows/ Zeek logs, ndpi/ and pretrain/ captures) when present, else a
# synthetic capture set. C++ and Python run in turn ROUNDS times (3). Throughput is edges/s: the
# stored edges of the steps' graphs over their time, after 3 warm-up steps (C++: metrics'
# tokens_per_s, which counts edges for this model); the step time is the median. The two sides
# pack their batches from differently shuffled orders, so their steps hold different graphs:
# edges/s is the comparison, the step times are for reference. Python keeps the train split in memory and draws negatives without
# rejecting existing edges (both in its favour). Run on an otherwise idle machine.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$here/build}"
threads="${2:-$(nproc)}"
rounds="${ROUNDS:-3}"
steps="${STEPS:-30}"
bin="$build/launch/trafficfm"
work="$(mktemp -d /tmp/trafficfm-graph-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
shared="$here/../shared/data"
if [ -d "$shared/flows" ]; then
  inputs=("$shared/flows" "$shared/ndpi/pcap" "$shared/pretrain/zeek")
else
  "$bin" synth --out "$work/captures" --flows 3000 --hosts 40 --seed 2 --log.level warn > /dev/null
  inputs=("$work/captures")
fi
start=$(date +%s.%N)
"$bin" prep --encoder graph --out "$work/corpus" "${inputs[@]}" > "$work/prep.log" 2>&1
seconds=$(echo "$(date +%s.%N) - $start" | bc)
flows=$(sed -nE 's/^flows: +([0-9]+).*/\1/p' "$work/prep.log")
echo "graph build: $flows flows in $seconds s -> $(echo "$flows / $seconds" | bc) flows/s ($(grep -c 'cut into' "$work/prep.log" || true) graphs over 10,000 nodes partitioned)"
# METIS on the largest graph, forced: cut into parts of at most 2,000 own nodes.
"$bin" prep --encoder graph --graph.max-nodes 2000 --out "$work/cut" "${inputs[@]}" > "$work/cut.log" 2>&1
echo "largest graph, --graph.max-nodes 2000:"
grep 'cut into' "$work/cut.log" | sed -E 's/.*graph: //' | awk '{ for (i = 1; i < NF; ++i) if ($i == "of") print $(i + 1) "\t" $0 }' |
  sort -n | tail -1 | cut -f2- || echo "  (no graph over 2,000 nodes)"
mean_edges=$(/usr/bin/python3 - "$work/corpus" <<'PY'
import h5py, json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
edges = graphs = 0
for s in m["shards"]:
    if s["split"] == "train":
        f = h5py.File(sys.argv[1] + "/" + s["file"], "r")
        edges += int((f["cost"][:] - f["nodes"][:]).sum()); graphs += len(f["nodes"])
print(edges / graphs)
PY
)
echo "train graphs: $(printf '%.1f' "$mean_edges") edges on average"
config="$here/configs/graph-base.ini"
hidden=$(sed -nE 's/^hidden *= *([0-9]+).*/\1/p' "$config")
batch_nodes=$(sed -nE 's/^batch-nodes *= *([0-9]+).*/\1/p' "$config")
printf '| round | C++ step (s) | C++ edges/s | python3-torch step (s) | python edges/s | C++ / python edges/s |\n|---:|---:|---:|---:|---:|---:|\n'
for round in $(seq 1 "$rounds"); do
  rm -rf "$work/run"
  # The twin is PPT-GNN's objective (dot decoder, no link bias, no masking), not the config's.
  "$bin" pretrain --config "$config" --corpus "$work/corpus" --out "$work/run" --train.steps $((steps + 3)) \
    --graph.decoder dot --graph.link-bias false --graph.mask 0 --train.log-every 1 --train.eval-every 0 \
    --train.ckpt-every 0 --train.threads "$threads" --log.level warn
  read -r cpp_step cpp_edges < <(/usr/bin/python3 - "$work/run/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][3:]
time = sum(r["step_time_s"] for r in rows)
print(statistics.median(r["step_time_s"] for r in rows), sum(r["tokens_per_s"] * r["step_time_s"] for r in rows) / time)
PY
)
  read -r py_step py_edges < <(/usr/bin/python3 "$here/bench/graph_twin.py" "$work/corpus" --hidden "$hidden" \
    --batch-nodes "$batch_nodes" --steps "$steps" --threads "$threads" |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["median_step_s"], j["edges_per_s"])')
  printf '| %d | %.4f | %.0f | %.4f | %.0f | %.2f |\n' "$round" "$cpp_step" "$cpp_edges" "$py_step" "$py_edges" \
    "$(echo "$cpp_edges / $py_edges" | bc -l)"
done
