"""The wavelet-image path on one run directory: distil a data set, then train and score on it.

`distill_run` writes dd_config.json, zca.npz (the whitening, fitted on training images),
experts.pt (trajectories), distilled.npz and its PNGs. `train_run` trains MKW-Net or a plain
CNN on the distilled set, on a random real subset of the same size, or on the real training
set, and scores it on the real test images (rebuilt from the saved config and whitening).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from faultedge.data.cwt import ZCAWhitening
from faultedge.data.images import ImageDataSpec, ImageSets, build_image_sets
from faultedge.errors import DataError, RunDirError
from faultedge.models.image_nets import CONVNET, build_image_net
from faultedge.models.summary import count_macs, count_params
from faultedge.plots import plot_confusion, plot_curve, plot_image_grid
from faultedge.runs import RunDir, atomic_path, read_json, save_state_dict, write_json
from faultedge.train.dataset_distill import DistillConfig, DistillResult, augment_images, distill, matching_network, parse_augment, train_experts
from faultedge.train.image_train import Arrays, Augment, ImageTrainConfig, evaluate, train_image_model
from faultedge.ir.provenance import versions

DD_CONFIG, ZCA, EXPERTS, DISTILLED = "dd_config.json", "zca.npz", "experts.pt", "distilled.npz"
# Small training sets (distilled and random alike): seed 000's schedule, with the run's DSA augmentation.
# The real set is 10-14x larger: fewer epochs, early stopping on validation, no augmentation.
SMALL_SET_TRAINING = ImageTrainConfig()
REAL_SET_TRAINING = ImageTrainConfig(epochs=30, anneal_epochs=6, patience=10)


@dataclass(frozen=True)
class DDConfig:
    """Everything a distillation run depends on; saved as dd_config.json."""

    data: ImageDataSpec = field(default_factory=ImageDataSpec)
    distill: DistillConfig = field(default_factory=DistillConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data.to_dict(), "distill": self.distill.to_dict(), "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DDConfig":
        try:
            return cls(ImageDataSpec.from_dict(d["data"]), DistillConfig(**d["distill"]), int(d["seed"]))
        except (KeyError, TypeError, ValueError, DataError) as exc:
            raise RunDirError(f"{DD_CONFIG}: missing or malformed field ({exc})") from None


def build_model(kind: str, image_shape: tuple[int, int, int], n_classes: int, distill_cfg: DistillConfig = DistillConfig()) -> nn.Module:
    """A network of faultedge.models.image_nets; `convnet` is the network the experts were (`DistillConfig.net`)."""
    if kind == CONVNET:
        return matching_network(distill_cfg, image_shape[0], n_classes, image_shape[1])
    return build_image_net(kind, image_shape, n_classes)


def random_subset(train: Arrays, per_class: int, seed: int) -> Arrays:
    """`per_class` real training images per class: the baseline any distilled set must beat."""
    x, y = train
    rng = np.random.default_rng([seed, 0x5AB5])
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
    return x[idx], y[idx]


def small_set_augment(distill_cfg: DistillConfig) -> Augment | None:
    """The distillation's DSA ops, used when training on any small set (distilled or random alike)."""
    ops = parse_augment(distill_cfg.augment)
    return functools.partial(augment_images, ops=ops) if ops else None


def train_and_score(kind: str, train_on: str, sets: ImageSets, distilled: Arrays | None, seed: int, distill_cfg: DistillConfig = DistillConfig(), progress: bool = True, epochs: int | None = None, anneal_epochs: int | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Train `kind` on the chosen set and score it on the real validation and test images.

    `epochs` shortens the schedule (tau then reaches 0 after a fifth of it, at most KernelWarehouse's
    20 epochs); `anneal_epochs` sets that point itself (MKW-Net only)."""
    if train_on not in ("distilled", "random", "real"):
        raise ValueError(f"unknown training set {train_on!r}; choose distilled, random or real")
    if train_on == "real":
        train, val, cfg, augment = sets.train, sets.val, REAL_SET_TRAINING, None
    elif distilled is None:
        raise ValueError("the distilled set is needed for its size, even for a random subset")
    else:
        per_class = len(distilled[1]) // sets.n_classes  # the distilled set is class-balanced
        train = distilled if train_on == "distilled" else random_subset(sets.train, per_class, seed)
        val, cfg, augment = None, SMALL_SET_TRAINING, small_set_augment(distill_cfg)  # select on the training set itself
    if epochs is not None:
        cfg = replace(cfg, epochs=epochs, patience=min(cfg.patience, epochs), anneal_epochs=min(cfg.anneal_epochs, max(epochs // 5, 1)))
    if anneal_epochs is not None:
        cfg = replace(cfg, anneal_epochs=anneal_epochs)
    torch.manual_seed(seed)
    model = build_model(kind, sets.image_shape, sets.n_classes, distill_cfg)
    t0 = time.perf_counter()
    result = train_image_model(model, train, val, cfg, seed, f"{kind} on {train_on}", progress, augment)
    example = torch.zeros(1, *sets.image_shape)
    entry = {
        "model": kind,
        "train_on": train_on,
        "train_images": int(len(train[1])),
        "test": evaluate(model, sets.test, sets.n_classes),
        "val_accuracy": evaluate(model, sets.val, sets.n_classes)["accuracy"],
        "params": count_params(model),
        "macs": count_macs(model, example),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "train_seconds": round(time.perf_counter() - t0, 2),
        "seed": seed,
    }
    return model, entry


def _prepare(run: RunDir, cfg: DDConfig) -> None:
    path = run / DD_CONFIG
    if path.exists() and DDConfig.from_dict(read_json(path)) != cfg:
        raise RunDirError(f"{path} holds a different configuration; use a new --out directory or the same options")
    run.path.mkdir(parents=True, exist_ok=True)
    write_json(path, {**cfg.to_dict(), "versions": versions()})


def distilled_arrays(result: DistillResult) -> Arrays:
    """What a model trains on: the images with their soft labels if distillation learned them, else the classes."""
    return result.images, result.labels if result.soft_labels is None else result.soft_labels


def save_distilled(run: RunDir, result: DistillResult, class_names: tuple[str, ...]) -> None:
    soft = {} if result.soft_labels is None else {"soft_labels": result.soft_labels}
    with atomic_path(run / DISTILLED) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, images=result.images, labels=result.labels, lr=np.float64(result.lr), class_names=np.array(class_names), **soft)


def load_distilled(run: RunDir, sets: ImageSets | None = None) -> tuple[Arrays, float]:
    """The distilled images with their training targets (soft labels (N, K) if the set has them, else
    classes (N,)) and the learned lr, checked against the run's image format."""
    path = run.require(DISTILLED)
    try:
        with np.load(path, allow_pickle=False) as z:
            x, y, lr = z["images"], z["labels"], float(z["lr"])
            soft = z["soft_labels"] if "soft_labels" in z.files else None
    except (OSError, KeyError, ValueError) as exc:
        raise RunDirError(f"{path}: not a distilled set ({exc})") from None
    if x.ndim != 4 or len(x) != len(y) or not np.all(np.isfinite(x)):
        raise RunDirError(f"{path}: expected finite images (N, C, H, W) with one label each, got {x.shape} and {len(y)} labels")
    if sets is not None and tuple(x.shape[1:]) != sets.image_shape:
        raise RunDirError(f"{path}: images of shape {x.shape[1:]} do not match the run's images {sets.image_shape}")
    if soft is not None:
        k = soft.shape[1] if soft.ndim == 2 else -1
        if soft.shape != (len(y), k) or (sets is not None and k != sets.n_classes) or not np.all(np.isfinite(soft)) or soft.min() < 0 or not np.allclose(soft.sum(1), 1, atol=1e-4):
            raise RunDirError(f"{path}: soft_labels must be one probability distribution over the classes per image, got shape {soft.shape}")
        return (x.astype(np.float32), soft.astype(np.float32)), lr
    return (x.astype(np.float32), y.astype(np.int64)), lr


def distill_run(run: RunDir, cfg: DDConfig, progress: bool = True) -> dict[str, Any]:
    """Images -> experts -> trajectory matching; writes the distilled set and its pictures."""
    _prepare(run, cfg)
    t0 = time.perf_counter()
    sets = build_image_sets(cfg.data, progress=progress)
    sets.whitening.save(run / ZCA)
    t_images = time.perf_counter() - t0
    trajectories = train_experts(*sets.train, sets.n_classes, cfg.distill, cfg.seed, progress)
    save_state_dict(run / EXPERTS, {f"expert_{i:03d}": t for i, t in enumerate(trajectories)})
    t_experts = time.perf_counter() - t0 - t_images
    result = distill(*sets.train, sets.n_classes, trajectories, cfg.distill, cfg.seed, progress)
    save_distilled(run, result, sets.class_names)
    ipc = cfg.distill.images_per_class
    plot_image_grid(result.images, result.labels, sets.class_names, f"distilled set: {ipc} images per class (first shown)", run / "distilled.png")
    plot_image_grid(sets.train[0][result.init_indices], result.labels, sets.class_names, "the real images distillation started from", run / "distill_init.png")
    plot_curve(result.losses, "iteration", "normalised parameter distance", "trajectory matching loss", run / "distill_loss.png")
    entry = {
        "images_per_class": ipc,
        "image_shape": list(sets.image_shape),
        "class_names": list(sets.class_names),
        "learned_lr": result.lr,
        "loss_first_10": float(np.mean(result.losses[:10])),
        "loss_last_10": float(np.mean(result.losses[-10:])),
        "seconds_images": round(t_images, 1),
        "seconds_experts": round(t_experts, 1),
        "seconds_distill": round(result.seconds, 1),
        "seconds_total": round(time.perf_counter() - t0, 1),
    }
    run.update_metrics("distill", entry)
    return entry


def load_run_images(run: RunDir, progress: bool = True) -> tuple[DDConfig, ImageSets]:
    """Rebuild the run's real images with its saved config and whitening."""
    cfg = DDConfig.from_dict(read_json(run.require(DD_CONFIG)))
    try:
        whitening = ZCAWhitening.load(run.require(ZCA))
    except DataError as exc:
        raise RunDirError(str(exc)) from None
    return cfg, build_image_sets(cfg.data, whitening, progress)


def train_runs(run: RunDir, combinations: list[tuple[str, str]], seed: int = 0, progress: bool = True, epochs: int | None = None) -> list[dict[str, Any]]:
    """Train each (model, training set) on the run's data (distilled, same-size random real subset, or all
    real) and score it on the real test images; the images are rebuilt once for all of them."""
    run.require(DISTILLED)
    cfg, sets = load_run_images(run, progress)
    distilled, _ = load_distilled(run, sets)
    entries = []
    for kind, train_on in combinations:
        model, entry = train_and_score(kind, train_on, sets, distilled, seed, cfg.distill, progress, epochs)
        name = f"{kind}_{train_on}"
        run.save_model(f"{name}.pt", model)
        run.update_metrics(name, entry)
        report = entry["test"]
        plot_confusion(np.asarray(report["confusion"]), sets.class_names, f"{name}: real test accuracy {report['accuracy']:.2f} %", run / f"confusion_{name}.png")
        entries.append(entry)
    return entries
