#!/usr/bin/env python3
"""A non-neural link-prediction baseline on a trafficfm graph corpus (docs/graph.md).

Per graph of a split, as the model's pretraining does: 15% of each edge type's edges between
own (non-halo) nodes are held out, one negative per positive (same source, a random own target
of the same type in the same graph, never an existing edge). A held-out or negative pair is
scored by the Adamic-Adar index of its two nodes on the graph without the held-out edges (all
types, undirected; flow and ip nodes numbered apart). Prints the ROC AUC, and that of a
constant score (0.5), as one JSON line.

  graph_link_baseline.py CORPUS [--split val] [--seed 0]
"""
import argparse, json, math, random
from collections import defaultdict

import h5py

SOURCE = [1, 0, 1, 0, 0, 0]  # per edge type (sends, arrives, ip_next, src_next, dst_next, copy): 0 flow, 1 ip
TARGET = [0, 1, 1, 0, 0, 0]


def auc(pos, neg):
    scored = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(scored):  # average ranks over ties
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            j += 1
        rank = (i + j + 1) / 2.0
        rank_sum += rank * sum(1 for k in range(i, j) if scored[k][1])
        i = j
    n_pos, n_neg = len(pos), len(neg)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("corpus")
    a.add_argument("--split", default="val")
    a.add_argument("--seed", type=int, default=0)
    args = a.parse_args()
    rng = random.Random(args.seed)
    m = json.load(open(args.corpus + "/manifest.json"))
    pos_scores, neg_scores = [], []
    for shard in m["shards"]:
        if shard["split"] != args.split:
            continue
        f = h5py.File(args.corpus + "/" + shard["file"], "r")
        cols = {k: f[k][:] for k in ["edges", "edges.offsets", "edge_type", "flow_halo", "flow_halo.offsets",
                                     "ip_halo", "ip_halo.offsets"]}
        for i in range(len(cols["edges.offsets"]) - 1):
            e0, e1 = cols["edges.offsets"][i], cols["edges.offsets"][i + 1]
            f0, f1 = cols["flow_halo.offsets"][i], cols["flow_halo.offsets"][i + 1]
            i0, i1 = cols["ip_halo.offsets"][i], cols["ip_halo.offsets"][i + 1]
            own = [[h == 0 for h in cols["flow_halo"][f0:f1]], [h == 0 for h in cols["ip_halo"][i0:i1]]]
            node = lambda t, k: (t, int(k))
            kept, held, existing = [], [], set()
            for (s, d), t in zip(cols["edges"][e0:e1], cols["edge_type"][e0:e1]):
                existing.add((t, int(s), int(d)))
                if own[SOURCE[t]][s] and own[TARGET[t]][d] and rng.random() < 0.15:
                    held.append((t, int(s), int(d)))
                else:
                    kept.append((node(SOURCE[t], s), node(TARGET[t], d)))
            adj = defaultdict(set)
            for u, v in kept:
                if u != v:
                    adj[u].add(v)
                    adj[v].add(u)
            def score(u, v):
                return sum(1.0 / math.log(len(adj[w])) for w in adj[u] & adj[v] if len(adj[w]) > 1)
            for t, s, d in held:
                pos_scores.append(score(node(SOURCE[t], s), node(TARGET[t], d)))
                candidates = [k for k, o in enumerate(own[TARGET[t]]) if o]
                for _ in range(16):
                    v = rng.choice(candidates)
                    if (SOURCE[t] == TARGET[t] and v == s) or (t, s, v) in existing:
                        continue
                    neg_scores.append(score(node(SOURCE[t], s), node(TARGET[t], v)))
                    break
    print(json.dumps({"split": args.split, "positives": len(pos_scores), "negatives": len(neg_scores),
                      "adamic_adar_auc": auc(pos_scores, neg_scores), "constant_auc": 0.5}))


if __name__ == "__main__":
    main()
