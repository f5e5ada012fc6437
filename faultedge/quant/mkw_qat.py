"""Fixed-point quantisation-aware training of MKW-Net, mirroring the integer IR op for op.

Why not Brevitas here: MKW-Net's kernels are not parameters but are assembled per sample
(attention weights @ warehouse cells), and its attention ends in an L1 normalisation
z / (sum |z| + eps) with a division. Brevitas has no layer for either, and wrapping every step
in QuantTensors would still leave the division and the dynamic kernel to hand-written code.
So the whole network uses one small set of fake quantisers whose forward pass is, by
construction, the integer arithmetic of `faultedge.ir.KWConv2d` / `AvgPool2d` / `Linear`:

- every scale is a power of two; rounding is torch.round (half to even) and saturation, the
  IR's requantisation; in float64 every product and sum below is exact, so the float64
  forward of this module times 2**-scale equals the golden model's integers;
- weights, warehouse cells and BatchNorm gains: per-tensor scale from their current maximum
  (as Brevitas' *PerTensorFixedPoint weight quantisers); biases: 32 bits at the accumulator scale;
- activations: a scale calibrated once on training images (max |x|), then frozen;
- the attention weights a = z / (sum |z| + eps): scale 2**-(bits-1), since |a| < 1;
- backward: straight-through, clipped to the representable range.

The float model's BatchNorms are folded (attention FC: into fc1; convolution: a per-channel
gain applied to the assembled kernel before it is quantised, and a bias). QAT runs at
temperature tau = 0, the fully dynamic end of KernelWarehouse's schedule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faultedge.errors import IRError
from faultedge.ir import int_range
from faultedge.models.kernel_warehouse import NORM_EPS, KWConv2d
from faultedge.models.mkw import MKWNet

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


def fake_quant(x: torch.Tensor, scale_exp: int, lo: int, hi: int) -> torch.Tensor:
    """clamp(round_half_even(x / 2**scale_exp), lo, hi) * 2**scale_exp, with a clipped straight-through gradient.

    The value is computed from detached tensors and the gradient added as (y - y.detach()),
    which is exactly 0, so the forward value is the quantised one to the last bit.
    """
    s = 2.0**scale_exp
    y = torch.clamp(x, lo * s, hi * s)
    return torch.round(y.detach() / s) * s + (y - y.detach())


def weight_exp(w: torch.Tensor, bits: int) -> int:
    """The smallest power-of-two scale whose signed `bits`-bit grid covers max |w|."""
    peak = float(w.detach().abs().max())
    hi = int_range(bits, True)[1]
    return math.ceil(math.log2(peak / hi)) if peak > 0 else 0


def quant_weight(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, int]:
    e = weight_exp(w, bits)
    return fake_quant(w, e, *int_range(bits, True)), e


def quant_bias(b: torch.Tensor, acc_exp: int) -> torch.Tensor:
    return fake_quant(b, acc_exp, *int_range(BIAS_BITS, True))


def quant_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, in_exp: int | None, bits: int) -> torch.Tensor:
    """x (on a 2**in_exp grid) @ quantised weight + 32-bit bias: the accumulator values.
    in_exp None (calibration: the input scale is not known yet) keeps the float bias."""
    wq, w_exp = quant_weight(weight, bits)
    return F.linear(x, wq, bias if in_exp is None else quant_bias(bias, in_exp + w_exp))


def normalise_attention(z: torch.Tensor, eps: float, scale_exp: int, bits: int) -> torch.Tensor:
    """z / (sum |z| + eps) over the last axis, rounded to the 2**scale_exp grid (half to even) and saturated.

    With z and eps on one power-of-two grid the float64 quotient is within half an ulp of the
    exact rational, which is at least 1 / (2 * denominator) away from any rounding tie it does
    not sit on exactly, so torch.round gives the IR's div_half_even (faultedge.ir.AttentionNorm).
    """
    return fake_quant(z / (z.abs().sum(dim=-1, keepdim=True) + eps), scale_exp, *int_range(bits, True))


class ActQuant(nn.Module):
    """An activation quantiser with a power-of-two scale fixed by calibration (max |x| seen)."""

    def __init__(self, bits: int, signed: bool) -> None:
        super().__init__()
        self.bits, self.signed = bits, signed
        self.register_buffer("scale_exp", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("peak", torch.tensor(0.0, dtype=torch.float64))
        self.calibrating = False

    @property
    def exp(self) -> int:
        return int(self.scale_exp)

    @property
    def range(self) -> tuple[int, int]:
        return int_range(self.bits, self.signed)

    def freeze(self) -> None:
        peak = float(self.peak)
        self.scale_exp.fill_(math.ceil(math.log2(peak / self.range[1])) if peak > 0 else 0)
        self.calibrating = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.calibrating:  # observe the float activations; pass them through
            self.peak.fill_(max(float(self.peak), float(x.detach().abs().max())))
            return x
        return fake_quant(x, self.exp, *self.range)


def _fold_bn(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Gain and shift of an eval-mode BatchNorm: bn(y) = gain * y + shift."""
    gain = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return gain.clone(), (bn.bias.detach() - bn.running_mean * gain).clone()


class QuantKWBlock(nn.Module):
    """One MKW-Net block: KW convolution (BN folded) -> ReLU -> 2x2 average pool, all fixed point."""

    def __init__(self, conv: KWConv2d, norm: nn.BatchNorm2d, warehouse: int, bits: int, gain_bits: int, in_signed: bool) -> None:
        super().__init__()
        att = conv.attention
        self.bits, self.gain_bits, self.warehouse = bits, gain_bits, warehouse
        self.in_channels, self.out_channels, self.kernel_size, self.padding = conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding
        self.cell_out, self.cell_in = conv.cell_out, conv.cell_in
        self.mixtures, self.n_cells = att.n_mixtures, att.n_cells
        g1, s1 = _fold_bn(att.bn)
        self.fc1_weight = nn.Parameter(att.fc1.weight.detach() * g1[:, None])
        self.fc1_bias = nn.Parameter(s1)
        self.fc2_weight = nn.Parameter(att.fc2.weight.detach().clone())
        self.fc2_bias = nn.Parameter(att.fc2.bias.detach().clone())
        gain, shift = _fold_bn(norm)
        self.gain, self.bias = nn.Parameter(gain), nn.Parameter(shift)
        self.q_gap = ActQuant(bits, in_signed)
        self.q_hidden = ActQuant(bits, False)
        self.q_logits = ActQuant(bits, True)
        self.q_kernel = ActQuant(bits, True)
        self.q_out = ActQuant(bits, False)

    @property
    def attention_exp(self) -> int:
        return -(self.bits - 1)

    @property
    def eps(self) -> int:
        """KernelWarehouse's eps on the grid of the attention logits z (at least 1: a positive denominator)."""
        return max(1, round(NORM_EPS * 2.0 ** -self.q_logits.exp))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, n) mixing weights: GAP -> FC (BN folded) -> ReLU -> FC -> z / (sum |z| + eps), zero cell dropped."""
        calibrating = self.q_out.calibrating
        gap = self.q_gap(x.mean(dim=(2, 3)))
        h = quant_linear(gap, self.fc1_weight, self.fc1_bias, None if calibrating else self.q_gap.exp, self.bits)
        h = self.q_hidden(torch.relu(h))
        z = quant_linear(h, self.fc2_weight, self.fc2_bias, None if calibrating else self.q_hidden.exp, self.bits)
        z = self.q_logits(z).view(-1, self.mixtures, self.n_cells + 1)
        eps = NORM_EPS if calibrating else self.eps * 2.0**self.q_logits.exp
        return normalise_attention(z, eps, self.attention_exp, self.bits)[..., :-1]  # the zero cell only shrinks the others

    def kernels(self, x: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Per-sample kernels (B, C_out, C_in, k, k): attention @ quantised cells, times the BN gain, quantised."""
        a = self.attention(x)
        cells_q, _ = quant_weight(cells, self.bits)
        gain_q, _ = quant_weight(self.gain, self.gain_bits)
        b, k = a.shape[0], self.kernel_size
        mixed = (a @ cells_q.reshape(self.n_cells, -1)).view(b, self.out_channels // self.cell_out, self.in_channels // self.cell_in, self.cell_out, self.cell_in, k, k)
        kernels = mixed.permute(0, 1, 3, 2, 4, 5, 6).reshape(b, self.out_channels, self.in_channels, k, k)
        return self.q_kernel(kernels * gain_q[None, :, None, None, None])

    def forward(self, x: torch.Tensor, in_exp: int, cells: torch.Tensor) -> torch.Tensor:
        b, k, calibrating = x.shape[0], self.kernel_size, self.q_out.calibrating
        kernels = self.kernels(x, cells)
        y = F.conv2d(x.reshape(1, b * self.in_channels, *x.shape[2:]), kernels.reshape(-1, self.in_channels, k, k), padding=self.padding, groups=b)
        bias = self.bias if calibrating else quant_bias(self.bias, in_exp + self.q_kernel.exp)
        y = self.q_out(torch.relu(y.view(b, self.out_channels, *y.shape[2:]) + bias[None, :, None, None]))
        pooled = F.avg_pool2d(y, 2)  # the sum of four values on one grid, / 4: exact; then rounded to the grid
        return pooled if calibrating else fake_quant(pooled, self.q_out.exp, *self.q_out.range)


class QuantMKWNet(nn.Module):
    """MKW-Net in fixed point; forward returns the logits (the classifier's accumulator values, as floats)."""

    def __init__(self, model: MKWNet, cfg: MKWQATConfig = MKWQATConfig()) -> None:
        super().__init__()
        self.bits = cfg.bits
        last = model.convs[-1].out_channels
        size = math.isqrt(model.classifier.in_features // last) * 2 ** len(model.convs)
        self.input_shape = (model.convs[0].in_channels, size, size)
        self.q_in = ActQuant(cfg.bits, True)
        self.warehouses = nn.ParameterList(nn.Parameter(w.cells.detach().clone()) for w in model.warehouses)
        blocks, signed = [], True
        for conv, norm, stage in zip(model.convs, model.norms, model.stages):
            blocks.append(QuantKWBlock(conv, norm, stage, cfg.bits, cfg.gain_bits, signed))
            signed = False  # ReLU outputs from the second block on
        self.blocks = nn.ModuleList(blocks)
        self.fc_weight = nn.Parameter(model.classifier.weight.detach().clone())
        self.fc_bias = nn.Parameter(model.classifier.bias.detach().clone())

    def quantizers(self) -> list[ActQuant]:
        return [m for m in self.modules() if isinstance(m, ActQuant)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q_in(x)
        exp = self.q_in.exp
        for block in self.blocks:
            x = block(x, exp, self.warehouses[block.warehouse])
            exp = block.q_out.exp
        return quant_linear(torch.flatten(x, 1), self.fc_weight, self.fc_bias, None if self.q_in.calibrating else exp, self.bits)

    @torch.no_grad()
    def calibrate(self, images: torch.Tensor, batch: int = 256) -> None:
        """Fix every activation scale from the float activations of `images` (the training images)."""
        for q in self.quantizers():
            q.peak.zero_()
            q.calibrating = True
        try:
            for i in range(0, len(images), batch):
                self(images[i : i + batch])
        finally:
            for q in self.quantizers():
                q.freeze()


def build_quant_mkw(model: MKWNet, cfg: MKWQATConfig = MKWQATConfig()) -> QuantMKWNet:
    """The fixed-point copy of a trained MKW-Net (uncalibrated; `calibrate` before training)."""
    return QuantMKWNet(model.eval(), cfg)
