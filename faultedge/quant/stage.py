"""`faultedge quantize`: QAT of a family's trained network, its integer IR and golden vectors.

One stage for every family (faultedge.families says how each is wrapped and read out). It
refuses to write an IR that the golden model does not reproduce: after export it runs the
Brevitas network in float64 on the whole test set and requires integer logits * output scale to
equal its logits exactly (float32 Brevitas is itself exact only while partial sums stay below
2**24, which 16-bit networks exceed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch.nn.functional as F
from torch import nn

from faultedge.families import Family, QuantData
from faultedge.ir import IRModel, golden
from faultedge.ir.files import Artifacts
from faultedge.ir.provenance import versions
from faultedge.metrics import classification_report
from faultedge.plots import plot_confusion
from faultedge.quant.verify import verify_golden
from faultedge.runs import RunDir, atomic_path, save_state_dict
from faultedge.train.loop import FitConfig, FitResult, fit, predict_logits


@dataclass
class Quantized:
    """A fine-tuned Brevitas network, its verified IR and how it got there."""

    net: nn.Module
    ir: IRModel
    check: dict[str, Any]  # golden vs the Brevitas network (float64) on the test inputs
    fit: FitResult
    train_seconds: float
    check_seconds: float


def quantize_network(family: Family, model: nn.Module, data: QuantData, cfg: Any, meta: dict[str, Any] | None = None,
                     progress: bool = True) -> Quantized:
    """Wrap a float network for QAT, fine-tune it (early stopping on validation), export and verify its IR."""
    net = family.quant_net(model, cfg, data)
    t0 = time.perf_counter()
    fit_cfg = FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, patience=cfg.patience)
    result = fit(net, data.epoch_data, data.val, lambda m, x, y, e: F.cross_entropy(m(x), y), fit_cfg, data.seed + 10,
                 f"QAT {family.name} {cfg.bits}-bit", progress)
    seconds = time.perf_counter() - t0
    ir = family.export_ir(net, data, meta or {})
    t1 = time.perf_counter()
    check = verify_golden(ir, net, data.test[0])
    return Quantized(net, ir, check, result, seconds, time.perf_counter() - t1)


def _save_vectors(path, ir: IRModel, data: QuantData, res: golden.GoldenResult) -> None:
    inputs = data.test[0].numpy()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **data.extra_vectors, **{data.input_name: inputs}, x_int=golden.quantize_input(ir, inputs),
                                logits=res.logits, classes=res.classes, labels=data.test[1].numpy())


def quantize(run: RunDir, family: Family, cfg: Any, source: str | None = None, progress: bool = True) -> dict[str, Any]:
    """QAT-fine-tune the run's trained `family` network (`source`: which one, where there are several),
    write its QAT weights, verified IR, golden vectors and confusion matrix; returns the metrics entry."""
    art = Artifacts(family.name, cfg.bits)
    data = family.quant_data(run, progress)
    model, weights = family.float_model(run, source, data)
    x_test, y_test = data.test
    n_classes = len(data.class_names)
    float_report = classification_report(y_test.numpy(), predict_logits(model, x_test, family.eval_batch).argmax(1).numpy(), n_classes)

    meta = {"network": family.name, "bits": cfg.bits, "qat": cfg.to_dict(), "float_weights": weights, "source": str(run.path), **data.meta,
            "versions": versions()}
    q = quantize_network(family, model, data, cfg, meta, progress)
    save_state_dict(run / art.qat, {k: v.detach().clone() for k, v in q.net.state_dict().items()})
    q.ir.save(run / art.ir)
    res = golden.predict(q.ir, x_test.numpy())
    _save_vectors(run / art.vectors, q.ir, data, res)
    q_report = classification_report(y_test.numpy(), res.classes, n_classes)
    confusion = f"confusion_{family.name}_{cfg.bits}bit.png"
    plot_confusion(np.asarray(q_report["confusion"]), data.class_names,
                   f"{family.title}, {cfg.bits}-bit (golden): test accuracy {q_report['accuracy']:.2f} %", run / confusion)
    entry = {
        "network": family.name,
        "bits": cfg.bits,
        "float_weights": weights,
        **family.float_notes(model),
        "test": q_report,
        "float_test": {k: float_report[k] for k in ("accuracy", "f1_macro")},
        "f1_drop_pp": float_report["f1_macro"] - q_report["f1_macro"],
        "golden_vs_brevitas": q.check,
        "macs": q.ir.macs,
        "input_scale_exp": q.ir.input.scale_exp,
        "output_scale_exp": q.ir.output_scale_exp,
        "acc_bits": [l.acc_bits for l in q.ir.layers if hasattr(l, "acc_bits")],
        "best_epoch": q.fit.best_epoch,
        "epochs_run": q.fit.epochs_run,
        "train_seconds": round(q.train_seconds, 2),
        "check_seconds": round(q.check_seconds, 2),
        "artifacts": {"qat": art.qat, "ir": art.ir, "golden_vectors": art.vectors, "confusion": confusion},
    }
    run.update_metrics(art.metrics_key, entry)
    return entry
