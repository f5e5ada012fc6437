"""Latency benchmark of the edge paths, checked against issue 3's targets.

Runs `faultedge bench` (faultedge.edge.bench) on a run directory and writes its rows plus the
target checks to benchmarks/results/latency.json:
  - end-to-end ORT predictor (raw window -> class), fp32, one thread: p50 <= 25 us;
  - that path >= 2.5x faster (p50) than end-to-end PyTorch eager (numpy features + model);
  - int8 QDQ no slower than fp32 (end to end and model only, p50, one thread).
Without a run directory, a small real-data run is trained and quantised first. Timings on a
machine shared with other work are noisy: the load average is recorded with the results.

    python benchmarks/latency.py runs/NAME [--repeats 20000]
    python benchmarks/latency.py --data ../shared/data/cwru
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from faultedge.tables import print_table
from faultedge.edge.bench import EAGER, TABLE, BenchConfig, bench, table_rows
from faultedge.runs import RunDir, write_json

TARGET_P50_US = 25.0
TARGET_SPEEDUP = 2.5


def quick_run(path: Path, data: str) -> RunDir:
    """A short training run and 8-bit QAT: enough for timing, whose numbers do not depend on accuracy."""
    from dataclasses import replace

    from faultedge.data.dataset import DataSpec
    from faultedge.data.splits import SplitSpec
    from faultedge.quant.qat import QATConfig
    from faultedge.families import family
    from faultedge.quant.stage import quantize
    from faultedge.train.pipeline import TrainConfig, run_stages

    cfg = TrainConfig(data=DataSpec(source=data, split=SplitSpec(n_train=150, n_val=50, n_test=100)))
    cfg = replace(cfg, teacher=replace(cfg.teacher, epochs=5), student=replace(cfg.student, epochs=10), lora=replace(cfg.lora, epochs=3))
    run = RunDir(path)
    run_stages(run, cfg, progress=False)
    quantize(run, family("student"), QATConfig(epochs=1), progress=False)
    return run


def targets(rows: list[dict]) -> dict:
    def p50(engine: str, precision: str, scope: str) -> float:
        return next(r["p50_us"] for r in rows if (r["engine"], r["precision"], r["scope"], r["threads"]) == (engine, precision, scope, 1))

    ort_e2e = p50("ORT", "fp32", "end to end")
    speedup = p50(EAGER, "fp32", "end to end") / ort_e2e
    checks = {
        "ort_fp32_e2e_p50_us": {"value": ort_e2e, "target": f"<= {TARGET_P50_US}", "met": ort_e2e <= TARGET_P50_US},
        "ort_fp32_e2e_speedup_vs_eager": {"value": speedup, "target": f">= {TARGET_SPEEDUP}", "met": speedup >= TARGET_SPEEDUP},
    }
    for scope in ("end to end", "model only"):
        int8, fp32 = p50("ORT", "int8", scope), p50("ORT", "fp32", scope)
        checks[f"int8_vs_fp32_{scope.replace(' ', '_')}_p50_ratio"] = {"value": int8 / fp32, "target": "<= 1", "met": int8 <= fp32}
    return checks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", help="run directory (trained and quantised); default: train a small one")
    ap.add_argument("--data", default="../shared/data/cwru", help="data for the small run (a CWRU directory or 'synthetic')")
    ap.add_argument("--repeats", type=int, default=20000, help="batch-1 calls per path")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results/latency.json")
    args = ap.parse_args()

    run = RunDir(args.run) if args.run else quick_run(Path("runs/bench_latency"), args.data)
    t0 = time.perf_counter()
    result = bench(run, BenchConfig(repeats=args.repeats, rounds=args.rounds))
    result["targets"] = targets(result["rows"])
    result["seconds"] = time.perf_counter() - t0
    result["run"] = str(run.path)
    write_json(args.out, result)
    print_table(table_rows(result), TABLE)
    for name, c in result["targets"].items():
        print(f"{name}: {c['value']:.3g} (target {c['target']}): {'met' if c['met'] else 'NOT met'}")
    print(f"{result['cpu']}; load average {result['load_average'][0]:.1f}; wrote {args.out}")


if __name__ == "__main__":
    main()
