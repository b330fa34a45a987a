#!/usr/bin/env python3
"""The graph model's pretraining step in python3-torch, for bench/graph_bench.sh.

The same heterogeneous GraphSAGE as models/graph/ (per layer one SAGE convolution per
relation: mean of the sources, root weight, L2 normalization; summed per node type; leaky ReLU
between layers; temporal types forward, spatial types both ways), the same features, link
prediction with 15% of each type's edges held out and one negative per positive, a dot-product
decoder, BCE, gradient clipping and torch.optim.AdamW, on batches of whole graphs bounded by
the same node budget. It reads the trafficfm graph corpus with h5py (ragged columns: values +
offsets) and keeps the train split in memory, so only collation and the step are timed.

  graph_twin.py CORPUS --hidden 128 --layers 2 --batch-nodes 8192 --steps 30 --threads 2
Prints one JSON line: median step seconds, graphs/s, edges/s (edges of the step's graphs).
"""
import argparse, glob, json, math, statistics, time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

EDGE_TYPES = ["sends", "arrives", "ip_next", "src_next", "dst_next", "copy"]
SOURCE = {"sends": 1, "arrives": 0, "ip_next": 1, "src_next": 0, "dst_next": 0, "copy": 0}  # 0 flow, 1 ip
TARGET = {"sends": 0, "arrives": 1, "ip_next": 1, "src_next": 0, "dst_next": 0, "copy": 0}
RELATIONS = [("ip_next", False), ("src_next", False), ("dst_next", False), ("copy", False),
             ("sends", False), ("sends", True), ("arrives", False), ("arrives", True)]
STATS = 39


def load(corpus):
    manifest = json.load(open(f"{corpus}/manifest.json"))
    settings = manifest["encoder_settings"]
    lo = np.array(settings.get("feature_log1p_min", [0.0] * STATS), dtype=np.float32)
    hi = np.array(settings.get("feature_log1p_max", [1.0] * STATS), dtype=np.float32)
    samples = []
    for shard in manifest["shards"]:
        if shard["split"] != "train":
            continue
        f = h5py.File(f"{corpus}/{shard['file']}", "r")
        cols = {k: f[k][:] for k in f.keys()}
        for i in range(len(cols["nodes"])):
            def rag(name):
                o = cols[name + ".offsets"]
                return cols[name][o[i]:o[i + 1]]
            samples.append({k: rag(k) for k in ["flow_stats", "flow_protocol", "flow_ip_version", "flow_order",
                                                 "flow_halo", "ip_slice", "ip_halo", "edges", "edge_type"]})
    return samples, lo, hi


def sinusoid(p, dims):
    p = p.astype(np.float32)[:, None]
    rate = np.exp(np.arange(dims // 2, dtype=np.float32) * (-2.0 * math.log(10000.0) / dims))
    a = p * rate[None, :]
    return np.stack([np.sin(a), np.cos(a)], 2).reshape(len(p), dims)


def collate(batch, lo, hi, dims):
    stats = np.concatenate([s["flow_stats"] for s in batch])
    missing = np.isnan(stats)
    x = np.log1p(np.maximum(np.where(missing, 0, stats), 0))
    rng = hi - lo
    scaled = np.where(rng > 0, np.clip((x - lo) / np.where(rng > 0, rng, 1), 0, 1), 0)
    proto = np.concatenate([s["flow_protocol"] for s in batch]).astype(np.int64)
    cls = np.full(len(proto), 3)
    cls[proto == 6] = 0
    cls[proto == 17] = 1
    cls[(proto == 1) | (proto == 58)] = 2
    onehot = np.eye(4, dtype=np.float32)[cls]
    v6 = (np.concatenate([s["flow_ip_version"] for s in batch]) == 6).astype(np.float32)[:, None]
    order = sinusoid(np.concatenate([s["flow_order"] for s in batch]), dims)
    flow_x = torch.from_numpy(np.concatenate([scaled, missing, onehot, v6, order], 1).astype(np.float32))
    ip_slice = np.concatenate([s["ip_slice"] for s in batch])
    ip_x = torch.from_numpy(np.concatenate([np.ones((len(ip_slice), 1), np.float32), sinusoid(ip_slice, dims)], 1))
    edges = {t: [] for t in EDGE_TYPES}
    fb = ib = 0
    for s in batch:
        shift = [fb, ib]
        for k, t in enumerate(EDGE_TYPES):
            e = s["edges"][s["edge_type"] == k].astype(np.int64)
            edges[t].append(np.stack([e[:, 0] + shift[SOURCE[t]], e[:, 1] + shift[TARGET[t]]]))
        fb += len(s["flow_order"])
        ib += len(s["ip_slice"])
    edges = {t: torch.from_numpy(np.concatenate(v, 1)) for t, v in edges.items()}
    return flow_x, ip_x, edges, (fb, ib)


class Sage(torch.nn.Module):
    def __init__(self, src, dst, out):
        super().__init__()
        self.lin_l = torch.nn.Linear(src, out)
        self.lin_r = torch.nn.Linear(dst, out, bias=False)

    def forward(self, xs, xt, e):
        total = torch.zeros(xt.size(0), xs.size(1)).index_add(0, e[1], xs.index_select(0, e[0]))
        count = torch.zeros(xt.size(0)).index_add(0, e[1], torch.ones(e.size(1)))
        return F.normalize(self.lin_l(total / count.clamp_min(1).unsqueeze(1)) + self.lin_r(xt), p=2, dim=-1)


class HeteroSage(torch.nn.Module):
    def __init__(self, hidden, layers, dims):
        super().__init__()
        flow_in, ip_in = 2 * STATS + 5 + dims, 1 + dims
        self.layers = torch.nn.ModuleList()
        for l in range(layers):
            d = (lambda t: (flow_in if t == 0 else ip_in) if l == 0 else hidden)
            self.layers.append(torch.nn.ModuleList(
                [Sage(d(TARGET[t] if rev else SOURCE[t]), d(SOURCE[t] if rev else TARGET[t]), hidden)
                 for t, rev in RELATIONS]))

    def forward(self, flow_x, ip_x, edges):
        x = [flow_x, ip_x]
        for l, convs in enumerate(self.layers):
            out = [0, 0]
            for conv, (t, rev) in zip(convs, RELATIONS):
                e = edges[t].flip(0) if rev else edges[t]
                s, d = (TARGET[t], SOURCE[t]) if rev else (SOURCE[t], TARGET[t])
                out[d] = out[d] + conv(x[s], x[d], e)
            x = [F.leaky_relu(o, 0.01) if l + 1 < len(self.layers) else o for o in out]
        return x


def step(model, opt, flow_x, ip_x, edges, counts, fraction, gen):
    message, pos, neg = {}, {}, {}
    for t, e in edges.items():
        held = torch.rand(e.size(1), generator=gen) < fraction
        message[t], pos[t] = e[:, ~held], e[:, held]
        n = counts[TARGET[t]]
        neg[t] = torch.stack([pos[t][0], torch.randint(0, max(n, 1), (pos[t].size(1),), generator=gen)])
    h = model(flow_x, ip_x, message)
    logits, labels = [], []
    for t in edges:
        for pairs, y in ((pos[t], 1.0), (neg[t], 0.0)):
            logits.append((h[SOURCE[t]][pairs[0]] * h[TARGET[t]][pairs[1]]).sum(1))
            labels.append(torch.full((pairs.size(1),), y))
    loss = F.binary_cross_entropy_with_logits(torch.cat(logits), torch.cat(labels))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.item()


def main():
    a = argparse.ArgumentParser()
    a.add_argument("corpus")
    a.add_argument("--hidden", type=int, default=128)
    a.add_argument("--layers", type=int, default=2)
    a.add_argument("--batch-nodes", type=int, default=8192)
    a.add_argument("--steps", type=int, default=30)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--dims", type=int, default=30)
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    samples, lo, hi = load(args.corpus)
    order = np.random.default_rng(0).permutation(len(samples))
    model = HeteroSage(args.hidden, args.layers, args.dims)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    times, graphs, edge_counts, at = [], [], [], 0
    for s in range(args.steps + 3):
        batch, nodes = [], 0
        while at < len(order):
            smp = samples[order[at]]
            n = len(smp["flow_order"]) + len(smp["ip_slice"])
            if batch and nodes + n > args.batch_nodes:
                break
            batch.append(smp)
            nodes += n
            at += 1
        if at >= len(order):
            at = 0
        started = time.perf_counter()
        flow_x, ip_x, edges, counts = collate(batch, lo, hi, args.dims)
        step(model, opt, flow_x, ip_x, edges, counts, 0.15, gen)
        if s >= 3:
            times.append(time.perf_counter() - started)
            graphs.append(len(batch))
            edge_counts.append(sum(len(x["edge_type"]) for x in batch))
    total = sum(times)
    print(json.dumps({"median_step_s": statistics.median(times), "graphs_per_s": sum(graphs) / total,
                      "edges_per_s": sum(edge_counts) / total, "steps": len(times)}))


if __name__ == "__main__":
    main()
