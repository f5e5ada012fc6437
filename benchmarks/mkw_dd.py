"""MKW-Net and dataset distillation benchmark: robot (synthetic) and CWRU wavelet images.

Per data seed: build the images, train the experts, distil `--ipc` images per class (timed),
then train and score on the real test images: MKW-Net / the equal-budget plain CNN / the
distillation ConvNet on the distilled set, MKW-Net and the plain CNN on a random real subset
of the same size, and MKW-Net on all real training data. Writes mean ± std over seeds,
parameters, MACs and times as JSON (rewritten after every step, so a partial run is kept).

    python benchmarks/mkw_dd.py --data robot --seeds 0 --train-seeds 0 1 2
    python benchmarks/mkw_dd.py --data ../shared/data/cwru --seeds 0 --train-seeds 0 1 2
    python benchmarks/mkw_dd.py --data robot --save-distilled DIR ...   # later, more seeds on the same sets:
    python benchmarks/mkw_dd.py --data robot --reuse-distilled DIR --train-seeds 0 1 2 3 4 ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from faultedge.data.images import ROBOT, ImageDataSpec, ImageSets, build_image_sets, default_augment
from faultedge.errors import RunDirError
from faultedge.runs import RunDir, read_json, write_json
from faultedge.models.image_nets import BUDGET_CNN, CONVNET, MKW
from faultedge.train.dataset_distill import MATCHING_NETS, DistillConfig, DistillResult, distill, train_experts
from faultedge.train.dd_pipeline import DDConfig, distilled_arrays, load_distilled, save_distilled, train_and_score
from faultedge.ir.provenance import versions

# The table of issue 5 first; then the extras (a busy machine may not get to them).
# "start": the real images the distillation started from (herding or random), trained on as they are: what matching adds.
CONDITIONS = ((MKW, "distilled"), (MKW, "random"), (BUDGET_CNN, "distilled"), (MKW, "start"), (MKW, "real"), (BUDGET_CNN, "random"), (CONVNET, "distilled"))
SAVED_META = "saved_set.json"  # next to a saved distilled.npz: the options, timing and starting images of that distillation
PAPER = {"mkw_distilled_accuracy": 87.4, "params_M": 0.043, "MFLOPs": 0.56, "note": "seed 000 Table 4: its own robot data, tested on distilled test images"}


def summarise(per_seed: dict[str, list[dict]]) -> dict[str, dict]:
    out = {}
    for name, entries in per_seed.items():
        acc = [e["test"]["accuracy"] for e in entries]
        f1 = [e["test"]["f1_macro"] for e in entries]
        val = [e["val_accuracy"] for e in entries]
        out[name] = {
            "accuracy": {"mean": float(np.mean(acc)), "std": float(np.std(acc)), "per_seed": acc},
            "val_accuracy": {"mean": float(np.mean(val)), "std": float(np.std(val)), "per_seed": val},
            "f1_macro": {"mean": float(np.mean(f1)), "std": float(np.std(f1)), "per_seed": f1},
            "params": entries[0]["params"],
            "macs": entries[0]["macs"],
            "train_images": entries[0]["train_images"],
            "train_seconds_mean": float(np.mean([e["train_seconds"] for e in entries])),
        }
    return out


def load_saved(run: RunDir, cfg: DDConfig, sets: ImageSets) -> tuple[DistillResult, dict]:
    """A set saved by --save-distilled (checked by `load_distilled`), with its timing; refused unless distilled with `cfg`."""
    try:
        meta = read_json(run.require(SAVED_META))
        (images, targets), lr = load_distilled(run, sets)
    except (RunDirError, KeyError) as exc:
        raise SystemExit(f"{run.path}: not a set saved by --save-distilled ({exc})") from None
    if meta["config"] != json.loads(json.dumps(cfg.to_dict())):
        raise SystemExit(f"{run.path} was distilled with other options; pass the options of the run that saved it")
    soft = targets if targets.ndim == 2 else None
    labels = targets.argmax(1) if soft is not None else targets
    timing = meta["timing"]
    return DistillResult(images, labels, soft, lr, [], np.asarray(meta["init_indices"]), timing["matching_s"]), timing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=ROBOT, help="'robot' or a CWRU data directory")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], help="data + distillation seeds (each distils once)")
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds per distilled set (init, batches, random subset)")
    ap.add_argument("--ipc", type=int, default=50, help="distilled images per class")
    ap.add_argument("--iterations", type=int, default=DistillConfig.iterations)
    ap.add_argument("--experts", type=int, default=DistillConfig.n_experts)
    ap.add_argument("--syn-steps", type=int, default=DistillConfig.syn_steps)
    ap.add_argument("--batch-syn", type=lambda v: None if v == "all" else int(v), default=DistillConfig.batch_syn, help="synthetic images per unrolled step, or all")
    ap.add_argument("--expert-train-epochs", type=int, default=DistillConfig.expert_train_epochs, help="epochs per expert trajectory")
    ap.add_argument("--net", choices=MATCHING_NETS, default=DistillConfig.net, help="experts and student: the static ConvNet or MKW-Net itself")
    ap.add_argument("--net-norm", choices=("instance", "batch"), default=DistillConfig.net_norm, help="norm of the expert/student ConvNet")
    ap.add_argument("--init", choices=("random", "herding"), default=DistillConfig.init, help="the real images distillation starts from")
    ap.add_argument("--min-start-epoch", type=int, default=DistillConfig.min_start_epoch, help="earliest expert epoch a matched segment starts at")
    ap.add_argument("--max-start-epoch", type=int, default=DistillConfig.max_start_epoch, help="matched segments start before this expert epoch")
    ap.add_argument("--labels", choices=("hard", "soft"), default="soft" if DistillConfig.soft_labels else "hard", help="learned soft labels (DATM) or classes")
    ap.add_argument("--augment", help="DSA ops, comma-separated, or none (default: per data set, faultedge.data.images.default_augment)")
    ap.add_argument("--conditions", nargs="+", help="subset of model_trainset names to run (default: all)")
    ap.add_argument("--windows", type=int, nargs=3, default=[300, 100, 200], metavar=("TRAIN", "VAL", "TEST"), help="real windows per class")
    ap.add_argument("--epochs", type=int, help="epochs on the small sets (default 100, seed 000)")
    ap.add_argument("--anneal-epochs", type=int, help="on the small sets, MKW-Net's tau reaches 0 after this many epochs (default: a fifth of --epochs, at most 20)")
    ap.add_argument("--real-epochs", type=int, help="epochs on all real data (default 30, early stopping on validation)")
    ap.add_argument("--threads", type=int, default=1)
    reuse = ap.add_mutually_exclusive_group()
    reuse.add_argument("--save-distilled", help="directory for the distilled sets (<tag>_seed<N>/distilled.npz), to re-evaluate them later")
    reuse.add_argument("--reuse-distilled", help="a --save-distilled directory: score its sets again (e.g. with more --train-seeds) instead of distilling; the other options must be those it was distilled with")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/mkw_dd_<robot|cwru>.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tag = "robot" if args.data == ROBOT else "cwru"
    out = Path(args.out or f"benchmarks/results/mkw_dd_{tag}.json")
    distill_cfg = replace(
        DistillConfig(), images_per_class=args.ipc, iterations=args.iterations, n_experts=args.experts, expert_train_epochs=args.expert_train_epochs, syn_steps=args.syn_steps,
        batch_syn=args.batch_syn, net=args.net, net_norm=args.net_norm, init=args.init, min_start_epoch=args.min_start_epoch, max_start_epoch=args.max_start_epoch, soft_labels=args.labels == "soft", augment=args.augment if args.augment is not None else default_augment(args.data),
    )
    conditions = [c for c in CONDITIONS if args.conditions is None or f"{c[0]}_{c[1]}" in args.conditions]
    n_train, n_val, n_test = args.windows

    per_seed: dict[str, list[dict]] = {f"{m}_{t}": [] for m, t in conditions}
    timing: list[dict] = []
    for seed in args.seeds:
        data = ImageDataSpec.for_source(args.data, seed=seed, snr_db=None if args.data == ROBOT else -6.0, n_train=n_train, n_val=n_val, n_test=n_test)
        cfg = DDConfig(data, distill_cfg, seed)
        t0 = time.perf_counter()
        sets = build_image_sets(cfg.data, progress=True)
        t_images = time.perf_counter() - t0
        store = args.save_distilled or args.reuse_distilled
        saved = RunDir(Path(store) / f"{tag}_seed{seed}") if store else None
        if args.reuse_distilled:
            result, timing_entry = load_saved(saved, cfg, sets)
            timing.append({**timing_entry, "images_s": t_images, "reused": str(saved.path)})
        else:
            trajectories = train_experts(*sets.train, sets.n_classes, cfg.distill, seed)
            t_experts = time.perf_counter() - t0 - t_images
            result = distill(*sets.train, sets.n_classes, trajectories, cfg.distill, seed)
            timing.append({"seed": seed, "images_s": t_images, "experts_s": t_experts, "matching_s": result.seconds, "distill_total_s": t_experts + result.seconds, "loss_first_10": float(np.mean(result.losses[:10])), "loss_last_10": float(np.mean(result.losses[-10:])), "learned_lr": result.lr})
        if args.save_distilled:
            saved.path.mkdir(parents=True, exist_ok=True)
            save_distilled(saved, result, sets.class_names)
            write_json(saved / SAVED_META, {"config": cfg.to_dict(), "timing": timing[-1], "init_indices": result.init_indices.tolist()})
        print(f"seed {seed}: images {t_images:.0f} s, experts {timing[-1]['experts_s']:.0f} s, matching {timing[-1]['matching_s']:.0f} s, loss {timing[-1]['loss_first_10']:.3f} -> {timing[-1]['loss_last_10']:.3f}", flush=True)
        for kind, train_on in conditions:
            for train_seed in args.train_seeds if train_on != "real" else args.train_seeds[:1]:
                if train_on == "start":  # the starting images are a real subset picked by the method: train on them like a distilled set
                    start = (sets.train[0][result.init_indices], sets.train[1][result.init_indices])
                    _, entry = train_and_score(kind, "distilled", sets, start, train_seed, cfg.distill, True, args.epochs, args.anneal_epochs)
                    entry["train_on"] = "start"
                else:
                    small = train_on != "real"
                    _, entry = train_and_score(kind, train_on, sets, distilled_arrays(result), train_seed, cfg.distill, True, args.epochs if small else args.real_epochs, args.anneal_epochs if small else None)
                per_seed[f"{kind}_{train_on}"].append({**entry, "data_seed": seed})
                print(f"seed {seed}/{train_seed}: {kind} on {train_on}: real val {entry['val_accuracy']:.2f} %, test {entry['test']['accuracy']:.2f} % ({entry['train_seconds']:.0f} s)", flush=True)
                write_json(out, {
                    "data": args.data,
                    "protocol": f"{'synthetic six-axis robot currents, 7 states (seed 000 Table 1)' if tag == 'robot' else 'CWRU 12 kHz drive end 0 hp, 10 classes, AWGN -6 dB'}; "
                    f"{n_train}/{n_val}/{n_test} windows per class (train/val/test), per-record time split before windowing; CWT 32x32 images, "
                    "ZCA fitted on training images; accuracy on the real validation and test images; mean/std over data seeds x training seeds (real: first training seed)",
                    "command": " ".join(sys.argv),
                    "config": cfg.to_dict(),
                    "seeds": args.seeds,
                    "train_seeds": args.train_seeds,
                    "small_set_epochs": args.epochs or 100,
                    "small_set_anneal_epochs": args.anneal_epochs,
                    "real_set_epochs": args.real_epochs or 30,
                    "conditions": summarise({k: v for k, v in per_seed.items() if v}),
                    "distillation": timing,
                    "paper": PAPER,
                    "versions": versions(),
                    "threads": args.threads,
                })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
