"""Robustness benchmark: train a recipe over seeds, score every stage across SNRs and loads.

Per seed: `faultedge train` (CWRU 0 hp), optionally `faultedge quantize` (8-bit merged student),
then `faultedge evaluate` at -6, -3, 0, 3, 6, 10 dB and noise-free on the 0 hp test set and on
every other load of the data directory (1 hp: 9 fault classes, never trained on). Writes mean ±
std per model, load and SNR as JSON, the docs' tables (.md), a plot of F1 against SNR, and the issue's targets (merged
student) as met / missed with the margin. A seed whose run directory already holds every stage's
output is evaluated without retraining, so an interrupted benchmark resumes. With --ray the seeds
run side by side as Ray tasks (faultedge.sweep.tasks, the runner of `faultedge sweep`: Ray embedded
here, or --address joins a cluster); the figures are the same, the seconds per stage are those of
seeds sharing the machine. Usage:

    python benchmarks/robustness.py --data ../shared/data/cwru --seeds 0 1 2 --quantize
    python benchmarks/robustness.py --data ../shared/data/cwru --seeds 0 1 2 --quantize --ray --threads 1
    python benchmarks/robustness.py --recipe reference --seeds 0 --runs runs/bench_robust_ref
    python benchmarks/robustness.py --speed 0.02 --gain-db 3 --runs runs/bench_speed2 --out benchmarks/results/robustness_speed2.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from faultedge.commands.train import add_recipe_args, augment_from_args, schedule_from_args
from faultedge.data.dataset import DataSpec
from faultedge.eval.plot import plot_f1_vs_snr
from faultedge.eval.robustness import DEFAULT_SNRS, available_models, evaluate_run, snr_label
from faultedge.runs import RunDir, read_json, write_json
from faultedge.ir.provenance import versions
from faultedge.train.pipeline import TrainConfig, prepare_run, run_stages

# Measured with the references' recipe on the leak-free protocol (issue 6), for the README table.
REFERENCE_FIGURES = {
    "trained and tested at -6 dB, 0 hp: teacher / DKD student macro F1": "98.7 % / 98.7 %",
    "-6 dB models tested noise-free": "51-55 % accuracy",
    "noise-free models tested at -6 dB": "11-17 % accuracy",
    "-6 dB models on 1 hp (9 classes)": "78-82 % accuracy",
}


def targets(summary: list[dict], model: str = "merged") -> list[dict]:
    """The issue's targets for one model (mean over seeds), each with its margin."""

    def mean(load: int, snr: float | None, key: str) -> float:
        return next(r[key]["mean"] for r in summary if r["model"] == model and r["load_hp"] == load and r["snr_db"] == snr)

    checks = [("0 hp macro F1 at every SNR -6 dB..clean (min)", min(mean(0, s, "f1_macro") for s in DEFAULT_SNRS), 97.0),
              ("0 hp macro F1 noise-free", mean(0, None, "f1_macro"), 99.5),
              ("0 hp macro F1 at -6 dB (the references' condition)", mean(0, -6.0, "f1_macro"), 98.9)]
    if any(r["load_hp"] == 1 for r in summary):
        checks += [("1 hp accuracy noise-free", mean(1, None, "accuracy"), 95.0), ("1 hp accuracy at -6 dB", mean(1, -6.0, "accuracy"), 90.0)]
    out = [{"target": name, "value": v, "threshold": t, "met": v >= t, "margin_pp": v - t} for name, v, t in checks]
    if any(r["load_hp"] == 1 for r in summary):  # at most: a margin below 0 is met
        std = max(r["accuracy"]["std"] for r in summary if r["model"] == model and r["load_hp"] == 1 and r["snr_db"] in (None, -6.0))
        out.append({"target": "1 hp accuracy std across seeds, noise-free and -6 dB (max), at most", "value": std, "threshold": 1.5,
                    "met": std <= 1.5, "margin_pp": 1.5 - std})
    if any(r["model"] == "quant" for r in summary):
        gap = max(abs(r[key]["mean"] - next(q[key]["mean"] for q in summary if q["model"] == "quant" and q["load_hp"] == r["load_hp"]
                                             and q["snr_db"] == r["snr_db"]))
                  for r in summary if r["model"] == model for key in (("f1_macro",) if r["load_hp"] == 0 else ("accuracy",)))
        out.append({"target": "8-bit vs float merged student, every cell above (max absolute difference), at most", "value": gap, "threshold": 0.3,
                    "met": gap <= 0.3, "margin_pp": 0.3 - gap})
    return out


MODEL_NAMES = {"teacher": "teacher", "student": "DKD student", "merged": "merged student", "quant": "quant (8 bit)",
               "chip": "chip (8 bit, integer front end)"}


def markdown(report: dict) -> str:
    """The docs' tables: macro F1 on the trained load, accuracy on the others, the targets, the seconds per stage."""
    summary, snrs = report["summary"], [*DEFAULT_SNRS]
    models = [m for m in MODEL_NAMES if any(r["model"] == m for r in summary)]
    lines = []
    for load in sorted({r["load_hp"] for r in summary}):
        trained = any(r["trained_on_load"] for r in summary if r["load_hp"] == load)
        key, what = ("f1_macro", "macro F1 %") if trained else ("accuracy", "accuracy %")
        classes = next(r["classes"] for r in summary if r["load_hp"] == load)
        head = f"{what}, {load} hp ({'trained on' if trained else f'never seen, {classes} classes'})"
        lines += [f"| {head} | " + " | ".join(snr_label(s) for s in snrs) + " |", "|---" * (len(snrs) + 1) + "|"]
        for m in models:
            cells = {r["snr_db"]: r[key] for r in summary if r["model"] == m and r["load_hp"] == load}
            lines.append(f"| {MODEL_NAMES[m]} | " + " | ".join(f"{cells[s]['mean']:.2f} ± {cells[s]['std']:.2f}" for s in snrs) + " |")
        lines.append("")
    lines += ["| target (merged student, mean of seeds) | wanted | measured | |", "|---|---|---|---|"]
    for t in report["targets_merged"]:
        at_most = t["target"].endswith("at most")
        wanted = f"≤ {t['threshold']:g} pp" if at_most else f"≥ {t['threshold']:g} %"
        verdict = "met" if t["met"] else f"missed by {abs(t['margin_pp']):.2f} pp"
        lines.append(f"| {t['target'].removesuffix(', at most')} | {wanted} | {t['value']:.2f} | {verdict} |")
    lines += ["", "| seed | teacher s (epochs) | DKD student s (epochs) | LoRA s (epochs) | train wall s | with QAT and evaluation s |",
              "|---|---|---|---|---|---|"]
    for s in report["seconds"]:
        st, ep = s["stage_s"], s["epochs"]
        lines.append(f"| {s['seed']} | " + " | ".join(f"{st[k]:.0f} ({ep[k]})" for k in ("teacher", "student", "lora"))
                     + f" | {'(an existing run)' if s.get('reused', not s['train_s']) else round(s['train_s'])} | {s['total_s']:.0f} |")
    return "\n".join(lines) + "\n"


def frontend_targets(summary: list[dict], budget_pp: float = 0.3) -> list[dict]:
    """The integer front end from raw samples (`chip`) against the float merged student: |difference| <= budget."""

    def mean(model: str, load: int, snr: float | None, key: str) -> float:
        return next(r[key]["mean"] for r in summary if r["model"] == model and r["load_hp"] == load and r["snr_db"] == snr)

    cells = [(0, -6.0, "f1_macro"), (0, None, "f1_macro")] + ([(1, None, "accuracy"), (1, -6.0, "accuracy")] if any(r["load_hp"] == 1 for r in summary) else [])
    out = []
    for load, snr, key in cells:
        chip, merged = mean("chip", load, snr, key), mean("merged", load, snr, key)
        out.append({"target": f"chip vs float merged student, {load} hp, {snr_label(snr)}, {key}", "chip": chip, "merged": merged,
                    "difference_pp": chip - merged, "budget_pp": budget_pp, "met": abs(chip - merged) <= budget_pp})
    return out


def summarise(per_seed: list[dict]) -> list[dict]:
    """Mean and std over seeds of every (model, load, SNR) cell."""
    cells: dict[tuple, list[dict]] = {}
    for result in per_seed:
        for r in result["results"]:
            cells.setdefault((r["model"], r["load_hp"], r["snr_db"]), []).append(r)
    out = []
    for (model, load, snr), rows in cells.items():
        entry = {"model": model, "load_hp": load, "snr_db": snr, "trained_on_load": rows[0]["trained_on_load"], "classes": rows[0]["classes"]}
        for key in ("accuracy", "f1_macro"):
            vals = [float(r[key]) for r in rows]
            entry[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "per_seed": vals}
        out.append(entry)
    return out


def seed_job(seed: int, args: argparse.Namespace, progress: bool, cwd: str) -> dict:
    """One seed in the working directory `cwd` (a Ray worker's may differ): train, or reuse a finished run; optionally
    quantise; evaluate. Returns the evaluation, the seconds per stage and a line for the log."""
    os.chdir(cwd)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    run = RunDir(Path(args.runs) / f"seed{seed}")
    t0 = time.perf_counter()
    cfg = schedule_from_args(TrainConfig(data=DataSpec(source=args.data, snr_db=-6.0, seed=seed), seed=seed, augment=augment_from_args(args)), args)
    reused = (run / "student_merged.pt").exists()
    if reused:
        prepare_run(run, cfg)  # a finished run is reused only if it was trained with this very config
    else:
        run_stages(run, cfg, progress=progress)
    train_s = time.perf_counter() - t0
    if args.quantize and not (run / "model.ir.json").exists():
        from faultedge.quant.qat import QATConfig
        from faultedge.families import family
        from faultedge.quant.stage import quantize

        quantize(run, family("student"), QATConfig(), progress=progress)
    # chip: the IR's integer front end from raw samples, which the fft+envelope features do not have yet
    models = ["teacher", "student", "merged"] + ([m for m in ("quant", "chip") if m in available_models(run)] if args.quantize else [])
    result = evaluate_run(run, models, DEFAULT_SNRS, progress=progress)
    write_json(run / "robustness.json", result)
    metrics = read_json(run / "metrics.json")
    stage_s = {stage: metrics[stage].get("train_seconds") for stage in ("teacher", "student", "lora")}
    epochs = {stage: metrics[stage].get("epochs_run") for stage in ("teacher", "student", "lora")}
    seconds = {"seed": seed, "reused": reused, "train_s": round(train_s, 1), "total_s": round(time.perf_counter() - t0, 1), "stage_s": stage_s, "epochs": epochs}
    merged0 = [r for r in result["results"] if r["model"] == "merged" and r["load_hp"] == 0]
    line = (f"seed {seed}: merged 0 hp F1 " + " ".join(f"{snr_label(r['snr_db'])} {r['f1_macro']:.2f}" for r in merged0)
            + f" ({seconds['total_s']:.0f} s)")
    return {"result": result, "seconds": seconds, "line": line}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/cwru")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_recipe_args(ap)
    ap.add_argument("--quantize", action="store_true", help="also quantise the merged student (8 bit) and score the golden model")
    ap.add_argument("--runs", default="runs/bench_robust", help="parent of the per-seed run directories")
    ap.add_argument("--out", default="benchmarks/results/robustness.json", help="JSON result; the plot goes beside it (.png)")
    ap.add_argument("--threads", type=int, help="torch threads (1 is fastest on a busy machine); with --ray, also the CPUs per seed")
    ap.add_argument("--ray", action="store_true", help="run the seeds as Ray tasks, side by side (the figures are the same)")
    ap.add_argument("--address", help="with --ray: join this Ray cluster (`ray start --head`) instead of starting Ray here")
    args = ap.parse_args()

    jobs = [(seed, args, not args.ray, os.getcwd()) for seed in args.seeds]
    outcomes: dict[int, dict] = {}
    if args.ray:  # one Ray task per seed, each with --threads CPUs (faultedge.sweep.tasks, as `faultedge sweep` runs points)
        from faultedge.sweep.tasks import connect, run_tasks

        cpus = args.threads or 1
        info = connect(args.address, None, cpus)
        print(f"Ray: {info['mode']}, {info['cpus']:g} CPUs, {cpus} per seed")

        def done(i: int, outcome: dict | Exception) -> str:
            if isinstance(outcome, Exception):
                raise outcome
            outcomes[i] = outcome
            return outcome["line"]

        run_tasks(seed_job, jobs, cpus, done, lambda pending: None, progress=True)
    else:
        for i, job in enumerate(jobs):
            outcomes[i] = seed_job(*job)
            print(outcomes[i]["line"])
    per_seed = [outcomes[i]["result"] for i in range(len(jobs))]
    seconds = [outcomes[i]["seconds"] for i in range(len(jobs))]

    summary = summarise(per_seed)
    out = Path(args.out)
    report = {
        "protocol": "CWRU 12 kHz drive end; trained on 0 hp (10 classes, 500 train / 250 val windows per class, validation at "
        "-6 dB); tested on the 0 hp time-split test part (250 windows per class) and on the test part of every other load "
        "(1 hp: 9 fault classes, never trained on); AWGN per window at each SNR, same draws scaled",
        "recipe": args.recipe,
        "augment": per_seed[0]["augment"],
        "data": args.data,
        "seeds": args.seeds,
        "summary": summary,
        "targets_merged": targets(summary),
        "targets_frontend": frontend_targets(summary) if any(r["model"] == "chip" for r in summary) else [],
        "reference_recipe_figures": REFERENCE_FIGURES,
        "seconds": seconds,
        "versions": versions(),
    }
    write_json(out, report)
    out.with_suffix(".md").write_text(markdown(report), encoding="utf-8")
    records = [{**r, "f1_macro": r["f1_macro"]["mean"], "f1_std": r["f1_macro"]["std"]} for r in summary]
    plot_f1_vs_snr(records, out.with_suffix(".png"), f"{args.recipe} recipe, mean ± std over seeds {args.seeds}", std_key="f1_std")
    for t in report["targets_merged"]:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['value']:.2f} (target {t['threshold']}, {t['margin_pp']:+.2f} pp)")
    for t in report["targets_frontend"]:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}: chip {t['chip']:.2f}, float {t['merged']:.2f} ({t['difference_pp']:+.2f} pp, budget ±{t['budget_pp']})")
    print(json.dumps(seconds))
    print(f"wrote {out}, its tables {out.with_suffix('.md')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
