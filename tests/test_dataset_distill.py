"""Trajectory matching: experts, the unrolled matching step, the run directory and the CLI around it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from faultedge.errors import DataError, RunDirError
from faultedge.runs import RunDir
from dataclasses import replace

from faultedge.train.dataset_distill import (
    DistillConfig,
    DistillResult,
    FlatNet,
    augment_images,
    distill,
    expert_features,
    herding_selection,
    matching_network,
    parse_augment,
    set_expert_epoch,
    train_experts,
)
from faultedge.models.image_nets import convnet
from faultedge.train.dd_pipeline import DISTILLED, load_distilled, save_distilled

TINY = DistillConfig(images_per_class=3, n_experts=2, expert_train_epochs=3, min_start_epoch=0, max_start_epoch=2, expert_epochs=1, syn_steps=3, iterations=4, net_width=4)  # every step on all 6 images


@pytest.fixture(scope="module")
def toy():
    """Two classes of 1 x 32 x 32 images that differ in which half is bright."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1, 32, 32)).astype(np.float32)
    y = np.arange(40) % 2
    x[y == 1, :, :16] += 1.0
    return x, y


def test_experts_save_every_epoch_and_repeat_exactly(toy):
    a = train_experts(*toy, 2, TINY, seed=1, progress=False)
    b = train_experts(*toy, 2, TINY, seed=1, progress=False)
    n_params = FlatNet(convnet(1, 2, 32, 4, "instance")).flatten().numel()
    assert len(a) == 2 and a[0].shape == (4, n_params)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0][0], a[0][-1]) and not torch.equal(a[0], a[1])


def test_matching_moves_images_and_lr_reproducibly(toy):
    experts = train_experts(*toy, 2, TINY, seed=0, progress=False)
    r1 = distill(*toy, 2, experts, TINY, seed=0, progress=False)
    r2 = distill(*toy, 2, experts, TINY, seed=0, progress=False)
    assert r1.images.shape == (6, 1, 32, 32) and list(r1.labels) == [0, 0, 0, 1, 1, 1]
    np.testing.assert_array_equal(r1.images, r2.images)
    assert r1.losses == r2.losses and len(r1.losses) == 4 and all(np.isfinite(r1.losses))
    assert not np.allclose(r1.images, toy[0][r1.init_indices])  # the images were optimised
    assert r1.lr != TINY.lr_init  # and so was the student's learning rate


def test_soft_labels_start_from_the_expert_and_are_learned(toy):
    cfg = replace(TINY, soft_labels=True, min_start_epoch=1)
    experts = train_experts(*toy, 2, cfg, seed=0, progress=False)
    learned = distill(*toy, 2, experts, cfg, seed=0, progress=False)
    kept = distill(*toy, 2, experts, replace(cfg, lr_label=0.0), seed=0, progress=False)
    expert = FlatNet(convnet(1, 2, 32, 4, cfg.net_norm))
    with torch.no_grad():
        logits = expert(experts[0][cfg.max_start_epoch], torch.from_numpy(toy[0]))
    np.testing.assert_allclose(kept.soft_labels, torch.softmax(logits[torch.from_numpy(kept.init_indices)], 1).numpy(), rtol=1e-5, atol=1e-6)
    assert learned.soft_labels.shape == (6, 2) and np.allclose(learned.soft_labels.sum(1), 1, atol=1e-5)
    assert not np.allclose(learned.soft_labels, kept.soft_labels)  # the matching loss moved the labels
    right = logits.argmax(1).numpy() == toy[1]
    for c in range(2):  # started from images the expert classifies right, as long as there are enough
        picked = kept.init_indices[kept.labels == c]
        assert right[picked].sum() == min(3, int(right[toy[1] == c].sum()))
    assert distill(*toy, 2, experts, TINY, seed=0, progress=False).soft_labels is None


def test_herding_picks_images_whose_mean_is_the_class_mean():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 5)) + np.repeat([[0.0], [3.0]], 100, axis=0)
    y = np.repeat([0, 1], 100)
    chosen = herding_selection(features, y, 2, 10)
    assert len(set(chosen)) == 20 and (y[chosen] == np.repeat([0, 1], 10)).all()
    np.testing.assert_array_equal(chosen, herding_selection(features, y, 2, 10))
    for c in range(2):
        mean = features[y == c].mean(0)
        herded = np.linalg.norm(features[chosen[y[chosen] == c]].mean(0) - mean)
        randoms = [np.linalg.norm(features[rng.choice(np.flatnonzero(y == c), 10, replace=False)].mean(0) - mean) for _ in range(50)]
        assert herded < min(randoms)  # closer to the class mean than any of 50 random draws


def test_herding_init_starts_from_the_experts_herded_images(toy):
    cfg = replace(TINY, init="herding", lr_img=0.0)
    experts = train_experts(*toy, 2, cfg, seed=0, progress=False)
    result = distill(*toy, 2, experts, cfg, seed=0, progress=False)
    expected = herding_selection(expert_features(FlatNet(convnet(1, 2, 32, 4, cfg.net_norm)), experts[0][-1], toy[0]), toy[1], 2, 3)
    np.testing.assert_array_equal(result.init_indices, expected)
    np.testing.assert_array_equal(result.images, toy[0][expected])  # lr_img 0: the herded images themselves
    with pytest.raises(ValueError, match="init must be"):
        replace(TINY, init="kmeans")


def test_matching_runs_with_the_instance_norm_convnet_and_without_augmentation(toy):
    cfg = replace(TINY, net_norm="instance", augment="none", iterations=2)
    experts = train_experts(*toy, 2, cfg, seed=0, progress=False)
    result = distill(*toy, 2, experts, cfg, seed=0, progress=False)
    assert all(np.isfinite(result.losses)) and not np.allclose(result.images, toy[0][result.init_indices])
    with pytest.raises(ValueError, match="net_norm"):
        replace(TINY, net_norm="layer")


def test_mkw_experts_anneal_tau_per_epoch_and_matching_runs_through_dynamic_kernels(toy):
    from faultedge.models.kernel_warehouse import KWAttention
    from faultedge.models.mkw import MKWNet
    from faultedge.models.summary import count_params

    cfg = replace(TINY, net="mkw", expert_anneal_epochs=2)
    experts = train_experts(*toy, 2, cfg, seed=0, progress=False)
    slow = train_experts(*toy, 2, replace(cfg, expert_anneal_epochs=100), seed=0, progress=False)
    assert experts[0].shape == (4, count_params(MKWNet(1, 2, (4, 8, 8))))
    torch.testing.assert_close(experts[0][:2], slow[0][:2], rtol=0, atol=0)  # epoch 0 runs at tau = 1 either way
    assert not torch.equal(experts[0][2], slow[0][2])  # epoch 1: tau 0.5 against 0.99
    net = matching_network(cfg, 1, 2)
    set_expert_epoch(net, 1, cfg)
    assert {float(m.temperature) for m in net.modules() if isinstance(m, KWAttention)} == {0.5}
    result = distill(*toy, 2, experts, replace(cfg, min_start_epoch=1), seed=0, progress=False)
    assert all(np.isfinite(result.losses)) and not np.allclose(result.images, toy[0][result.init_indices])
    with pytest.raises(ValueError, match="net must be"):
        replace(TINY, net="resnet")


def test_augmentation_is_seeded_differentiable_and_shift_only_rolls_time():
    x = torch.randn(5, 2, 32, 32, requires_grad=True)
    a = augment_images(x, torch.Generator().manual_seed(3))
    b = augment_images(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, augment_images(x, torch.Generator().manual_seed(4)))
    a.square().sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0  # the gradient reaches the pixels
    shifted = augment_images(x.detach(), torch.Generator().manual_seed(0), ("shift",))
    for i in range(5):  # every sample is its own image rolled along time by one offset
        assert any(torch.equal(shifted[i], torch.roll(x[i].detach(), k, dims=-1)) for k in range(32))
    assert parse_augment("none") == () and parse_augment("level, cutout") == ("level", "cutout")
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        parse_augment("shift,rotate")


def test_flat_parameters_drive_the_network_exactly():
    torch.manual_seed(0)
    net = convnet(6, 7, 32, 4, "instance")
    flat = FlatNet(net)
    x = torch.randn(3, 6, 32, 32)
    torch.testing.assert_close(flat(flat.flatten(), x), net(x))


def test_bad_inputs_are_refused(toy, tmp_path):
    x, y = toy
    with pytest.raises(ValueError, match="needs at least"):
        DistillConfig(expert_train_epochs=5, max_start_epoch=8, expert_epochs=2)
    with pytest.raises(ValueError, match="min_start_epoch < max_start_epoch"):
        DistillConfig(min_start_epoch=8, max_start_epoch=8)
    nan = x.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        train_experts(nan, y, 2, TINY, 0, progress=False)
    with pytest.raises(DataError, match="snapshots"):
        distill(x, y, 2, [torch.zeros(2, 10)], TINY, 0, progress=False)
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    with pytest.raises(RunDirError, match=r"has no distilled\.npz: run `faultedge distill-data --out .*run` first"):
        load_distilled(run)
    hard = DistillResult(np.zeros((4, 1, 16, 16), np.float32), np.array([0, 0, 1, 1]), None, 0.01, [], np.arange(4), 0.0)
    save_distilled(run, hard, ("a", "b"))
    (images, labels), _ = load_distilled(run)
    assert images.shape == (4, 1, 16, 16) and labels.tolist() == [0, 0, 1, 1]
    soft = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.0, 1.0]], np.float32)
    save_distilled(run, replace(hard, soft_labels=soft), ("a", "b"))
    (_, targets), _ = load_distilled(run)
    np.testing.assert_array_equal(targets, soft)  # a soft-label set trains on its distributions
    for bad in (soft[:3], soft * 2, np.full((4, 2), np.nan, np.float32), soft[:, :1]):
        save_distilled(run, replace(hard, soft_labels=bad), ("a", "b"))
        with pytest.raises(RunDirError, match="soft_labels must be one probability distribution"):
            load_distilled(run)
    (run / DISTILLED).write_bytes(b"junk")
    with pytest.raises(RunDirError, match="not a distilled set"):
        load_distilled(run)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faultedge.cli", *args], capture_output=True, text=True, check=check)


def test_cli_distills_cwru_then_trains_mkw_on_it(tmp_path, cwru_dir):
    """The real CWRU files (the robot generator is the slow part of the robot path; its images are tested elsewhere)."""
    out = tmp_path / "dd"
    missing = cli("train-mkw", str(out), check=False)
    assert missing.returncode == 2 and "faultedge distill-data --out" in missing.stderr and "Traceback" not in missing.stderr
    bad = cli("distill-data", "--out", str(out), "--data", str(cwru_dir), "--augment", "rotate", check=False)
    assert bad.returncode != 0 and "unknown augmentation 'rotate'" in bad.stderr and "Traceback" not in bad.stderr
    cli("distill-data", "--out", str(out), "--data", str(cwru_dir), "--n-train", "8", "--n-val", "4", "--n-test", "6", "--images-per-class", "2",
        "--experts", "1", "--expert-epochs", "3", "--iterations", "2", "--syn-steps", "2", "--quiet", "--threads", "1")
    for name in ("dd_config.json", "zca.npz", "experts.pt", "distilled.npz", "distilled.png", "distill_loss.png"):
        assert (out / name).is_file(), name
    assert (out / "distilled.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "dd_config.json").read_text())["distill"]["augment"] == "shift"  # CWRU's default ops
    res = cli("train-mkw", str(out), "--model", "mkw", "cnn", "--train-on", "distilled", "random", "--epochs", "1", "--quiet", "--threads", "1")
    assert "real test acc" in res.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["distill"]["images_per_class"] == 2 and metrics["distill"]["class_names"][0] == "normal"
    for name in ("mkw_distilled", "mkw_random", "cnn_distilled", "cnn_random"):
        assert metrics[name]["test"]["n"] == 60 and metrics[name]["train_images"] == 20
        assert 0.0 <= metrics[name]["val_accuracy"] <= 100.0
        assert (out / f"confusion_{name}.png").is_file()
    assert metrics["mkw_distilled"]["params"] == 39_376
    state = torch.load(out / "mkw_distilled.pt", weights_only=True)
    assert any(k.endswith("warehouses.1.cells") for k in state)


def test_one_hot_soft_labels_train_exactly_like_classes(toy):
    """A soft-label set goes through the same training loop; one-hot distributions are the classes."""
    from faultedge.train.image_train import ImageTrainConfig, train_image_model

    x, y = toy
    cfg = ImageTrainConfig(epochs=2, batch_size=16, anneal_epochs=1)
    nets = []
    for targets in (y, np.eye(2, dtype=np.float32)[y]):
        torch.manual_seed(0)
        net = convnet(1, 2, 32, 4, "batch")
        train_image_model(net, (x, targets), None, cfg, seed=0, progress=False)
        nets.append(net)
    for p, q in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(p, q)
    torch.manual_seed(0)
    assert not torch.equal(nets[0].classifier.weight, convnet(1, 2, 32, 4, "batch").classifier.weight)  # it did train
