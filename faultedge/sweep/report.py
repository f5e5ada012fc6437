"""What a sweep shows: the Pareto front (LUTs against latency), the markdown table and the plot.

Latency is from the first input beat to the class at the post-route core clock (for a sample-in
sweep, `--frontend`, from a window's last sample at one sample per cycle), so only points that met
timing (status "ok") have one and can be on the front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faultedge.runs import write_text


def pareto(points: list[dict[str, Any]]) -> list[str]:
    """Labels of the points no other point beats on both LUTs and latency (ties kept), fewest LUTs first."""
    ok = [p for p in points if p["status"] == "ok"]
    front = [p for p in ok if not any(q["lut"] <= p["lut"] and q["latency_us"] <= p["latency_us"]
                                      and (q["lut"], q["latency_us"]) != (p["lut"], p["latency_us"]) for q in ok)]
    return [p["label"] for p in sorted(front, key=lambda p: (p["lut"], p["latency_us"]))]


def _cell(v: Any, fmt: str = "{:,}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(sweep: dict[str, Any]) -> str:
    """The table of every point (Pareto points marked), then the reason of every point that is not usable."""
    front = set(sweep.get("pareto", []))
    lines = ["| network | bits | lanes | beat | board | seed | status | LUT | FF | DSP | BRAM | Fmax MHz | clock MHz | "
             "cycles first beat / per inference / bound | latency µs first / last beat | passes | s | Pareto |",
             "|---" * 18 + "|"]
    for p in sweep["points"]:
        status = p["status"] + (" (cached)" if p.get("cached") else "")
        cycles = "-" if "cycles_per_inference" not in p else \
            f"{p['cycles_first_beat']:,} / {p['cycles_per_inference']:,} / {p['cycle_bound']:,}"
        latency = "-" if p.get("latency_us") is None else f"{p['latency_us']:.3f} / " + (
            f"{p['latency_last_beat_us']:.3f}" if p.get("frontend", "none") == "none" else "last sample")
        lines.append(f"| {p['network']} | {p['bits']} | {p['lanes']} | {p['beat']} | {p['board']} | {p['seed']} | {status} | "
                     f"{_cell(p.get('lut'))} | {_cell(p.get('ff'))} | {_cell(p.get('dsp'))} | {_cell(p.get('bram'))} | "
                     f"{_cell(p.get('fmax_mhz'), '{:.2f}')} | {_cell(p.get('clock_mhz'), '{:g}')} | {cycles} | {latency} | "
                     f"{len(p.get('passes', []))} | {_cell(p.get('seconds'), '{:.0f}')} | {'yes' if p['label'] in front else ''} |")
    reasons = [f"- `{p['label']}`: {p['status']}: {p['reason']}" for p in sweep["points"]
               if p.get("reason") and p["status"] != "ok"]
    if reasons:
        lines += ["", *reasons]
    return "\n".join(lines) + "\n"


def plot(sweep: dict[str, Any], path: Path) -> None:
    """LUTs against latency, colour = post-route Fmax, the Pareto front ringed and joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    ok = [p for p in sweep["points"] if p["status"] == "ok"]
    front = [p for p in ok if p["label"] in set(sweep.get("pareto", []))]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if ok:
        sc = ax.scatter([p["lut"] for p in ok], [p["latency_us"] for p in ok], c=[p["fmax_mhz"] for p in ok], cmap="viridis", s=40, zorder=3)
        fig.colorbar(sc, ax=ax, label="post-route Fmax (MHz)")
        front.sort(key=lambda p: p["lut"])
        ax.plot([p["lut"] for p in front], [p["latency_us"] for p in front], "-", color="red", linewidth=0.8, zorder=2)
        ax.scatter([p["lut"] for p in front], [p["latency_us"] for p in front], s=140, facecolors="none", edgecolors="red",
                   zorder=4, label="Pareto front")
        for p in ok:
            ax.annotate(f"P{p['lanes']} {p['bits']}b beat {p['beat']}\n{p['board']}", (p["lut"], p["latency_us"]), fontsize=6,
                        textcoords="offset points", xytext=(5, 3))
        for axis, values in ((ax.xaxis, [p["lut"] for p in ok]), (ax.yaxis, [p["latency_us"] for p in ok])):
            if max(values) > 10 * min(values):  # log axes only where the points span a decade
                (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
                axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.margins(0.15)
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no point met timing", ha="center", va="center", transform=ax.transAxes)
    failed = len(sweep["points"]) - len(ok)
    ax.set_xlabel("LUTs after place and route")
    samples_in = any(p.get("frontend", "none") != "none" for p in sweep["points"])
    ax.set_ylabel(f"latency, {'last sample' if samples_in else 'first input beat'} -> class (µs)")
    ax.set_title(f"{Path(sweep['run']).name}: {len(ok)} points met timing" + (f", {failed} without a latency" if failed else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(out: Path, sweep: dict[str, Any]) -> None:
    """sweep.md and sweep.png beside sweep.json."""
    write_text(out / "sweep.md", markdown(sweep))
    plot(sweep, out / "sweep.png")
