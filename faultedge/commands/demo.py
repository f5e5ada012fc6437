"""`faultedge demo`: a family's whole flow with small settings on the embedded data (faultedge.flow.presets)."""

from __future__ import annotations

import argparse

from faultedge.families import STUDENT_NAME
from faultedge.flow.presets import DEMOS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job end to end on the embedded synthetic data (the student; or MKW-Net with --network)",
        description="The flow steps with small settings, numbered and timed, each printed with the command that repeats it. "
        "Student (default): physics-based synthetic bearing vibration (10 CWRU classes) -> teacher, DKD student, LoRA, merged "
        "student -> 8-bit QAT -> ONNX -> the accelerator's Verilog -> bit-exact Verilator run -> ECP5 bitstream -> edge bundle -> "
        "latency table (PyTorch, ONNX Runtime, the accelerator at its post-route clock). MKW-Net: synthetic six-axis robot "
        "currents -> wavelet images -> a distilled set (trajectory matching) -> MKW-Net trained on it and on a random real "
        "subset -> 8-bit QAT -> the image engine's Verilog -> bit-exact Verilator run.",
    )
    p.add_argument("--network", choices=tuple(DEMOS), default=STUDENT_NAME, help=f"which family's flow (default {STUDENT_NAME})")
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo; replaced if it exists)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    from dataclasses import replace

    from faultedge.flow.presets import demo
    from faultedge.flow.runner import run_steps
    from faultedge.runs import RunDir

    run_dir = RunDir(args.out)
    if run_dir.path.exists():
        shutil.rmtree(run_dir.path)
    cfg, steps = demo(args.network, args.seed)
    run_steps(run_dir, replace(cfg, progress=not args.quiet), steps)
    return 0
