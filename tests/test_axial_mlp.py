"""The axial-shift MLP (seed 004's FaultMLP block in one dimension): its budget, its shift, the BatchNorm
that folds, and its family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faultedge.errors import FaultedgeError
from faultedge.families import FAMILIES, family
from faultedge.models.axial_mlp import AxialMLP, AxialMLPConfig, axial_shift, shift_offsets
from faultedge.models.summary import count_macs, count_params


def test_the_default_fits_the_dkd_students_budget():
    """The CNN student: 2,830 parameters, 35,328 MACs (tests/test_pipeline.py); the MLP stays below both."""
    model = AxialMLP()
    params, macs = count_params(model), count_macs(model, torch.zeros(1, 1024))
    # embed 16*8+8, 2 blocks x (BatchNorm 2*8 + 8*8+8 + 8*8+8), reduce 8*3+3, head 64*3*10+10
    assert params == 136 + 2 * (16 + 72 + 72) + 27 + 1_930 == 2_413 <= 2_830
    # embed 64 tokens x 16 x 8, blocks 2 x 64 x (8*8 + 8*8), reduce 64 x 8*3, head 192 x 10
    assert macs == 8_192 + 2 * 8_192 + 1_536 + 1_920 == 28_032 <= 35_328
    assert model(torch.randn(5, 1024)).shape == (5, 10)


def test_channel_groups_shift_by_minus_to_plus_half_s_times_d():
    assert shift_offsets(8, 3, 1) == [-1, -1, -1, 0, 0, 0, 1, 1]  # groups of ceil(8/3) = 3 channels, AS-MLP's split
    assert shift_offsets(10, 5, 2) == [-4, -4, -2, -2, 0, 0, 2, 2, 4, 4]
    x = torch.arange(1, 6, dtype=torch.float32)[None, :, None].repeat(1, 1, 3)  # tokens 1..5 in each of 3 channels
    y = axial_shift(x, [-2, 0, 1])
    assert y[0, :, 0].tolist() == [3, 4, 5, 0, 0]  # output token t reads input token t + 2, zero fill at the end
    assert y[0, :, 1].tolist() == [1, 2, 3, 4, 5]
    assert y[0, :, 2].tolist() == [0, 1, 2, 3, 4]


def test_the_shift_lets_a_block_see_its_neighbour_tokens():
    """Without the shift a block is token-wise; with it, a change in one token reaches its neighbours (s = 3, d = 1) and no further."""
    torch.manual_seed(0)
    model = AxialMLP(AxialMLPConfig(depth=1)).eval()
    x = torch.randn(1, 1024)
    x2 = x.clone()
    x2[0, 16 * 10 : 16 * 11] += 1.0  # token 10
    changed = (model.features(x2) - model.features(x)).abs().sum(2)[0].nonzero().flatten().tolist()
    assert changed == [9, 10, 11]


def test_the_batchnorm_folds_exactly_into_the_channel_mlp():
    """At inference the BatchNorm after the shift is a per-channel affine map right before fc1: folding it into fc1's weights and bias
    gives the same block output (what the integer IR will hold)."""
    torch.manual_seed(1)
    model = AxialMLP()
    model.train()
    for _ in range(3):  # move the running statistics away from 0 / 1
        model(torch.randn(64, 1024) * 3 + 1)
    model.eval()
    block = model.blocks[0]
    bn = block.norm
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded = nn.Linear(block.fc1.in_features, block.fc1.out_features)
    with torch.no_grad():
        folded.weight.copy_(block.fc1.weight * scale)
        folded.bias.copy_(block.fc1.bias + block.fc1.weight @ (bn.bias - bn.running_mean * scale))
    x = model.embed(torch.randn(7, 1024).reshape(7, 64, 16))
    with torch.no_grad():
        expected = block(x)
        shifted = axial_shift(x, block.offsets)
        got = x + block.fc2(block.act(folded(shifted)))
    assert torch.allclose(got, expected, atol=1e-5)


def test_bad_shapes_and_settings_are_refused():
    with pytest.raises(FaultedgeError, match=r"the patch \(24 bins\) must divide the 1024 features"):
        AxialMLPConfig(patch=24)
    with pytest.raises(FaultedgeError, match=r"5 shift groups need at least as many channels \(dim 4\)"):
        AxialMLPConfig(dim=4, shift=5)
    with pytest.raises(FaultedgeError, match=r"hidden must be at least 1"):
        AxialMLPConfig(hidden=0)
    with pytest.raises(FaultedgeError, match=r"expected inputs of shape \(N, 1024\), got \(2, 512\)"):
        AxialMLP()(torch.zeros(2, 512))
    assert AxialMLPConfig.from_dict(AxialMLPConfig(dim=6).to_dict()) == AxialMLPConfig(dim=6)


def test_the_family_is_registered_with_training_and_quantisation():
    f = family("axmlp")
    assert FAMILIES["axmlp"] is f and f.steps[:2] == ("train", "quantize")  # tests/test_axmlp_quant.py: the fixed-point path
    spec = f.train_spec(None, 3)
    assert spec.train.seed == 3 and spec.sdd.student == "axmlp" and spec.sdd.distill == "dynamic"
    assert spec.train.augment is not None  # the robust recipe
    assert f.qat_config(8, epochs=2).epochs == 2
