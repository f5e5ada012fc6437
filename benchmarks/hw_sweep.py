"""Design-space sweep of the accelerator on ECP5-85F (ULX3S): lanes -> cycles, resources, Fmax, latency.

For every lane count P the board top (PLL, UART, accelerator) is synthesised and placed and
routed once with the core clock constrained at --target-mhz; the achieved post-route Fmax of
that placement gives the latency at Fmax (first input beat -> result, and last beat -> result).
The input beat per P is the smallest power of two whose load time is at most 1/8 of the compute
time (capped at --max-beat), so latency is not dominated by streaming the window in. In the same
run, ONNX Runtime fp32 batch 1 and PyTorch eager are measured (faultedge.edge.bench) on the same
network, model only (features in) as the accelerator. Writes JSON after every point and a PNG
of latency vs LUTs; checks the issue's target (student, 8 bit, <= 2 us at post-route Fmax).

    python benchmarks/hw_sweep.py runs/NAME --lanes 8 16 32 64 128 256
    python benchmarks/hw_sweep.py --data ../shared/data/cwru          # trains a small run first
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from faultedge.edge.bench import BenchConfig, bench
from faultedge.fpga.board import load_fpga_board
from faultedge.fpga.build import BuildOptions, implement
from faultedge.hdl import plan
from faultedge.hdl.artifacts import generate
from faultedge.hdl.design import DesignPoint
from faultedge.hdl.cycles import model
from faultedge.ir import IRModel
from faultedge.ir.files import Artifacts
from faultedge.runs import RunDir, write_json

TARGET_US = 2.0
BOARD = "ulx3s-85f"


def choose_beat(ir: IRModel, lanes: int, max_beat: int) -> int:
    """The smallest power-of-two beat whose load cycles are <= compute / 8 (or max_beat)."""
    n = plan(ir, lanes, 1).n_inputs
    beat = 1
    while beat < max_beat and n % (beat * 2) == 0:
        c = model(plan(ir, lanes, beat))
        if c.load * 8 <= c.compute:
            break
        beat *= 2
    return beat


def cpu_rows(run: RunDir, repeats: int) -> dict[str, Any]:
    """ORT fp32 and PyTorch eager batch-1 p50, one thread, model only and end to end, from faultedge bench."""
    result = bench(run, BenchConfig(repeats=repeats, rounds=4))
    keep = {}
    for r in result["rows"]:
        if r["threads"] == 1 and r["engine"] in ("ORT", "PyTorch eager") and r["precision"] == "fp32" and r["scope"] != "features only":
            keep[f"{r['engine']} fp32 {r['scope']}"] = {"p50_us": r["p50_us"], "p90_us": r["p90_us"], "p99_us": r["p99_us"]}
    return {"rows": keep, "cpu": result["cpu"], "load_average": result["load_average"]}


def sweep_point(ir: IRModel, lanes: int, beat: int, target_mhz: float, workdir: Path) -> dict[str, Any]:
    board = load_fpga_board(BOARD)
    verilog, hdl_report = generate(ir, DesignPoint(lanes=lanes, beat=beat, board=BOARD))
    r = implement(verilog, hdl_report, board, BuildOptions(clock_mhz=target_mhz, pack=False), workdir, log=lambda s: None)
    c = r["cycles"]
    point = {"lanes": lanes, "beat": beat, "cycles_first_beat": c["latency_first"], "cycles_last_beat": c["latency_last"],
             "cycles_per_inference": c["per_inference"], "cycle_bound": c["bound"], "fit": r["fit"]["message"],
             "synth_s": r["synthesis"]["seconds"], "seconds": r["seconds"]}
    if "resources" in r:
        f = r["fmax_mhz"]
        point.update({k: r["resources"][k] for k in ("lut", "ff", "dsp", "bram")}, fmax_mhz=f,
                     latency_at_fmax_us=round(c["latency_first"] / f, 3), latency_last_beat_at_fmax_us=round(c["latency_last"] / f, 3),
                     throughput_at_fmax_per_s=round(f * 1e6 / c["per_inference"]), pnr_s=r["passes"][0]["pnr_s"])
    return point


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [p for p in result["points"] if "lut" in p]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot([p["lut"] for p in pts], [p["latency_at_fmax_us"] for p in pts], "o-", label="accelerator, first beat -> class")
    ax.plot([p["lut"] for p in pts], [p["latency_last_beat_at_fmax_us"] for p in pts], "s--", label="accelerator, last beat -> class")
    for p in pts:
        ax.annotate(f"P={p['lanes']}\n{p['fmax_mhz']:.0f} MHz", (p["lut"], p["latency_at_fmax_us"]), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    for (name, row), style in zip(result["cpu"]["rows"].items(), (":", "-.", "--", "-")):
        if "model only" in name:
            ax.axhline(row["p50_us"], color="gray", linestyle=style, label=f"{name} p50 (this CPU)")
    ax.axhline(TARGET_US, color="red", linewidth=0.8, label=f"target {TARGET_US:g} us")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("ECP5 LUT4 slots after place and route")
    ax.set_ylabel("latency per window (us)")
    ax.set_title(f"{result['ir']} ({result['bits']}-bit) on ECP5-85F at post-route Fmax")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", help="quantised run directory (model.ir.json); default: train a small one")
    ap.add_argument("--data", default="../shared/data/cwru", help="data for the small run")
    ap.add_argument("--lanes", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    ap.add_argument("--max-beat", type=int, default=64)
    ap.add_argument("--target-mhz", type=float, default=100.0, help="core clock constraint for place and route")
    ap.add_argument("--repeats", type=int, default=4000, help="batch-1 calls per CPU path")
    ap.add_argument("--out", default="benchmarks/results/hw_sweep.json")
    args = ap.parse_args()

    if args.run:
        run = RunDir(args.run)
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from latency import quick_run

        run = quick_run(Path("runs/bench_hw_sweep"), args.data)
    ir = IRModel.load(run.require(Artifacts("student", 8).ir))
    out = Path(args.out)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"board": BOARD, "ir": ir.name, "bits": ir.input.bits, "macs": ir.macs, "run": str(run.path),
                              "target_mhz": args.target_mhz, "cpu": cpu_rows(run, args.repeats), "points": []}
    for lanes in tqdm(args.lanes, desc="lanes"):
        beat = choose_beat(ir, lanes, args.max_beat)
        result["points"].append(sweep_point(ir, lanes, beat, args.target_mhz, run / "fpga" / "sweep" / f"P{lanes}"))
        fitted = [p for p in result["points"] if "latency_at_fmax_us" in p]
        best = min(fitted, key=lambda p: p["latency_at_fmax_us"], default=None)
        result["best"] = best and {"lanes": best["lanes"], "beat": best["beat"], "latency_at_fmax_us": best["latency_at_fmax_us"]}
        result["target"] = {"value": best and best["latency_at_fmax_us"], "target": f"<= {TARGET_US}",
                            "met": bool(best and best["latency_at_fmax_us"] <= TARGET_US)}
        result["seconds"] = round(time.perf_counter() - t0, 1)
        write_json(out, result)
        plot(result, out.with_suffix(".png"))
        tqdm.write(f"P={lanes} beat={beat}: " + ", ".join(f"{k} {v}" for k, v in result["points"][-1].items() if k not in ("lanes", "beat")))
    print(f"wrote {out} and {out.with_suffix('.png')}; best: {result['best']}; target {result['target']}")


if __name__ == "__main__":
    main()
