"""`faultedge quantize RUN --network mkw`: Brevitas QAT of a run's MKW-Net, its IR and golden vectors.

Reads a run made by `faultedge distill-data` + `faultedge train-mkw` (dd_config.json, zca.npz,
mkw_<set>.pt), rebuilds the run's wavelet images, calibrates and fine-tunes the Brevitas
network on the real training images (early stopping on validation), exports the IR and refuses
to write it unless the golden model reproduces the QAT model's float64 logits exactly on every
test image. Writes qat_mkw.pt, model_mkw.ir.json, golden_vectors_mkw.npz and the metrics entry
quant_mkw_<bits>bit, plus confusion_mkw_<bits>bit.png.

QAT runs at temperature tau = 0 (fully dynamic attention, where KernelWarehouse's schedule
ends); a float model saved earlier in the schedule (tau > 0) is fine-tuned into that regime,
and the metrics entry records its tau.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faultedge.data.images import ImageSets
from faultedge.errors import RunDirError
from faultedge.ir import IRModel
from faultedge.metrics import classification_report
from faultedge.models.mkw import MKWNet
from faultedge.quant import golden
from faultedge.quant.mkw_export import export_mkw_ir
from faultedge.quant.mkw_qat import MKWQATConfig, QuantMKWNet, build_quant_mkw
from faultedge.quant.verify import Artifacts, verify_golden
from faultedge.plots import plot_confusion
from faultedge.runs import RunDir, atomic_path, save_state_dict
from faultedge.train.dd_pipeline import build_model, load_run_images
from faultedge.train.image_train import evaluate
from faultedge.train.loop import FitConfig, FitResult, as_tensors, fit
from faultedge.train.pipeline import versions

NETWORK = "mkw"


def float_weights(run: RunDir, train_on: str) -> str:
    name = f"mkw_{train_on}.pt"
    if not (run / name).exists():
        run.require("dd_config.json")
        raise RunDirError(f"{run.path} has no {name}: run `faultedge train-mkw {run.path} --model mkw --train-on {train_on}` first")
    return name


def load_qat_mkw(run: RunDir, bits: int = 8) -> QuantMKWNet:
    """The trained Brevitas MKW-Net of a run, in eval mode (its architecture read from the run's IR)."""
    art = Artifacts(NETWORK, bits)
    ir = IRModel.load(run.require(art.ir))
    return run.load_model(art.qat, QuantMKWNet(build_model(NETWORK, ir.input.shape, len(ir.classes)), MKWQATConfig(bits=bits)))


def save_vectors(path, ir: IRModel, images: np.ndarray, labels: np.ndarray, res: golden.GoldenResult) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, x_int=golden.quantize_input(ir, images), logits=res.logits, classes=res.classes, labels=labels)


@dataclass
class MKWQuantized:
    """A calibrated, fine-tuned Brevitas MKW-Net, its verified IR and how it got there."""

    net: QuantMKWNet
    ir: IRModel
    check: dict[str, Any]  # golden vs QAT model (float64) on the test images
    fit: FitResult
    train_seconds: float


def quantize_model(fmodel: MKWNet, sets: ImageSets, cfg: MKWQATConfig, seed: int = 0, progress: bool = True, meta: dict[str, Any] | None = None) -> MKWQuantized:
    """Calibrate on training images, QAT-fine-tune (early stopping on validation), export, verify on the test images."""
    net = build_quant_mkw(fmodel, cfg)
    x_train, y_train = as_tensors(*sets.train)
    pick = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(seed))[: cfg.calibration_images]
    net.calibrate(x_train[pick])
    t0 = time.perf_counter()
    fit_cfg = FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, patience=cfg.patience)
    result = fit(net, lambda epoch: (x_train, y_train), as_tensors(*sets.val), lambda m, x, y, e: F.cross_entropy(m(x), y), fit_cfg, seed + 10, f"QAT MKW-Net {cfg.bits}-bit", progress)
    seconds = time.perf_counter() - t0
    ir = export_mkw_ir(net, NETWORK, sets.class_names, None, meta or {})
    t1 = time.perf_counter()
    check = verify_golden(ir, net, torch.from_numpy(sets.test[0]), reference="the Brevitas QAT model")
    check["seconds"] = round(time.perf_counter() - t1, 1)
    return MKWQuantized(net, ir, check, result, seconds)


def quantize_mkw(run: RunDir, cfg: MKWQATConfig = MKWQATConfig(), train_on: str = "real", seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Quantise the run's MKW-Net (mkw_<train_on>.pt), write its artifacts; returns the metrics entry."""
    weights = float_weights(run, train_on)
    art = Artifacts(NETWORK, cfg.bits)
    dd_cfg, sets = load_run_images(run, progress)
    fmodel = run.load_model(weights, build_model(NETWORK, sets.image_shape, sets.n_classes))
    assert isinstance(fmodel, MKWNet)
    float_report = evaluate(fmodel, sets.test, sets.n_classes)
    meta = {"network": NETWORK, "bits": cfg.bits, "qat": cfg.to_dict(), "float_weights": weights, "source": str(run.path), "image_data": dd_cfg.data.to_dict(), "versions": versions()}
    q = quantize_model(fmodel, sets, cfg, seed, progress, meta)
    save_state_dict(run / art.qat, {k: v.detach().clone() for k, v in q.net.state_dict().items()})
    q.ir.save(run / art.ir)
    x_test, y_test = sets.test
    res = golden.predict(q.ir, x_test)
    save_vectors(run / art.vectors, q.ir, x_test, y_test, res)
    q_report = classification_report(y_test, res.classes, sets.n_classes)
    confusion = f"confusion_{NETWORK}_{cfg.bits}bit.png"
    plot_confusion(np.asarray(q_report["confusion"]), sets.class_names, f"MKW-Net {cfg.bits}-bit (golden): test accuracy {q_report['accuracy']:.2f} %", run / confusion)
    entry = {
        "network": NETWORK,
        "bits": cfg.bits,
        "float_weights": weights,
        "float_temperature": float(fmodel.convs[0].attention.temperature),
        "test": q_report,
        "float_test": {k: float_report[k] for k in ("accuracy", "f1_macro")},
        "f1_drop_pp": float_report["f1_macro"] - q_report["f1_macro"],
        "golden_vs_qat": q.check,
        "macs": q.ir.macs,
        "input_scale_exp": q.ir.input.scale_exp,
        "output_scale_exp": q.ir.output_scale_exp,
        "best_epoch": q.fit.best_epoch,
        "epochs_run": q.fit.epochs_run,
        "train_seconds": round(q.train_seconds, 2),
        "artifacts": {"qat": art.qat, "ir": art.ir, "golden_vectors": art.vectors, "confusion": confusion},
    }
    run.update_metrics(art.metrics_key, entry)
    return entry
