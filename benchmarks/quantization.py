"""Quantisation drop: macro F1 of the float network vs its integer (golden == Brevitas) model.

Runs `faultedge quantize` on the per-seed run directories that benchmarks/accuracy_cwru.py
wrote (CWRU 0 hp, -6 dB), for the merged student at 8 and 16 bits and the teacher at 8 bits,
and writes mean ± std of the drop in percentage points. Usage:

    python benchmarks/accuracy_cwru.py --seeds 0 1 2          # first, once
    python benchmarks/quantization.py --runs runs/bench_accuracy
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from faultedge.quant.qat import QATConfig
from faultedge.families import family
from faultedge.quant.stage import quantize
from faultedge.runs import RunDir, write_json
from faultedge.ir.provenance import versions

CONFIGS = (("student", 8), ("student", 16), ("teacher", 8))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs/bench_accuracy", help="parent directory of the seed* run directories")
    ap.add_argument("--configs", nargs="+", default=[f"{n}:{b}" for n, b in CONFIGS], help="network:bits pairs")
    ap.add_argument("--out", default="benchmarks/results/quantization.json")
    args = ap.parse_args()

    runs = sorted(p for p in Path(args.runs).glob("seed*") if (p / "student_merged.pt").exists())
    if not runs:
        raise SystemExit(f"no trained runs under {args.runs}: run benchmarks/accuracy_cwru.py first")
    results = {}
    for spec in args.configs:
        network, bits = spec.split(":")
        entries = [quantize(RunDir(r), family(network), QATConfig(bits=int(bits)), progress=True) for r in runs]
        drops = [e["f1_drop_pp"] for e in entries]
        results[spec] = {
            "float_f1": [e["float_test"]["f1_macro"] for e in entries],
            "int_f1": [e["test"]["f1_macro"] for e in entries],
            "f1_drop_pp": {"mean": float(np.mean(drops)), "std": float(np.std(drops)), "per_seed": drops},
            "golden_vs_brevitas_mismatches": sum(e["golden_vs_brevitas"]["mismatched_logits"] for e in entries),
            "test_samples_per_seed": entries[0]["golden_vs_brevitas"]["samples"],
        }
        print(f"{spec}: float F1 {np.mean(results[spec]['float_f1']):.2f}, integer F1 {np.mean(results[spec]['int_f1']):.2f}, "
              f"drop {np.mean(drops):+.2f} ± {np.std(drops):.2f} pp")
    write_json(args.out, {"runs": [str(r) for r in runs], "results": results, "versions": versions()})
    print(json.dumps({k: v["f1_drop_pp"]["mean"] for k, v in results.items()}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
