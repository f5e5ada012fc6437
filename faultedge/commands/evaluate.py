"""`faultedge evaluate`: accuracy and macro F1 of a run's models across SNRs and motor loads."""

from __future__ import annotations

import argparse

from faultedge.commands.common import loads_arg, snr_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a run's models at several SNRs and on loads they never trained on (JSON + plot)",
        description="Score each trained model of a run (teacher, student, lora, merged; quant = the 8-bit golden "
        "model of model.ir.json on the float features; chip = the same golden model from raw integer samples through the IR's "
        "front end, what the FPGA computes) at every test SNR and noise-free, on the run's own test windows and on the test "
        "part of every other load in the data directory (e.g. CWRU 1 hp: 9 fault classes). Writes "
        "robustness.json and robustness.png into the run directory.",
    )
    p.add_argument("run", help="run directory made by `faultedge train`")
    p.add_argument("--models", nargs="+", help="models to score (default: every one the run holds)")
    p.add_argument("--snr", type=snr_arg, nargs="+", help="test SNRs in dB, 'none' = noise-free (default -6 -3 0 3 6 10 none)")
    p.add_argument("--loads", type=loads_arg, help="loads in hp, e.g. 0,1 (default: every load in the data directory)")
    p.add_argument("--data", help="data directory to read (default: the run's own data source)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faultedge.tables import print_table
    from faultedge.eval.plot import plot_f1_vs_snr
    from faultedge.eval.robustness import DEFAULT_SNRS, evaluate_run, snr_label
    from faultedge.runs import RunDir, write_json

    run_dir = RunDir(args.run)
    result = evaluate_run(run_dir, args.models, args.snr or DEFAULT_SNRS, args.loads, args.data, progress=not args.quiet)
    write_json(run_dir / "robustness.json", result)
    plot_f1_vs_snr(result["results"], run_dir / "robustness.png", f"{run_dir.path.name}: {result['recipe']} recipe")
    rows = [
        {"model": r["model"], "load": f"{r['load_hp']} hp" + ("" if r["trained_on_load"] else " (unseen)"), "snr": snr_label(r["snr_db"]),
         "acc": r["accuracy"], "f1": r["f1_macro"], "classes": r["classes"]}
        for r in result["results"]
    ]
    print_table(rows, [("model", "model"), ("load", "load"), ("snr", "SNR"), ("acc", "accuracy %"), ("f1", "macro F1 %"), ("classes", "classes")])
    print(f"wrote {run_dir / 'robustness.json'} and {run_dir / 'robustness.png'}")
    return 0
