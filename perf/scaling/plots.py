"""PNG plots of a scaling study: what a reader deciding how many nodes to buy looks at.

time_per_step.png  ms per image-step against ranks (log-log), with the ideal 1/N line
speedup.png        speed-up against ideal (left) and parallel efficiency (right)
breakdown.png      compute vs communication per image-step, one bar per run
"""
import matplotlib

matplotlib.use("Agg")  # no display on compute nodes or in CI
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator, ScalarFormatter  # noqa: E402

PLAIN = FuncFormatter(lambda v, _: f"{v:g}")  # 6, 10, 20 rather than 6x10^0 on log axes


def _size(r):
    return (r["model"], r["height"], r["width"], r["steps"], r["device"], r["dtype"])


def _series(rows):
    """One line per (parallel configuration, size, ranks per node); the 1-rank run of the same
    size starts every line, since at one rank all configurations are the same run."""
    singles = {_size(r): r for r in rows if r["ranks"] == 1}
    out = {}
    for r in rows:
        if r["ranks"] == 1 and len(rows) > 1:
            continue
        label = f"{r['parallel']} {r['height']}x{r['width']}px, {r['ranks_per_node']}/node"
        out.setdefault(label, []).append(r)
    for members in out.values():
        single = singles.get(_size(members[0]))
        if single and single not in members:
            members.append(single)
    return {k: sorted(v, key=lambda r: r["ranks"]) for k, v in out.items()}


def _unit(rows):
    return "GPUs" if all(r["gpus"] for r in rows) else "ranks (CPU)"


def _subtitle(rows):
    r = rows[0]
    return f"{r['model']}, {r['device']} {r['dtype']}, {r['steps']} steps, {r['prompts']} prompt(s)/job"


def _annotate_nodes(ax, members, ykey, index):
    """Node count next to each point; each line's labels sit at their own offset."""
    for r in members:
        ax.annotate(f"{r['nodes']}n", (r["ranks"], r[ykey]), textcoords="offset points",
                    xytext=(5, 4 - 10 * index), fontsize=7, color="0.35")


def _rank_axis(ax, rows, label):
    """log2 x axis ticked at the rank counts that were run, written as plain numbers."""
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(sorted({r["ranks"] for r in rows})))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(label)


def time_per_step(rows, path):
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for i, (label, members) in enumerate(_series(rows).items()):
        xs = [r["ranks"] for r in members]
        line, = ax.plot(xs, [r["ms_per_image_step"] for r in members], "o-", label=label)
        base = members[0]
        ideal = [base["ms_per_image_step"] * base["ranks"] / x for x in xs]
        ax.plot(xs, ideal, ":", color=line.get_color(), alpha=0.7)
        _annotate_nodes(ax, members, "ms_per_image_step", i)
    _rank_axis(ax, rows, _unit(rows) + "; labels: nodes")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PLAIN)
    ax.yaxis.set_minor_formatter(PLAIN)
    ax.set_ylabel("ms per image-step (lower is better)")
    ax.set_title(f"Time per step; dotted: ideal linear scaling\n{_subtitle(rows)}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def speedup(rows, path):
    fig, (ax, ax_eff) = plt.subplots(1, 2, figsize=(11, 4.5))
    ranks = sorted({r["ranks"] for r in rows})
    base = min(r["baseline_ranks"] for r in rows)
    ax.plot(ranks, [x / base for x in ranks], "k--", lw=1, label="ideal")
    for i, (label, members) in enumerate(_series(rows).items()):
        xs = [r["ranks"] for r in members]
        ax.plot(xs, [r["speedup"] for r in members], "o-", label=label)
        ax_eff.plot(xs, [100 * r["efficiency"] for r in members], "o-", label=label)
        _annotate_nodes(ax, members, "speedup", i)
    ax_eff.axhline(100, color="k", ls="--", lw=1)
    ax.set_yscale("log", base=2)
    ax.yaxis.set_major_formatter(PLAIN)
    for a in (ax, ax_eff):
        _rank_axis(a, rows, _unit(rows) + "; labels: nodes")
        a.grid(True, which="both", alpha=0.3)
    ax.set_ylabel("speed-up over the baseline run")
    ax.set_title("Speed-up vs ideal", fontsize=10)
    ax_eff.set_ylabel("parallel efficiency (%)")
    ax_eff.set_ylim(0, max(110, max(100 * r["efficiency"] for r in rows) + 10))
    ax_eff.set_title("Efficiency = speed-up / ideal", fontsize=10)
    ax.legend(fontsize=8)
    fig.suptitle(_subtitle(rows), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def breakdown(rows, path):
    labels = [f"{r['parallel']} {r['height']}px\n{r['nodes']}n x {r['ranks_per_node']}r" for r in rows]
    compute = [max(r["compute_ms_per_image_step"], 0.0) for r in rows]
    comm = [r["comm_ms_per_image_step"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(rows) + 2), 4.8))
    xs = range(len(rows))
    ax.bar(xs, compute, label="compute (denoise time minus communication wait)", color="tab:blue")
    ax.bar(xs, comm, bottom=compute, label="waiting for communication (all mesh axes)", color="tab:orange")
    for x, r, c in zip(xs, rows, compute):
        ax.text(x, c + r["comm_ms_per_image_step"], f"{r['comm_fraction']:.0%}", ha="center",
                va="bottom", fontsize=7)
    ax.set_xticks(list(xs), labels, fontsize=7, rotation=0)
    ax.set_ylabel("ms per image-step, mean over ranks")
    ax.set_title(f"Compute / communication per run (label: communication share)\n{_subtitle(rows)}",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def all_plots(rows, folder):
    paths = {name: folder / f"{name}.png" for name in ("time_per_step", "speedup", "breakdown")}
    time_per_step(rows, paths["time_per_step"])
    speedup(rows, paths["speedup"])
    breakdown(rows, paths["breakdown"])
    return list(paths.values())
