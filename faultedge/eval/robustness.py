"""Accuracy and macro F1 of a run's models across noise levels and motor loads.

The references score one condition (the SNR and load they trained on). Here every trained
stage of a run is scored on a grid: each SNR (and noise-free) on the test windows of the loads
it trained on (the very windows and noise draws of metrics.json: the same standard-normal draws
scaled to each SNR, so SNRs compare paired), and on the test part of every other load it never
saw. Labels stay in the 10-class space; macro scores average over the classes present (a 1 hp
CWRU directory holds the 9 fault classes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from faultedge.data.classes import CLASS_NAMES, NUM_CLASSES
from faultedge.data.cwru import available_loads
from faultedge.data.dataset import SYNTHETIC, DataSpec, Dataset, load_source
from faultedge.data.features import Preprocessing
from faultedge.data.noise import add_awgn
from faultedge.data.splits import heldout_windows
from faultedge.errors import DataError, RunDirError
from faultedge.metrics import classification_report, per_class_recall
from faultedge.runs import RunDir, read_json

DEFAULT_SNRS: tuple[float | None, ...] = (-6.0, -3.0, 0.0, 3.0, 6.0, 10.0, None)
# model name -> the run-directory file it is evaluated from
MODEL_FILES: dict[str, str] = {
    "teacher": "teacher.pt",
    "student": "student.pt",
    "lora": "dkdl.pt",
    "merged": "student_merged.pt",
    "quant": "model.ir.json",
    "chip": "model.ir.json",
}

Classifier = Callable[[np.ndarray, np.ndarray], np.ndarray]  # raw windows (N, L), their features (N, F) float32 -> classes (N,)


def snr_label(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


@dataclass
class EvalSet:
    """Clean test windows of one load, plus the generator whose draws make its noise."""

    load: int
    trained_on: bool
    x: np.ndarray
    y: np.ndarray
    seed: Sequence[int]

    def noisy(self, snr: float | None) -> np.ndarray:
        return add_awgn(self.x, snr, np.random.default_rng(list(self.seed)))


def evaluation_sets(spec: DataSpec, loads: Sequence[int]) -> list[EvalSet]:
    """Test windows per load: the run's own test split for its training loads, the held-out
    (time-split test) part of every other load's records, cut with the run's window protocol."""
    if spec.source != SYNTHETIC:
        present = available_loads(spec.source)
        missing = sorted(set(loads) - set(present))
        if missing:
            raise DataError(f"{spec.source}: no recordings for load(s) {missing} hp (present: {present})")
    sets = []
    dataset = Dataset(spec) if any(l in spec.loads for l in loads) else None
    for load in loads:
        if load in spec.loads:
            ws = dataset.splits.test
            mask = np.array([dataset.recordings[r].load_hp == load for r in ws.record])
            # the test noise of metrics.json: Dataset.noise_rng("test") seeds [seed, 3, 0]
            sets.append(EvalSet(load, True, ws.x[mask], ws.y[mask], (spec.seed, 3, 0) if len(spec.loads) == 1 else (spec.seed, 3, 0, load)))
        else:
            ws = heldout_windows(load_source(spec.with_loads((load,))), spec.split, spec.seed)
            sets.append(EvalSet(load, False, ws.x, ws.y, (spec.seed, 3, 0, load)))
    return sets


def load_classifier(run: RunDir, name: str) -> Classifier:
    """A stage's trained model as (windows, features) -> classes; a missing file names the command that makes it.
    The student's width and LoRA rank are the run's (config.json).

    quant is the integer golden model on the float features; chip is the golden model from raw samples
    (the IR's front end: what the FPGA computes from its ADC)."""
    if name not in MODEL_FILES:
        raise RunDirError(f"unknown model {name!r}; choose from {', '.join(MODEL_FILES)}")
    path = run.require(MODEL_FILES[name])
    if name in ("quant", "chip"):
        from faultedge.ir import IRModel, frontend, golden

        ir = IRModel.load(path)
        if name == "quant":
            return lambda w, f: golden.predict(ir, f).classes
        if ir.frontend is None:
            raise RunDirError(f"{path} has no front end: run `faultedge quantize {run.path}` again")
        frontend.check_preprocessing(ir.frontend, read_json(run.require("preprocessing.json")), ir.input.scale_exp,
                                     str(run / "preprocessing.json"))
        return lambda w, f: golden.predict_samples(ir, frontend.quantize_samples(ir.frontend, w)).classes

    import torch

    from faultedge.models.student import Student
    from faultedge.models.teacher import Teacher
    from faultedge.models.lora import add_lora
    from faultedge.train.loop import predict_logits
    from faultedge.train.pipeline import TrainConfig

    cfg = TrainConfig.from_dict(read_json(run.require("config.json")))  # its defaults fill older config.json files
    student = Student(channels=cfg.student_channels)
    arch = {"teacher": Teacher(), "student": student, "merged": student}.get(name)
    model = run.load_model(MODEL_FILES[name], arch if arch is not None else add_lora(student, cfg.lora_rank))
    return lambda w, f: predict_logits(model, torch.from_numpy(f)).argmax(1).numpy()


def available_models(run: RunDir) -> list[str]:
    """The models a run holds; chip only when its IR has a front end (IRs quantised before it existed have none)."""
    names = [name for name, f in MODEL_FILES.items() if (run / f).exists()]
    if "chip" in names and read_json(run / MODEL_FILES["chip"]).get("frontend") is None:
        names.remove("chip")
    return names


def score(sets: Sequence[EvalSet], prep: Preprocessing, classifiers: dict[str, Classifier], snrs: Sequence[float | None],
          progress: bool = True) -> list[dict[str, Any]]:
    """One record (accuracy, macro F1, recall per class) per classifier, load and SNR: every classifier sees the same noisy windows."""
    from tqdm.auto import tqdm

    records = []
    bar = tqdm(total=len(sets) * len(snrs), desc="evaluate", disable=not progress, leave=False)
    for ts in sets:
        for snr in snrs:
            windows = ts.noisy(snr)
            features = prep(windows, f"load {ts.load} hp test windows")
            for name, classify in classifiers.items():
                report = classification_report(ts.y, classify(windows, features), NUM_CLASSES)
                records.append({
                    "model": name,
                    "load_hp": ts.load,
                    "trained_on_load": ts.trained_on,
                    "snr_db": snr,
                    "accuracy": report["accuracy"],
                    "f1_macro": report["f1_macro"],
                    "recall": per_class_recall(report["confusion"]),
                    "n": report["n"],
                    "classes": int(np.unique(ts.y).size),
                })
            bar.update()
    bar.close()
    return records


def evaluate_run(
    run: RunDir,
    models: Sequence[str] | None = None,
    snrs: Sequence[float | None] = DEFAULT_SNRS,
    loads: Sequence[int] | None = None,
    data: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Score `models` of a run at every SNR on every load; returns the JSON-ready result.

    `loads` defaults to every load in the data directory (the run's training loads for the
    synthetic source); `data` overrides the run's data source (e.g. a directory with more loads).
    """
    cfg = read_json(run.require("config.json"))
    spec = DataSpec.from_dict(cfg.get("data", {}))
    if data is not None:
        spec = replace(spec, source=data)
    if loads is None:
        loads = spec.loads if spec.source == SYNTHETIC else available_loads(spec.source)
    prep = Preprocessing.from_dict(read_json(run.require("preprocessing.json")), str(run / "preprocessing.json"))
    models = list(models) if models else available_models(run)
    classifiers = {m: load_classifier(run, m) for m in models}

    records = score(evaluation_sets(spec, loads), prep, classifiers, snrs, progress)
    return {
        "run": str(run.path),
        "data": spec.source,
        "train_loads": list(spec.loads),
        "train_snr_db": spec.snr_db,
        "recipe": "reference" if cfg.get("augment") is None else "robust",
        "augment": cfg.get("augment"),
        "models": models,
        "loads": [int(l) for l in loads],
        "snrs_db": list(snrs),
        "class_names": list(CLASS_NAMES),
        "results": records,
    }


def lookup(result: dict[str, Any], model: str, load: int, snr: float | None, key: str = "f1_macro") -> float:
    """One number of an evaluate_run result."""
    for r in result["results"]:
        if r["model"] == model and r["load_hp"] == load and r["snr_db"] == snr:
            return r[key]
    raise KeyError(f"no result for {model} at load {load} hp, {snr_label(snr)}")
