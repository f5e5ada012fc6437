"""Read a calibrated, trained QuantMKWNet out into the integer IR (kwconv2d, avgpool2d, linear).

As for the 1-D networks (faultedge.quant.export): scales are read from Brevitas' quant tensors
of one eval pass (in float64) and must be powers of two; integer weights, cells and gains are
Brevitas' `int()` of its quantised parameters, integer biases come from Brevitas' inference
cache. So the IR holds exactly the numbers the Brevitas model computes with.
"""

from __future__ import annotations

from typing import Any

import brevitas.nn as qnn
import numpy as np
import torch
from brevitas.quant_tensor import QuantTensor
from torch import nn

from faultedge.errors import IRError
from faultedge.ir import Argmax, AttentionNorm, AvgPool2d, IntTensor, IRModel, KWConv2d, Linear, Quantizer, Requant, bits_for, int_range
from faultedge.quant.export import po2_exp
from faultedge.quant.mkw_qat import BIAS_BITS, QuantKWBlock, QuantMKWNet, attention_eps

Trace = dict[int, QuantTensor]  # id(quantiser module) -> its output in the traced pass


def _int_tensor(qt: QuantTensor, what: str) -> IntTensor:
    data = qt.int().to(torch.int64).numpy()
    return IntTensor(tuple(data.shape), int(qt.bit_width), po2_exp(qt.scale, what), data)


def _bias(layer: nn.Module, acc_exp: int, what: str) -> IntTensor:
    """The integer bias Brevitas cached in the traced pass; its scale must be the accumulator's, and it
    must fit 32 bits unclamped (Brevitas would saturate it silently)."""
    cached = layer.bias_quant._cached_bias
    if cached is None:
        raise IRError(f"{what}: Brevitas did not cache the integer bias")
    if po2_exp(cached.scale, what) != acc_exp:
        raise IRError(f"{what}: bias scale is not input scale * weight scale")
    exact = torch.round(layer.bias.detach().double() * 2.0**-acc_exp)
    lo, hi = int_range(BIAS_BITS, True)
    if exact.min() < lo or exact.max() > hi:
        raise IRError(f"{what}: {int(exact.abs().max())} does not fit {BIAS_BITS} bits; use fewer bits")
    data = torch.round(cached.value / cached.scale).to(torch.int64).numpy()
    return IntTensor(tuple(data.shape), int(cached.bit_width), acc_exp, data)


def _requant(out: QuantTensor, acc_exp: int, relu: bool, what: str) -> Requant:
    """The IR requantisation a Brevitas activation quantiser performs on accumulators at 2**acc_exp."""
    exp, bits, signed = po2_exp(out.scale, what), int(out.bit_width), bool(out.signed)
    return Requant(exp - acc_exp, bits, signed, relu, exp, int_range(bits, signed))


def _bound_bits(bound: float) -> int:
    return bits_for(-int(bound), int(bound))


def _peak(clamp: tuple[int, int]) -> int:
    return max(abs(clamp[0]), abs(clamp[1]))


def _linear(name: str, fc: qnn.QuantLinear, in_exp: int, in_range: tuple[int, int], out: QuantTensor | None, relu: bool, in_shape: tuple[int, ...]) -> Linear:
    w = _int_tensor(fc.quant_weight(), f"{name} weight")
    acc_exp = in_exp + w.scale_exp
    b = _bias(fc, acc_exp, f"{name} bias")
    acc_bits = _bound_bits((np.abs(w.data).sum(1) * _peak(in_range) + np.abs(b.data)).max())
    return Linear(name, in_shape, (w.shape[0],), w, b, acc_bits, _requant(out, acc_exp, relu, f"{name} output") if out is not None else None)


def _block(i: int, blk: QuantKWBlock, seen: Trace, in_shape: tuple[int, int, int], in_exp: int, in_range: tuple[int, int], cells: IntTensor) -> tuple[KWConv2d, AvgPool2d]:
    c_in, h, w = in_shape
    k, pad, bits = blk.kernel_size, blk.padding, blk.bits
    gap = _requant(seen[id(blk.q_gap)], in_exp - (h * w).bit_length() + 1, False, f"kw{i} attention input")
    fc1 = _linear(f"kw{i}.fc1", blk.fc1, gap.out_scale_exp, gap.clamp, seen[id(blk.q_hidden)], True, (c_in,))
    fc2 = _linear(f"kw{i}.fc2", blk.fc2, fc1.requant.out_scale_exp, fc1.requant.clamp, seen[id(blk.q_logits)], False, fc1.out_shape)
    norm = AttentionNorm(attention_eps(fc2.requant.out_scale_exp), bits, blk.attention_exp, int_range(bits, True))
    gain = _int_tensor(blk.gain(), f"kw{i} gain")
    assembly = _peak(norm.clamp) * np.abs(cells.data.reshape(cells.shape[0], -1)).sum(0).max() * np.abs(gain.data).max()
    kernel_rq = _requant(seen[id(blk.q_kernel)], norm.scale_exp + cells.scale_exp + gain.scale_exp, False, f"kw{i} kernel")
    acc_exp = in_exp + kernel_rq.out_scale_exp
    bias = _bias(blk.conv, acc_exp, f"kw{i} bias")
    acc_bits = _bound_bits(c_in * k * k * _peak(kernel_rq.clamp) * _peak(in_range) + np.abs(bias.data).max())
    out_rq = _requant(seen[id(blk.q_out)], acc_exp, True, f"kw{i} output")
    if po2_exp(seen[id(blk.pool)].scale, f"pool{i}") != out_rq.out_scale_exp:
        raise IRError(f"pool{i}: Brevitas' average pool changed the scale (its bit width must be the activations')")
    out_shape = (blk.out_channels, h + 2 * pad - k + 1, w + 2 * pad - k + 1)
    conv = KWConv2d(f"kw{i}", in_shape, out_shape, k, pad, gap, fc1, fc2, norm, blk.mixtures, blk.n_cells, blk.cell_out, blk.cell_in,
                    blk.warehouse, cells, gain, _bound_bits(assembly), kernel_rq, bias, acc_bits, out_rq)
    pooled = (out_shape[0], out_shape[1] // 2, out_shape[2] // 2)
    return conv, AvgPool2d(f"pool{i}", out_shape, pooled, 2)


def _trace(net: QuantMKWNet) -> Trace:
    """One eval pass (in float64; scales no longer depend on the data): every quantiser's output, and the
    integer biases cached by Brevitas."""
    quantisers = [m for m in net.modules() if isinstance(m, (qnn.QuantIdentity, qnn.QuantReLU, qnn.TruncAvgPool2d))]
    biased = [m for m in net.modules() if hasattr(m, "bias_quant")]
    seen: Trace = {}
    hooks = [m.register_forward_hook(lambda mod, _i, out: seen.__setitem__(id(mod), out)) for m in quantisers]
    for m in biased:
        m.bias_quant.cache_inference_quant_bias = True
    try:
        net(torch.zeros(1, *net.input_shape, dtype=torch.float64))
    finally:
        for h in hooks:
            h.remove()
    return seen


@torch.no_grad()
def export_mkw_ir(net: QuantMKWNet, name: str, classes: tuple[str, ...], preprocessing: dict[str, Any] | None, meta: dict[str, Any]) -> IRModel:
    """The IR of a calibrated QuantMKWNet."""
    if missing := net.uncalibrated():
        raise IRError(f"export: the network is not calibrated ({', '.join(missing[:3])}, ...)")
    net.eval().double()  # as the golden check runs it; 32-bit biases are exact in float64
    try:
        seen = _trace(net)
        warehouses = tuple(_int_tensor(w(), f"warehouse {j}") for j, w in enumerate(net.warehouses))
        q_in = seen[id(net.q_in)]
        in_exp, in_bits, in_signed = po2_exp(q_in.scale, "input quantiser"), int(q_in.bit_width), bool(q_in.signed)
        quant = Quantizer(net.input_shape, in_bits, in_signed, in_exp, int_range(in_bits, in_signed))
        layers: list = []
        shape, exp, rng = net.input_shape, in_exp, quant.clamp
        for i, blk in enumerate(net.blocks):
            conv, pool = _block(i, blk, seen, shape, exp, rng, warehouses[blk.warehouse])
            layers += [conv, pool]
            shape, exp, rng = pool.out_shape, conv.requant.out_scale_exp, conv.requant.clamp
        head = _linear("fc", net.fc, exp, rng, None, False, shape)
    finally:
        net.float()
        for m in net.modules():
            if hasattr(m, "bias_quant"):
                m.bias_quant.cache_inference_quant_bias = False
                m.bias_quant._cached_bias = None
    layers += [head, Argmax("argmax", head.out_shape)]
    return IRModel(name, tuple(classes), quant, tuple(layers), exp + head.weight.scale_exp, preprocessing, meta, warehouses)
