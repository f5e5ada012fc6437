"""Bit-exact verification of the generated accelerator against the golden model, in Verilator.

A sample-in accelerator gets one raw sample stream instead (`verify_samples`, faultedge.sim.samples):
every window of it (faultedge.ir.frontend.frame) is compared with `golden.predict_samples`. The
first windows come at one sample per cycle from reset, and their latency from the last sample to
the result must equal the cycle model's (the first window's alone when the design cannot keep up
with one sample per cycle); the next windows come paced so slowly that each finds the design idle,
and their latency must equal the model's at that pace; then full rate, where the results must come
every `cycles_per_hop` cycles; then random valid/ready back-pressure on both streams.

A feature accelerator's simulation streams three segments and compares every logit and class with
`faultedge.ir.golden.run`:

1. the given test vectors (real CWRU windows) back to back, inputs always valid and outputs
   always ready: the clock edges give the cycles per inference and both latencies, which must
   equal the analytic model (faultedge.hdl.cycles) exactly;
2. random inputs and saturating extremes (all max, all min, alternating max/min both ways);
3. a mix of both under random valid/ready back-pressure on the input and the output stream.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from faultedge.hdl.components.streams import accelerator_signature, sample_accelerator_signature, stream_ports
from faultedge.hdl.cycles import FrontEndCycles, frontend_latency, frontend_model, model
from faultedge.hdl.engines import DEFAULT_ENGINE, plan
from faultedge.hdl.frontend.plan import check_frontend
from faultedge.hdl.frontend.spram import simulation_models
from faultedge.ir import IRModel
from faultedge.ir.files import TOPLEVEL
from faultedge.ir import frontend, golden
from faultedge.sim import runner
from faultedge.sim.samples import PACED_WINDOWS, Part

SHOW_MISMATCHES = 5
LONG_WINDOW = 10_000  # cycles per window from which the simulator is compiled optimised


def stimuli(ir: IRModel, vectors: np.ndarray, n_random: int, n_backpressure: int, seed: int) -> tuple[np.ndarray, list[dict[str, Any]], dict[str, int]]:
    """All inputs of one simulation (rows), the segments over them and how many of each kind."""
    rng = np.random.default_rng(seed)
    lo, hi = ir.input.clamp
    n = int(np.prod(ir.input.shape))
    vectors = np.asarray(vectors, dtype=np.int64).reshape(len(vectors), n)
    alt = np.where(np.arange(n) % 2 == 0, hi, lo)
    extremes = np.stack([np.full(n, hi), np.full(n, lo), alt, lo + hi - alt])
    random = rng.integers(lo, hi + 1, size=(n_random, n))
    pool = np.concatenate([vectors, random, extremes])
    mixed = pool[rng.permutation(len(pool))[:n_backpressure]]
    rows = np.concatenate([vectors, random, extremes, mixed])
    a, b, c = len(vectors), len(vectors) + len(random) + len(extremes), len(rows)
    segments = [{"start": 0, "stop": a, "backpressure": False}, {"start": a, "stop": b, "backpressure": False}, {"start": b, "stop": c, "backpressure": True}]
    counts = {"vectors": a, "random": len(random), "extremes": len(extremes), "backpressure": len(mixed), "total": c}
    return rows, [s for s in segments if s["stop"] > s["start"]], counts


def verify(ir: IRModel, verilog: str, lanes: int, beat: int, vectors: np.ndarray, n_random: int = 16, n_backpressure: int = 16,
           seed: int = 0, clock_mhz: float = 100.0, toplevel: str = TOPLEVEL, progress: bool = False, engine: str = DEFAULT_ENGINE) -> dict[str, Any]:
    """Simulate `verilog` (the `engine` accelerator of `ir` at `lanes`, `beat`) and compare it with golden.run."""
    if len(vectors) < 2:
        raise ValueError("verify needs at least two vectors to measure the cycles between inferences")
    p = plan(ir, lanes, beat, engine)
    cm = model(p)
    rows, segments, counts = stimuli(ir, vectors, n_random, n_backpressure, seed)
    expect = golden.run(ir, rows.reshape((len(rows), *ir.input.shape)))
    b = runner.build(verilog, toplevel)
    t0 = time.perf_counter()
    figures = {"beat": beat, "input_bits": p.input_bits, "n_classes": p.n_classes, "logit_bits": p.logit_bits}
    meta = {**figures, "ports": stream_ports(accelerator_signature(**figures))}  # the port names come from the engine's signature
    res = runner.simulate(b, rows, segments, meta, seed=seed, progress=progress, desc=f"simulate {lanes} lanes")
    sim_seconds = time.perf_counter() - t0

    logits = np.asarray(res["logits"], dtype=np.int64).reshape(-1, p.n_classes)
    classes = np.asarray(res["classes"], dtype=np.int64)
    bad_logits = logits != expect.logits
    bad = np.flatnonzero(bad_logits.any(1) | (classes != expect.classes))
    first = [{"index": int(i), "kind": _kind(int(i), counts), "golden_logits": expect.logits[i].tolist(), "rtl_logits": logits[i].tolist(),
              "golden_class": int(expect.classes[i]), "rtl_class": int(classes[i])} for i in bad[:SHOW_MISMATCHES]]

    n0 = counts["vectors"]
    out_edges = np.asarray(res["out_edge"][:n0])
    intervals = np.diff(out_edges)
    measured = {
        "per_inference_min": int(intervals.min()),
        "per_inference_max": int(intervals.max()),
        "latency_first": int(res["out_edge"][0] - res["first_edge"][0]),
        "latency_last": int(res["out_edge"][0] - res["last_edge"][0]),
    }
    cycles_match = (measured["per_inference_min"] == measured["per_inference_max"] == cm.per_inference
                    and measured["latency_first"] == cm.latency_first and measured["latency_last"] == cm.latency_last)
    ns = 1e3 / clock_mhz
    return {
        "lanes": lanes,
        "beat": beat,
        "vectors": counts,
        "mismatches": {"samples": int(len(bad)), "logits": int(bad_logits.sum()), "classes": int((classes != expect.classes).sum()), "first": first},
        "bit_exact": not len(bad),
        "cycles": {"model": cm.to_dict(), "measured": measured, "match": bool(cycles_match)},
        "latency": {
            "clock_mhz": clock_mhz,
            "input_bits_per_beat": beat * p.input_bits,
            "first_beat_to_result_us": cm.latency_first * ns / 1e3,
            "last_beat_to_result_us": cm.latency_last * ns / 1e3,
            "throughput_per_s": clock_mhz * 1e6 / cm.per_inference,
        },
        "versions": runner.versions(),
        "build": {"cached": b.cached, "seconds": round(b.seconds, 2), "directory": str(b.directory)},
        "simulate_seconds": round(sim_seconds, 2),
    }


def _kind(i: int, counts: dict[str, int]) -> str:
    edges = np.cumsum([counts["vectors"], counts["random"], counts["extremes"]])
    return ("vector", "random", "extreme", "backpressure")[int(np.searchsorted(edges, i, side="right"))]


def _mismatches(expect: golden.GoldenResult, logits: np.ndarray, classes: np.ndarray, kinds: list[str]) -> dict[str, Any]:
    bad_logits = logits != expect.logits
    bad = np.flatnonzero(bad_logits.any(1) | (classes != expect.classes))
    first = [{"index": int(i), "kind": kinds[i], "golden_logits": expect.logits[i].tolist(), "rtl_logits": logits[i].tolist(),
              "golden_class": int(expect.classes[i]), "rtl_class": int(classes[i])} for i in bad[:SHOW_MISMATCHES]]
    return {"samples": int(len(bad)), "logits": int(bad_logits.sum()), "classes": int((classes != expect.classes).sum()), "first": first}


def sample_segments(parts: list[Part], window: int, hop: int, pace: int, reset_windows: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The stream and its segments: the first `reset_windows` windows at one sample per cycle from reset, the next
    PACED_WINDOWS whole windows paced (`pace` cycles a sample), then each part at full rate or under back-pressure."""
    stream = np.concatenate([p.samples for p in parts])
    first = min(window + (reset_windows - 1) * hop, len(stream))
    paced = min(first + window + (PACED_WINDOWS - 1) * hop, len(stream))
    segments, start = [{"start": 0, "stop": first, "pace": 1, "backpressure": False},
                       {"start": first, "stop": paced, "pace": pace, "backpressure": False}], 0
    for p in parts:
        lo, hi = max(start, paced), start + len(p.samples)
        if hi > lo:
            segments.append({"start": lo, "stop": hi, "pace": 1, "backpressure": p.backpressure})
        start += len(p.samples)
    return stream, segments


def whole_windows_in(segment: dict[str, Any], window: int, hop: int) -> list[int]:
    """The windows whose every sample the segment streams."""
    return [k for k in range(-(-segment["start"] // hop), segment["stop"] // hop + 1) if k * hop + window <= segment["stop"]]


def verify_samples(ir: IRModel, verilog: str, lanes: int, architecture: str, parts: list[Part], seed: int = 0, clock_mhz: float = 100.0,
                   toplevel: str = TOPLEVEL, progress: bool = False) -> dict[str, Any]:
    """Simulate the sample-in accelerator `verilog` on the stream of `parts` and compare every window with golden.predict_samples."""
    fp = check_frontend(ir.frontend, architecture, "faultedge quantize RUN")
    p = plan(ir, lanes, 1)
    cm: FrontEndCycles = frontend_model(fp, p)
    pace = -(-max(fp.busy_after_window(), cm.latency_slow_stream) // fp.hop) + 1  # each paced window finds the design idle
    paced_model = frontend_latency(fp, p, pace)
    # from reset at one sample per cycle: the first window finds the design idle, and the next ones do too when it keeps up
    keeps_up = cm.cycles_per_hop == fp.hop
    stream, segments = sample_segments(parts, fp.window, fp.hop, pace, PACED_WINDOWS if keeps_up else 1)
    windows = frontend.frame(stream, fp.window, fp.hop)
    if len(windows) <= 2 * PACED_WINDOWS + 4:
        raise ValueError(f"the stream holds {len(windows)} windows; verify_samples needs more than {2 * PACED_WINDOWS + 4}")
    ends = (np.arange(len(windows)) * fp.hop + fp.window - 1).tolist()
    owner = np.repeat(np.arange(len(parts)), [len(pt.samples) for pt in parts])
    kinds = [parts[owner[e]].kind + (" (back-pressure)" if parts[owner[e]].backpressure else "") for e in ends]
    expect = golden.predict_samples(ir, windows)
    # the iterative front end's SPRAM needs its model; its windows of ~100,000 cycles pay for an optimised (slower) build
    b = runner.build(verilog + simulation_models(verilog), toplevel, optimize=fp.fft_period() >= LONG_WINDOW)
    t0 = time.perf_counter()
    figures = {"sample_bits": fp.sample_bits, "n_classes": p.n_classes, "logit_bits": p.logit_bits}
    with tempfile.TemporaryDirectory(prefix="faultedge-samples-") as tmp:
        path = Path(tmp) / "samples.npy"
        np.save(path, stream.astype(np.int64))
        meta = {**figures, "ports": stream_ports(sample_accelerator_signature(**figures)), "samples": str(path), "window_ends": ends}
        res = runner.simulate(b, np.zeros((0, 1)), segments, meta, seed=seed, progress=progress, desc=f"simulate {lanes} lanes, {architecture} FFT",
                              total=len(windows))
    sim_seconds = time.perf_counter() - t0

    logits = np.asarray(res["logits"], dtype=np.int64).reshape(-1, p.n_classes)
    classes = np.asarray(res["classes"], dtype=np.int64)
    out_edges, last_edges = np.asarray(res["out_edge"]), np.asarray(res["last_edge"])
    latency = out_edges - last_edges
    from_reset = whole_windows_in(segments[0], fp.window, fp.hop)
    paced = latency[whole_windows_in(segments[1], fp.window, fp.hop)]
    first_full = len(from_reset) + 2 * PACED_WINDOWS + 3
    full = [k for k in range(first_full, len(ends)) if all(segments_of(segments, ends[j]) == (1, False) for j in range(k - 3, k + 1))]
    intervals = np.diff(out_edges)[np.asarray(full, dtype=np.int64) - 1] if full else np.zeros(0, np.int64)
    measured = {"latency_last_sample": sorted(set(latency[from_reset].tolist())), "latency_paced": sorted(set(paced.tolist())),
                "cycles_per_hop": sorted(set(intervals.tolist())), "full_rate_windows": len(full)}
    match = (measured["latency_last_sample"] == [cm.latency_last_sample] and measured["latency_paced"] == [paced_model]
             and measured["cycles_per_hop"] == [cm.cycles_per_hop])
    mm = _mismatches(expect, logits, classes, kinds)
    us = 1.0 / clock_mhz
    return {
        "lanes": lanes,
        "frontend": architecture,
        "windows": {"total": len(windows), "paced": PACED_WINDOWS, "full_rate_measured": len(full),
                    "kinds": {k: kinds.count(k) for k in dict.fromkeys(kinds)}, "samples": int(len(stream))},
        "mismatches": mm,
        "bit_exact": not mm["samples"],
        "cycles": {"model": {**cm.to_dict(), "pace": pace, "latency_paced": paced_model, "keeps_up": keeps_up}, "measured": measured,
                   "match": bool(match)},
        "latency": {"clock_mhz": clock_mhz, "last_sample_to_result_us": cm.latency_last_sample * us,
                    "samples_per_s": cm.samples_per_s(clock_mhz), "results_per_s": cm.samples_per_s(clock_mhz) / fp.hop},
        "versions": runner.versions(),
        "build": {"cached": b.cached, "seconds": round(b.seconds, 2), "directory": str(b.directory)},
        "simulate_seconds": round(sim_seconds, 2),
    }


def segments_of(segments: list[dict[str, Any]], i: int) -> tuple[int, bool]:
    """(pace, back-pressure) of the segment that streams sample i."""
    seg = next(s for s in segments if s["start"] <= i < s["stop"])
    return seg["pace"], seg["backpressure"]
