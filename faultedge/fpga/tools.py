"""Running the open FPGA tools (the YoWASP builds of yosys, nextpnr, ecppack, icepack).

YoWASP tools are WebAssembly: the first run compiles them (about 35 s each) into
XDG_CACHE_HOME (default ~/.cache), later runs reuse that. Each tool runs in the build directory
with relative file names (the WASI sandbox sees the working directory) and its output goes to
a log file beside the artifacts, so a failure points at a readable log.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from faultedge.errors import ToolError, ToolTimeout
from faultedge.tools import find_tool


def tool_path(name: str) -> str:
    """The tool's executable: beside this Python (the venv's bin) first, then PATH."""
    found = find_tool(name)
    if not found:
        raise ToolError(f"{name} not found: install faultedge's pinned dependencies (pip install -e .), which bring it")
    return found


def run_tool(name: str, args: list[str], cwd: Path, log: str, ok_codes: tuple[int, ...] = (0,),
             timeout_s: float | None = None) -> tuple[int, float]:
    """Run `name args` in `cwd`, output to cwd/log; returns (exit code, seconds). Other codes raise; a run longer than
    `timeout_s` is stopped and raises ToolTimeout."""
    exe = tool_path(name)
    t0 = time.perf_counter()
    with open(cwd / log, "w", encoding="utf-8") as out:
        try:
            proc = subprocess.run([exe, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ToolTimeout(f"{name} ran past its budget of {timeout_s / 60:.1f} min and was stopped; log {cwd / log}") from None
    seconds = time.perf_counter() - t0
    if proc.returncode not in ok_codes:
        tail = "".join((cwd / log).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-15:])
        raise ToolError(f"{name} failed (exit {proc.returncode}); log {cwd / log}:\n{tail}")
    return proc.returncode, seconds


def tool_version(name: str) -> str:
    proc = subprocess.run([tool_path(name), "--version"], capture_output=True, text=True)
    return (proc.stdout or proc.stderr).strip().splitlines()[0] if (proc.stdout or proc.stderr).strip() else "unknown"

