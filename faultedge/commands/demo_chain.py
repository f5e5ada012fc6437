"""The student demo's chain after training: quantise -> ONNX -> Verilog -> bit-exact simulation ->
ECP5 bitstream -> one latency table (PyTorch, ONNX Runtime, the accelerator at its clock).

Each step is a stage command run on the same run directory, numbered and timed, so a user sees
where the minutes go and can rerun any step by hand with the command it prints.
"""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

from faultedge.errors import FaultedgeError
from faultedge.runs import RunDir

# Small settings so the whole demo stays within a few minutes on 2 cores.
QAT_EPOCHS = 3
DEMO_LANES = 8  # a small engine: the full ECP5 flow takes about a minute
DEMO_BEAT = 8
DEMO_TARGET_MHZ = 75.0  # first place-and-route pass; the PLL follows the achieved Fmax if it is lower
SIM_VECTORS = 64  # golden test windows; plus random and back-pressure vectors
SIM_RANDOM = 16
BENCH_REPEATS = 1000
BOARD = "ulx3s-85f"


class Steps:
    """Numbered, timed steps: `with steps("title", "command"):`."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.t0 = total, 0, time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, title: str, command: str | None = None) -> Iterator[None]:
        self.n += 1
        print(f"[{self.n}/{self.total}] {title}" + (f"   ($ {command})" if command else ""), flush=True)
        t = time.perf_counter()
        yield
        print(f"      done in {time.perf_counter() - t:.0f} s", flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


def _cli(argv: list[str]) -> None:
    """Run a stage command as a user would; a failing stage stops the demo with its message."""
    from faultedge.cli import main

    code = main(argv)
    if code:
        raise FaultedgeError(f"demo step `faultedge {' '.join(argv)}` failed (exit {code})")


def hardware_chain(run: RunDir, steps: Steps, progress: bool = True) -> None:
    """Every step after training; prints the latency table at the end."""
    from faultedge.commands.common import print_table
    from faultedge.commands.fpga import print_report
    from faultedge.edge.bench import TABLE, BenchConfig, bench, table_rows
    from faultedge.edge.onnx_export import export
    from faultedge.fpga.build import BuildOptions, build
    from faultedge.quant.qat import QATConfig
    from faultedge.quant.stage import quantize

    r = str(run.path)
    with steps("8-bit quantisation-aware training -> integer IR, checked against Brevitas", f"faultedge quantize {r} --epochs {QAT_EPOCHS}"):
        entry = quantize(run, "student", QATConfig(epochs=QAT_EPOCHS), progress=progress)
        check = entry["golden_vs_brevitas"]
        print(f"      test accuracy {entry['test']['accuracy']:.1f} % (8 bit); golden == Brevitas on {check['samples']} samples: "
              f"{check['mismatched_logits']} mismatched logits")
    with steps("ONNX export (fp32, int8 QDQ), verified against PyTorch/Brevitas", f"faultedge export {r}"):
        export(run)
    with steps(f"accelerator Verilog, {DEMO_LANES} MAC lanes", f"faultedge hdl {r} --lanes {DEMO_LANES} --beat {DEMO_BEAT}"):
        _cli(["hdl", r, "--lanes", str(DEMO_LANES), "--beat", str(DEMO_BEAT)])
    sim = ["--limit", str(SIM_VECTORS), "--random", str(SIM_RANDOM), "--backpressure", str(SIM_RANDOM)]
    with steps(f"bit-exact simulation (Verilator) against the golden model: {SIM_VECTORS} test windows, "
               f"{SIM_RANDOM} random, {SIM_RANDOM} under back-pressure", f"faultedge sim {r} {' '.join(sim)}"):
        _cli(["sim", r, *sim] + (["--quiet"] if not progress else []))
    with steps(f"ECP5 bitstream for {BOARD}: yosys -> nextpnr -> ecppack, core clock from the achieved Fmax",
               f"faultedge fpga build {r} --board {BOARD} --lanes {DEMO_LANES} --beat {DEMO_BEAT}"):
        report = build(run, BOARD, BuildOptions(lanes=DEMO_LANES, beat=DEMO_BEAT, target_mhz=DEMO_TARGET_MHZ))
        print_report(report)
    with steps("latency, batch 1: PyTorch eager, ONNX Runtime fp32/int8, the accelerator", f"faultedge bench {r}"):
        result = bench(run, BenchConfig(repeats=BENCH_REPEATS, rounds=2, batch_repeats=10))
    rows = [row for row in table_rows(result) if row["threads"] in (1, "-") and row["scope"] == "model only"]
    print("\nlatency per window, features in (model only), one CPU thread; the accelerator at its post-route clock:")
    print_table(rows, TABLE)
