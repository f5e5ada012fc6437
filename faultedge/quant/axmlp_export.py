"""Read a calibrated, trained QuantAxialMLP out into the integer IR (conv1d, shift, add, linear).

As for the other networks: scales come from Brevitas' quant tensors of one float64 eval pass and
must be powers of two, integer weights from `int()` of Brevitas' quantised weights, integer biases
from its inference cache (faultedge.quant.mkw_export's helpers). The layers, channel-major:

    embed          conv1d, kernel = stride = patch: (1, F) -> (C, T), signed requant
    shift{i}       shift, the block's per-channel token offsets
    block{i}.fc1   conv1d, kernel 1, BatchNorm folded, ReLU requant
    block{i}.fc2   conv1d, kernel 1, raw accumulators
    block{i}       add: fc2's accumulators + the block input (skip), signed requant
    reduce         conv1d, kernel 1, ReLU requant: (C, T) -> (head_dim, T)
    fc             linear over the flattened (head_dim, T) map: the logits
"""

from __future__ import annotations

from typing import Any

import brevitas.nn as qnn
import numpy as np
import torch
from brevitas.quant_tensor import QuantTensor

from faultedge.errors import IRError
from faultedge.ir import Add, Argmax, Conv1d, IRModel, Linear, Quantizer, Requant, Shift, int_range
from faultedge.quant.export import po2_exp
from faultedge.quant.mkw_export import _bias, _bound_bits, _int_tensor, _peak, _requant
from faultedge.quant.axmlp_qat import QuantAxialMLP

Trace = dict[int, QuantTensor]


def _trace(net: QuantAxialMLP) -> Trace:
    """One eval pass in float64 (scales no longer depend on the data): every activation quantiser's output; Brevitas caches the integer biases."""
    quantisers = [m for m in net.modules() if isinstance(m, (qnn.QuantIdentity, qnn.QuantReLU))]
    seen: Trace = {}
    hooks = [m.register_forward_hook(lambda mod, _i, out: seen.__setitem__(id(mod), out)) for m in quantisers]
    for m in net.biased():
        m.bias_quant.cache_inference_quant_bias = True
    try:
        net(torch.zeros(1, net.input_shape[1], dtype=torch.float64))
    finally:
        for h in hooks:
            h.remove()
    return seen


def _conv(name: str, conv: qnn.QuantConv1d, in_shape: tuple[int, int], in_exp: int, in_range: tuple[int, int],
          out: QuantTensor | None, relu: bool) -> tuple[Conv1d, np.ndarray]:
    """The IR conv1d of a Brevitas conv (requantised by `out`'s quantiser, or raw when None) and each output channel's accumulator bound."""
    w = _int_tensor(conv.quant_weight(), f"{name} weight")
    acc_exp = in_exp + w.scale_exp
    b = _bias(conv, acc_exp, f"{name} bias")
    bound = np.abs(w.data).reshape(w.shape[0], -1).sum(1) * _peak(in_range) + np.abs(b.data)
    k, s = conv.kernel_size[0], conv.stride[0]
    out_shape = (conv.out_channels, (in_shape[1] - k) // s + 1)
    rq = _requant(out, acc_exp, relu, f"{name} output") if out is not None else None
    return Conv1d(name, in_shape, out_shape, k, s, 0, w, b, _bound_bits(bound.max()), rq), bound


def _range(rq: Requant) -> tuple[int, tuple[int, int]]:
    return rq.out_scale_exp, rq.clamp


@torch.no_grad()
def export_axmlp_ir(net: QuantAxialMLP, name: str, classes: tuple[str, ...], preprocessing: dict[str, Any] | None, meta: dict[str, Any]) -> IRModel:
    """The IR of a calibrated QuantAxialMLP."""
    if missing := net.uncalibrated():
        raise IRError(f"export: the network is not calibrated ({', '.join(missing[:3])}, ...)")
    net.eval().double()  # as the golden check runs it
    try:
        seen = _trace(net)
        q_in = seen[id(net.inp)]
        in_exp, in_bits, in_signed = po2_exp(q_in.scale, "input quantiser"), int(q_in.bit_width), bool(q_in.signed)
        quant = Quantizer(net.input_shape, in_bits, in_signed, in_exp, int_range(in_bits, in_signed))
        embed, _ = _conv("embed", net.embed, net.input_shape, in_exp, quant.clamp, seen[id(net.embed_act)], False)
        layers: list = [embed]
        exp, rng = _range(embed.requant)
        for i, blk in enumerate(net.blocks):
            shape, skip = layers[-1].out_shape, layers[-1].name
            shift = Shift(f"shift{i}", shape, shape, tuple(blk.offsets))
            fc1, _ = _conv(f"block{i}.fc1", blk.fc1, shape, exp, rng, seen[id(blk.act)], True)
            fc2, bound = _conv(f"block{i}.fc2", blk.fc2, fc1.out_shape, *_range(fc1.requant), None, False)
            acc_exp = fc1.requant.out_scale_exp + fc2.weight.scale_exp
            common = min(acc_exp, exp)
            acc_shift, skip_shift = acc_exp - common, exp - common
            total = (bound.astype(np.int64) << acc_shift) + (_peak(rng) << skip_shift)
            add = Add(f"block{i}", shape, shape, skip, acc_shift, skip_shift, _bound_bits(total.max()),
                      _requant(seen[id(blk.out)], common, False, f"block{i} output"))
            layers += [shift, fc1, fc2, add]
            exp, rng = _range(add.requant)
        reduce, _ = _conv("reduce", net.reduce, layers[-1].out_shape, exp, rng, seen[id(net.reduce_act)], True)
        exp, rng = _range(reduce.requant)
        w = _int_tensor(net.fc.quant_weight(), "fc weight")
        b = _bias(net.fc, exp + w.scale_exp, "fc bias")
        head = Linear("fc", reduce.out_shape, (w.shape[0],), w, b, _bound_bits((np.abs(w.data).sum(1) * _peak(rng) + np.abs(b.data)).max()), None)
    finally:
        net.float()
        for m in net.biased():
            m.bias_quant.cache_inference_quant_bias = False
            m.bias_quant._cached_bias = None
    layers += [reduce, head, Argmax("argmax", head.out_shape)]
    return IRModel(name, tuple(classes), quant, tuple(layers), exp + w.scale_exp, preprocessing, meta)
