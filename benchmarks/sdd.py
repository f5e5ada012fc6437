"""Teacher-free dynamic distillation (seed 004) against the DKD chain, on CWRU, over seeds.

Per seed, four trainings on the same data (the robust recipe, 0 hp, validated at -6 dB), each timed
by the wall clock of its whole call (data preparation included):

    dkd            `faultedge train`'s chain: teacher -> DKD student -> LoRA -> merged student (scored)
    axmlp_none     the axial-shift MLP on the labels alone
    axmlp_dynamic  the axial-shift MLP with the dynamic teacher, one stage
    cnn_dynamic    the 2,830-parameter CNN student with the dynamic teacher, one stage

Every model is scored with faultedge.eval.robustness on the 0 hp test windows at -6 dB and noise-free
(macro F1) and on the 1 hp test part (accuracy, 9 classes, never trained on). With --quantize each
row's float model is also QAT-fine-tuned to 8 bits exactly as `faultedge quantize` does (its family's
QAT, the default QATConfig; the CNN of cnn_dynamic through the student's) and its integer golden model
is scored the same way (row "ROW_8bit"). Writes mean ± std per row as JSON and the docs' tables (.md),
plus the issue's targets. A row whose run directory holds its result (and its IR) is reused, so an
interrupted benchmark resumes. Usage:

    python benchmarks/sdd.py --data ../shared/data/cwru --seeds 0 1 2 --threads 1 --quantize
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faultedge.data.dataset import DataSpec
from faultedge.data.features import Preprocessing
from faultedge.eval.robustness import evaluation_sets, load_classifier, score, snr_label
from faultedge.ir.provenance import versions
from faultedge.runs import RunDir, read_json, write_json
from faultedge.train.loop import predict_logits
from faultedge.train.pipeline import TrainConfig, run_stages
from faultedge.train.sdd import SDDConfig, SDDSpec, load_student, train_sdd
from robustness import summarise  # benchmarks/robustness.py: mean ± std over seeds per (model, load, SNR)

ROWS = {"dkd": "DKD student, pre-trained teacher (merged)", "axmlp_none": "axial-shift MLP alone",
        "axmlp_dynamic": "axial-shift MLP + dynamic distillation", "cnn_dynamic": "CNN student + dynamic distillation"}
SNRS = (-6.0, None)
RESULT = "bench_row.json"
BENCH_IR = "bench_8bit.ir.json"  # the row's 8-bit IR (--quantize)
FAMILY = {"dkd": "student", "axmlp_none": "axmlp", "axmlp_dynamic": "axmlp", "cnn_dynamic": "student"}


def train_row(run: RunDir, row: str, cfg: TrainConfig, threads: int) -> dict[str, Any]:
    """Train one row into its run directory (or reuse it); its wall seconds, figures and metrics entry."""
    if (run / RESULT).exists():
        return {**read_json(run / RESULT), "epochs_run": epochs_run(run), "reused": True}
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if row == "dkd":
        metrics = run_stages(run, cfg, progress=True)
        entry = metrics["merge"]
        stage_s = {s: metrics[s]["train_seconds"] for s in ("teacher", "student", "lora")}
    else:
        student, distill = row.split("_")
        entry = next(iter(train_sdd(run, SDDSpec(cfg, SDDConfig(student=student, distill=distill), threads)).values()))
        stage_s = {"sdd": entry["train_seconds"]}
    result = {"row": row, "wall_s": round(time.perf_counter() - t0, 1), "stage_s": stage_s, "params": entry["params"], "macs": entry["macs"],
              "load_avg_start": load0, "load_avg_end": os.getloadavg()[0]}
    write_json(run / RESULT, result)
    return {**result, "epochs_run": epochs_run(run), "reused": False}


def epochs_run(run: RunDir) -> int:
    """Training epochs of every stage the run trained (the DKD chain: teacher + student + LoRA)."""
    return sum(int(e["epochs_run"]) for e in run.read_metrics().values() if "epochs_run" in e)


def classifier(run: RunDir, row: str):
    """The row's float model as the evaluation's (windows, features) -> classes."""
    if row == "dkd":
        return load_classifier(run, "merged")
    model, _ = load_student(run)
    return lambda w, f: predict_logits(model, torch.from_numpy(f)).argmax(1).numpy()


def float_model(run: RunDir, row: str) -> torch.nn.Module:
    if row == "dkd":
        from faultedge.families import family

        return family("student").float_model(run)[0]
    return load_student(run)[0]


def quantized(run: RunDir, row: str):
    """The row's 8-bit IR: QAT of its float model as `faultedge quantize` runs it (reused when the run holds it)."""
    from faultedge.families import family
    from faultedge.ir import IRModel
    from faultedge.quant.qat import QATConfig
    from faultedge.quant.stage import quantize_network

    if (run / BENCH_IR).exists():
        return IRModel.load(run / BENCH_IR)
    fam = family(FAMILY[row])
    q = quantize_network(fam, float_model(run, row), fam.quant_data(run, progress=False), QATConfig(), {"row": row}, progress=True)
    q.ir.save(run / BENCH_IR)  # quantize_network checked golden == Brevitas on the test windows (IRError otherwise)
    return q.ir


def cell(summary: list[dict], row: str, load: int, snr: float | None, key: str) -> dict:
    return next(r[key] for r in summary if r["model"] == row and r["load_hp"] == load and r["snr_db"] == snr)


def targets(summary: list[dict], seconds: list[dict]) -> list[dict]:
    """The issue's targets: dynamic distillation (MLP) within 0.3 pp of the merged DKD student at -6 dB, in at most half
    the teacher + DKD time (both as stage fit seconds and as whole-call wall clock against the chain)."""
    f1 = {row: cell(summary, row, 0, -6.0, "f1_macro")["mean"] for row in ("dkd", "axmlp_dynamic")}
    fit = np.mean([s["axmlp_dynamic"]["stage_s"]["sdd"] / (s["dkd"]["stage_s"]["teacher"] + s["dkd"]["stage_s"]["student"]) for s in seconds])
    wall = np.mean([s["axmlp_dynamic"]["wall_s"] / s["dkd"]["wall_s"] for s in seconds])
    gap = f1["axmlp_dynamic"] - f1["dkd"]
    return [{"target": "MLP + dynamic distillation vs merged DKD student, 0 hp -6 dB macro F1 (pp), at least -0.3", "value": gap,
             "threshold": -0.3, "met": bool(gap >= -0.3)},
            {"target": "its fit seconds / (teacher + DKD student fit seconds), at most 0.5", "value": float(fit), "threshold": 0.5,
             "met": bool(fit <= 0.5)},
            {"target": "its wall clock / the whole DKD chain's (teacher, DKD, LoRA, merge, data), at most 0.5", "value": float(wall),
             "threshold": 0.5, "met": bool(wall <= 0.5)}]


def markdown(report: dict) -> str:
    summary, seconds = report["summary"], report["seconds"]
    n = len(report["seeds"])
    lines = [f"| model ({n} seed{'s' if n > 1 else ''}, mean ± std) | params | MACs | 0 hp F1 % -6 dB | 0 hp F1 % clean "
             "| 1 hp acc % -6 dB | 1 hp acc % clean | training wall s |", "|---|---|---|---|---|---|---|---|"]
    titles = {**ROWS, **{f"{r}_8bit": f"{t}, 8 bit" for r, t in ROWS.items()}} if report.get("quantize") else ROWS
    for name, title in titles.items():
        row = name.removesuffix("_8bit")
        figs = [cell(summary, name, 0, s, "f1_macro") for s in SNRS] + [cell(summary, name, 1, s, "accuracy") for s in SNRS]
        walls = [s[row]["wall_s"] for s in seconds]
        first = seconds[0][row]
        lines.append(f"| {title} | {first['params']:,} | {first['macs']:,} | " + " | ".join(f"{f['mean']:.2f} ± {f['std']:.2f}" for f in figs)
                     + f" | {np.mean(walls):.0f} ± {np.std(walls):.0f} |")
    if report.get("quantize"):
        lines += ["", "| model | 8-bit F1 drop, 0 hp -6 dB (pp) | 0 hp clean (pp) |", "|---|---|---|"]
        for row, title in ROWS.items():
            drops = [cell(summary, row, 0, s, "f1_macro")["mean"] - cell(summary, f"{row}_8bit", 0, s, "f1_macro")["mean"] for s in SNRS]
            lines.append(f"| {title} | {drops[0]:+.2f} | {drops[1]:+.2f} |")
    lines += ["", "| target | measured | |", "|---|---|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['value']:.2f} | {'met' if t['met'] else 'missed'} |")
    lines += ["", "| seed | " + " | ".join(ROWS) + " | DKD stages teacher / student / LoRA s |", "|---" * (len(ROWS) + 2) + "|"]
    for s in seconds:
        st = s["dkd"]["stage_s"]
        lines.append(f"| {s['seed']} | " + " | ".join(f"{s[r]['wall_s']:.0f} ({s[r]['epochs_run']} ep)" for r in ROWS)
                     + f" | {st['teacher']:.0f} / {st['student']:.0f} / {st['lora']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/cwru")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rows", nargs="+", choices=tuple(ROWS), default=list(ROWS), help="rows to train (all by default; the tables need all)")
    ap.add_argument("--runs", default="runs/bench_sdd", help="parent of the per-seed, per-row run directories")
    ap.add_argument("--out", default="benchmarks/results/sdd.json", help="JSON result; the tables go beside it (.md)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: the other core prepares the next epoch)")
    ap.add_argument("--quantize", action="store_true", help="also QAT every row to 8 bits and score its integer golden model")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    per_seed, seconds = [], []
    for seed in args.seeds:
        cfg = TrainConfig(data=DataSpec(source=args.data, snr_db=-6.0, seed=seed), seed=seed)
        sets = evaluation_sets(cfg.data, (0, 1))
        records, times = [], {"seed": seed}
        for row in args.rows:
            run = RunDir(Path(args.runs) / f"seed{seed}" / row)
            times[row] = train_row(run, row, cfg, args.threads)
            prep = Preprocessing.from_dict(read_json(run / "preprocessing.json"))
            models = {row: classifier(run, row)}
            if args.quantize:
                from faultedge.ir import golden

                ir = quantized(run, row)
                models[f"{row}_8bit"] = lambda w, f, ir=ir: golden.predict(ir, f).classes
            records += score(sets, prep, models, SNRS)
            got = {f"{r['load_hp']} hp {snr_label(r['snr_db'])}": round(float(r["f1_macro" if r["load_hp"] == 0 else "accuracy"]), 2)
                   for r in records if r["model"] == row}
            print(f"seed {seed} {row}: {got}, {times[row]['wall_s']:.0f} s")
        per_seed.append({"results": records})
        seconds.append(times)

    summary = summarise(per_seed)
    report = {"protocol": "CWRU 12 kHz drive end; trained on 0 hp with the robust recipe (10 classes, 500 train / 250 val windows per "
              "class, validation at -6 dB); 0 hp time-split test part (250 windows per class) at -6 dB and noise-free; 1 hp test "
              "part (9 fault classes, never trained on)",
              "data": args.data, "seeds": args.seeds, "rows": ROWS, "quantize": args.quantize, "summary": summary, "seconds": seconds,
              "versions": versions()}
    if set(args.rows) == set(ROWS):
        report["targets"] = targets(summary, seconds)
    out = Path(args.out)
    write_json(out, report)
    if "targets" in report:
        out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
        for t in report["targets"]:
            print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['value']:.2f}")
    print(f"wrote {out}" + (f" and {out.with_suffix('.md')}" if "targets" in report else ""))


if __name__ == "__main__":
    main()
