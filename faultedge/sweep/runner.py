"""The sweep on Ray: one task per design point (hdl -> optional sim -> fpga build -> summary), results as they come.

Ray starts embedded on this machine unless an address joins an existing cluster
(faultedge.sweep.tasks). A task asks for as many CPUs as nextpnr gets threads, so Ray never runs
more place-and-route threads than the cluster has cores. Tasks get the IR (and the golden vectors) as bytes and return their summary,
so workers on other machines need faultedge installed but no shared file system; each works in
its own directory (RUN/sweep/work/<label> when the worker sees the run directory, else the
worker's temp directory). The driver alone writes the cache and RUN/sweep/sweep.json, after
every finished point. A point that raises or does not fit is recorded with its reason; Ctrl-C
cancels the tasks still pending and keeps what finished.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from faultedge.errors import FaultedgeError, ToolTimeout
from faultedge.fpga.build import BuildOptions
from faultedge.ir.files import FPGA_DIR
from faultedge.runs import RunDir, read_json, write_json
from faultedge.sweep.cache import ResultCache
from faultedge.sweep.points import SweepPoint, code_hash, point_key, tool_versions
from faultedge.sweep.report import pareto, write_outputs
from faultedge.sweep.tasks import Shared, connect, run_tasks

SWEEP_DIR = "sweep"


@dataclass(frozen=True)
class SweepOptions:
    sim: bool = False  # simulate every point against the golden vectors before the build
    pack: bool = False  # pack bitstreams (left in each point's work directory)
    clock_mhz: float | None = None  # fixed core clock, one pass (BuildOptions.clock_mhz)
    target_mhz: float | None = None  # first pass's core clock (default: the board's)
    threads: int = 1  # nextpnr threads = CPUs per Ray task
    pnr_budget_min: float | None = None  # a point's place and route stops after this many minutes (BuildOptions.pnr_budget_min)

    def build_options(self, seed: int) -> BuildOptions:
        return BuildOptions(clock_mhz=self.clock_mhz, target_mhz=self.target_mhz, seed=seed, pack=self.pack, threads=self.threads,
                            pnr_budget_min=self.pnr_budget_min)


# ---------------------------------------------------------------------------------------- the task


def run_point(point: dict[str, Any], files: dict[str, bytes], options: SweepOptions, run_path: str) -> dict[str, Any]:
    """One design point from the IR to its build report, in its own work directory; never raises for a failed point.
    `files` are the run-directory files it needs (the IR, and the golden vectors for --sim), by name."""
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.flow.steps import StepFailed
    from faultedge.fpga.build import build
    from faultedge.fpga.flow import FitError

    sp = _point(point)
    d = sp.design
    base = Path(run_path) / SWEEP_DIR / "work" if Path(run_path).is_dir() else Path(tempfile.gettempdir()) / "faultedge-sweep"
    work = RunDir(base / sp.label)
    record: dict[str, Any] = {"host": socket.gethostname(), "work": str(work.path)}
    t0 = time.perf_counter()
    try:
        if work.path.exists():
            shutil.rmtree(work.path)
        work.path.mkdir(parents=True)
        for name, data in files.items():
            (work / name).write_bytes(data)
        cfg = FlowConfig(network=d.network, bits=d.bits, lanes=d.lanes, beat=d.beat, board=d.board, frontend=d.frontend, progress=False)
        run_step(work, cfg, "hdl", _quiet)
        if options.sim:
            sim = run_step(work, cfg, "sim", _quiet)  # StepFailed on a mismatch: recorded below
            record["sim"] = {"mismatched_samples": sim["mismatches"]["samples"], "cycles_match": sim["cycles"]["match"]}
        try:
            report = build(work, d.board, options.build_options(sp.seed), log=_quiet)
        except FitError:
            report = read_json(work / FPGA_DIR / d.board / "report.json")
        record.update(summarise(report))
    except StepFailed as exc:  # only sim's report can stop the flow before the build
        record.update(status="sim mismatch", reason=str(exc))
    except ToolTimeout as exc:
        record.update(status="timeout", reason=str(exc).splitlines()[0])
    except FaultedgeError as exc:
        record.update(status="failed", reason=str(exc).splitlines()[0])
    except Exception as exc:  # a bug or a crashed tool: one point fails, the sweep goes on
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}".splitlines()[0], traceback=traceback.format_exc())
    record["seconds"] = round(time.perf_counter() - t0, 1)
    return record


def _quiet(line: str) -> None:
    """A task's steps log nothing: its record is what the driver reports."""


def summarise(r: dict[str, Any]) -> dict[str, Any]:
    """The figures of a build report a sweep compares, with a status and, when the point is not usable, why."""
    c = r["cycles"]
    out: dict[str, Any] = {"cycles_first_beat": c["latency_first"], "cycles_last_beat": c["latency_last"],
                           "cycles_per_inference": c["per_inference"], "cycle_bound": c["bound"], "fit": r["fit"]["message"],
                           "tools": r["tools"]}
    if "resources" in r:
        out.update({k: r["resources"][k] for k in ("lut", "ff", "dsp", "bram")}, resources_stage=r["resources"]["stage"])
    for k in ("fmax_mhz", "clock_mhz", "timing_met", "latency_us", "latency_last_beat_us", "throughput_per_s"):
        out[k] = r.get(k)
    out["passes"] = r["passes"]
    if r.get("bitstream"):
        out["bitstream"] = r["bitstream"]
    if not r["fit"]["fits"]:
        out.update(status="no fit", reason=r["fit"]["message"])
    elif r["timing_met"] is None:
        out.update(status="estimate", reason=r.get("note"))
    elif not r["timing_met"]:
        out.update(status="timing not met", reason=f"Fmax {r['fmax_mhz']:.2f} MHz < core clock {r['clock_mhz']:g} MHz after "
                   f"{len(r['passes'])} passes")
    else:
        out.update(status="ok", reason=None)
    return out


def _point(obj: dict[str, Any]) -> SweepPoint:
    from faultedge.hdl.design import DesignPoint

    return SweepPoint(DesignPoint.from_json({k: v for k, v in obj.items() if k != "seed"}), obj["seed"])


# ---------------------------------------------------------------------------------------- the driver


def run_sweep(run: RunDir, points: list[SweepPoint], options: SweepOptions, address: str | None = None, cpus: int | None = None,
              progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every point from the cache or a Ray task; RUN/sweep/sweep.json after each, then the table and the plot.
    Returns the sweep (what sweep.json holds)."""
    t0 = time.perf_counter()
    out = run / SWEEP_DIR
    cache = ResultCache(out / "cache")
    tools = tool_versions(sorted({p.design.board for p in points}))
    code = code_hash()
    widths = {p.design.bits: p.design.artifacts for p in points}
    files = {b: _files(run, art.ir, art.vectors if options.sim else None) for b, art in widths.items()}
    ir_sha = {b: _sha(files[b][art.ir]) for b, art in widths.items()}
    key_options = asdict(options)
    keys = [point_key(ir_sha[p.design.bits], p, tools[p.design.board], key_options, code) for p in points]
    records: list[dict[str, Any]] = []
    for p, key in zip(points, keys):
        hit = cache.get(key)
        records.append({"label": p.label, "key": key, **p.to_json(), **(hit or {"status": "pending"}), "cached": hit is not None})
    sweep = {"run": str(run.path), "options": key_options, "tools": tools, "code_sha256": code,
             "ir": {str(b): {"file": art.ir, "sha256": ir_sha[b]} for b, art in widths.items()},
             "ray": None, "interrupted": False, "points": records}

    def save() -> None:
        sweep["finished"] = sum(r["status"] not in ("pending", "cancelled") for r in records)
        sweep["pareto"] = pareto(records)
        sweep["seconds"] = round(time.perf_counter() - t0, 1)
        write_json(out / "sweep.json", sweep)

    todo = [i for i, r in enumerate(records) if r["status"] == "pending"]
    log(f"sweep of {len(points)} points: {len(points) - len(todo)} from the cache, {len(todo)} to run")
    save()
    if todo:
        sweep["ray"] = connect(address, cpus, options.threads)
        log(f"Ray: {sweep['ray']['mode']}, {sweep['ray']['cpus']:g} CPUs, {options.threads} per point")

        def done(n: int, result: dict[str, Any] | Exception) -> str:
            i = todo[n]
            if isinstance(result, Exception):
                result = {"status": "failed", "reason": f"{type(result).__name__}: {result}".splitlines()[0]}
            records[i].update(result)
            cache.put(keys[i], {k: v for k, v in records[i].items() if k != "cached"})
            save()
            return _line(records[i])

        def cancelled(ns: list[int]) -> None:
            for n in ns:
                records[todo[n]]["status"] = "cancelled"
            sweep["interrupted"] = True
            save()
            write_outputs(out, sweep)

        calls = [(points[i].to_json(), Shared(points[i].design.bits), options, str(run.path.resolve())) for i in todo]
        run_tasks(run_point, calls, options.threads, done, cancelled, files, len(points) - len(todo), progress, log)
    save()
    write_outputs(out, sweep)
    return sweep


def _files(run: RunDir, ir: str, vectors: str | None) -> dict[str, bytes]:
    """The run-directory files the points of one width read: the IR, and the golden vectors when they are simulated."""
    return {name: run.require(name).read_bytes() for name in (ir, vectors) if name}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _line(r: dict[str, Any]) -> str:
    """One finished point for the log."""
    if r["status"] == "ok":
        return (f"{r['label']}: {r['lut']:,} LUT, {r['dsp']} DSP, Fmax {r['fmax_mhz']:.1f} MHz, clock {r['clock_mhz']:g} MHz, "
                f"{r['latency_us']:.3f} us ({r['seconds']:.0f} s)")
    return f"{r['label']}: {r['status']}" + (f": {r['reason']}" if r.get("reason") else "") + f" ({r.get('seconds', 0):.0f} s)"
