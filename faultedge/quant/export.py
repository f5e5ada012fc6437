"""Read a trained QuantNet out into the integer IR.

Scales are read from Brevitas itself (the quant tensors of one eval pass) and must be powers
of two; integer weights come from `quant_weight().int()`, integer biases from Brevitas' own
inference cache, so the IR holds exactly the numbers Brevitas computes with.
"""

from __future__ import annotations

import math
from typing import Any

import brevitas.nn as qnn
import numpy as np
import torch

from faultedge.errors import IRError
from faultedge.ir import Argmax, Conv1d, IntTensor, IRModel, Linear, MaxPool1d, Quantizer, Requant, bits_for, int_range
from faultedge.quant.qat import QuantNet


def po2_exp(scale: torch.Tensor | float, what: str) -> int:
    """The exponent e of a scale 2**e; anything else breaks the fixed-point contract."""
    s = float(torch.as_tensor(scale).reshape(-1)[0]) if torch.is_tensor(scale) else float(scale)
    e = round(math.log2(s))
    if s <= 0 or 2.0**e != s:
        raise IRError(f"{what}: scale {s!r} is not a power of two")
    return e


def _int_tensor(values: torch.Tensor, bits: int, scale_exp: int) -> IntTensor:
    data = values.detach().to(torch.int64).numpy()
    return IntTensor(tuple(data.shape), bits, scale_exp, data)


def _acc_bits(weight: np.ndarray, bias: np.ndarray, in_lo: int, in_hi: int) -> int:
    """Signed width holding every partial and final sum of any input in [in_lo, in_hi], in any order."""
    w = np.abs(weight.reshape(weight.shape[0], -1)).sum(1)
    bound = int((w * max(abs(in_lo), abs(in_hi)) + np.abs(bias)).max())
    return bits_for(-bound, bound)


@torch.no_grad()
def export_ir(net: QuantNet, example: torch.Tensor, name: str, classes: tuple[str, ...], preprocessing: dict[str, Any] | None, meta: dict[str, Any]) -> IRModel:
    """Trace one eval pass of `net` on `example` inputs and write its integer IR."""
    net.eval()
    net.enable_bias_cache()
    seen: dict[int, Any] = {}
    hooks = [m.register_forward_hook(lambda mod, _i, out, key=id(m): seen.__setitem__(key, out)) for m in [net.inp, *net.acts]]
    try:
        net(example)
    finally:
        for h in hooks:
            h.remove()

    q_in = seen[id(net.inp)]
    in_exp = po2_exp(q_in.scale, "input quantiser")
    in_bits, in_signed = int(q_in.bit_width), bool(q_in.signed)
    quant = Quantizer(net.input_shape, in_bits, in_signed, in_exp, int_range(in_bits, in_signed))
    layers: list = []
    shape, scale, lo, hi = net.input_shape, in_exp, *quant.clamp
    for i, (mac, act, pool) in enumerate(zip(net.macs, net.acts, net.pools)):
        qw = mac.quant_weight()
        w_exp = po2_exp(qw.scale, f"layer {i} weight")
        weight = _int_tensor(qw.int(), int(qw.bit_width), w_exp)
        cached = mac.bias_quant._cached_bias
        if cached is None:
            raise IRError(f"layer {i}: Brevitas did not cache the integer bias")
        acc_exp = scale + w_exp
        if po2_exp(cached.scale, f"layer {i} bias") != acc_exp:
            raise IRError(f"layer {i}: bias scale is not input scale * weight scale")
        bias = _int_tensor(torch.round(cached.value / cached.scale), int(cached.bit_width), acc_exp)
        acc_bits = _acc_bits(weight.data, bias.data, lo, hi)
        requant = None
        if isinstance(act, (qnn.QuantReLU, qnn.QuantIdentity)):
            out = seen[id(act)]
            out_exp = po2_exp(out.scale, f"layer {i} activation")
            bits, signed = int(out.bit_width), bool(out.signed)
            requant = Requant(out_exp - acc_exp, bits, signed, isinstance(act, qnn.QuantReLU), out_exp, int_range(bits, signed))
            scale, (lo, hi) = out_exp, requant.clamp
        else:
            scale = acc_exp
        if isinstance(mac, qnn.QuantConv1d):
            out_len = (shape[1] + 2 * mac.padding[0] - mac.kernel_size[0]) // mac.stride[0] + 1
            out_shape = (mac.out_channels, out_len)
            layers.append(Conv1d(f"conv{i}", shape, out_shape, mac.kernel_size[0], mac.stride[0], mac.padding[0], weight, bias, acc_bits, requant))
        else:
            out_shape = (mac.out_features,)
            layers.append(Linear(f"fc{i}", shape, out_shape, weight, bias, acc_bits, requant))
        shape = out_shape
        if pool:
            pooled = (shape[0], (shape[1] - pool) // pool + 1)
            layers.append(MaxPool1d(f"pool{i}", shape, pooled, pool, pool))
            shape = pooled
    layers.append(Argmax("argmax", shape))
    return IRModel(name, tuple(classes), quant, tuple(layers), scale, preprocessing, meta)
