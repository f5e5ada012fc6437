"""Brevitas quantisation-aware training of MKW-Net, op for op the integer IR's kwconv2d / avgpool2d / linear.

Brevitas does every quantisation: the same fixed-point quantisers as the 1-D networks
(faultedge.quant.qat) - power-of-two scales, round half to even, saturation, straight-through
gradients - so that the float64 forward of this module, divided by the scales, is the golden
model's integer arithmetic:

- input, attention input (GAP), hidden, logits, kernel and output grids: Brevitas activation
  quantisers (`QuantIdentity` / `QuantReLU` with *ActPerTensorFixedPoint), their scales
  initialised from runtime statistics by `brevitas.graph.calibrate.calibration_mode` on training
  images and then learned;
- attention FCs and classifier: `brevitas.nn.QuantLinear` (8-bit fixed-point weights, 32-bit
  biases at the accumulator scale);
- warehouse cells and the folded BatchNorm gains: Brevitas weight quantisers
  (Int8WeightPerTensorFixedPoint, the gains at `gain_bits`) on parameters that are not a
  layer's weight (`QuantParam`);
- convolution biases: Brevitas' Int32Bias at input scale x kernel scale (`PerSampleConv2d`);
- 2 x 2 average pool: `brevitas.nn.TruncAvgPool2d` with rounding (sum, then a round-half-even
  shift by 2 at the input's scale: the IR's avgpool2d).

Custom, because Brevitas has no layer for them: the attention normalisation
a = z / (sum |z| + eps) (an exact integer division with ties to even, straight-through
gradient: `AttentionDivision`), the per-image kernel assembly a @ cells (times the quantised gain)
and the per-image grouped convolution of the Brevitas-quantised input and kernels.

The float model's BatchNorms are folded (attention: into fc1; convolution: a per-channel gain
applied to the assembled kernel before it is quantised, and a bias). QAT runs at temperature
tau = 0, the fully dynamic end of KernelWarehouse's schedule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import brevitas.nn as qnn
import torch
import torch.nn.functional as F
from brevitas.graph.calibrate import calibration_mode
from brevitas.inject.defaults import RoundTo8bit
from brevitas.nn.mixin.parameter import QuantBiasMixin, QuantWeightMixin
from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int32Bias, Uint8ActPerTensorFixedPoint
from brevitas.quant_tensor import QuantTensor, _unpack_quant_tensor
from torch import nn

from faultedge.errors import IRError
from faultedge.ir import int_range
from faultedge.models.kernel_warehouse import NORM_EPS, KWConv2d
from faultedge.models.mkw import MKWNet
from faultedge.quant.export import po2_exp

BIAS_BITS = 32
MAX_BITS = 8  # wider activations and weights push MKW-Net's biases past the IR's 32 bits


@dataclass(frozen=True)
class MKWQATConfig:
    bits: int = 8  # weights, cells, activations, attention weights, kernels
    gain_bits: int = 16  # the folded BatchNorm gain of each convolution (one number per channel)
    epochs: int = 8
    lr: float = 5e-4
    patience: int = 4
    batch_size: int = 64
    calibration_images: int = 512

    def __post_init__(self) -> None:
        if not 2 <= self.bits <= MAX_BITS:
            raise IRError(f"MKW-Net quantisation supports 2 to {MAX_BITS} bits, got {self.bits}")

    def to_dict(self) -> dict:
        return asdict(self)


def activation_quantiser(bits: int, signed: bool, relu: bool = False) -> nn.Module:
    """A Brevitas fixed-point activation quantiser returning QuantTensors (scale: runtime stats, then learned)."""
    if relu:
        return qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=bits, return_quant_tensor=True)
    quant = Int8ActPerTensorFixedPoint if signed else Uint8ActPerTensorFixedPoint
    return qnn.QuantIdentity(act_quant=quant, bit_width=bits, return_quant_tensor=True)


def quant_linear(weight: torch.Tensor, bias: torch.Tensor, bits: int, last: bool = False) -> qnn.QuantLinear:
    """A Brevitas linear layer with fixed-point weights and a 32-bit bias at the accumulator scale."""
    fc = qnn.QuantLinear(weight.shape[1], weight.shape[0], bias=True, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=bits,
                         bias_quant=Int32Bias, return_quant_tensor=not last)
    with torch.no_grad():
        fc.weight.copy_(weight)
        fc.bias.copy_(bias)
    return fc


class QuantParam(QuantWeightMixin, nn.Module):
    """A parameter that is not a layer's weight (warehouse cells, folded BN gains), quantised by a
    Brevitas per-tensor fixed-point weight quantiser; calling it returns the quantised tensor."""

    def __init__(self, value: torch.Tensor, bits: int) -> None:
        nn.Module.__init__(self)
        self.weight = nn.Parameter(value.detach().clone())  # the proxy tracks `weight`, so it must exist first
        QuantWeightMixin.__init__(self, Int8WeightPerTensorFixedPoint, weight_bit_width=bits)

    @property
    def output_channel_dim(self) -> int:
        return 0

    def forward(self) -> QuantTensor | torch.Tensor:
        return self.quant_weight()


class PerSampleConv2d(QuantBiasMixin, nn.Module):
    """Conv2d with one kernel per image (a grouped convolution over the batch); the bias is
    quantised by Brevitas' Int32Bias at input scale x kernel scale. Returns the accumulators."""

    def __init__(self, bias: torch.Tensor, padding: int) -> None:
        nn.Module.__init__(self)
        self.bias = nn.Parameter(bias.detach().clone())
        QuantBiasMixin.__init__(self, Int32Bias)
        self.padding = padding

    def forward(self, x: QuantTensor | torch.Tensor, kernels: QuantTensor | torch.Tensor) -> torch.Tensor:
        bias = _unpack_quant_tensor(self.bias_quant(self.bias, x, kernels))
        xv, kv = _unpack_quant_tensor(x), _unpack_quant_tensor(kernels)
        b, c_in = xv.shape[:2]
        y = F.conv2d(xv.reshape(1, b * c_in, *xv.shape[2:]), kv.reshape(-1, c_in, *kv.shape[3:]), padding=self.padding, groups=b)
        return y.view(b, kv.shape[1], *y.shape[2:]) + bias[None, :, None, None]


def attention_eps(logits_exp: int) -> int:
    """KernelWarehouse's eps on the grid 2**logits_exp of the attention logits (at least 1: a positive denominator)."""
    return max(1, round(NORM_EPS * 2.0**-logits_exp))


def attention_exp(bits: int) -> int:
    """The scale exponent of the attention weights: |a| < 1 on a signed `bits`-bit grid."""
    return -(bits - 1)


def _div_half_even(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den (int64, den > 0) rounded to the nearest integer, ties to even: the QAT side's own
    implementation of golden.divide_half_even, which the tests hold against it on ties and saturation."""
    q = torch.div(num, den, rounding_mode="floor")
    twice_r = 2 * (num - q * den)  # in [0, 2 * den)
    return q + ((twice_r > den) | ((twice_r == den) & (q % 2 == 1))).to(q.dtype)


class AttentionDivision(torch.autograd.Function):
    """Forward: the IR's attention normalisation in integers, clamp(div_half_even(z_int * 2**-exp, sum |z_int| + eps))
    * 2**exp (faultedge.ir.AttentionNorm). Backward: straight through the rounding - the gradient of
    z / (sum |z| + eps), zero where the quotient saturated."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, z_exp: int, eps: int, exp: int, lo: int, hi: int) -> torch.Tensor:
        z_int = torch.round(z * 2.0**-z_exp).to(torch.int64)  # exact: z is on its grid
        den = z_int.abs().sum(dim=-1, keepdim=True) + eps
        a_int = _div_half_even(z_int * (1 << -exp), den)
        ctx.save_for_backward(z, ((a_int >= lo) & (a_int <= hi)))
        ctx.den = den.to(z.dtype) * 2.0**z_exp  # sum |z| + eps, in z's units
        return a_int.clamp(lo, hi).to(z.dtype) * 2.0**exp

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, inside = ctx.saved_tensors
        g = grad * inside
        dz = g / ctx.den - torch.sign(z) * (g * z).sum(dim=-1, keepdim=True) / ctx.den**2
        return dz, None, None, None, None, None


def normalise_attention(z: QuantTensor | torch.Tensor, bits: int) -> torch.Tensor:
    """z / (sum |z| + eps) over the last axis: on the signed `bits`-bit grid 2**-(bits - 1) for quantised
    logits (eps on their grid), in float during calibration (quantisers off: z is a plain tensor)."""
    if not isinstance(z, QuantTensor):
        return z / (z.abs().sum(dim=-1, keepdim=True) + NORM_EPS)
    z_exp = po2_exp(z.scale.detach(), "attention logits")
    return AttentionDivision.apply(z.value, z_exp, attention_eps(z_exp), attention_exp(bits), *int_range(bits, True))


def _fold_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Gain and shift of an eval-mode BatchNorm: bn(y) = gain * y + shift."""
    gain = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return gain.clone(), (bn.bias.detach() - bn.running_mean * gain).clone()


class QuantKWBlock(nn.Module):
    """One MKW-Net block: KW convolution (BN folded) -> ReLU -> 2x2 average pool, quantised by Brevitas."""

    def __init__(self, conv: KWConv2d, norm: nn.BatchNorm2d, warehouse: int, bits: int, gain_bits: int, in_signed: bool) -> None:
        super().__init__()
        att = conv.attention
        self.bits, self.warehouse = bits, warehouse
        self.in_channels, self.out_channels, self.kernel_size, self.padding = conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding
        self.cell_out, self.cell_in = conv.cell_out, conv.cell_in
        self.mixtures, self.n_cells = att.n_mixtures, att.n_cells
        g1, s1 = _fold_bn(att.bn)
        self.q_gap = activation_quantiser(bits, in_signed)
        self.fc1 = quant_linear(att.fc1.weight.detach() * g1[:, None], s1, bits)
        self.q_hidden = activation_quantiser(bits, False, relu=True)
        self.fc2 = quant_linear(att.fc2.weight.detach(), att.fc2.bias.detach(), bits)
        self.q_logits = activation_quantiser(bits, True)
        gain, shift = _fold_bn(norm)
        self.gain = QuantParam(gain, gain_bits)
        self.q_kernel = activation_quantiser(bits, True)
        self.conv = PerSampleConv2d(shift, conv.padding)
        self.q_out = activation_quantiser(bits, False, relu=True)
        self.pool = qnn.TruncAvgPool2d(2, trunc_quant=RoundTo8bit, bit_width=bits, return_quant_tensor=True)

    @property
    def attention_exp(self) -> int:
        return attention_exp(self.bits)

    def attention(self, x: QuantTensor | torch.Tensor) -> torch.Tensor:
        """(B, m, n) mixing weights: GAP -> FC (BN folded) -> ReLU -> FC -> z / (sum |z| + eps), zero cell dropped."""
        gap = self.q_gap(_unpack_quant_tensor(x).mean(dim=(2, 3)))
        z = self.q_logits(self.fc2(self.q_hidden(self.fc1(gap))))
        z = z.view(-1, self.mixtures, self.n_cells + 1)
        return normalise_attention(z, self.bits)[..., :-1]  # the zero cell only shrinks the others

    def kernels(self, x: QuantTensor | torch.Tensor, cells: QuantTensor | torch.Tensor) -> QuantTensor | torch.Tensor:
        """Per-sample kernels (B, C_out, C_in, k, k): attention @ quantised cells, times the quantised BN gain, quantised."""
        a = self.attention(x)
        cells, gain = _unpack_quant_tensor(cells), _unpack_quant_tensor(self.gain())
        b, k = a.shape[0], self.kernel_size
        mixed = (a @ cells.reshape(self.n_cells, -1)).view(b, self.out_channels // self.cell_out, self.in_channels // self.cell_in, self.cell_out, self.cell_in, k, k)
        kernels = mixed.permute(0, 1, 3, 2, 4, 5, 6).reshape(b, self.out_channels, self.in_channels, k, k)
        return self.q_kernel(kernels * gain[None, :, None, None, None])

    def forward(self, x: QuantTensor | torch.Tensor, cells: QuantTensor | torch.Tensor) -> QuantTensor | torch.Tensor:
        return self.pool(self.q_out(self.conv(x, self.kernels(x, cells))))


class QuantMKWNet(nn.Module):
    """MKW-Net quantised by Brevitas; forward returns the logits (the classifier's accumulator values, as floats)."""

    def __init__(self, model: MKWNet, cfg: MKWQATConfig = MKWQATConfig()) -> None:
        super().__init__()
        self.bits = cfg.bits
        last = model.convs[-1].out_channels
        size = math.isqrt(model.classifier.in_features // last) * 2 ** len(model.convs)
        self.input_shape = (model.convs[0].in_channels, size, size)
        self.q_in = activation_quantiser(cfg.bits, True)
        self.warehouses = nn.ModuleList(QuantParam(w.cells, cfg.bits) for w in model.warehouses)
        blocks, signed = [], True
        for conv, norm, stage in zip(model.convs, model.norms, model.stages):
            blocks.append(QuantKWBlock(conv, norm, stage, cfg.bits, cfg.gain_bits, signed))
            signed = False  # ReLU outputs from the second block on
        self.blocks = nn.ModuleList(blocks)
        self.fc = quant_linear(model.classifier.weight.detach(), model.classifier.bias.detach(), cfg.bits, last=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q_in(x)
        for block in self.blocks:
            x = block(x, self.warehouses[block.warehouse]())
        return self.fc(torch.flatten(x, 1))

    def uncalibrated(self) -> list[str]:
        """Names of the activation quantisers whose scale has not been initialised from statistics."""
        return [name.split(".act_quant")[0] for name, m in self.named_modules() if hasattr(m, "collect_stats_steps") and m.counter <= m.collect_stats_steps]

    @torch.no_grad()
    def calibrate(self, images: torch.Tensor, batch: int = 256) -> None:
        """Initialise every activation scale from the float activations of `images` (the training images),
        with Brevitas' calibration mode (quantisers off, statistics averaged over the batches)."""
        self.eval()
        with calibration_mode(self):
            for i in range(0, len(images), batch):
                self(images[i : i + batch])


def build_quant_mkw(model: MKWNet, cfg: MKWQATConfig = MKWQATConfig()) -> QuantMKWNet:
    """The Brevitas copy of a trained MKW-Net (uncalibrated; `calibrate` before training)."""
    return QuantMKWNet(model.eval(), cfg)
