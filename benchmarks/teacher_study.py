"""Does a better teacher make a better 2,830-parameter student? Teacher networks under the default recipe (issue 19).

Per teacher network and seed: the robust recipe's teacher stage with that network, then the DKD student
(faultedge.train.pipeline's objective and stage length) from it; both are scored on the 0 hp test set (macro F1)
and on 1 hp (accuracy, never trained on) at -6 dB and noise-free, with the benchmark test sets of
`faultedge evaluate`. Teachers: `cnn` (seed 001's 69,626-parameter CNN, the default) or
`axmlp:DIM:HIDDEN:DEPTH:HEAD`, the axial-shift MLP of seed 004 at that width. The (teacher, seed) pairs run
as Ray tasks side by side (faultedge.sweep.tasks). Writes JSON and a Markdown table. Usage:

    python benchmarks/teacher_study.py --data ../shared/data/cwru --seeds 0 1 2 --teachers cnn axmlp:16:32:2:4 axmlp:32:64:3:8
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from faultedge.data.features import SCALES
from faultedge.errors import FaultedgeError
from faultedge.ir.provenance import versions
from faultedge.runs import write_json

CELLS = (("0 hp -6 dB F1", 0, -6.0, "f1_macro"), ("0 hp clean F1", 0, None, "f1_macro"),
         ("1 hp -6 dB acc", 1, -6.0, "accuracy"), ("1 hp clean acc", 1, None, "accuracy"))


def build_teacher(name: str, n_features: int, n_classes: int):
    """The teacher network a name stands for; a malformed name is a clear error."""
    from faultedge.models.axial_mlp import AxialMLP, AxialMLPConfig
    from faultedge.models.teacher import Teacher

    if name == "cnn":
        return Teacher(n_features, n_classes)
    parts = name.split(":")
    if parts[0] != "axmlp" or len(parts) != 5 or not all(p.isdigit() for p in parts[1:]):
        raise FaultedgeError(f"teacher {name!r}: expected cnn or axmlp:DIM:HIDDEN:DEPTH:HEAD, e.g. axmlp:16:32:2:4")
    dim, hidden, depth, head = (int(p) for p in parts[1:])
    return AxialMLP(AxialMLPConfig(n_features=n_features, n_classes=n_classes, dim=dim, hidden=hidden, depth=depth, head_dim=head))


def job(teacher_name: str, seed: int, data: str, feature_scale: str | None, cwd: str) -> dict:
    """One (teacher, seed): train both networks in a scratch run directory, score them, return the figures."""
    os.chdir(cwd)
    import torch

    torch.set_num_threads(1)
    from faultedge.data.classes import NUM_CLASSES
    from faultedge.data.dataset import DataSpec
    from faultedge.eval.robustness import evaluation_sets, score
    from faultedge.models.summary import count_params
    from faultedge.runs import RunDir
    from faultedge.train.loop import fit, predict_logits
    from faultedge.train.pipeline import Session, TrainConfig, classify_loss, dkd_loss, prepare_run

    with tempfile.TemporaryDirectory(prefix="teacher_study_") as tmp:
        run = RunDir(Path(tmp))
        cfg = TrainConfig(data=DataSpec(source=data, seed=seed), seed=seed)
        cfg = prepare_run(run, replace(cfg, feature_scale=feature_scale) if feature_scale else cfg)
        s = Session(run, cfg, progress=False)
        torch.manual_seed(seed)
        teacher = build_teacher(teacher_name, s.prep.n_features, NUM_CLASSES)
        t0 = time.perf_counter()
        t_fit = fit(teacher, s.epochs, s.val, classify_loss(s), cfg.teacher, seed, "teacher", False)
        t_s = time.perf_counter() - t0
        torch.manual_seed(seed + 1)
        student = s.new_student()
        t0 = time.perf_counter()
        s_fit = fit(student, s.epochs, s.val, dkd_loss(s, teacher), cfg.student, seed + 1, "student", False)
        s_s = time.perf_counter() - t0
        s.epochs.close()
        classify = {name: (lambda w, f, m=m: predict_logits(m, torch.from_numpy(f)).argmax(1).numpy())
                    for name, m in (("teacher", teacher), ("student", student))}
        records = score(evaluation_sets(cfg.data, [0, 1]), s.prep, classify, [-6.0, None], progress=False)
    figures = {model: {label: next(r[key] for r in records if r["model"] == model and r["load_hp"] == load and r["snr_db"] == snr)
                       for label, load, snr, key in CELLS} for model in ("teacher", "student")}
    return {"teacher": teacher_name, "seed": seed, "teacher_params": count_params(teacher), "figures": figures,
            "seconds": {"teacher": round(t_s, 1), "student": round(s_s, 1)},
            "epochs": {"teacher": [t_fit.epochs_run, t_fit.best_epoch], "student": [s_fit.epochs_run, s_fit.best_epoch]}}


def table(results: list[dict], teachers: list[str]) -> str:
    head = "| teacher (params) | model | " + " | ".join(c[0] for c in CELLS) + " | teacher s (epochs) |"
    lines = [head, "|" + "---|" * (len(CELLS) + 3)]
    for name in teachers:
        rows = [r for r in results if r["teacher"] == name]
        for model in ("teacher", "student"):
            cells = []
            for label, *_ in CELLS:
                v = [r["figures"][model][label] for r in rows]
                cells.append(f"{np.mean(v):.2f} ± {np.std(v):.2f}")
            extra = " / ".join(f"{r['seconds']['teacher']:.0f} ({r['epochs']['teacher'][0]})" for r in rows) if model == "teacher" else ""
            lines.append(f"| {name} ({rows[0]['teacher_params']:,}) | {model} | " + " | ".join(cells) + f" | {extra} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/cwru")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--teachers", nargs="+", default=["cnn", "axmlp:16:32:2:4", "axmlp:32:64:3:8"])
    ap.add_argument("--feature-scale", choices=SCALES, help="the features' standardisation (default: the robust recipe's)")
    ap.add_argument("--cpus", type=int, help="CPUs of the embedded Ray (default: all cores); one per task")
    ap.add_argument("--out", default="benchmarks/results/teacher_study.json")
    args = ap.parse_args()
    try:
        for name in args.teachers:
            build_teacher(name, 1024, 10)  # a malformed name fails here, before Ray starts
    except FaultedgeError as exc:
        ap.error(str(exc))

    from faultedge.sweep.tasks import connect, run_tasks

    calls = [(name, seed, args.data, args.feature_scale, os.getcwd()) for name in args.teachers for seed in args.seeds]
    info = connect(None, args.cpus, 1)
    print(f"Ray: {info['mode']}, {info['cpus']:g} CPUs, {len(calls)} tasks")
    results: dict[int, dict] = {}

    def done(i: int, outcome) -> str:
        if isinstance(outcome, Exception):
            raise outcome
        results[i] = outcome
        f = outcome["figures"]["student"]
        return f"{outcome['teacher']} seed {outcome['seed']}: student " + ", ".join(f"{k} {v:.2f}" for k, v in f.items())

    t0 = time.perf_counter()
    run_tasks(job, calls, 1, done, lambda pending: None, progress=True)
    ordered = [results[i] for i in range(len(calls))]
    md = table(ordered, args.teachers)
    out = Path(args.out)
    write_json(out, {"protocol": "the default recipe's teacher stage with each network, then its DKD student; CWRU, trained on "
                     "0 hp; scored at -6 dB and noise-free on 0 hp (macro F1) and 1 hp (accuracy, never trained on)",
                     "seeds": args.seeds, "feature_scale": args.feature_scale or "the recipe's default", "results": ordered, "wall_s": round(time.perf_counter() - t0, 1), "versions": versions()})
    out.with_suffix(".md").write_text(md)
    print(md)
    print(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
