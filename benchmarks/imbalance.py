"""Seed 003's imbalance study on our CWRU protocol: the DCNN trained with each class loss, several seeds.

Writes benchmarks/results/imbalance.json (every run, written after each one so a stopped benchmark
keeps what it measured; --resume continues it) and imbalance.md (mean ± std beside the paper's
Table III). Run with one torch thread: the recorded training times compare methods, not machines.

    python benchmarks/imbalance.py                      # the full study (docs/results/imbalance.md)
    python benchmarks/imbalance.py --seeds 1 --out /tmp/probe.json   # one run of each method
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from faultedge.data.classes import CLASS_NAMES
from faultedge.data.cwru import load_recordings
from faultedge.data.imbalance import SETS, ImbalanceSpec, make_imbalanced
from faultedge.metrics import classification_report
from faultedge.models.dcnn import ImbalanceFit, predict, train_dcnn
from faultedge.runs import write_json, write_text
from faultedge.train.losses import CLASS_LOSSES

REPO = Path(__file__).resolve().parents[1]
# Table III of seed 003 (DCNN = cross-entropy, DCNNC = class costs, DCNNG = GHL): mean, std of test accuracy %
PAPER = {("set1", "ce"): (88.83, 5.78), ("set1", "weighted"): (88.45, 5.46), ("set1", "ghl"): (95.28, 2.51),
         ("set2", "ce"): (70.36, 8.59), ("set2", "weighted"): (76.21, 7.07), ("set2", "ghl"): (81.84, 3.98)}


def run_key(r: dict) -> tuple:
    return (r["snr_db"], r["set"], r["method"], r["seed"])


def one_run(recordings, set_name: str, method: str, seed: int, snr_db: float | None, fit: ImbalanceFit, progress: bool) -> dict:
    data = make_imbalanced(recordings, ImbalanceSpec(set_name=set_name, snr_db=snr_db, seed=seed))
    model, info = train_dcnn(data.train.x, data.train.y, method, len(CLASS_NAMES), fit, seed, progress)
    report = classification_report(data.test.y, predict(model, data.test.x), len(CLASS_NAMES))
    cm = np.asarray(report["confusion"], dtype=np.float64)
    recall = (100 * np.diag(cm) / cm.sum(1)).tolist()
    return {"snr_db": snr_db, "set": set_name, "method": method, "seed": seed, "accuracy": report["accuracy"],
            "f1_macro": report["f1_macro"], "recall": dict(zip(CLASS_NAMES, recall)), "confusion": report["confusion"],
            "train_seconds": info["train_seconds"], "final_train_loss": info["loss_history"][-1],
            "train_counts": data.counts.tolist(), "train_strides": data.strides}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(runs: list[dict]) -> list[dict]:
    """One row per (SNR, set, method): mean ± std of accuracy, macro F1, minority recall and training time."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["snr_db"], r["set"], r["method"]), []).append(r)
    rows = []
    for (snr, set_name, method), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] is not None, kv[0][1], CLASS_LOSSES.index(kv[0][2]))):
        ce = groups.get((snr, set_name, "ce"), [])
        row = {"snr_db": snr, "set": set_name, "method": method, "seeds": sorted(r["seed"] for r in rs)}
        for key in ("accuracy", "f1_macro", "train_seconds"):
            row[key] = mean_std([r[key] for r in rs])
        row["normal_recall"] = mean_std([r["recall"]["normal"] for r in rs])
        row["fault_recall_min"] = mean_std([min(v for k, v in r["recall"].items() if k != "normal") for r in rs])
        row["recall_per_class"] = {c: statistics.fmean(r["recall"][c] for r in rs) for c in CLASS_NAMES}
        row["time_vs_ce"] = row["train_seconds"][0] / statistics.fmean(r["train_seconds"] for r in ce) if ce else None
        # accuracy gain over CE on the same seeds (paired)
        ce_by_seed = {r["seed"]: r["accuracy"] for r in ce}
        paired = [r["accuracy"] - ce_by_seed[r["seed"]] for r in rs if r["seed"] in ce_by_seed]
        row["gain_vs_ce"] = mean_std(paired) if paired else None
        rows.append(row)
    return rows


def pm(v: tuple[float, float] | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}"


def markdown(rows: list[dict], fit: ImbalanceFit) -> str:
    lines = [f"Recipe: DCNN, Adam lr {fit.lr}, batch {fit.batch_size}, {fit.epochs} epochs, last epoch scored; "
             "mean ± sample std over seeds; times are training seconds on one torch thread.", "",
             "| SNR | set | loss | seeds | accuracy % | paper accuracy % | macro F1 % | gain vs CE (paired) | normal recall % "
             "| worst fault recall % | train s | time / CE |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        paper = PAPER.get((r["set"], r["method"])) if r["snr_db"] is None else None
        snr = "clean" if r["snr_db"] is None else f"{r['snr_db']:g} dB"
        ratio = "–" if r["time_vs_ce"] is None else f"{r['time_vs_ce']:.2f}"
        lines.append(f"| {snr} | {r['set']} | {r['method']} | {len(r['seeds'])} | {pm(r['accuracy'])} | {pm(paper)} | {pm(r['f1_macro'])} "
                     f"| {pm(r['gain_vs_ce'])} | {pm(r['normal_recall'], 1)} | {pm(r['fault_recall_min'], 1)} "
                     f"| {pm(r['train_seconds'], 1)} | {ratio} |")
    lines += ["", "Mean recall per class (%):", "", "| SNR | set | loss | " + " | ".join(CLASS_NAMES) + " |",
              "|---|---|---|" + "---|" * len(CLASS_NAMES)]
    for r in rows:
        snr = "clean" if r["snr_db"] is None else f"{r['snr_db']:g} dB"
        lines.append(f"| {snr} | {r['set']} | {r['method']} | " + " | ".join(f"{r['recall_per_class'][c]:.1f}" for c in CLASS_NAMES) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "cwru"), help="CWRU directory with the 0 hp files")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--methods", nargs="+", default=list(CLASS_LOSSES), choices=CLASS_LOSSES)
    p.add_argument("--noisy-methods", nargs="*", default=["ce", "ghl"], choices=CLASS_LOSSES, help="methods also run at --snr")
    p.add_argument("--snr", type=float, default=-6.0)
    p.add_argument("--epochs", type=int, default=ImbalanceFit.epochs)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "imbalance.json"))
    p.add_argument("--resume", action="store_true", help="keep the runs already in --out and do the rest")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    fit = ImbalanceFit(epochs=args.epochs)
    out = Path(args.out)
    runs: list[dict] = json.loads(out.read_text())["runs"] if args.resume and out.exists() else []
    done = {run_key(r) for r in runs}
    plan = [(snr, s, m, seed) for snr, methods in ((None, args.methods), (args.snr, args.noisy_methods))
            for seed in range(args.seeds) for s in args.sets for m in methods]
    recordings = load_recordings(args.data, (0,))
    started = time.perf_counter()
    for i, (snr, set_name, method, seed) in enumerate(plan):
        if (snr, set_name, method, seed) in done:
            continue
        r = one_run(recordings, set_name, method, seed, snr, fit, not args.no_progress)
        runs.append(r)
        print(f"[{i + 1}/{len(plan)}] {'clean' if snr is None else f'{snr:g} dB'} {set_name} {method} seed {seed}: "
              f"acc {r['accuracy']:.2f} F1 {r['f1_macro']:.2f} in {r['train_seconds']:.1f} s "
              f"(elapsed {time.perf_counter() - started:.0f} s)", flush=True)
        rows = summarise(runs)
        write_json(out, {"recipe": fit.to_dict(), "protocol": ImbalanceSpec().to_dict(), "torch_threads": 1,
                         "paper": {f"{k[0]}/{k[1]}": v for k, v in PAPER.items()}, "summary": rows, "runs": runs})
        write_text(out.with_suffix(".md"), markdown(rows, fit))
    print(markdown(summarise(runs), fit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
