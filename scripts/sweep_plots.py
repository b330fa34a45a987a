#!/usr/bin/python3
# Plots of a scaling-law fit (`trafficfm sweep fit` runs this, built into the binary, with
# Debian's /usr/bin/python3 and python3-matplotlib):
#   sweep_plots.py FIT.json OUT_DIR
# writes OUT_DIR/loss_vs_flops.png (loss against training FLOPs per model size, with the
# compute-optimal frontier of approach 3), isoflop.png (the IsoFLOP profiles with their
# parabolas and minima), allocation.png (N_opt and D_opt against C: approach 2's minima and
# power laws, approach 3's allocation, bootstrap intervals) and predicted.png (observed against
# approach 3's predicted loss).
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def law_loss(law, n, d):
    """E + A / N^alpha + B / D^beta, with a vanishing or exploding term as 0 or inf."""
    def term(coefficient, x, exponent):
        try:
            return coefficient * math.exp(-exponent * math.log(x))
        except OverflowError:
            return float("inf")
    return law["E"] + term(law["A"], n, law["alpha"]) + term(law["B"], d, law["beta"])


def allocation(law, k, c):
    """N_opt, D_opt at compute c under c = k N D; NaN for a degenerate law (a zero exponent)."""
    try:
        s = law["alpha"] + law["beta"]
        g = math.pow(law["alpha"] * law["A"] / (law["beta"] * law["B"]), 1.0 / s)  # ValueError if < 0
        n = g * math.pow(c / k, law["beta"] / s)
        return n, c / k / n
    except (ZeroDivisionError, OverflowError, ValueError):
        return float("nan"), float("nan")


def geometric(lo, hi, count=60):
    return [lo * (hi / lo) ** (i / (count - 1)) for i in range(count)]


def percentile(values, q):
    v = sorted(x for x in values if math.isfinite(x))
    if not v:
        return float("nan")
    pos = q * (len(v) - 1)
    i = int(math.floor(pos))
    j = min(i + 1, len(v) - 1)
    return v[i] + (pos - i) * (v[j] - v[i])


def main():
    fit = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    points = fit["points"]
    level = fit.get("level", 0.8)
    tail = (1 - level) / 2
    a3 = fit.get("approach3") or {}
    a2 = fit.get("approach2") or {}
    unit = fit.get("data", "tokens")
    cmin = min(p["flops"] for p in points)
    cmax = max(p["flops"] for p in points)
    cs = geometric(cmin / 2, cmax * 4)
    sizes = sorted({p["params"] for p in points})
    colors = plt.cm.viridis([i / max(1, len(sizes) - 1) for i in range(len(sizes))])

    # 1. loss against FLOPs, one series per model size, and approach 3's frontier.
    fig, ax = plt.subplots(figsize=(7, 5))
    for n, color in zip(sizes, colors):
        series = sorted((p["flops"], p["loss"]) for p in points if p["params"] == n)
        ax.plot([s[0] for s in series], [s[1] for s in series], "o-", color=color, label=f"N = {n:.3g}")
    if "E" in a3:
        frontier = []
        for c in cs:
            n, d = allocation(a3, a3["k"], c)
            frontier.append(law_loss(a3, n, d) if math.isfinite(n) and n > 0 and d > 0 else float("nan"))
        ax.plot(cs, frontier, "k--", label="approach 3: compute-optimal")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs")
    ax.set_ylabel(f"final {fit.get('metric', 'val_loss')}")
    ax.set_title("Loss against compute, per model size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "loss_vs_flops.png"), dpi=110)
    plt.close(fig)

    # 2. IsoFLOP profiles: loss against N per budget; where approach 2 found a minimum, its
    #    parabola and the minimum (a budget without one is drawn without).
    fig, ax = plt.subplots(figsize=(7, 5))
    budgets = a2.get("budgets", [])
    fitted = {b["budget"]: b for b in budgets}
    groups = sorted({p["budget"] for p in points if p.get("budget", 0) > 0})
    bcolors = plt.cm.plasma([i / max(1, len(groups)) for i in range(len(groups))])
    for c, color in zip(groups, bcolors):
        members = [p for p in points if p.get("budget") == c]
        ns = [p["params"] for p in members]
        b = fitted.get(c)
        label = f"C = {c:.3g}" + ("" if b else " (no parabola fitted)")
        ax.plot(ns, [p["loss"] for p in members], "o", color=color, label=label)
        if b:
            c0, c1, c2 = b["parabola_n"]
            lo, hi = min(ns + [b["N_opt"]]), max(ns + [b["N_opt"]])
            grid = geometric(lo / 1.2, hi * 1.2)
            ax.plot(grid, [c0 + c1 * math.log(n) + c2 * math.log(n) ** 2 for n in grid], "-", color=color)
            ax.plot([b["N_opt"]], [b["loss_opt"]], "*", color=color, markersize=14, markeredgecolor="k")
    if not groups:  # a grid design: no IsoFLOP budgets
        ax.plot([p["params"] for p in points], [p["loss"] for p in points], "o")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel(f"final {fit.get('metric', 'val_loss')}")
    ax.set_title("IsoFLOP profiles (approach 2)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "isoflop.png"), dpi=110)
    plt.close(fig)

    # 3. N_opt and D_opt against C, both approaches, bootstrap bands. A degenerate fit (a zero
    #    exponent, say) has no allocation: the panel says so instead of plotting nothing.
    def finite(xs, ys):
        pairs = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y) and y > 0]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, which, label in ((axes[0], 0, "N_opt (parameters)"), (axes[1], 1, f"D_opt ({unit})")):
        plotted = False
        if budgets:
            key = "N_opt" if which == 0 else "D_opt"
            ax.plot([b["budget"] for b in budgets], [b[key] for b in budgets], "o", label="IsoFLOP minima")
            coef = a2["n_coefficient" if which == 0 else "d_coefficient"]
            exp = a2["a" if which == 0 else "b"]
            ax.plot(cs, [coef * c ** exp for c in cs], "-", label=f"approach 2: C^{exp:.2f}")
            plotted = True
        if "E" in a3:
            xs, ys = finite(cs, [allocation(a3, a3["k"], c)[which] for c in cs])
            if xs:
                ax.plot(xs, ys, "--", label=f"approach 3: C^{a3['a' if which == 0 else 'b']:.2f}")
                plotted = True
            reps = a3.get("replicates", [])
            if reps:
                laws = [dict(zip(("E", "A", "B", "alpha", "beta"), r)) for r in reps]
                values = [[allocation(law, a3["k"], c)[which] for law in laws] for c in cs]
                lo, hi = [percentile(v, tail) for v in values], [percentile(v, 1 - tail) for v in values]
                band = [(c, a, b) for c, a, b in zip(cs, lo, hi) if math.isfinite(a) and math.isfinite(b) and a > 0]
                if band:
                    ax.fill_between([x[0] for x in band], [x[1] for x in band], [x[2] for x in band], alpha=0.25,
                                    label=f"approach 3, {level:.0%} bootstrap")
        if plotted:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no allocation: neither approach gave one\n(see fit.txt)", ha="center",
                    transform=ax.transAxes)
        ax.set_xlabel("training FLOPs C")
        ax.set_ylabel(label)
    fig.suptitle("Compute-optimal allocation")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "allocation.png"), dpi=110)
    plt.close(fig)

    # 4. Observed against predicted (approach 3).
    fig, ax = plt.subplots(figsize=(5.5, 5))
    if "E" in a3:
        observed = [p["loss"] for p in points]
        predicted = [p.get("predicted", law_loss(a3, p["params"], p["data"])) for p in points]
        ax.plot(predicted, observed, "o")
        lo, hi = min(observed + predicted), max(observed + predicted)
        ax.plot([lo, hi], [lo, hi], "k:", label="observed = predicted")
        ax.legend(fontsize=7)
    ax.set_xlabel("predicted loss (approach 3)")
    ax.set_ylabel("observed loss")
    ax.set_title("Fit quality")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "predicted.png"), dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
