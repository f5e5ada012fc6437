"""MKW-Net in fixed point: the exact division and rounding, the new IR ops and their validation,
and golden == Brevitas QAT model, bit for bit, on real CWRU and robot wavelet images."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch
from brevitas.quant_tensor import IntQuantTensor
from test_ir import mutate

from faultedge.data.images import ROBOT, ImageDataSpec, build_image_sets
from faultedge.errors import IRError, RunDirError
from faultedge.ir import AttentionNorm, AvgPool2d, IRModel, dispatch
from faultedge.families.mkw import MKW_NET, image_quant_data
from faultedge.models.mkw import MKWNet
from faultedge.ir import golden
from faultedge.quant.mkw_export import export_mkw_ir
from faultedge.quant.mkw_qat import AttentionDivision, MKWQATConfig, build_quant_mkw
from faultedge.quant.stage import quantize, quantize_network
from faultedge.quant.verify import brevitas_logits_f64
from faultedge.runs import RunDir, write_json
from faultedge.train.dd_pipeline import ZCA, DDConfig, build_model, train_and_score
from faultedge.train.image_train import ImageTrainConfig, evaluate, train_image_model


def small_images(source: str, snr_db: float | None, **counts: int):
    """Real wavelet images at 16 x 16 (the CWT's cost grows with the rows), few windows per class."""
    spec = ImageDataSpec.for_source(source, seed=0, snr_db=snr_db, **counts)
    return replace(spec, cwt=replace(spec.cwt, size=16))


def random_mkw(in_channels: int = 6, n_classes: int = 7, size: int = 16) -> MKWNet:
    """An untrained MKW-Net with lively attention (tau = 0, large second attention FC)."""
    torch.manual_seed(0)
    model = MKWNet(in_channels, n_classes, image_size=size).eval()
    model.set_temperature(0.0)
    with torch.no_grad():
        for conv in model.convs:
            conv.attention.fc2.weight.normal_(0, 0.5)
    return model


@pytest.fixture(scope="module")
def random_ir():
    model = random_mkw()
    x = torch.randn(48, 6, 16, 16)
    net = build_quant_mkw(model, MKWQATConfig())
    net.calibrate(x)
    return model, net, export_mkw_ir(net, "mkw", tuple("abcdefg"), None, {}), x


# ---- the arithmetic: division, attention normalisation, average pooling --------------------------


def test_division_rounds_half_to_even_exactly():
    num = np.arange(-400, 401)[:, None]
    den = np.arange(1, 41)[None, :]
    exact = np.vectorize(lambda p, q: round(Fraction(int(p), int(q))))(num, den)  # Fraction rounds ties to even
    np.testing.assert_array_equal(golden.divide_half_even(num, den), exact)
    ties = golden.divide_half_even(np.array([1, 3, 5, -1, -3, -5, 7, 9]), np.array([2, 2, 2, 2, 2, 2, 2, 6]))
    assert ties.tolist() == [0, 2, 2, 0, -2, -2, 4, 2]  # 0.5 1.5 2.5 -0.5 -1.5 -2.5 3.5 1.5
    with pytest.raises(IRError, match="denominator must be positive"):
        golden.divide_half_even(np.array([1]), np.array([0]))


def test_attention_norm_equals_the_qat_division_on_ties_and_saturation():
    norm = AttentionNorm(eps=1, bits=8, scale_exp=-7, clamp=(-128, 127))
    z = np.array([
        [1, 254, 0],  # denominator 256: 128 / 256 = 0.5 -> 0
        [3, 252, 0],  # 1.5 -> 2
        [-5, 250, 0],  # -2.5 -> -2
        [-7, 248, 0],  # -3.5 -> -4
        [1000, 0, 0],  # 127.87 -> 128 -> saturates at 127
        [-1000, 0, 0],  # -127.87 -> -128
        [0, 0, 0],  # eps keeps the denominator positive
    ])
    got = golden.attention_norm(z, norm)
    assert got[:4, 0].tolist() == [0, 2, -2, -4] and got[4, 0] == 127 and got[5, 0] == -128 and not got[6].any()
    rng = np.random.default_rng(0)
    z = np.concatenate([z, rng.integers(-128, 128, size=(20000, 3))])
    for z_exp, dtype in ((-3, torch.float32), (0, torch.float64), (4, torch.float64)):  # the scale of z cancels in the quotient
        zf = torch.from_numpy(np.ldexp(z.astype(np.float64), z_exp)).to(dtype)
        ref = AttentionDivision.apply(zf, z_exp, norm.eps, norm.scale_exp, *norm.clamp) * 2.0**-norm.scale_exp
        np.testing.assert_array_equal(golden.attention_norm(z, norm), ref.numpy().astype(np.int64))


def test_attention_division_passes_the_quotients_gradient_straight_through():
    z = torch.tensor([[0.5, -1.25, 2.0], [3.0, 0.0, -0.75], [400.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    a = AttentionDivision.apply(z, -2, 4, -7, -128, 127)  # eps = 4 on the grid 2**-2
    g = torch.tensor([[1.0, -2.0, 0.5], [0.25, 1.0, -1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
    (a * g).sum().backward()
    zr = z.detach().clone().requires_grad_(True)
    ((zr / (zr.abs().sum(-1, keepdim=True) + 1.0)) * g).sum().backward()  # eps 4 * 2**-2 = 1
    np.testing.assert_allclose(z.grad[:2].numpy(), zr.grad[:2].numpy(), rtol=1e-12)
    assert a[2, 0] * 128 == 127 and z.grad[2, 0] == 0  # saturated: no gradient


def test_avgpool2d_shift_rounds_half_to_even_like_brevitas(random_ir):
    x = np.array([[[[0, 1, 1, 1, 2, 3], [0, 1, 0, 0, 0, 5], [7, 7, 9, 9, 1, 1], [7, 7, 9, 8, 1, 2]]]])  # sums 2, 2, 10 | 28, 35, 5
    pool = AvgPool2d("p", (1, 4, 6), (1, 2, 3), 2)
    got = dispatch(pool, golden.OPS, "golden model")(x, pool)
    assert got.tolist() == [[[[0, 0, 2], [7, 9, 1]]]]  # 0.5 -> 0, 2.5 -> 2, 8.75 -> 9, 1.25 -> 1
    qat_pool = random_ir[1].blocks[0].pool  # Brevitas' TruncAvgPool2d as the QAT model uses it
    scale = torch.tensor(2.0**-4, dtype=torch.float64)
    qx = IntQuantTensor(torch.from_numpy(x).double() * scale, scale, torch.tensor(0.0), torch.tensor(8.0), False, False)
    with torch.no_grad():
        out = qat_pool.double()(qx)
    qat_pool.float()
    assert float(out.scale) == float(scale)  # the pool keeps the grid
    np.testing.assert_array_equal(got, out.int().numpy())


# ---- the IR: round trip, golden == QAT, validation, consumers without the ops ------------------


def test_folded_fixed_point_network_follows_the_float_one(random_ir):
    model, net, _, x = random_ir
    with torch.no_grad():
        q, f = net(x), model(x)
    assert (q - f).abs().max() < 0.15 * f.abs().max()  # BN folding, kernel assembly, pooling, head all in place
    assert (q.argmax(1) == f.argmax(1)).float().mean() > 0.7


def test_random_network_round_trips_and_golden_equals_qat(random_ir, tmp_path):
    _, net, ir, x = random_ir
    ir.save(tmp_path / "m.ir.json")
    again = IRModel.load(tmp_path / "m.ir.json")
    assert again.dumps() == ir.dumps() == (tmp_path / "m.ir.json").read_text()
    assert [l.op for l in again.layers] == ["kwconv2d", "avgpool2d"] * 3 + ["linear", "argmax"]
    assert len(again.warehouses) == 2 and again.layers[2].warehouse_cells is again.layers[4].warehouse_cells  # stage 2 shares one
    res = golden.predict(again, x.numpy())
    ref = brevitas_logits_f64(net, x)
    np.testing.assert_array_equal(golden.dequantized_logits(again, res.logits), ref)
    assert len(np.unique(res.logits, axis=0)) == len(x)  # every sample its own logits
    k0 = golden.kw_kernels(golden.quantize_input(again, x.numpy()), again.layers[0])
    assert not np.array_equal(k0[0], k0[1])  # per-sample kernels
    conv = again.layers[0]
    assert again.macs > conv.out_shape[0] * 16 * 16 * 6 * 9 and conv.macs < again.macs


def test_golden_equals_qat_at_4_bits_after_training_steps():
    """Narrower grids (the average pool's Brevitas rounding must follow them) and learned scales and weights moved by QAT."""
    x = torch.randn(32, 6, 16, 16)
    net = build_quant_mkw(random_mkw(), MKWQATConfig(bits=4))
    net.calibrate(x)
    before = export_mkw_ir(net, "mkw", tuple("abcdefg"), None, {})
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), torch.arange(32) % 7).backward()
        opt.step()
    net.eval()
    ir = export_mkw_ir(net, "mkw", tuple("abcdefg"), None, {})
    assert ir.input.bits == 4 and ir.layers[0].kernel_requant.clamp == (-8, 7) and ir.layers[0].requant.clamp == (0, 15)
    assert ir.dumps() != before.dumps()  # the training steps changed integers
    np.testing.assert_array_equal(golden.dequantized_logits(ir, golden.predict(ir, x.numpy()).logits), brevitas_logits_f64(net, x))


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("layers[0].warehouse", 5, r"layers\[0\]\.warehouse: index 5 but the file has 2 warehouse\(s\)"),
        ("layers[2].warehouse", 0, r"layers\[2\]\.warehouse: warehouses\[0\] has shape"),
        ("layers[0].norm.eps", 0, r"layers\[0\]\.norm\.eps: 0 is outside"),
        ("layers[0].norm.scale_exp", 2, r"layers\[0\]\.norm\.scale_exp: 2 is outside"),
        ("layers[0].norm.rounding", "floor", r"layers\[0\]\.norm\.rounding: unsupported rounding mode 'floor'"),
        ("layers[0].gap.shift", 0, r"layers\[0\]\.gap\.shift: 0 != out_scale_exp"),
        ("layers[0].mixtures", 3, r"layers\[0\]\.mixtures: 3 != \(C_out / cell_out\)"),
        ("layers[0].cell_in", 4, r"layers\[0\]\.cell_out: cells of"),
        ("layers[0].fc2.requant", None, r"layers\[0\]\.fc2\.requant: an attention FC must requantise"),
        ("layers[0].fc1.op", "conv1d", r"layers\[0\]\.fc1\.op: expected 'linear'"),
        ("layers[0].kernel_requant.shift", 1, r"layers\[0\]\.kernel_requant\.shift: 1 != out_scale_exp"),
        ("layers[0].bias.scale_exp", 3, r"layers\[0\]\.bias\.scale_exp: 3 != input scale_exp \+ kernel scale_exp"),
        ("layers[0].out_shape", [16, 15, 16], r"layers\[0\]\.out_shape: expected \[16, 16, 16\] \(stride 1\)"),
        ("layers[1].kernel", 3, r"layers\[1\]\.kernel: 3 x 3 is not a power of two"),
        ("layers[1].out_shape", [16, 4, 4], r"layers\[1\]\.out_shape: expected \[16, 8, 8\]"),
        ("warehouses[1].data", [1, 2], r"warehouses\[1\]\.data: expected \d+ values"),
        ("warehouses", {}, r"warehouses: expected a list"),
        ("input.shape", [6, 12, 16], r"layers\[0\]\.in_shape: \[6, 16, 16\] does not match"),
    ],
)
def test_validation_names_the_field(random_ir, path, value, message):
    with pytest.raises(IRError, match=message):
        IRModel.from_json(mutate(path, value, obj=random_ir[2].to_json()))


def test_missing_warehouses_and_narrow_accumulators_are_refused(random_ir):
    obj = random_ir[2].to_json()
    with pytest.raises(IRError, match=r"layers\[0\]\.warehouse: index 0 but the file has 0"):
        IRModel.from_json(mutate("warehouses", delete=True, obj=obj))
    narrow = IRModel.from_json(mutate("layers[0].assembly_acc_bits", 6, obj=obj))
    with pytest.raises(IRError, match=r"layer 'kw0': kernel assembly \d+ overflows assembly_acc_bits=6"):
        golden.predict(narrow, random_ir[3][:2].numpy())


def test_a_consumer_without_the_image_ops_names_them(random_ir):
    ir = random_ir[2]
    one_d = {op: fn for op, fn in golden.OPS.items() if op in ("conv1d", "linear", "maxpool1d")}
    with pytest.raises(IRError, match=r"accelerator generator does not support op 'kwconv2d' \(layer 'kw0'\); supported: conv1d, linear, maxpool1d"):
        dispatch(ir.layers[0], one_d, "accelerator generator")
    with pytest.raises(IRError, match=r"MKW-Net quantisation supports 2 to 8 bits, got 16"):
        MKWQATConfig(bits=16)


def test_export_refuses_an_uncalibrated_network():
    with pytest.raises(IRError, match=r"export: the network is not calibrated \(q_in, blocks\.0\.q_gap, blocks\.0\.q_hidden, \.\.\.\)"):
        export_mkw_ir(build_quant_mkw(random_mkw()), "mkw", tuple("abcdefg"), None, {})


# ---- real data: short trainings, the whole path ---------------------------------------------------


def test_cwru_wavelet_images_golden_equals_qat_bit_for_bit(cwru_dir):
    """CWRU 0 hp at -6 dB: MKW-Net trained briefly, 8-bit QAT, every test logit equal."""
    sets = build_image_sets(small_images(str(cwru_dir), -6.0, n_train=24, n_val=8, n_test=16))
    torch.manual_seed(0)
    model = build_model("mkw", sets.image_shape, sets.n_classes)
    train_image_model(model, sets.train, sets.val, ImageTrainConfig(epochs=12, batch_size=32, anneal_epochs=2, patience=12), seed=0, progress=False)
    float_acc = evaluate(model, sets.test, sets.n_classes)["accuracy"]
    q = quantize_network(MKW_NET, model, image_quant_data(sets), MKWQATConfig(epochs=2, batch_size=32, calibration_images=128), progress=False)
    assert q.check["samples"] == 160 and q.check["mismatched_logits"] == 0 and q.check["mismatched_samples"] == 0
    # independently, from the JSON text and integer inputs
    ir = IRModel.from_json(json.loads(q.ir.dumps()))
    x_int = golden.quantize_input(ir, sets.test[0])
    res = golden.run(ir, x_int)
    ref = brevitas_logits_f64(q.net, torch.from_numpy(sets.test[0]))
    np.testing.assert_array_equal(golden.dequantized_logits(ir, res.logits), ref)
    int_acc = 100 * float((res.classes == sets.test[1]).mean())
    assert float_acc > 35 and int_acc > 35, (float_acc, int_acc)  # learned something (chance: 10 %)
    assert ir.input.shape == (1, 16, 16) and len(ir.classes) == 10


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faultedge.cli", *args], capture_output=True, text=True)


def test_cli_quantizes_a_robot_run(tmp_path):
    """A run directory as distill-data + train-mkw leave it; `quantize --network mkw` on it."""
    spec = small_images(ROBOT, None, n_train=12, n_val=4, n_test=6)
    sets = build_image_sets(spec)
    run = RunDir(tmp_path / "robot")
    run.path.mkdir()
    write_json(run / "dd_config.json", DDConfig(data=spec).to_dict())
    sets.whitening.save(run / ZCA)
    model, _ = train_and_score("mkw", "real", sets, None, seed=0, progress=False, epochs=3)
    run.save_model("mkw_real.pt", model)

    with pytest.raises(RunDirError, match=r"has no mkw_distilled\.pt: run `faultedge train-mkw .* --train-on distilled` first"):
        quantize(run, MKW_NET, MKWQATConfig(), source="distilled")
    res = cli("quantize", str(run.path), "--network", "mkw", "--epochs", "1", "--quiet", "--threads", "1")
    assert res.returncode == 0, res.stderr
    assert "golden == Brevitas (float64) on 42 test samples: 0 mismatched logits" in res.stdout
    entry = json.loads((run / "metrics.json").read_text())["quant_mkw_8bit"]
    assert entry["golden_vs_brevitas"]["mismatched_logits"] == 0 and entry["test"]["n"] == 42
    assert (run / "confusion_mkw_8bit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ir = IRModel.load(run / "model_mkw.ir.json")
    vectors = np.load(run / "golden_vectors_mkw.npz")
    np.testing.assert_array_equal(golden.run(ir, vectors["x_int"]).logits, vectors["logits"])
    net = MKW_NET.load_qat(run)
    np.testing.assert_array_equal(golden.dequantized_logits(ir, vectors["logits"]), brevitas_logits_f64(net, torch.from_numpy(vectors["images"])))
    assert ir.meta["network"] == "mkw" and ir.input.shape == (6, 16, 16) and len(ir.classes) == 7
