"""Accelerator design points: cycles per inference and latency against the lower bound, per lane count.

For each quantised network of a run directory and each (lanes, beat), the analytic cycle model
(faultedge.hdl.cycles) next to max(MACs / lanes, inputs / beat); with --sim N, each point is also
simulated in Verilator on N golden vectors (plus random, extreme and back-pressured inputs) and
must be bit-exact with the measured cycles equal to the model. Writes JSON. Usage:

    python benchmarks/hdl_cycles.py runs/NAME --lanes 1 8 32 64 256 --beat 1 8 --sim 20
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from faultedge.hdl import generate_verilog, plan
from faultedge.hdl.cycles import model
from faultedge.ir import IRModel
from faultedge.runs import RunDir, write_json
from faultedge.sim.verify import verify

NETWORKS = {"student": ("model.ir.json", "golden_vectors.npz"), "teacher": ("model_teacher.ir.json", "golden_vectors_teacher.npz")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run directory quantised by `faultedge quantize` (and --network teacher)")
    ap.add_argument("--networks", nargs="+", default=["student", "teacher"], choices=sorted(NETWORKS))
    ap.add_argument("--lanes", type=int, nargs="+", default=[1, 8, 32, 64, 256])
    ap.add_argument("--beat", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--sim", type=int, default=0, help="golden vectors to simulate per design point (0: model only)")
    ap.add_argument("--sim-max-lanes", type=int, default=64, help="simulate only points with at most this many lanes")
    ap.add_argument("--out", default="benchmarks/results/hdl_cycles.json")
    args = ap.parse_args()

    run = RunDir(args.run)
    rows = []
    for net in args.networks:
        ir_name, vec_name = NETWORKS[net]
        if not (run / ir_name).exists():
            print(f"skip {net}: {run / ir_name} missing")
            continue
        ir = IRModel.load(run / ir_name)
        for lanes in args.lanes:
            for beat in args.beat:
                p = plan(ir, lanes, beat)
                cm = model(p)
                row = {"network": net, "lanes": lanes, "beat": beat, "macs": ir.macs, **cm.to_dict(),
                       "efficiency": round(cm.bound / cm.per_inference, 4), "memory_bits": p.memory_bits()["total"]}
                if args.sim and lanes <= args.sim_max_lanes:
                    with np.load(run / vec_name) as z:
                        x = z["x_int"][: args.sim]
                    t0 = time.perf_counter()
                    rep = verify(ir, generate_verilog(ir, lanes, beat), lanes, beat, x, n_random=4, n_backpressure=4)
                    row["sim"] = {"inferences": rep["vectors"]["total"], "mismatched_logits": rep["mismatches"]["logits"],
                                  "cycles_match": rep["cycles"]["match"], "measured": rep["cycles"]["measured"],
                                  "seconds": round(time.perf_counter() - t0, 1), "build_seconds": rep["build"]["seconds"]}
                rows.append(row)
                sim = row.get("sim")
                print(f"{net:8s} P={lanes:<4d} beat={beat:<3d} cycles {cm.per_inference:>8,} bound {cm.bound:>8,} "
                      f"latency first/last {cm.latency_first:,}/{cm.latency_last:,}"
                      + (f"  sim: {sim['mismatched_logits']} mismatches, cycles {'==' if sim['cycles_match'] else '!='} model" if sim else ""))
    out = Path(args.out)
    write_json(out, {"run": str(run.path), "points": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
