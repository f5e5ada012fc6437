"""The cocotb testbench of the accelerator (one module for `faultedge sim` and pytest alike).

Two kinds of job: feature vectors (below), or one raw sample stream for a sample-in accelerator
(`samples`: the stream's segments are paced, full rate or under random back-pressure; the clock
edge at which each window's last sample was accepted is recorded, and every result).

It reads a job file (path in $FAULTEDGE_SIM_JOB, written by faultedge.sim.runner): the integer
input vectors (.npy), a list of segments, each a run of consecutive vectors streamed back to
back with or without random valid/ready back-pressure on both streams, and the Verilog ports of
the two streams (`ports`, from faultedge.hdl.components.streams.stream_ports: the names come from
the accelerator's signature, and so does where the class and the logits lie in the result's
payload). It records, per inference, the logits, the class and the clock edges of the first and
last accepted input beat and of the rising output valid, and writes them as JSON. Comparing with
the golden model happens in Python afterwards, so a mismatch is reported with its numbers
instead of stopping the run.

Timing convention: stimulus is driven and sampled at the falling edge; a transfer seen there
happens at the next rising edge, whose index (from the end of reset) is what is recorded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

JOB_ENV = "FAULTEDGE_SIM_JOB"
PERIOD_NS = 10


def _pack_beats(x: np.ndarray, beat: int, bits: int) -> list[list[int]]:
    """Each vector as its beats: value k of a beat in bits [k*bits, (k+1)*bits), two's complement."""
    mask = (1 << bits) - 1
    out = []
    for v in x:
        words = (v.astype(np.int64) & mask).reshape(-1, beat)
        out.append([sum(int(w) << (k * bits) for k, w in enumerate(row)) for row in words])
    return out


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


class _Stream:
    """The handles of one valid/ready stream of the DUT, by the port names of the job."""

    def __init__(self, dut, ports: dict) -> None:
        self.valid, self.ready, self.payload = (getattr(dut, ports[k]) for k in ("valid", "ready", "payload"))
        self.fields = ports.get("fields", {})

    def field(self, name: str) -> int:
        """Field `name` of the payload (unsigned)."""
        offset, width = self.fields[name]
        return (int(self.payload.value.to_unsigned()) >> offset) & ((1 << width) - 1)


class _Clock:
    def __init__(self, t0: float) -> None:
        self.t0 = t0

    def edge(self) -> int:
        """Index of the rising edge that ends the current cycle (called at a falling edge)."""
        return int((get_sim_time(unit="ns") - self.t0) // PERIOD_NS) + 1


async def _drive(dut, inp: _Stream, beats: list[list[int]], backpressure: bool, rng: np.random.Generator, clock: _Clock, rec: dict) -> None:
    for words in beats:
        for b, word in enumerate(words):
            while True:
                await FallingEdge(dut.clk)
                if not int(inp.ready.value):
                    await RisingEdge(inp.ready)  # the engine is busy: skip those cycles cheaply
                    continue
                valid = (not backpressure) or bool(rng.random() < 0.7)
                inp.valid.value = int(valid)
                inp.payload.value = word
                if valid:  # ready and valid in this cycle: transferred at the next rising edge
                    if b == 0:
                        rec["first_edge"].append(clock.edge())
                    if b == len(words) - 1:
                        rec["last_edge"].append(clock.edge())
                    break
    await FallingEdge(dut.clk)
    inp.valid.value = 0


async def _collect_split(dut, out: _Stream, count: int, bp_from: int, n_classes: int, logit_bits: int, rng: np.random.Generator, clock: _Clock,
                         rec: dict, progress: Path | None) -> None:
    """Results of a sample stream: the first `bp_from` always taken, the rest under random back-pressure."""
    await _collect(dut, out, bp_from, n_classes, logit_bits, False, rng, clock, rec, progress)
    await _collect(dut, out, count - bp_from, n_classes, logit_bits, True, rng, clock, rec, progress)


async def _collect(dut, out: _Stream, count: int, n_classes: int, logit_bits: int, backpressure: bool, rng: np.random.Generator, clock: _Clock,
                   rec: dict, progress: Path | None) -> None:
    got, seen_valid = 0, False
    mask = (1 << logit_bits) - 1
    out.ready.value = 1
    while got < count:
        if not int(out.valid.value):
            await RisingEdge(out.valid)  # nothing to take: ready does not matter meanwhile
        await FallingEdge(dut.clk)
        if not int(out.valid.value):
            continue
        if not seen_valid:
            rec["out_edge"].append(clock.edge() - 1)  # valid rose at the edge that began this cycle
            seen_valid = True
        ready = (not backpressure) or bool(rng.random() < 0.6)
        out.ready.value = int(ready)
        if ready:
            word = out.field("logits")
            rec["logits"].append([_signed((word >> (c * logit_bits)) & mask, logit_bits) for c in range(n_classes)])
            rec["classes"].append(out.field("cls"))
            got, seen_valid = got + 1, False
            if progress is not None and (got % 8 == 0 or got == count):
                progress.write_text(str(len(rec["classes"])))
    await FallingEdge(dut.clk)
    out.ready.value = 0


async def _drive_samples(dut, inp: _Stream, samples: list[int], segments: list[dict], window_ends: set[int], rng: np.random.Generator,
                         clock: _Clock, rec: dict) -> None:
    """One sample per transfer (two's complement words): `pace` cycles per sample (1: every cycle), or random valid under back-pressure."""
    for seg in segments:
        pace, bp = seg["pace"], seg["backpressure"]
        for i in range(seg["start"], seg["stop"]):
            for _ in range(pace - 1):
                await FallingEdge(dut.clk)
                inp.valid.value = 0
            waited = False
            while True:
                await FallingEdge(dut.clk)
                valid = (not bp) or bool(rng.random() < 0.7)
                inp.valid.value = int(valid)
                inp.payload.value = samples[i]
                ready = bool(int(inp.ready.value))
                if valid and ready:
                    if i in window_ends:
                        rec["last_edge"].append(clock.edge())
                    break
                if waited and not ready:  # not ready twice: the front end is busy (the iterative FFT for 100,000 cycles), skip cheaply
                    await RisingEdge(inp.ready)
                waited = not ready
    await FallingEdge(dut.clk)
    inp.valid.value = 0


async def _start(dut, inp: _Stream, out: _Stream) -> _Clock:
    # the clock in the simulator's C++ layer, not a Python coroutine: stimulus changes only at falling edges, so nothing races
    # the rising edge, and the iterative front end's 100,000-cycle windows simulate without a Python call per cycle
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns", impl="gpi").start())
    dut.rst.value = 1
    inp.valid.value = 0
    out.ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    return _Clock(get_sim_time(unit="ns"))


@cocotb.test()
async def stream(dut) -> None:
    job = json.loads(Path(os.environ[JOB_ENV]).read_text())
    rng = np.random.default_rng(job["seed"])
    progress = Path(job["progress"]) if job.get("progress") else None
    inp, out = _Stream(dut, job["ports"]["input"]), _Stream(dut, job["ports"]["output"])
    clock = await _start(dut, inp, out)
    rec: dict = {"logits": [], "classes": [], "first_edge": [], "last_edge": [], "out_edge": []}
    if "samples" in job:
        mask = (1 << job["sample_bits"]) - 1
        samples = [int(v) & mask for v in np.load(job["samples"])]
        ends = set(job["window_ends"])
        # results come under back-pressure while the back-pressured samples go in (the collector follows the segments by count)
        bp_from = next((k for k, e in enumerate(job["window_ends"]) if any(s["backpressure"] and s["start"] <= e < s["stop"] for s in job["segments"])),
                       len(ends))
        collector = cocotb.start_soon(_collect_split(dut, out, len(ends), bp_from, job["n_classes"], job["logit_bits"], rng, clock, rec, progress))
        await _drive_samples(dut, inp, samples, job["segments"], ends, rng, clock, rec)
        await collector
        Path(job["results"]).write_text(json.dumps(rec))
        return
    x = np.load(job["inputs"])
    beats = _pack_beats(x, job["beat"], job["input_bits"])
    for seg in job["segments"]:
        lo, hi, bp = seg["start"], seg["stop"], seg["backpressure"]
        collector = cocotb.start_soon(_collect(dut, out, hi - lo, job["n_classes"], job["logit_bits"], bp, rng, clock, rec, progress))
        await _drive(dut, inp, beats[lo:hi], bp, rng, clock, rec)
        await collector
    Path(job["results"]).write_text(json.dumps(rec))
