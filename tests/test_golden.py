"""The golden model: exact Brevitas rounding, saturation, and golden == Brevitas on real CWRU data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faultedge.errors import IRError
from faultedge.ir import IRModel, Requant
from faultedge.ir import golden
from tests.test_ir import tiny_ir_json


def test_round_shift_ties_go_to_even():
    # acc / 2: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2, -2.5 -> -2
    acc = np.array([1, 3, 5, -1, -3, -5, 7, -7])
    assert golden.round_shift(acc, 1).tolist() == [0, 2, 2, 0, -2, -2, 4, -4]
    # acc / 4: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 0.75 -> 1, -0.25 -> 0, -0.75 -> -1
    assert golden.round_shift(np.array([2, 6, 10, 3, -1, -3]), 2).tolist() == [0, 2, 2, 1, 0, -1]
    assert golden.round_shift(np.array([3, -3]), -2).tolist() == [12, -12]


@pytest.mark.parametrize("shift", [1, 2, 5, 11])
def test_round_shift_equals_torch_round_everywhere(shift):
    acc = np.arange(-(1 << 14), 1 << 14, dtype=np.int64)
    ref = torch.round(torch.from_numpy(acc).double() / 2**shift).long().numpy()
    np.testing.assert_array_equal(golden.round_shift(acc, shift), ref)


def test_requant_saturates_and_relu_clamps():
    rq = Requant(shift=2, bits=8, signed=False, relu=True, out_scale_exp=0, clamp=(0, 255))
    assert golden.requantize(np.array([-100, 0, 1022, 1023, 5000]), rq).tolist() == [0, 0, 255, 255, 255]
    srq = Requant(shift=0, bits=8, signed=True, relu=False, out_scale_exp=0, clamp=(-128, 127))
    assert golden.requantize(np.array([-1000, -128, 127, 1000]), srq).tolist() == [-128, -128, 127, 127]


def test_tiny_network_by_hand():
    ir = IRModel.from_json(tiny_ir_json())
    x = np.array([[[1, 2, 3, 4, -5, -6, 7, 127]]])
    res = golden.run(ir, x, trace=True)
    conv = res.activations[0]
    w = np.array([[1, -2, 3], [-4, 5, -6]])
    padded = np.pad(x[0, 0], 1)
    acc = np.array([[np.dot(w[o], padded[i : i + 3]) for i in range(8)] for o in range(2)]) + np.array([[7], [-8]])
    expected = np.clip(np.asarray(torch.round(torch.tensor(acc, dtype=torch.float64) / 8)), 0, 255)
    np.testing.assert_array_equal(conv[0], expected)
    pooled = expected.reshape(2, 4, 2).max(-1).reshape(-1)
    logits = np.arange(-12, 12).reshape(3, 8) @ pooled + np.array([1, 2, 3])
    np.testing.assert_array_equal(res.logits[0], logits)
    assert res.classes[0] == int(np.argmax(logits))


def test_bad_inputs_are_refused():
    ir = IRModel.from_json(tiny_ir_json())
    with pytest.raises(IRError, match="outside the input range"):
        golden.run(ir, np.full((1, 1, 8), 300))
    with pytest.raises(IRError, match="takes integers"):
        golden.run(ir, np.zeros((1, 1, 8)))
    with pytest.raises(IRError, match=r"expected features of shape \(N, 1, 8\)"):
        golden.predict(ir, np.zeros((1, 9)))
    with pytest.raises(IRError, match="NaN"):
        golden.predict(ir, np.full((1, 8), np.nan))


def test_input_quantiser_matches_brevitas_grid():
    ir = IRModel.from_json(tiny_ir_json())  # scale 2**-4, signed 8-bit
    x = np.array([[0.03125, 0.09375, -0.03125, 100.0, -100.0, 0.5, 1 / 3, -7.96875]])
    q = golden.quantize_input(ir, x)[0, 0]
    assert q.tolist() == [0, 2, 0, 127, -128, 8, 5, -128]  # ties (0.5, 1.5, -0.5, -127.5 ticks) go to even
