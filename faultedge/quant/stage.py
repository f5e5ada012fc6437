"""`faultedge quantize`: QAT of a trained network, its integer IR, and golden vectors.

The stage refuses to write an IR that the golden model does not reproduce: after export it
runs Brevitas in float64 on the whole test set and requires integer logits * output scale to
equal Brevitas' logits exactly (float32 Brevitas is itself exact only while partial sums stay
below 2**24, which 16-bit networks exceed).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from faultedge.data.classes import CLASS_NAMES, NUM_CLASSES
from faultedge.errors import RunDirError
from faultedge.ir import IRModel
from faultedge.metrics import classification_report
from faultedge.models import Student, Teacher
from faultedge.quant import golden
from faultedge.quant.export import export_ir
from faultedge.quant.qat import QATConfig, QuantNet, build_quant_net
from faultedge.quant.verify import Artifacts, verify_golden
from faultedge.runs import RunDir, atomic_path, read_json, save_state_dict
from faultedge.train.loop import FitConfig, fit, predict_logits
from faultedge.train.pipeline import Session, TrainConfig, versions

FLOAT_WEIGHTS = {"student": "student_merged.pt", "teacher": "teacher.pt"}
FLOAT_STAGE = {"student": "merged", "teacher": "teacher"}


def float_model(run: RunDir, network: str) -> torch.nn.Module:
    arch = Student() if network == "student" else Teacher()
    return run.load_model(FLOAT_WEIGHTS[network], arch)


def load_qat(run: RunDir, network: str = "student", bits: int = 8) -> QuantNet:
    """The trained Brevitas network of a run, in eval mode (for ONNX export and evaluation)."""
    art = Artifacts(network, bits)
    net = build_quant_net(network, Student() if network == "student" else Teacher(), bits)
    return run.load_model(art.qat, net)


def save_vectors(path, ir: IRModel, session: Session, features: torch.Tensor, windows: np.ndarray) -> None:
    res = golden.predict(ir, features.numpy())
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(
                f,
                windows=windows.astype(np.float32),
                features=features.numpy(),
                x_int=golden.quantize_input(ir, features.numpy()),
                logits=res.logits,
                classes=res.classes,
                labels=session.test[1].numpy(),
            )


def quantize(run: RunDir, network: str = "student", cfg: QATConfig = QATConfig(), progress: bool = True) -> dict[str, Any]:
    """QAT-fine-tune one network of a run, export and verify its IR, write golden vectors."""
    if network not in FLOAT_WEIGHTS:
        hint = " (MKW-Net: faultedge.quant.mkw_stage.quantize_mkw)" if network == "mkw" else ""
        raise RunDirError(f"unknown network {network!r}; choose from {sorted(FLOAT_WEIGHTS)}{hint}")
    art = Artifacts(network, cfg.bits)
    train_cfg = TrainConfig.from_dict(read_json(run.require("config.json")))
    session = Session(run, train_cfg, progress)
    fmodel = float_model(run, network)
    float_report = classification_report(session.test[1].numpy(), predict_logits(fmodel, session.test[0]).argmax(1).numpy(), NUM_CLASSES)

    net = build_quant_net(network, fmodel, cfg.bits)
    t0 = time.perf_counter()
    fit_cfg = FitConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, patience=cfg.patience)
    result = fit(net, session.cached_epoch_data(), session.val, lambda m, x, y, e: F.cross_entropy(m(x), y), fit_cfg, train_cfg.seed + 10, f"QAT {network} {cfg.bits}-bit", progress)
    seconds = time.perf_counter() - t0
    save_state_dict(run / art.qat, {k: v.detach().clone() for k, v in net.state_dict().items()})

    meta = {"network": network, "bits": cfg.bits, "qat": cfg.to_dict(), "source": str(run.path), "versions": versions()}
    ir = export_ir(net, session.test[0][:8], network, CLASS_NAMES, session.prep.to_dict(), meta)
    check = verify_golden(ir, net, session.test[0])
    ir.save(run / art.ir)
    windows, _ = session.dataset.noisy("test")
    save_vectors(run / art.vectors, ir, session, session.test[0], windows)

    q_report = classification_report(session.test[1].numpy(), golden.predict(ir, session.test[0].numpy()).classes, NUM_CLASSES)
    entry = {
        "network": network,
        "bits": cfg.bits,
        "test": q_report,
        "float_test": {k: float_report[k] for k in ("accuracy", "f1_macro")},
        "f1_drop_pp": float_report["f1_macro"] - q_report["f1_macro"],
        "golden_vs_brevitas": check,
        "macs": ir.macs,
        "input_scale_exp": ir.input.scale_exp,
        "output_scale_exp": ir.output_scale_exp,
        "acc_bits": [l.acc_bits for l in ir.layers if hasattr(l, "acc_bits")],
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_seconds": round(seconds, 2),
        "artifacts": {"qat": art.qat, "ir": art.ir, "golden_vectors": art.vectors},
    }
    run.update_metrics(art.metrics_key, entry)
    return entry
