"""The sample-in accelerator (pipelined FFT front end + 1-D engine) measured: Verilator and ECP5-85F.

For every lane count P the run's IR (with its front end) becomes the sample-in design
(`faultedge hdl RUN --lanes P --frontend pipelined`), `faultedge sim` streams --windows windows of
raw samples through it (the run's test recordings noise-free and at -6 dB, silence, full scale,
clipping, back-pressure; bit-exact against golden.predict_samples, cycles against the model), and
`faultedge fpga build` places and routes it on the ULX3S-85F with the core clock following the
achieved Fmax. Writes benchmarks/results/frontend_hw.json after every point and checks the issue's
targets: <= 40 us from a window's last sample to its class, >= 10 M samples/s at hop = window / 2.

    python benchmarks/frontend_hw.py runs/NAME --lanes 64 128 --windows 1000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from faultedge.fpga.build import BuildOptions, build
from faultedge.hdl.artifacts import write_hdl
from faultedge.hdl.design import DesignPoint
from faultedge.runs import RunDir, write_json
from faultedge.sim.report import simulate_run

TARGET_LATENCY_US = 40.0
TARGET_SAMPLES_PER_S = 10e6
COPY = ("config.json", "model.ir.json", "golden_vectors.npz")


def point(run: RunDir, lanes: int, windows: int, fpga: bool, target_mhz: float | None, workdir: Path) -> dict[str, Any]:
    """One design point in its own copy of the run: hdl, sim, fpga build."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    for name in COPY:
        shutil.copy(run / name, workdir / name)
    copy = RunDir(workdir)
    t0 = time.perf_counter()
    hdl = write_hdl(copy, DesignPoint(lanes=lanes, beat=1, frontend="pipelined"))
    sim = simulate_run(copy, 0, 0, clock_mhz=100.0, progress=False, windows=windows)
    out: dict[str, Any] = {
        "lanes": lanes, "frontend": hdl["frontend"]["architecture"], "window": hdl["frontend"]["window"], "hop": hdl["frontend"]["hop"],
        "cycle_model": hdl["frontend"]["cycle_model"],
        "sim": {"windows": sim["windows"], "mismatches": sim["mismatches"]["samples"], "mismatched_logits": sim["mismatches"]["logits"],
                "bit_exact": sim["bit_exact"], "cycles_measured": sim["cycles"]["measured"], "cycles_match": sim["cycles"]["match"],
                "seconds": sim["simulate_seconds"]},
        "command": f"faultedge hdl RUN --lanes {lanes} --frontend pipelined && faultedge sim RUN --windows {windows} && faultedge fpga build RUN",
    }
    if fpga:
        r = build(copy, opts=BuildOptions(target_mhz=target_mhz), log=lambda line: print(f"  [{lanes} lanes]{line}", flush=True))
        res, fe = r.get("resources", {}), r["frontend"]
        out["fpga"] = {"board": r["board"], "fit": r["fit"]["message"], "resources": {k: res.get(k) for k in ("lut", "ff", "dsp", "bram")},
                       "available": res.get("available"), "frontend_alone": fe["resources"], "fmax_mhz": r.get("fmax_mhz"),
                       "clock_mhz": r.get("clock_mhz"), "timing_met": r.get("timing_met"), "passes": r["passes"],
                       "latency_last_sample_us": r.get("latency_last_sample_us"), "samples_per_s": r.get("samples_per_s"),
                       "results_per_s": r.get("results_per_s"), "seconds": r["seconds"]}
        lat, rate = r.get("latency_last_sample_us"), r.get("samples_per_s")
        hop_is_half = out["hop"] * 2 == out["window"]
        out["targets"] = {"latency_us": TARGET_LATENCY_US, "latency_met": lat is not None and lat <= TARGET_LATENCY_US,
                          "samples_per_s": TARGET_SAMPLES_PER_S, "rate_met": rate is not None and rate >= TARGET_SAMPLES_PER_S and hop_is_half}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="run directory with a quantised IR that has a front end (faultedge quantize)")
    ap.add_argument("--lanes", type=int, nargs="+", default=[64])
    ap.add_argument("--windows", type=int, default=1000)
    ap.add_argument("--target-mhz", type=float, help="first place-and-route pass's clock (default: the board's)")
    ap.add_argument("--no-fpga", action="store_true", help="simulate only")
    ap.add_argument("--work", default="build/frontend_hw", help="design points' run copies")
    ap.add_argument("--out", default="benchmarks/results/frontend_hw.json")
    args = ap.parse_args(argv)
    run = RunDir(args.run)
    result: dict[str, Any] = {"run": str(run.path), "windows": args.windows, "points": []}
    for lanes in args.lanes:
        print(f"{lanes} lanes", flush=True)
        result["points"].append(point(run, lanes, args.windows, not args.no_fpga, args.target_mhz, Path(args.work) / f"P{lanes}"))
        write_json(Path(args.out), result)
        p = result["points"][-1]
        print(f"  sim: {p['sim']['windows']['total']} windows, {p['sim']['mismatches']} mismatches, cycles match {p['sim']['cycles_match']}; "
              f"fpga: {p.get('fpga', {}).get('latency_last_sample_us')} us, {p.get('fpga', {}).get('samples_per_s')} samples/s", flush=True)
    return 0 if all(p["sim"]["bit_exact"] and p["sim"]["cycles_match"] for p in result["points"]) else 1


if __name__ == "__main__":
    sys.exit(main())
