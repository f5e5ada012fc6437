"""The integer IR: canonical round trip, and validation errors that name the offending field."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from faultedge.errors import IRError
from faultedge.ir import IRModel, bits_for, int_range


def tiny_ir_json() -> dict:
    """A hand-written 2-layer IR: conv1d(1->2, k3, s1, p1) + relu requant, pool, linear, argmax."""
    return {
        "format": "faultedge-ir",
        "version": 1,
        "name": "tiny",
        "classes": ["a", "b", "c"],
        "input": {"shape": [1, 8], "bits": 8, "signed": True, "scale_exp": -4, "rounding": "half_even", "clamp": [-128, 127]},
        "layers": [
            {
                "op": "conv1d", "name": "c", "in_shape": [1, 8], "out_shape": [2, 8], "kernel": 3, "stride": 1, "padding": 1,
                "weight": {"shape": [2, 1, 3], "bits": 8, "scale_exp": -6, "data": [1, -2, 3, -4, 5, -6]},
                "bias": {"shape": [2], "bits": 32, "scale_exp": -10, "data": [7, -8]},
                "acc_bits": 12,
                "requant": {"shift": 3, "bits": 8, "signed": False, "relu": True, "out_scale_exp": -7, "rounding": "half_even", "clamp": [0, 255]},
            },
            {"op": "maxpool1d", "name": "p", "in_shape": [2, 8], "out_shape": [2, 4], "kernel": 2, "stride": 2},
            {
                "op": "linear", "name": "f", "in_shape": [2, 4], "out_shape": [3],
                "weight": {"shape": [3, 8], "bits": 8, "scale_exp": -5, "data": list(range(-12, 12))},
                "bias": {"shape": [3], "bits": 32, "scale_exp": -12, "data": [1, 2, 3]},
                "acc_bits": 16,
                "requant": None,
            },
            {"op": "argmax", "name": "arg", "in_shape": [3], "out_shape": [1]},
        ],
        "output": {"scale_exp": -12},
        "preprocessing": None,
        "meta": {},
    }


def test_round_trip_is_byte_identical(tmp_path):
    ir = IRModel.from_json(tiny_ir_json())
    ir.save(tmp_path / "a.json")
    again = IRModel.load(tmp_path / "a.json")
    assert again.dumps() == ir.dumps() == (tmp_path / "a.json").read_text()
    assert ir.macs == 2 * 8 * 3 + 24 and ir.logits_layer.name == "f"


def mutate(path: str, value=None, delete: bool = False, obj: dict | None = None) -> dict:
    """A deep copy of `obj` (default: the tiny IR's JSON) with the field at `path` replaced or deleted."""
    obj = copy.deepcopy(tiny_ir_json() if obj is None else obj)
    keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
    target = obj
    for k in keys[:-1]:
        target = target[k]
    if delete:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return obj


@pytest.mark.parametrize(
    "obj, message",
    [
        (mutate("layers[0].weight", delete=True), r"layers\[0\]\.weight: missing field"),
        (mutate("layers[0].weight.data", [1, 2, 3]), r"layers\[0\]\.weight\.data: expected 6 values for shape \[2, 1, 3\], got 3"),
        (mutate("layers[0].weight.shape", [2, 3]), r"layers\[0\]\.weight\.shape"),
        (mutate("layers[1].op", "softmax"), r"layers\[1\]\.op: unsupported op 'softmax'"),
        (mutate("version", 2), r"version: unsupported IR version 2"),
        (mutate("format", "onnx"), r"format: expected 'faultedge-ir'"),
        (mutate("layers[0].bias.scale_exp", -9), r"layers\[0\]\.bias\.scale_exp: -9 != input scale_exp \+ weight scale_exp"),
        (mutate("layers[0].requant.shift", 2), r"layers\[0\]\.requant\.shift: 2 != out_scale_exp"),
        (mutate("layers[0].requant.clamp", [-1, 255]), r"layers\[0\]\.requant\.clamp: \[-1, 255\] does not fit"),
        (mutate("layers[0].requant.rounding", "floor"), r"layers\[0\]\.requant\.rounding: unsupported rounding mode 'floor'"),
        (mutate("layers[0].weight.data", [1, -2, 3, -4, 5, 300]), r"layers\[0\]\.weight\.data: values in \[-4, 300\] do not fit signed 8-bit"),
        (mutate("layers[1].in_shape", [2, 9]), r"layers\[1\]\.in_shape: \[2, 9\] does not match the previous layer's output \[2, 8\]"),
        (mutate("layers[0].out_shape", [2, 7]), r"layers\[0\]\.out_shape: length 7"),
        (mutate("output.scale_exp", -11), r"output\.scale_exp: -11 != the logits' accumulator scale_exp -12"),
        (mutate("classes", ["a", "b"]), r"layers\[3\]\.in_shape: \[3\] does not match 2 classes"),
        (mutate("input.bits", "8"), r"input\.bits: expected an integer"),
        (mutate("layers[2].requant", {"shift": 0, "bits": 8, "signed": True, "relu": False, "out_scale_exp": -12, "rounding": "half_even", "clamp": [-128, 127]}), r"last conv1d/linear must output raw accumulators"),
        ([1, 2], r"expected a JSON object"),
    ],
)
def test_validation_names_the_field(obj, message):
    with pytest.raises(IRError, match=message):
        IRModel.from_json(obj)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(IRError, match="IR file not found"):
        IRModel.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(IRError, match=r"bad\.json: not a JSON IR file"):
        IRModel.load(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps(mutate("version", 0)))
    with pytest.raises(IRError, match=r"old\.json: version: unsupported IR version 0"):
        IRModel.load(tmp_path / "old.json")


def test_integer_ranges():
    assert int_range(8, True) == (-128, 127) and int_range(8, False) == (0, 255) and int_range(8, True, narrow=True) == (-127, 127)
    assert bits_for(-128, 127) == 8 and bits_for(-129, 0) == 9 and bits_for(0, 128) == 9 and bits_for(0, 0) == 1
    assert all(bits_for(-(1 << (b - 1)), (1 << (b - 1)) - 1) == b for b in range(2, 40))
    assert np.iinfo(np.int32).max == int_range(32, True)[1]
