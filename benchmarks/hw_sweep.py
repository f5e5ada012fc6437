"""The student accelerator on ECP5-85F (ULX3S) against this CPU and the latency target.

The sweep itself is `faultedge sweep` (faultedge.sweep: one Ray task per lane count, the core clock
following the achieved Fmax, results cached; the table, sweep.json and the Pareto plot in
RUN/sweep/). This benchmark adds what the docs compare it with: ONNX Runtime fp32 and PyTorch
eager batch 1 on this CPU, on the same network, model only (features in) like the accelerator
(faultedge.edge.bench), and the issue's target: 8-bit student on ECP5-85F with timing met,
<= 2 us from the last input beat to the class and <= 2.5 us from the first, at the post-route clock.

    python benchmarks/hw_sweep.py runs/NAME --lanes 8 16 32 64 128 256
    python benchmarks/hw_sweep.py --data ../shared/data/cwru          # trains a small run first
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from faultedge.edge.bench import BenchConfig, bench
from faultedge.runs import RunDir, write_json
from faultedge.sweep import SweepOptions, grid, run_sweep

TARGET_LAST_US, TARGET_FIRST_US = 2.0, 2.5
BOARD = "ulx3s-85f"


def cpu_rows(run: RunDir, repeats: int) -> dict[str, Any]:
    """ORT fp32 and PyTorch eager batch-1 p50, one thread, model only and end to end, from faultedge bench."""
    result = bench(run, BenchConfig(repeats=repeats, rounds=4))
    keep = {}
    for r in result["rows"]:
        if r["threads"] == 1 and r["engine"] in ("ORT", "PyTorch eager") and r["precision"] == "fp32" and r["scope"] != "features only":
            keep[f"{r['engine']} fp32 {r['scope']}"] = {"p50_us": r["p50_us"], "p90_us": r["p90_us"], "p99_us": r["p99_us"]}
    return {"rows": keep, "cpu": result["cpu"], "load_average": result["load_average"]}


def target(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest point that met timing (last beat -> class) and whether it meets both latency targets."""
    met = [p for p in points if p["status"] == "ok"]
    best = min(met, key=lambda p: p["latency_last_beat_us"], default=None)
    return {"best": best and {k: best[k] for k in ("lanes", "beat", "clock_mhz", "latency_last_beat_us", "latency_us")},
            "target": f"last beat -> class <= {TARGET_LAST_US} us and first beat -> class <= {TARGET_FIRST_US} us",
            "met": bool(best and best["latency_last_beat_us"] <= TARGET_LAST_US and best["latency_us"] <= TARGET_FIRST_US)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", help="quantised run directory (model.ir.json); default: train a small one")
    ap.add_argument("--data", default="../shared/data/cwru", help="data for the small run")
    ap.add_argument("--lanes", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    ap.add_argument("--target-mhz", type=float, help="first pass's core clock (default: the board's)")
    ap.add_argument("--threads", type=int, default=1, help="nextpnr threads per point")
    ap.add_argument("--address", help="Ray cluster to run the points on (default: Ray embedded here)")
    ap.add_argument("--repeats", type=int, default=4000, help="batch-1 calls per CPU path")
    ap.add_argument("--out", default="benchmarks/results/hw_sweep.json")
    args = ap.parse_args()

    if args.run:
        run = RunDir(args.run)
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from latency import quick_run

        run = quick_run(Path("runs/bench_hw_sweep"), args.data)
    points = grid(run, "student", args.lanes, [8], None, [BOARD], [1])
    sweep = run_sweep(run, points, SweepOptions(target_mhz=args.target_mhz, threads=args.threads), args.address)
    out = Path(args.out)
    result = {"board": BOARD, "run": str(run.path), "sweep": sweep, "cpu": cpu_rows(run, args.repeats), "target": target(sweep["points"])}
    write_json(out, result)
    shutil.copyfile(run / "sweep" / "sweep.png", out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}; {result['target']}")


if __name__ == "__main__":
    main()
