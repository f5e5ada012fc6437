"""`faultedge export`: ONNX models of a run's network (fp32, int8 QDQ, with preprocessing front ends), verified."""

from __future__ import annotations

import argparse

from faultedge.families import EXPORTED, STUDENT_NAME


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="ONNX export (fp32 and int8 QDQ) verified against PyTorch/Brevitas on the test set",
        description="Export a run's trained network (fp32, torch.onnx) and its 8-bit QAT network (int8 QDQ, Brevitas) to "
        "runs/NAME/onnx/, each also with the preprocessing in the graph: *_magnitude.onnx takes numpy FFT "
        "magnitudes (the fast path), *_window.onnx takes raw windows (ONNX DFT, for runtimes without numpy). "
        "Every model is checked with onnx.checker and run with ONNX Runtime on the whole test set; nothing is "
        "written unless logits match PyTorch/Brevitas within 1e-4 with identical classes. Files of a network other "
        "than the student carry its name (model_fp32_axmlp.onnx, export_axmlp.json). `predict`, `deploy` and "
        "`bench` export on their own when the models are missing or stale.",
    )
    p.add_argument("run", help="run directory made by `faultedge train` (and `faultedge quantize` for int8)")
    p.add_argument("--network", choices=EXPORTED, default=STUDENT_NAME,
                   help=f"which trained network (default {STUDENT_NAME})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.runs import RunDir

    run_step(RunDir(args.run), FlowConfig(network=args.network), "export")
    return 0
