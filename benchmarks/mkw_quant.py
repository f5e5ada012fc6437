"""MKW-Net in fixed point (Brevitas QAT): float vs 8-bit golden accuracy on robot and CWRU wavelet images.

Per data source: build the images (time-split windows -> CWT -> ZCA), train MKW-Net on all real
training windows (as `faultedge train-mkw --train-on real --epochs N`), then calibrate, QAT-
fine-tune, export and verify the integer model (as `faultedge quantize --network mkw`): golden
logits * output scale must equal the Brevitas QAT model's float64 logits on every test image.
Writes accuracies, macro F1, mismatches and times as JSON (rewritten after each source).

    nice python benchmarks/mkw_quant.py --sources robot ../shared/data/cwru
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from faultedge.data.images import ROBOT, ImageDataSpec, build_image_sets
from faultedge.metrics import classification_report
from faultedge.ir import golden
from faultedge.quant.mkw_qat import MKWQATConfig
from faultedge.families.mkw import MKW_NET, image_quant_data
from faultedge.models.image_nets import MKW
from faultedge.quant.stage import quantize_network
from faultedge.runs import write_json
from faultedge.train.dd_pipeline import train_and_score
from faultedge.ir.provenance import versions


def bench_source(source: str, windows: list[int], epochs: int, cfg: MKWQATConfig, seed: int) -> dict:
    snr = None if source == ROBOT else -6.0
    spec = ImageDataSpec.for_source(source, seed=seed, snr_db=snr, n_train=windows[0], n_val=windows[1], n_test=windows[2])
    t0 = time.perf_counter()
    sets = build_image_sets(spec, progress=True)
    t_images = time.perf_counter() - t0
    model, entry = train_and_score(MKW, "real", sets, None, seed, progress=True, epochs=epochs)
    q = quantize_network(MKW_NET, model, image_quant_data(sets, seed), cfg, progress=True)
    t1 = time.perf_counter()
    res = golden.predict(q.ir, sets.test[0])
    t_golden = time.perf_counter() - t1
    report = classification_report(sets.test[1], res.classes, sets.n_classes)
    return {
        "source": "robot (synthetic)" if source == ROBOT else "CWRU 0 hp",
        "snr_db": snr,
        "windows_per_class": {"train": windows[0], "val": windows[1], "test": windows[2]},
        "test_images": int(len(sets.test[1])),
        "float": {"accuracy": entry["test"]["accuracy"], "f1_macro": entry["test"]["f1_macro"], "epochs_run": entry["epochs_run"], "train_seconds": entry["train_seconds"]},
        "golden_8bit": {"accuracy": report["accuracy"], "f1_macro": report["f1_macro"]},
        "golden_vs_brevitas": q.check,
        "qat": {"epochs_run": q.fit.epochs_run, "best_epoch": q.fit.best_epoch, "train_seconds": round(q.train_seconds, 1)},
        "ir_macs_per_image": q.ir.macs,
        "golden_seconds_per_image": t_golden / len(sets.test[1]),
        "image_seconds": round(t_images, 1),
        "float_temperature": float(model.convs[0].attention.temperature),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", nargs="+", default=[ROBOT, "../shared/data/cwru"], help="'robot' and/or a CWRU data directory")
    ap.add_argument("--windows", type=int, nargs=3, default=[150, 50, 100], metavar=("TRAIN", "VAL", "TEST"), help="real windows per class")
    ap.add_argument("--epochs", type=int, default=20, help="float training epochs (early stopping on validation)")
    ap.add_argument("--qat-epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 on a shared machine)")
    ap.add_argument("--out", default="benchmarks/results/mkw_quant.json")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    cfg = MKWQATConfig(epochs=args.qat_epochs)
    results = {}
    for source in args.sources:
        r = bench_source(source, args.windows, args.epochs, cfg, args.seed)
        results[r["source"]] = r
        write_json(args.out, {"results": results, "qat_config": cfg.to_dict(), "float_epochs": args.epochs, "seed": args.seed, "versions": versions()})
        print(f"{r['source']}: float {r['float']['accuracy']:.2f} % -> 8-bit golden {r['golden_8bit']['accuracy']:.2f} %; "
              f"{r['golden_vs_brevitas']['mismatched_logits']} mismatched logits of {r['test_images']} images; "
              f"{1e3 * r['golden_seconds_per_image']:.1f} ms per image in the golden model")
    print(json.dumps({k: [v["float"]["accuracy"], v["golden_8bit"]["accuracy"]] for k, v in results.items()}))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
