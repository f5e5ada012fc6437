"""`faultedge export`: ONNX models of a run's student (fp32, int8 QDQ, with preprocessing front ends), verified."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="ONNX export (fp32 and int8 QDQ) verified against PyTorch/Brevitas on the test set",
        description="Export the merged student (fp32, torch.onnx) and its QAT network (int8 QDQ, Brevitas) to "
        "runs/NAME/onnx/, each also with the preprocessing in the graph: *_magnitude.onnx takes numpy FFT "
        "magnitudes (the fast path), *_window.onnx takes raw windows (ONNX DFT, for runtimes without numpy). "
        "Every model is checked with onnx.checker and run with ONNX Runtime on the whole test set; nothing is "
        "written unless logits match PyTorch/Brevitas within 1e-4 with identical classes. `predict`, `deploy` "
        "and `bench` export on their own when the models are missing or stale.",
    )
    p.add_argument("run", help="run directory made by `faultedge train` (and `faultedge quantize` for int8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.commands.common import print_table
    from faultedge.edge.onnx_export import export
    from faultedge.runs import RunDir

    report = export(RunDir(args.run))
    parity = report["parity"]
    n = parity["windows"]
    rows = [
        {"model": name, "diff": f"{parity[key]['max_abs_logit_diff']:.2e}", "over": parity[key]["windows_over_tol"],
         "agree": f"{parity[key]['argmax_agree']}/{n}"}
        for key, name in report["models"].items()
    ]
    print_table(rows, [("model", "model"), ("diff", "max |logit - PyTorch/Brevitas|"), ("over", "windows > 1e-4"), ("agree", "same class")])
    fronts = ", ".join(f"{k} {v:.1e}" for k, v in parity["features_max_abs_diff"].items())
    print(f"front ends vs the preprocessing spec (max |feature diff|): {fronts}")
    print("the networks alone (model_*.onnx) must match exactly; with a front end, float32 FFT rounding can move an int8 "
          "input across a quantisation step (one LSB) on a few windows")
    print(f"wrote {len(rows)} models and export.json in {args.run}/onnx")
    return 0
