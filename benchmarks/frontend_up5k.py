"""The sample-in accelerator with the iterative front end on the iCE40 UP5K (icebreaker): fit, timing, resources,
bit-exactness on a real CWRU run and the sensor budget.

For a run made by `faultedge train` and `faultedge quantize` (8-bit student) it runs, unless --collect:

    faultedge hdl RUN --lanes L --frontend iterative --board icebreaker    (L = --lanes, default 4; 2 for fft+envelope,
                                                                            whose front end leaves too few logic cells for 4)
    faultedge fpga build RUN --board icebreaker           (yosys + nextpnr; the front end alone synthesised apart)
    faultedge sim RUN --windows W --clock-mhz F           (Verilator, every window against golden.predict_samples; F: the build's clock)

then gathers their reports (hdl/report.json, sim/report.json, fpga/icebreaker/report.json) with the wall time of
each command, and adds the cycle model at the sensor's hop (default 256, whatever hop the IR was built with: the
iterative FFT's cycles per window do not depend on the hop) against a 12 kHz sensor at the achieved core clock.

    python benchmarks/frontend_up5k.py runs/up5k_iter            # writes benchmarks/results/frontend_up5k.json
    python benchmarks/frontend_up5k.py runs/up5k_env --lanes 2 --out benchmarks/results/frontend_up5k_env.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from faultedge.hdl.cycles import frontend_model
from faultedge.hdl.frontend.plan import check_frontend
from faultedge.hdl.plan import plan_1d
from faultedge.ir import IRModel

BOARD = "icebreaker"
SENSOR_HZ, SENSOR_HOP = 12_000.0, 256
OUT = Path(__file__).parent / "results" / "frontend_up5k.json"


def _run(args: list[str]) -> float:
    t0 = time.perf_counter()
    print("$", " ".join(args), flush=True)
    subprocess.run(args, check=True)
    return round(time.perf_counter() - t0, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--windows", type=int, default=1000)
    ap.add_argument("--collect", action="store_true", help="only gather the reports of commands already run")
    ap.add_argument("--hop", type=int, default=SENSOR_HOP, help=f"the sensor's hop for the budget (default {SENSOR_HOP})")
    ap.add_argument("--lanes", type=int, default=4, help="the engine's lanes (default 4)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    exe = str(Path(sys.executable).parent / "faultedge")
    seconds = {}
    if not args.collect:
        seconds["hdl"] = _run([exe, "hdl", str(args.run), "--lanes", str(args.lanes), "--frontend", "iterative", "--board", BOARD])
        seconds["fpga"] = _run([exe, "fpga", "build", str(args.run), "--board", BOARD])
        built = json.loads((args.run / "fpga" / BOARD / "report.json").read_text())
        seconds["sim"] = _run([exe, "sim", str(args.run), "--windows", str(args.windows), "--clock-mhz", str(built["clock_mhz"]), "--quiet"])

    hdl = json.loads((args.run / "hdl" / "report.json").read_text())
    sim = json.loads((args.run / "sim" / "report.json").read_text())
    fpga = json.loads((args.run / "fpga" / BOARD / "report.json").read_text())
    ir = IRModel.load(args.run / "model.ir.json")
    fp = check_frontend(ir.frontend, "iterative", "faultedge quantize RUN")
    at_hop = check_frontend(dataclasses.replace(ir.frontend, hop=args.hop), "iterative", "faultedge quantize RUN")
    model_ir, model_hop = frontend_model(fp, plan_1d(ir, args.lanes)), frontend_model(at_hop, plan_1d(ir, args.lanes))
    log = args.run / "fpga" / BOARD / "build" / "nextpnr.log"  # the flow's resources leave SPRAM out; nextpnr counts it
    spram = re.findall(r"ICESTORM_SPRAM:\s+(\d+)/\s*(\d+)", log.read_text()) if log.exists() else []
    clock = fpga.get("clock_mhz") if fpga.get("timing_met") else None
    sensor = None
    if clock:
        rate = model_hop.samples_per_s(clock)
        sensor = {"hop": args.hop, "sensor_hz": SENSOR_HZ, "clock_mhz": clock, "cycles_per_hop": model_hop.cycles_per_hop,
                  "sustained_samples_per_s": round(rate, 1), "keeps_up": rate >= SENSOR_HZ, "margin": round(rate / SENSOR_HZ, 2),
                  "window_period_ms_at_sensor": round(1e3 * args.hop / SENSOR_HZ, 3),
                  "front_end_busy_ms_per_window": round(1e3 * fp.fft_period() / (clock * 1e6), 3),
                  "latency_last_sample_us": round(model_hop.latency_last_sample / clock, 1)}
    result = {
        "run": str(args.run), "board": BOARD, "lanes": args.lanes, "features": fp.fe.features, "ir_hop": fp.hop, "window": fp.window,
        "commands_seconds": seconds,
        "sim": {"windows": sim["windows"]["total"], "kinds": sim["windows"]["kinds"], "mismatches": sim["mismatches"]["samples"],
                "bit_exact": sim["bit_exact"], "cycles_match": sim["cycles"]["match"], "model": sim["cycles"]["model"],
                "measured": sim["cycles"]["measured"], "simulate_seconds": sim["simulate_seconds"], "build": sim["build"]},
        "fpga": {k: fpga.get(k) for k in ("fit", "resources", "fmax_mhz", "clock_mhz", "timing_met", "latency_last_sample_us", "samples_per_s",
                                          "results_per_s", "passes", "seconds", "tools")},
        "spram_placed": f"{spram[-1][0]}/{spram[-1][1]}" if spram else None,
        "frontend_alone": fpga.get("frontend", {}).get("resources"),
        "engine_alone_reference": "docs/results/fpga.md: 2,705 LCs, 4 SB_MAC16, 18 SB_RAM40_4K, Fmax 26.1 MHz (4 lanes, features in)"
                                  if args.lanes == 4 else None,
        "cycle_model_ir_hop": model_ir.to_dict(), "cycle_model_sensor_hop": model_hop.to_dict(),
        "magnitude_depth": fp.magnitude_depth, "normalise_depth": fp.normalise_depth, "fft_period": fp.fft_period(),
        "sensor": sensor, "hdl_cycle_model": hdl["frontend"]["cycle_model"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("sim", "fpga", "sensor")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
