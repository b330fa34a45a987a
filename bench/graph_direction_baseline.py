#!/usr/bin/env python3
"""Direction-only baseline for few-shot flow classification on labelled Zeek conn logs.

Its only input is a flow's connection direction: Zeek's (local_orig, local_resp) pair. Some
Stratosphere "mixed" logs label every inbound connection Malicious (../shared/data/flows/FORMAT.md),
so this shortcut can be perfect; a graph model's score means little unless it beats this.

The flows and splits are the graph corpus's: every classified flow node of `corpus` (flow_target,
not halo) is joined to its Zeek row by the stored 5-tuple hash (datasets/flow/flow_table.cpp's
FlowKey::hash, FNV-1a, recomputed here), so train, test and labels are the fine-tuning stage's.
K shots per class are drawn from the train split with Python's random.Random(seed) (not the C++
plan's generator: the same K, not the same flows); the classifier predicts, per direction value,
the majority class of its shots (a value no shot has: the shots' majority). Macro-F1 on test.
Prints JSON: {"macro_f1": {K: [per seed]}, "joined", "target_nodes", "classes"}.
  graph_direction_baseline.py FLOWS_DIR GRAPH_CORPUS --shots 5 10 50 --seeds 1 2 3 [--exclude Background]
"""
import argparse, collections, glob, ipaddress, json, os, random, sys
import h5py, numpy as np

FNV_OFFSET, FNV_PRIME, MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1
PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58}


def fnv(h, data):
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


def address(text):
    a = ipaddress.ip_address(text)
    raw = a.packed + bytes(16 - len(a.packed))
    return (a.version, raw)


def flow_key(src, sport, dst, dport, proto):
    a, b = (address(src), sport), (address(dst), dport)
    less = a[0] < b[0] if a[0] != b[0] else a[1] < b[1]  # endpoint_less: the smaller endpoint first
    if not less:
        a, b = b, a
    h = fnv(FNV_OFFSET, bytes([a[0][0]]) + a[0][1])
    h = fnv(h, bytes([b[0][0]]) + b[0][1])
    return fnv(h, bytes([a[1] >> 8, a[1] & 255, b[1] >> 8, b[1] & 255, proto]))


def zeek_rows(flows_dir):
    paths = sorted(glob.glob(os.path.join(flows_dir, "**", "*conn*.log*"), recursive=True))
    for path in paths:
        cols = None
        for line in open(path, encoding="utf-8", errors="replace"):
            line = line.rstrip("\n")
            if line.startswith("#fields"):
                cols = {n: i for i, n in enumerate(line.split("\t")[1:])}
                continue
            if not line or line.startswith("#") or cols is None:
                continue
            f = line.split("\t")
            try:
                key = flow_key(f[cols["id.orig_h"]], int(f[cols["id.orig_p"]]), f[cols["id.resp_h"]],
                               int(f[cols["id.resp_p"]]), PROTOCOLS.get(f[cols["proto"]].lower(), 0))
            except (ValueError, KeyError):
                continue
            yield key, (f[cols["local_orig"]], f[cols["local_resp"]])


def macro_f1(truth, predicted, classes):
    f1 = []
    for c in classes:
        tp = sum(t == c and p == c for t, p in zip(truth, predicted))
        fp = sum(t != c and p == c for t, p in zip(truth, predicted))
        fn = sum(t == c and p != c for t, p in zip(truth, predicted))
        f1.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1) / len(f1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("flows_dir")
    ap.add_argument("corpus")
    ap.add_argument("--shots", type=int, nargs="+", default=[5, 10, 50])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--exclude", nargs="*", default=["Background"])
    args = ap.parse_args()
    direction = {}
    for key, d in zeek_rows(args.flows_dir):
        direction.setdefault(key, d)
    manifest = json.load(open(os.path.join(args.corpus, "manifest.json")))
    names = manifest["label_names"]
    nodes = {0: [], 1: [], 2: []}  # split -> (label name, direction)
    total = joined = 0
    for shard in sorted(glob.glob(os.path.join(args.corpus, "shard-*.h5"))):
        with h5py.File(shard, "r") as f:
            target = f["flow_target"][:] != 0
            key, split, label = f["flow_key"][:], f["flow_split"][:], f["flow_label"][:]
            for i in np.nonzero(target)[0]:
                if label[i] < 0 or names[label[i]] in args.exclude:
                    continue
                total += 1
                d = direction.get(int(key[i]))
                if d is None:
                    continue
                joined += 1
                nodes[int(split[i])].append((names[label[i]], d))
    classes = sorted({n for n, _ in nodes[0]})
    scores = {}
    for k in args.shots:
        scores[str(k)] = []
        for seed in args.seeds:
            rng = random.Random(seed)
            shots = []
            for c in classes:
                pool = [n for n in nodes[0] if n[0] == c]
                shots += rng.sample(pool, min(k, len(pool)))
            votes = collections.defaultdict(collections.Counter)
            for c, d in shots:
                votes[d][c] += 1
            overall = collections.Counter(c for c, _ in shots).most_common(1)[0][0]
            rule = {d: v.most_common(1)[0][0] for d, v in votes.items()}
            test = nodes[2]
            scores[str(k)].append(macro_f1([c for c, _ in test], [rule.get(d, overall) for _, d in test], classes))
    json.dump({"macro_f1": scores, "joined": joined, "target_nodes": total, "classes": classes,
               "test_flows": len(nodes[2])}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
