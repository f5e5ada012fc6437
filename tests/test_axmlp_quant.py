"""The axial-shift MLP in fixed point: the IR's shift and residual add (arithmetic and validation), the
BatchNorm fold and channel-major layout of the Brevitas network, and golden == Brevitas bit for bit on
real CWRU windows and at the extremes, through `faultedge quantize --network axmlp`."""

from __future__ import annotations

import json
from dataclasses import replace
import subprocess
import sys

import numpy as np
import pytest
import torch
from brevitas.graph.calibrate import quantization_status_manager
from test_ir import mutate

from faultedge.errors import IRError, RunDirError
from faultedge.families import family
from faultedge.ir import Add, IRModel, Requant, Shift, golden
from faultedge.ir.files import Artifacts
from faultedge.models.axial_mlp import AxialMLP
from faultedge.models.student import Student
from faultedge.quant.axmlp_export import export_axmlp_ir
from faultedge.quant.axmlp_qat import QuantAxialMLP
from faultedge.quant.qat import QATConfig
from faultedge.quant.stage import quantize
from faultedge.quant.verify import brevitas_logits_f64, verify_golden
from faultedge.runs import RunDir
from faultedge.train.sdd import SDDConfig

AXMLP = family("axmlp")


@pytest.fixture(scope="module")
def quantized(axmlp_run):
    return {bits: quantize(axmlp_run, AXMLP, QATConfig(bits=bits, epochs=1), progress=False) for bits in (8, 16)}


@pytest.fixture(scope="module")
def ir8(axmlp_run, quantized):
    return IRModel.load(axmlp_run / Artifacts("axmlp", 8).ir)


# ---- the arithmetic of the new ops ---------------------------------------------------------------


def test_shift_moves_each_channel_with_zero_fill():
    x = np.arange(1, 6)[None, None, :].repeat(3, 1)  # (1, 3 channels, 5): 1..5 each
    out = golden.OPS["shift"](x, Shift("s", (3, 5), (3, 5), (-2, 0, 1)))
    assert out[0].tolist() == [[3, 4, 5, 0, 0], [1, 2, 3, 4, 5], [0, 1, 2, 3, 4]]  # out[c, l] = x[c, l - offset]


def test_add_aligns_both_operands_then_rounds_once():
    """acc at 2**-6, skip at 2**-3: skip << 3, sum, one round-half-even shift by 3 onto 2**-3, saturated."""
    rq = Requant(3, 8, True, False, -3, (-128, 127))
    layer = Add("a", (1, 5), (1, 5), "x", 0, 3, 13, rq)
    acc = np.array([[[4, 4, -12, 20, 2000]]])
    skip = np.array([[[0, 1, 0, 0, 127]]])  # sums 4, 12, -12, 20, 3016: 0.5, 1.5, -1.5, 2.5, 377 output LSBs
    assert golden.OPS["add"](acc, layer, skip)[0].tolist() == [[0, 2, -2, 2, 127]]  # ties to even, then saturation
    with pytest.raises(IRError, match="overflows acc_bits=13"):
        golden.OPS["add"](acc * 8, layer, skip)


def test_the_network_is_conv1d_shift_add_in_the_ir(ir8):
    ops = [l.op for l in ir8.layers]
    assert ops == ["conv1d", *["shift", "conv1d", "conv1d", "add"] * 2, "conv1d", "linear", "argmax"]
    embed, shift = ir8.layers[:2]
    assert (embed.kernel, embed.stride, embed.out_shape) == (16, 16, (8, 64))  # the patch embedding
    assert shift.offsets == (-1, -1, -1, 0, 0, 0, 1, 1)
    adds = [l for l in ir8.layers if isinstance(l, Add)]
    assert [a.skip for a in adds] == ["embed", "block0"]  # each block adds its own input
    assert all(a.acc_shift == 0 and a.skip_shift > 0 for a in adds)  # the accumulators are on the finer grid
    assert ir8.macs == 28_032 and ir8.frontend is not None
    assert IRModel.from_json(json.loads(ir8.dumps())).dumps() == ir8.dumps()


@pytest.mark.parametrize("path, value, message", [
    ("layers[1].offsets", [0] * 7, r"layers\[1\]\.offsets: expected a list of 8 integers"),
    ("layers[1].offsets", [64] + [0] * 7, r"layers\[1\]\.offsets: every offset must be below the length 64"),
    ("layers[1].out_shape", [8, 63], r"layers\[1\]\.out_shape: a shift keeps the shape \[8, 64\]"),
    ("layers[4].skip", "nope", r"layers\[4\]\.skip: no earlier layer is named 'nope'"),
    ("layers[4].skip", "block0.fc1", r"layers\[4\]\.acc_shift: shifts \(0, \d+\) do not align .* \('block0.fc1'\)"),  # another scale
    ("layers[4].skip_shift", 3, r"layers\[4\]\.acc_shift: shifts \(0, 3\) do not align"),
    ("layers[4].requant", None, r"layers\[4\]\.requant: an add must requantise"),
    ("layers[4].requant.shift", 1, r"layers\[4\]\.requant\.shift: 1 != out_scale_exp - accumulator scale_exp"),
    ("layers[3].requant", {"shift": 0}, r"layers\[3\]\.requant\.bits: missing field"),
    ("layers[1].name", "embed", r"layers\[1\]\.name: 'embed' names an earlier layer too"),
])
def test_bad_shift_and_add_fields_are_named(ir8, path, value, message):
    with pytest.raises(IRError, match=message):
        IRModel.from_json(mutate(path, value, obj=ir8.to_json()))


def test_an_add_needs_raw_accumulators_before_it_and_raw_accumulators_need_an_add(ir8):
    obj = ir8.to_json()
    fc1, fc2 = obj["layers"][2:4]
    acc_exp = fc1["requant"]["out_scale_exp"] + fc2["weight"]["scale_exp"]  # fc2 requantised onto its own accumulator grid: same values
    fc2["requant"] = {"shift": 0, "bits": 32, "signed": True, "relu": False, "out_scale_exp": acc_exp, "rounding": "half_even", "clamp": [-2**31, 2**31 - 1]}
    with pytest.raises(IRError, match=r"layers\[4\]\.op: an add must follow a conv1d/linear that outputs raw accumulators"):
        IRModel.from_json(obj)
    obj = ir8.to_json()
    del obj["layers"][4]  # fc2's accumulators now go straight into the next shift
    obj["layers"][4]["in_shape"] = [8, 64]
    with pytest.raises(IRError, match=r"layers\[3\]\.requant: only the last conv1d/linear, or one an add requantises, may omit"):
        IRModel.from_json(obj)


# ---- Brevitas: the fold, the layout, and golden == Brevitas ------------------------------------------


def test_the_quantised_network_without_quantisers_is_the_float_network(real_features):
    """The BatchNorm folded into fc1, channel-major convs and the permuted head compute the float model (quantisers off)."""
    torch.manual_seed(0)
    model = AxialMLP()
    model.train()
    for _ in range(3):  # running statistics away from 0 / 1
        model(torch.randn(64, 1024) * 2 + 0.5)
    model.eval()
    _, x, _ = real_features
    x = torch.from_numpy(x[:64]).float()
    net = QuantAxialMLP(model, 8).eval()
    with torch.no_grad(), quantization_status_manager(net, disable_act_quant=True, disable_weight_quant=True, disable_bias_quant=True):
        np.testing.assert_allclose(net(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_golden_equals_brevitas_on_real_test_windows(axmlp_run, quantized):
    for bits, entry in quantized.items():
        assert entry["golden_vs_brevitas"] == {"samples": 1000, "mismatched_logits": 0, "mismatched_samples": 0}
        art = Artifacts("axmlp", bits)
        ir = IRModel.load(axmlp_run / art.ir)  # independently: everything reloaded from disk
        vectors = np.load(axmlp_run / art.vectors)
        net = AXMLP.load_qat(axmlp_run, bits)
        ref = brevitas_logits_f64(net, torch.from_numpy(vectors["features"]))
        res = golden.run(ir, vectors["x_int"])
        np.testing.assert_array_equal(golden.dequantized_logits(ir, res.logits), ref)
        np.testing.assert_array_equal(res.logits, vectors["logits"])
        assert ir.input.bits == bits and all(l.weight.bits == bits for l in ir.layers if hasattr(l, "weight"))
        assert entry["test"]["accuracy"] > 80.0 and entry["macs"] == 28_032
        # the same trained network exports to the same bytes
        again = replace(export_axmlp_ir(net, "axmlp", ir.classes, ir.preprocessing, ir.meta), frontend=ir.frontend)
        assert again.dumps() == ir.dumps() == (axmlp_run / art.ir).read_text()


def test_golden_equals_brevitas_at_the_extremes(axmlp_run, quantized, ir8):
    """Inputs at both ends of the input grid and beyond, alternating and constant: the adds and requantisers saturate."""
    net = AXMLP.load_qat(axmlp_run, 8)
    lim = 2.0 ** ir8.input.scale_exp * 200
    rng = np.random.default_rng(0)
    x = np.stack([np.full(1024, lim), np.full(1024, -lim), np.where(np.arange(1024) % 2, lim, -lim),
                  np.where(np.arange(1024) % 32 < 16, lim, -lim), *rng.choice([-lim, lim], (12, 1024))]).astype(np.float32)
    assert verify_golden(ir8, net, torch.from_numpy(x))["mismatched_logits"] == 0
    acts = golden.run(ir8, golden.quantize_input(ir8, x), trace=True).activations
    adds = [a for l, a in zip(ir8.layers, acts) if isinstance(l, Add)]
    assert any((a == l.requant.clamp[1]).any() or (a == l.requant.clamp[0]).any() for l, a in zip([l for l in ir8.layers if isinstance(l, Add)], adds))


def test_quantize_cli_through_the_family(axmlp_run, quantized, tmp_path):
    res = subprocess.run([sys.executable, "-m", "faultedge.cli", "quantize", str(axmlp_run.path), "--network", "axmlp", "--epochs", "1", "--quiet"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "0 mismatched logits" in res.stdout
    metrics = json.loads((axmlp_run / "metrics.json").read_text())
    assert metrics["quant_axmlp_8bit"]["golden_vs_brevitas"]["mismatched_logits"] == 0
    assert AXMLP.steps[:2] == ("train", "quantize")


def test_a_cnn_run_is_not_an_axmlp_run(tmp_path):
    from faultedge.runs import write_json

    run = RunDir(tmp_path / "cnn")
    run.path.mkdir()
    write_json(run / "sdd_config.json", SDDConfig(student="cnn").to_dict())
    write_json(run / "preprocessing.json", {"window": 2048})
    run.save_model("student_sdd.pt", Student())
    with pytest.raises(RunDirError, match="trained the CNN student with the dynamic teacher"):
        AXMLP.float_model(run)
