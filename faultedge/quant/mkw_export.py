"""Read a calibrated, trained QuantMKWNet out into the integer IR (kwconv2d, avgpool2d, linear).

Integer values are computed with the very functions the QAT forward uses (`weight_exp`,
`fake_quant`'s rounding), so the IR holds exactly the numbers the fake-quant model computes with.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from faultedge.errors import IRError
from faultedge.ir import Argmax, AttentionNorm, AvgPool2d, IntTensor, IRModel, KWConv2d, Linear, Quantizer, Requant, bits_for, int_range
from faultedge.quant.mkw_qat import BIAS_BITS, ActQuant, QuantKWBlock, QuantMKWNet, weight_exp


def _ints(values: torch.Tensor, scale_exp: int, bits: int, what: str, saturate: bool = True) -> IntTensor:
    """round_half_even(values / 2**scale_exp), clamped to signed `bits` (biases must fit without clamping)."""
    v = torch.round(values.detach().double() * 2.0**-scale_exp)
    lo, hi = int_range(bits, True)
    if not saturate and (v.min() < lo or v.max() > hi):
        raise IRError(f"{what}: {int(v.abs().max())} does not fit {bits} bits; use fewer bits")
    data = v.clamp(lo, hi).to(torch.int64).numpy()
    return IntTensor(tuple(data.shape), bits, scale_exp, data)


def _weight(w: torch.Tensor, bits: int) -> IntTensor:
    return _ints(w, weight_exp(w, bits), bits, "weight")


def _requant(q: ActQuant, acc_exp: int, relu: bool) -> Requant:
    return Requant(q.exp - acc_exp, q.bits, q.signed, relu, q.exp, q.range)


def _bound_bits(bound: float) -> int:
    return bits_for(-int(bound), int(bound))


def _linear(name: str, weight: torch.Tensor, bias: torch.Tensor, bits: int, in_exp: int, in_range: tuple[int, int], out: ActQuant | None, relu: bool, in_shape: tuple[int, ...]) -> Linear:
    w = _weight(weight, bits)
    acc_exp = in_exp + w.scale_exp
    b = _ints(bias, acc_exp, BIAS_BITS, f"{name} bias", saturate=False)
    peak = max(abs(in_range[0]), abs(in_range[1]))
    acc_bits = _bound_bits((np.abs(w.data).sum(1) * peak + np.abs(b.data)).max())
    return Linear(name, in_shape, (w.shape[0],), w, b, acc_bits, _requant(out, acc_exp, relu) if out else None)


def _block(i: int, blk: QuantKWBlock, in_shape: tuple[int, int, int], in_exp: int, in_range: tuple[int, int], cells: IntTensor) -> tuple[KWConv2d, AvgPool2d]:
    c_in, h, w = in_shape
    k, pad, bits = blk.kernel_size, blk.padding, blk.bits
    gap = _requant(blk.q_gap, in_exp - (h * w).bit_length() + 1, relu=False)
    fc1 = _linear(f"kw{i}.fc1", blk.fc1_weight, blk.fc1_bias, bits, blk.q_gap.exp, blk.q_gap.range, blk.q_hidden, True, (c_in,))
    fc2 = _linear(f"kw{i}.fc2", blk.fc2_weight, blk.fc2_bias, bits, blk.q_hidden.exp, blk.q_hidden.range, blk.q_logits, False, fc1.out_shape)
    norm = AttentionNorm(blk.eps, bits, blk.attention_exp, int_range(bits, True))
    gain = _weight(blk.gain, blk.gain_bits)
    a_peak = max(abs(v) for v in norm.clamp)
    assembly = a_peak * np.abs(cells.data.reshape(cells.shape[0], -1)).sum(0).max() * np.abs(gain.data).max()
    kernel_rq = _requant(blk.q_kernel, norm.scale_exp + cells.scale_exp + gain.scale_exp, relu=False)
    acc_exp = in_exp + blk.q_kernel.exp
    bias = _ints(blk.bias, acc_exp, BIAS_BITS, f"kw{i} bias", saturate=False)
    k_peak = max(abs(v) for v in kernel_rq.clamp)
    x_peak = max(abs(in_range[0]), abs(in_range[1]))
    acc_bits = _bound_bits(c_in * k * k * k_peak * x_peak + np.abs(bias.data).max())
    out_shape = (blk.out_channels, h + 2 * pad - k + 1, w + 2 * pad - k + 1)
    conv = KWConv2d(f"kw{i}", in_shape, out_shape, k, pad, gap, fc1, fc2, norm, blk.mixtures, blk.n_cells, blk.cell_out, blk.cell_in,
                    blk.warehouse, cells, gain, _bound_bits(assembly), kernel_rq, bias, acc_bits, _requant(blk.q_out, acc_exp, relu=True))
    pooled = (out_shape[0], out_shape[1] // 2, out_shape[2] // 2)
    return conv, AvgPool2d(f"pool{i}", out_shape, pooled, 2)


@torch.no_grad()
def export_mkw_ir(net: QuantMKWNet, name: str, classes: tuple[str, ...], preprocessing: dict[str, Any] | None, meta: dict[str, Any]) -> IRModel:
    """The IR of a calibrated QuantMKWNet (its activation scales must be frozen)."""
    if any(q.calibrating for q in net.quantizers()):
        raise IRError("export: the network is still calibrating")
    warehouses = tuple(_weight(w, net.bits) for w in net.warehouses)
    q_in = net.q_in
    quant = Quantizer(net.input_shape, q_in.bits, q_in.signed, q_in.exp, q_in.range)
    layers: list = []
    shape, exp, rng = net.input_shape, q_in.exp, q_in.range
    for i, blk in enumerate(net.blocks):
        conv, pool = _block(i, blk, shape, exp, rng, warehouses[blk.warehouse])
        layers += [conv, pool]
        shape, exp, rng = pool.out_shape, blk.q_out.exp, blk.q_out.range
    head = _linear("fc", net.fc_weight, net.fc_bias, net.bits, exp, rng, None, False, shape)
    layers += [head, Argmax("argmax", head.out_shape)]
    return IRModel(name, tuple(classes), quant, tuple(layers), exp + head.weight.scale_exp, preprocessing, meta, warehouses)
