"""Brevitas quantisation-aware training of the axial-shift MLP, op for op the integer IR.

The float network (faultedge.models.axial_mlp) works on (batch, tokens, channels); the quantised
one works channel-major, (batch, channels, tokens), as the IR does, so every per-token linear
layer is a kernel-1 `QuantConv1d` and the patch embedding a `QuantConv1d` with stride = kernel =
patch. The head's weight columns are permuted once from token-major (t * C + c, torch.flatten of
(tokens, channels)) to channel-major (c * T + t), so the quantised head flattens as the IR's
`linear` does; the permutation keeps the per-tensor weight scale, so nothing else changes.

Each block's BatchNorm is folded into fc1 before QAT (it sits between the shift and fc1, so it is
a per-channel affine map of fc1's input: W·(g·y + s) + b = (W·g)·y + (W·s + b)).

Brevitas does every quantisation with the fixed-point quantisers of faultedge.quant.qat: the input
and the embedding output are signed, fc1's and the reduction's outputs unsigned (ReLU), weights
8-bit per tensor, biases 32-bit at the accumulator scale. Not a Brevitas layer, because Brevitas
has none: the shift, which moves the quantised values (a QuantTensor in, the same grid out, zero
fill), and the residual add, the float sum of the block input and fc2's accumulators (exact in
float64), quantised by one signed `QuantIdentity` - the IR's `add`.
"""

from __future__ import annotations

import brevitas.nn as qnn
import torch
from brevitas.graph.calibrate import calibration_mode
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint
from brevitas.quant_tensor import QuantTensor, _unpack_quant_tensor
from torch import nn

from faultedge.models.axial_mlp import AxialMLP, AxialShiftBlock, axial_shift


def signed_act(bits: int) -> qnn.QuantIdentity:
    return qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=True)


def relu_act(bits: int) -> qnn.QuantReLU:
    return qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=True)


def quant_conv(weight: torch.Tensor, bias: torch.Tensor, bits: int, stride: int = 1, quant_out: bool = True) -> qnn.QuantConv1d:
    """A Brevitas conv1d (out, in, kernel) with fixed-point weights and a 32-bit bias at the accumulator scale."""
    out_ch, in_ch, kernel = weight.shape
    conv = qnn.QuantConv1d(in_ch, out_ch, kernel, stride=stride, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=bits,
                           bias_quant=Int32Bias, return_quant_tensor=quant_out)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


def shift_tokens(x: QuantTensor | torch.Tensor, offsets: list[int]) -> QuantTensor | torch.Tensor:
    """The axial shift on (batch, channels, tokens): channel c moves by offsets[c] tokens, zero fill (0 is on every
    grid, so a QuantTensor stays one on the same grid; calibration passes plain tensors)."""
    out = axial_shift(_unpack_quant_tensor(x), offsets, token_dim=2)
    return x.set(value=out) if isinstance(x, QuantTensor) else out


class QuantAxialBlock(nn.Module):
    """x -> requant(x + fc2(relu(fc1'(shift(x))))), fc1' = fc1 with the BatchNorm folded."""

    def __init__(self, block: AxialShiftBlock, bits: int) -> None:
        super().__init__()
        self.offsets = list(block.offsets)
        bn = block.norm
        gain = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        shift = (bn.bias - bn.running_mean * gain).detach()
        w1 = block.fc1.weight.detach()
        self.fc1 = quant_conv((w1 * gain[None, :])[:, :, None], block.fc1.bias.detach() + w1 @ shift, bits)
        self.act = relu_act(bits)
        self.fc2 = quant_conv(block.fc2.weight.detach()[:, :, None], block.fc2.bias.detach(), bits, quant_out=False)
        self.out = signed_act(bits)

    def forward(self, x: QuantTensor) -> QuantTensor:
        acc = self.fc2(self.act(self.fc1(shift_tokens(x, self.offsets))))
        return self.out(_unpack_quant_tensor(x) + acc)


class QuantAxialMLP(nn.Module):
    """The axial-shift MLP quantised by Brevitas; forward takes (N, n_features) and returns the head's accumulators as floats."""

    def __init__(self, model: AxialMLP, bits: int) -> None:
        super().__init__()
        cfg = model.cfg
        self.bits = bits
        self.input_shape = (1, cfg.n_features)
        self.inp = signed_act(bits)
        self.embed = quant_conv(model.embed.weight.detach()[:, None, :], model.embed.bias.detach(), bits, stride=cfg.patch)
        self.embed_act = signed_act(bits)
        self.blocks = nn.ModuleList(QuantAxialBlock(b, bits) for b in model.blocks)
        self.reduce = quant_conv(model.reduce.weight.detach()[:, :, None], model.reduce.bias.detach(), bits)
        self.reduce_act = relu_act(bits)
        head = model.fc.weight.detach()
        channel_major = head.view(head.shape[0], cfg.tokens, cfg.head_dim).permute(0, 2, 1).reshape(head.shape[0], -1)
        self.fc = qnn.QuantLinear(channel_major.shape[1], head.shape[0], weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=bits,
                                  bias_quant=Int32Bias, return_quant_tensor=False)
        with torch.no_grad():
            self.fc.weight.copy_(channel_major)
            self.fc.bias.copy_(model.fc.bias.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed_act(self.embed(self.inp(x.unsqueeze(1))))
        for block in self.blocks:
            h = block(h)
        return self.fc(torch.flatten(self.reduce_act(self.reduce(h)), 1))

    def biased(self) -> list[nn.Module]:
        """Every layer with a Brevitas-quantised bias, in order."""
        return [m for m in self.modules() if isinstance(m, (qnn.QuantConv1d, qnn.QuantLinear))]

    def uncalibrated(self) -> list[str]:
        """Names of the activation quantisers whose scale has not been initialised from statistics."""
        return [name.split(".act_quant")[0] for name, m in self.named_modules() if hasattr(m, "collect_stats_steps") and m.counter <= m.collect_stats_steps]

    @torch.no_grad()
    def calibrate(self, features: torch.Tensor, batch: int = 256) -> None:
        """Initialise every activation scale from the float activations of `features` (training inputs), with
        Brevitas' calibration mode, so QAT starts from the float network's ranges however few batches it runs."""
        self.eval()
        with calibration_mode(self):
            for i in range(0, len(features), batch):
                self(features[i : i + batch])
