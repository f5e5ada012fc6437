"""`faultedge predict`: classify a recording (.mat, .npy, .csv) window by window with ONNX Runtime."""

from __future__ import annotations

import argparse
from pathlib import Path

from faultedge.families import EXPORTED, STUDENT_NAME


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="classify a recording window by window with ONNX Runtime",
        description="Cut a recording into consecutive windows of the run's window length (a tail shorter than a "
        "window is ignored and reported) and classify each with the run's ONNX model. Input: a CWRU-style .mat "
        "file (its X<id>_DE_time variable), a .npy array, or a text/.csv file: a 1-D recording or rows of exactly "
        "one window each.",
    )
    p.add_argument("run", help="run directory made by `faultedge train`")
    p.add_argument("--input", required=True, type=Path, help="FILE.mat, FILE.npy or FILE.csv")
    p.add_argument("--network", choices=EXPORTED, default=STUDENT_NAME,
                   help=f"which trained network classifies (default {STUDENT_NAME}); the window and preprocessing are the run's")
    p.add_argument("--precision", choices=("fp32", "int8"), default="fp32")
    p.add_argument("--graph-fft", action="store_true", help="use the model with the FFT inside the graph (slower)")
    p.add_argument("--provider", action="append", help="ONNX Runtime execution provider, repeatable, in order of "
                   "preference (default: TensorRT, CUDA, CPU, whichever this onnxruntime has)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1; 0 = all cores)")
    p.add_argument("--hop", type=int, help="samples between window starts (default: one window, no overlap)")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text", help="what to print")
    p.add_argument("--out", type=Path, help="also write the results to FILE.json or FILE.csv")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from faultedge.edge import runner
    from faultedge.edge.predictor import predict_file
    from faultedge.errors import DataError
    from faultedge.runs import RunDir, write_text

    kind = args.out.suffix.lower().lstrip(".") if args.out else None
    if kind not in (None, "json", "csv"):
        raise DataError(f"--out {args.out}: use a .json or .csv file name")
    res = predict_file(RunDir(args.run), args.input, args.precision, args.graph_fft, args.provider, args.threads, args.hop,
                       args.network)
    formats = {"text": runner.format_text, "csv": runner.format_csv, "json": lambda r: json.dumps(r, indent=1)}
    print(formats[args.format](res))
    if kind:
        write_text(args.out, formats[kind](res) + "\n")
    return 0
