"""`faultedge quantize`: QAT -> integer IR -> golden vectors, verified against the quantised network.

Student, teacher and MKW-Net (`--network mkw`) all use Brevitas; MKW-Net adds its exactly rounded
attention division and per-image kernels (faultedge.quant.mkw_qat says why)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="quantisation-aware training, integer IR (model.ir.json) and golden vectors (student, teacher, MKW-Net)",
        description="Fine-tune the merged student (or the teacher, BatchNorm folded) with Brevitas fixed-point "
        "quantisation (power-of-two scales, 32-bit biases), export the integer IR and golden vectors, and check that "
        "the integer golden model reproduces Brevitas' logits exactly on the whole test set. Writes qat*.pt, "
        "model*.ir.json, golden_vectors*.npz and a metrics.json entry; file names carry _teacher and _16bit suffixes "
        "for the non-default network and bit width. --network mkw quantises the MKW-Net of a run made by `faultedge "
        "distill-data` + `faultedge train-mkw` (qat_mkw.pt, model_mkw.ir.json, golden_vectors_mkw.npz).",
    )
    p.add_argument("run", help="run directory made by `faultedge train` (or `faultedge distill-data` for --network mkw)")
    p.add_argument("--network", choices=("student", "teacher", "mkw"), default="student",
                   help="which trained network (default student); mkw: MKW-Net of a `faultedge train-mkw` run, Brevitas QAT "
                   "plus the attention's exactly rounded division and per-image kernels, up to 8 bits")
    p.add_argument("--bits", type=int, default=8, choices=(4, 6, 8, 12, 16), help="weight/activation bit width (default 8)")
    p.add_argument("--epochs", type=int, help="maximum QAT epochs, early stopping on validation (default 12; mkw 8)")
    p.add_argument("--lr", type=float, help="QAT learning rate (default 2e-4; mkw 5e-4)")
    p.add_argument("--train-on", choices=("real", "distilled", "random"), default="real",
                   help="mkw only: which trained MKW-Net (mkw_<set>.pt) to quantise (default real)")
    p.add_argument("--threads", type=int, help="torch threads (1 is fastest on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _quantize(args: argparse.Namespace) -> dict:
    from dataclasses import replace

    from faultedge.runs import RunDir

    given = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    if args.network == "mkw":
        from faultedge.quant.mkw_qat import MKWQATConfig
        from faultedge.quant.mkw_stage import quantize_mkw

        return quantize_mkw(RunDir(args.run), replace(MKWQATConfig(bits=args.bits), **given), args.train_on, progress=not args.quiet)
    from faultedge.quant.qat import QATConfig
    from faultedge.quant.stage import quantize

    return quantize(RunDir(args.run), args.network, replace(QATConfig(bits=args.bits), **given), progress=not args.quiet)


def run(args: argparse.Namespace) -> int:
    from faultedge.commands.common import print_table

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    entry = _quantize(args)
    print_table(
        [
            {"model": f"{args.network} float", "acc": entry["float_test"]["accuracy"], "f1": entry["float_test"]["f1_macro"]},
            {"model": f"{args.network} {args.bits}-bit (golden)", "acc": entry["test"]["accuracy"], "f1": entry["test"]["f1_macro"]},
        ],
        [("model", "model"), ("acc", "test acc %"), ("f1", "macro F1 %")],
    )
    reference, check = ("Brevitas QAT", entry["golden_vs_qat"]) if args.network == "mkw" else ("Brevitas", entry["golden_vs_brevitas"])
    print(f"F1 drop {entry['f1_drop_pp']:+.2f} pp; golden == {reference} (float64) on {check['samples']} test samples: "
          f"{check['mismatched_logits']} mismatched logits")
    if entry.get("float_temperature", 0.0) > 0:
        print(f"note: the float MKW-Net was saved at temperature {entry['float_temperature']:.2f}; the fixed-point one runs at 0 (fully dynamic)")
    print(f"wrote {', '.join(entry['artifacts'].values())} in {args.run}")
    return 0
