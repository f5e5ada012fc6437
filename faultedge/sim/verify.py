"""Bit-exact verification of the generated accelerator against the golden model, in Verilator.

One simulation streams three segments and compares every logit and class with
`faultedge.ir.golden.run`:

1. the given test vectors (real CWRU windows) back to back, inputs always valid and outputs
   always ready: the clock edges give the cycles per inference and both latencies, which must
   equal the analytic model (faultedge.hdl.cycles) exactly;
2. random inputs and saturating extremes (all max, all min, alternating max/min both ways);
3. a mix of both under random valid/ready back-pressure on the input and the output stream.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from faultedge.hdl.components.streams import accelerator_signature, stream_ports
from faultedge.hdl.cycles import model
from faultedge.hdl.engines import DEFAULT_ENGINE, plan
from faultedge.ir import IRModel
from faultedge.ir.files import TOPLEVEL
from faultedge.ir import golden
from faultedge.sim import runner

SHOW_MISMATCHES = 5


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
