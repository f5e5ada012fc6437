"""Dataset distillation by matching training trajectories (MTT; Cazenavette et al. 2022, seed 000 §3.2).

Experts: ConvNets trained on the real images with plain SGD, their parameters saved after
every epoch. Distillation step: pick an expert and a start epoch t < max_start_epoch, start
a student at theta*_t, take `syn_steps` SGD steps with a learnable learning rate on the
synthetic images (the whole set per step, as the reference, unless `batch_syn` is set), and
score the end point against the expert `expert_epochs` later:
||theta_N - theta*_{t+M}||^2 / ||theta*_t - theta*_{t+M}||^2. The gradient of that loss flows
through the unrolled steps into the images (SGD, lr_img, momentum 0.5) and into the learning
rate (SGD, lr_lr, momentum 0.5). The synthetic set starts from real images, random
ones (MTT) or herded ones; DATM's options restrict the start epochs to a later window and learn
soft labels that start from an expert's logits.
Experts, unrolled steps and the later training on any small set all see the same
differentiable augmentation (DSA, `augment_images`), so the images are not tuned to one
fixed view of themselves. Experts and student are either a ConvNet with MKW-Net's widths and
batch norm (MKW-Net's static, tau = 1, form; `net=CONVNET`) or MKW-Net itself (`net=MKW`):
its experts anneal tau as MKW-Net's training does, and the student runs at the temperature of
the expert epoch it starts from, so the images are shaped by the dynamic kernels they will train.

The reference distils with 100 experts x 50 epochs and thousands of iterations on a GPU; the
defaults here are sized to finish 50 images per class in well under 30 minutes on 2 CPU cores.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm.auto import tqdm

from faultedge.errors import DataError
from faultedge.models.image_nets import CONVNET, MKW, build_image_net
from faultedge.models.mkw import MKWNet, temperature_at

MATCHING_NETS = (CONVNET, MKW)  # experts and student: the static ConvNet, or MKW-Net with its temperature schedule


@dataclass(frozen=True)
class DistillConfig:
    """Trajectory matching hyperparameters (reference values in REFERENCE-NOTES in comments)."""

    images_per_class: int = 50
    n_experts: int = 8  # reference 100; an expert epoch costs about a quarter of a matching iteration
    expert_train_epochs: int = 30  # reference 50; must exceed max_start_epoch + expert_epochs. After 12 epochs the experts
    # were still below what MKW-Net learns from 50 random images per class (robot val 92 %); by 20-30 they reach 98-99 %
    expert_lr: float = 0.05  # reference 0.01 (on CIFAR); our small ConvNet barely moves at 0.01. At 0.2 the late
    # segments are mostly SGD noise and matching them (loss > 1) wrecked the images
    expert_batch: int = 128
    min_start_epoch: int = 10  # DATM: at many images per class, match later (harder) parts of the trajectories
    max_start_epoch: int = 20  # reference 20-25
    expert_epochs: int = 2  # M, reference 2-3
    syn_steps: int = 6  # N, reference 20-30; cost per iteration ~ syn_steps x batch_syn
    batch_syn: int | None = None  # synthetic images per unrolled step; None: all of them, as the reference. Mini-batches
    # of 64 made the student's path so noisy that matching made even the experts' own ConvNet worse
    iterations: int = 150  # reference 5,000-10,000; ~10 min on one CPU core at these sizes (robot)
    lr_img: float = 100.0  # reference 1000; at 1000 the images drifted by 30 % of their std and MKW-Net's val accuracy fell
    lr_lr: float = 1e-5
    lr_init: float = 0.05  # MTT starts the student at the experts' lr (at 0.1 the student overshoots: loss > 1)
    momentum: float = 0.5
    net: str = CONVNET  # CONVNET: the static network; MKW: MKW-Net, tau annealed over expert_anneal_epochs
    net_width: int = 16  # widths (w, 2w, 2w) = MKW-Net's (16, 32, 32) (reference: 128 x 3)
    net_norm: str = "batch"  # convnet only. "batch": MKW-Net's static (tau = 1) form; "instance": the reference
    expert_anneal_epochs: int = 10  # mkw only: tau falls 1 -> 0 over these expert epochs (KernelWarehouse schedule)
    augment: str = "level,shift,stretch,cutout"  # DSA ops (see augment_images) for experts, unrolled steps and evaluation
    init: str = "random"  # the real images the synthetic set starts from: "random" (MTT) or "herding" (in an expert's feature space)
    soft_labels: bool = False  # DATM: learnable soft labels, initialised from an expert's logits
    lr_label: float = 2.0  # SGD step on the soft-label logits (0: keep the expert's logits)

    def __post_init__(self) -> None:
        if self.expert_train_epochs < self.max_start_epoch + self.expert_epochs:
            raise ValueError(
                f"experts train {self.expert_train_epochs} epochs, but a start before epoch {self.max_start_epoch} "
                f"plus {self.expert_epochs} expert epochs needs at least {self.max_start_epoch + self.expert_epochs}"
            )
        if not 0 <= self.min_start_epoch < self.max_start_epoch:
            raise ValueError(f"the matching window needs 0 <= min_start_epoch < max_start_epoch, got {self.min_start_epoch} and {self.max_start_epoch}")
        if self.net not in MATCHING_NETS:
            raise ValueError(f"net must be one of {', '.join(MATCHING_NETS)}, got {self.net!r}")
        if self.net_norm not in ("instance", "batch"):
            raise ValueError(f"net_norm must be 'instance' or 'batch', got {self.net_norm!r}")
        if self.init not in ("random", "herding"):
            raise ValueError(f"init must be 'random' or 'herding', got {self.init!r}")
        parse_augment(self.augment)
        if min(self.images_per_class, self.n_experts, self.syn_steps, self.batch_syn or 1, self.iterations, self.max_start_epoch, self.expert_epochs) < 1:
            raise ValueError("counts in the distillation config must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


def matching_network(cfg: DistillConfig, in_channels: int, n_classes: int, image_size: int = 32) -> nn.Module:
    """The network `cfg.net` names, shared by experts and student, with MKW-Net's widths (w, 2w, 2w),
    so the distilled images are shaped by the layer sizes they will train."""
    return build_image_net(cfg.net, (in_channels, image_size, image_size), n_classes, cfg.net_width, cfg.net_norm)


def set_expert_epoch(net: nn.Module, epoch: int, cfg: DistillConfig) -> None:
    """MKW-Net's temperature at this epoch of an expert's training (a no-op for the static ConvNet)."""
    if isinstance(net, MKWNet):
        net.set_temperature(temperature_at(epoch, cfg.expert_anneal_epochs))


AUGMENTATIONS = ("level", "shift", "stretch", "cutout")


def parse_augment(spec: str) -> tuple[str, ...]:
    """"level,shift" -> ("level", "shift"); "" or "none" -> no augmentation."""
    ops = tuple(op for op in spec.replace(" ", "").split(",") if op and op != "none")
    unknown = [op for op in ops if op not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENTATIONS)} (comma-separated) or none")
    return ops


def augment_images(x: torch.Tensor, gen: torch.Generator, ops: tuple[str, ...] = AUGMENTATIONS) -> torch.Tensor:
    """Differentiable augmentation (DSA) of time-frequency images (B, C, frequency, time), drawn per sample.

    Each op is differentiable in `x`, so the gradient of the matching loss reaches the synthetic
    pixels through it. level: gain x0.8-1.2 and offset +-0.2. shift: circular shift in time (a
    window starting elsewhere in a stationary signal). stretch: time stretch x0.8-1.25 and a
    frequency shift up to one bin (speed change; it also changes impact periods, so it suits
    drive currents but not bearing impacts). cutout: an 8-of-32-bin time band set to zero.
    Which ops suit a data set is chosen on its validation split.
    """
    b, _, n_freq, n_time = x.shape

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    if "stretch" in ops:
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = torch.exp(uniform(-0.223, 0.223))
        theta[:, 1, 1] = 1.0
        theta[:, 1, 2] = uniform(-2.0, 2.0) / n_freq  # the grid spans 2 per n_freq bins
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if "shift" in ops:
        shift = torch.randint(0, n_time, (b, 1), generator=gen)
        index = (torch.arange(n_time).view(1, n_time) - shift) % n_time
        x = x.gather(3, index.view(b, 1, 1, n_time).expand_as(x))
    if "level" in ops:
        x = x * uniform(0.8, 1.2).view(b, 1, 1, 1) + uniform(-0.2, 0.2).view(b, 1, 1, 1)
    if "cutout" in ops:
        start = torch.randint(0, n_time - n_time // 4 + 1, (b, 1), generator=gen)
        t = torch.arange(n_time).view(1, n_time)
        keep = ~((t >= start) & (t < start + n_time // 4))
        x = x * keep.view(b, 1, 1, n_time).to(x.dtype)
    return x


class FlatNet:
    """A network evaluated from one flat parameter vector, so unrolled updates stay differentiable."""

    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.layout = [(name, p.shape, p.numel()) for name, p in net.named_parameters()]

    def flatten(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.net.parameters()])

    def __call__(self, flat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        params, offset = {}, 0
        for name, shape, n in self.layout:
            params[name] = flat[offset : offset + n].view(shape)
            offset += n
        return functional_call(self.net, params, (x,))


def _check_images(x: np.ndarray, y: np.ndarray, n_classes: int) -> None:
    if x.ndim != 4 or len(x) != len(y):
        raise DataError(f"distillation: expected images (N, C, H, W) with one label each, got {x.shape} and {len(y)} labels")
    if not np.all(np.isfinite(x)):
        raise DataError("distillation: training images contain NaN/Inf")
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"distillation: labels must lie in 0..{n_classes - 1}")


def train_experts(x: np.ndarray, y: np.ndarray, n_classes: int, cfg: DistillConfig, seed: int, progress: bool = True) -> list[torch.Tensor]:
    """Trajectories (expert_train_epochs + 1, P): the initial parameters and those after every epoch."""
    _check_images(x, y, n_classes)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.int64))
    trajectories, ops = [], parse_augment(cfg.augment)
    bar = tqdm(total=cfg.n_experts * cfg.expert_train_epochs, desc="experts", unit="epoch", disable=not progress, leave=False)
    for e in range(cfg.n_experts):
        torch.manual_seed(seed * 1009 + e)
        gen = torch.Generator().manual_seed(seed * 1009 + e)
        net = matching_network(cfg, x.shape[1], n_classes, x.shape[-1])
        flat = FlatNet(net)
        opt = torch.optim.SGD(net.parameters(), lr=cfg.expert_lr)
        snapshots = [flat.flatten()]
        for epoch in range(cfg.expert_train_epochs):
            set_expert_epoch(net, epoch, cfg)
            order = torch.randperm(len(yt), generator=gen)
            for i in range(0, len(order), cfg.expert_batch):
                idx = order[i : i + cfg.expert_batch]
                xb = augment_images(xt[idx], gen, ops) if ops else xt[idx]
                loss = F.cross_entropy(net(xb), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            snapshots.append(flat.flatten())
            bar.update()
        trajectories.append(torch.stack(snapshots))
    bar.close()
    return trajectories


@dataclass
class DistillResult:
    images: np.ndarray  # (n_classes * ipc, C, H, W) float32
    labels: np.ndarray  # int64: the class each image was started from and is shown under
    soft_labels: np.ndarray | None  # (N, n_classes) learned label distributions, or None for hard labels
    lr: float  # the learned student learning rate
    losses: list[float]  # matching loss per iteration
    init_indices: np.ndarray  # the real training images the synthetic set started from
    seconds: float


def distill(x: np.ndarray, y: np.ndarray, n_classes: int, trajectories: list[torch.Tensor], cfg: DistillConfig, seed: int, progress: bool = True) -> DistillResult:
    """Optimise `images_per_class` synthetic images per class so that training on them follows the experts."""
    _check_images(x, y, n_classes)
    need = cfg.max_start_epoch + cfg.expert_epochs + 1
    if not trajectories or any(t.shape[0] < need for t in trajectories):
        raise DataError(f"distillation: every expert trajectory needs at least {need} snapshots")
    rng = np.random.default_rng([seed, 0xD157])
    gen = torch.Generator().manual_seed(seed)
    counts = np.bincount(y, minlength=n_classes)
    if counts.min() < cfg.images_per_class:
        raise DataError(f"distillation: {cfg.images_per_class} images per class requested, but class {int(counts.argmin())} has only {int(counts.min())} real images")
    model = FlatNet(matching_network(cfg, x.shape[1], n_classes, x.shape[-1]))
    if model.flatten().numel() != trajectories[0].shape[1]:
        raise DataError("distillation: the expert trajectories belong to a different network (parameter count differs)")
    expert_logits = None
    if cfg.soft_labels:
        set_expert_epoch(model.net, cfg.max_start_epoch, cfg)
        with torch.no_grad():
            expert_logits = model(trajectories[0][cfg.max_start_epoch], torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    if cfg.init == "herding":
        set_expert_epoch(model.net, cfg.expert_train_epochs, cfg)
        init = herding_selection(expert_features(model, trajectories[0][-1], x), y, n_classes, cfg.images_per_class)
    else:
        init = _initial_images(y, n_classes, cfg.images_per_class, rng, None if expert_logits is None else expert_logits.argmax(1).numpy())
    syn = torch.tensor(x[init], dtype=torch.float32, requires_grad=True)
    syn_y = torch.from_numpy(np.asarray(y[init], dtype=np.int64))
    syn_lr = torch.tensor(cfg.lr_init, requires_grad=True)
    optimisers = [torch.optim.SGD([syn], lr=cfg.lr_img, momentum=cfg.momentum), torch.optim.SGD([syn_lr], lr=cfg.lr_lr, momentum=cfg.momentum)]
    label_logits = None
    if expert_logits is not None:
        label_logits = expert_logits[torch.from_numpy(init)].clone().requires_grad_(cfg.lr_label > 0)
        if cfg.lr_label > 0:
            optimisers.append(torch.optim.SGD([label_logits], lr=cfg.lr_label, momentum=cfg.momentum))
    batch, ops = min(cfg.batch_syn or len(syn_y), len(syn_y)), parse_augment(cfg.augment)
    losses = []
    t0 = time.perf_counter()
    bar = tqdm(range(cfg.iterations), desc="distill", unit="it", disable=not progress, leave=False)
    for _ in bar:
        trajectory = trajectories[int(rng.integers(len(trajectories)))]
        start = int(rng.integers(cfg.min_start_epoch, cfg.max_start_epoch))
        theta0, target = trajectory[start], trajectory[start + cfg.expert_epochs]
        set_expert_epoch(model.net, start, cfg)
        theta = theta0.clone().requires_grad_(True)
        order = torch.cat([torch.randperm(len(syn_y), generator=gen) for _ in range(-(-cfg.syn_steps * batch // len(syn_y)))])
        for step in range(cfg.syn_steps):
            idx = order[step * batch : (step + 1) * batch]
            xb = augment_images(syn[idx], gen, ops) if ops else syn[idx]
            ce = F.cross_entropy(model(theta, xb), syn_y[idx] if label_logits is None else F.softmax(label_logits[idx], 1))
            (grad,) = torch.autograd.grad(ce, theta, create_graph=True)
            theta = theta - syn_lr * grad
        loss = (theta - target).pow(2).sum() / (theta0 - target).pow(2).sum()
        for opt in optimisers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimisers:
            opt.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{float(syn_lr.detach()):.4f}")
    bar.close()
    images = syn.detach().numpy().astype(np.float32)
    if not np.all(np.isfinite(images)):
        raise DataError("distillation diverged (NaN/Inf images): lower --lr-img or --lr-lr")
    soft = None if label_logits is None else F.softmax(label_logits.detach(), 1).numpy().astype(np.float32)
    return DistillResult(images, syn_y.numpy(), soft, float(syn_lr.detach()), losses, init, time.perf_counter() - t0)


def _initial_images(y: np.ndarray, n_classes: int, per_class: int, rng: np.random.Generator, expert_pred: np.ndarray | None) -> np.ndarray:
    """Random real images per class; with an expert's predictions, DATM's choice of images the expert
    gets right (its soft labels then agree with the class the image is filed under), topped up at random."""
    chosen = []
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(y == c))
        if expert_pred is not None:
            members = np.concatenate([members[expert_pred[members] == c], members[expert_pred[members] != c]])
        chosen.append(members[:per_class])
    return np.concatenate(chosen)


def expert_features(model: FlatNet, flat: torch.Tensor, x: np.ndarray) -> np.ndarray:
    """The trained expert's penultimate features (the classifier's input) of every image."""
    net = copy.deepcopy(model.net)
    torch.nn.utils.vector_to_parameters(flat, net.parameters())
    with torch.no_grad():
        return net.embed(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def herding_selection(features: np.ndarray, y: np.ndarray, n_classes: int, per_class: int) -> np.ndarray:
    """Herding (Welling 2009) per class: greedily add the image that keeps the running mean of the chosen
    features closest to the class mean, so a few images represent the whole class rather than a random corner."""
    chosen = []
    for c in range(n_classes):
        members = np.flatnonzero(y == c)
        f = features[members].astype(np.float64)
        target, total, picked = f.mean(0), np.zeros(f.shape[1]), []
        for k in range(1, per_class + 1):
            gap = np.linalg.norm(target * k - (total + f), axis=1)
            gap[picked] = np.inf
            j = int(gap.argmin())
            picked.append(j)
            total += f[j]
        chosen.append(members[picked])
    return np.concatenate(chosen)
