"""The cocotb testbench of the iterative FFT, and the host side that builds and runs it in Verilator.

The host writes a job (the integer sample windows, a back-pressure flag per window, the stream
ports read from the component's signature) and `stream` feeds the windows as pairs, one window
after another, while it takes the bins; with back-pressure the pairs' valid and the bins' ready are
random, otherwise valid and ready stay high. It records every bin (k, re, im, last) and the clock
edges of each window's first and last pair and last bin; comparing with the golden model is the
caller's (`spectra`), so a mismatch is reported with its numbers.

Timing convention, as in faultedge.sim.tb: stimulus is driven and sampled at the falling edge; a
transfer seen there happens at the next rising edge, whose index (from the end of reset) is recorded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from faultedge.errors import ToolError
from faultedge.hdl.frontend.spram import simulation_models
from faultedge.sim.tb import PERIOD_NS, _Clock, _signed, _Stream

if TYPE_CHECKING:
    from faultedge.hdl.frontend.iterative import IterativeFFT

JOB_ENV = "FAULTEDGE_FFT_JOB"
TOPLEVEL = "iterative_fft"


def simulation_verilog(fft: IterativeFFT) -> str:
    """The FFT's Verilog, with the SPRAM model when it uses SPRAM."""
    from faultedge.hdl.engines import verilog_of

    verilog = verilog_of(fft, TOPLEVEL)
    return verilog + simulation_models(verilog)


def simulate(fft: IterativeFFT, windows: np.ndarray, backpressure: list[bool], seed: int = 0) -> dict[str, Any]:
    """Run `windows` (R, N) through the FFT in Verilator; window i with random valid/ready if backpressure[i]."""
    from cocotb_tools.runner import get_results, get_runner

    from faultedge.hdl.components.streams import stream_ports
    from faultedge.sim.runner import _tail, build

    b = build(simulation_verilog(fft), TOPLEVEL)
    with tempfile.TemporaryDirectory(prefix="faultedge-fft-") as tmp:
        work = Path(tmp)
        np.save(work / "windows.npy", np.asarray(windows, dtype=np.int64))
        job = {"windows": str(work / "windows.npy"), "backpressure": list(map(bool, backpressure)), "seed": seed, "points": fft.fe.points,
               "ports": stream_ports(fft.signature), "results": str(work / "results.json")}
        (work / "job.json").write_text(json.dumps(job))
        try:
            get_runner("verilator").test(test_module=__name__, hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog", build_dir=b.directory,
                                         test_dir=work, extra_env={JOB_ENV: str(work / "job.json")}, results_xml=str(work / "results.xml"),
                                         log_file=work / "sim.log")
        except (RuntimeError, SystemExit) as exc:
            raise ToolError(f"simulation failed ({exc}):\n{_tail(work / 'sim.log')}") from None
        if not (work / "results.json").exists() or get_results(work / "results.xml")[1]:
            raise ToolError(f"the testbench did not finish:\n{_tail(work / 'sim.log')}")
        return json.loads((work / "results.json").read_text())


def spectra(results: dict[str, Any], points: int) -> tuple[np.ndarray, np.ndarray]:
    """The recorded bins as (re, im) (R, M), bin k in column k - 1; each window must give every bin once, `last` on its final one."""
    rows = np.asarray(results["bins"], dtype=np.int64).reshape(-1, points, 4)
    re, im = np.zeros(rows.shape[:2], np.int64), np.zeros(rows.shape[:2], np.int64)
    for w, row in enumerate(rows):
        if sorted(row[:, 0]) != list(range(1, points + 1)) or row[:, 3].tolist() != [0] * (points - 1) + [1]:
            raise AssertionError(f"window {w}: bins {row[:, 0].tolist()} with last {row[:, 3].tolist()}")
        re[w, row[:, 0] - 1], im[w, row[:, 0] - 1] = row[:, 1], row[:, 2]
    return re, im


class _Port(_Stream):
    """One stream of the DUT (faultedge.sim.tb's handles), packing and reading the pair and bin fields."""

    def pack(self, **values: int) -> int:
        return sum((int(v) & ((1 << self.fields[f][1]) - 1)) << self.fields[f][0] for f, v in values.items())

    def unpack(self) -> dict[str, int]:
        return {f: _signed(self.field(f), width) if f in ("re", "im") else self.field(f) for f, (_, width) in self.fields.items()}


async def _feed(dut, port: _Port, windows: np.ndarray, backpressure: list[bool], rng: np.random.Generator, clock: _Clock, rec: dict) -> None:
    for x, bp in zip(windows, backpressure):
        n = len(x) // 2
        for i in range(n):
            waited = False
            while True:
                await FallingEdge(dut.clk)
                port.payload.value = port.pack(re=x[2 * i], im=x[2 * i + 1], last=i == n - 1)
                valid = (not bp) or bool(rng.random() < 0.7)
                port.valid.value = int(valid)
                ready = bool(int(port.ready.value))
                if valid and ready:
                    if i in (0, n - 1):
                        rec["first_pair" if i == 0 else "last_pair"].append(clock.edge())
                    break
                if waited and not ready:  # not ready twice: the FFT is busy, skip those cycles cheaply (offering the pair)
                    port.valid.value = 1
                    await RisingEdge(port.ready)
                waited = not ready
    await FallingEdge(dut.clk)
    port.valid.value = 0


async def _take(dut, port: _Port, count: int, backpressure: list[bool], points: int, rng: np.random.Generator, clock: _Clock, rec: dict) -> None:
    for i in range(count):
        while True:
            if not int(port.valid.value):
                await RisingEdge(port.valid)
            await FallingEdge(dut.clk)
            ready = (not backpressure[i // points]) or bool(rng.random() < 0.6)
            port.ready.value = int(ready)
            if ready and int(port.valid.value):
                b = port.unpack()
                rec["bins"].append([b["bin"], b["re"], b["im"], b["last"]])
                if i % points == points - 1:
                    rec["last_bin"].append(clock.edge())
                break
    await FallingEdge(dut.clk)
    port.ready.value = 0


@cocotb.test()
async def stream(dut) -> None:
    job = json.loads(Path(os.environ[JOB_ENV]).read_text())
    windows = np.load(job["windows"])
    rng = np.random.default_rng(job["seed"])
    pairs, bins = _Port(dut, job["ports"]["input"]), _Port(dut, job["ports"]["output"])
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    pairs.valid.value = 0
    bins.ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    clock = _Clock(get_sim_time(unit="ns"))
    rec: dict = {"bins": [], "first_pair": [], "last_pair": [], "last_bin": []}
    taker = cocotb.start_soon(_take(dut, bins, len(windows) * job["points"], job["backpressure"], job["points"], rng, clock, rec))
    await _feed(dut, pairs, windows, job["backpressure"], rng, clock, rec)
    await taker
    Path(job["results"]).write_text(json.dumps(rec))
