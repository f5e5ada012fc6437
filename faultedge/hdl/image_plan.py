"""Lower an image network (MKW-Net: kwconv2d blocks, a linear head) onto the image engine.

The image engine (faultedge.hdl.image_accel) runs each `kwconv2d` in four phases and then the
head:

1. attention FC1 and FC2 on one sequential multiplier; their input, the requantised global
   average pool, is summed for free while the map is written (by the input loader for the first
   block, by the previous block's write-back for the others), so it costs no cycles;
2. the attention normalisation: per mixture, sum |z| over its n + 1 logits, then n restoring
   divisions (one quotient bit per cycle) rounded half to even;
3. kernel assembly on the P-lane MAC pass: lane l builds the kernel of output channel g*P + l as
   sum_n a[mixture, n] * cell[n] (a broadcast, cells from a warehouse ROM banked by output row,
   shared by every block of that warehouse), times the folded BatchNorm gain, requantised into
   the kernel RAM;
4. the convolution on the same P-lane pass: one input value per cycle (broadcast) against P
   kernels, requantisation, the 2 x 2 average pool folded into the write-back.

The head is a P-lane pass whose kernel spans the whole last map. The P lanes must divide every
block's cell rows (`cell_out`), so the lanes of one group always share one mixture.

Maps are stored channel-major in banked memories: the input memory has `beat` banks (the loader
writes `beat` consecutive values of one channel per cycle, so beat divides H*W), the others P
banks by channel (a pass writes P channels per cycle). The schedule is data-independent, so the
cycle count is exact (`ImagePlan.cycle_phases`).

Pure Python: the generator and the cycle model both read this plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faultedge.errors import IRError
from faultedge.hdl.stream_plan import StreamPlan, check_lanes
from faultedge.ir import Argmax, AvgPool2d, IRModel, KWConv2d, Linear, Requant, bits_for, dispatch, is_pow2

CONSUMER = "the image accelerator generator (faultedge.hdl)"
SUPPORTED = {"kwconv2d": None, "avgpool2d": None, "linear": None, "argmax": None}

# Pipeline depths fixed by faultedge.hdl.components.image and .attention (the cycle model reads them from here).
PASS_DRAIN = 12  # issue -> write of the last item of a P-lane pass
FC_DRAIN = 7  # issue -> write of the last output of an attention FC


@dataclass(frozen=True)
class MapMem:
    """A (channels, height, width) map in `banks` memories.

    by_channel: value (c, p) (p = y * width + x) is in bank c % banks at row (c // banks) * h*w + p;
    otherwise in bank p % banks at row c * (h*w / banks) + p // banks.
    """

    channels: int
    height: int
    width: int
    banks: int
    by_channel: bool
    bits: int
    signed: bool

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def rows(self) -> int:
        return self.channels * self.pixels // self.banks


@dataclass(frozen=True)
class Pass:
    """One run of the P-lane MAC pass over a map: a convolution (kernel RAM) or the head (ROM).

    Issue order: groups g of P output channels, pooled positions (py, px), pool offsets (dy, dx),
    input channels ci, kernel rows ky and columns kx; operand B of lane l is word
    (g * c_in + ci) * kh * kw + ky * kw + kx of its bank.
    """

    name: str
    src: MapMem
    c_out: int
    kh: int
    kw: int
    padding: int
    out_h: int  # before pooling
    out_w: int
    pool: int  # 1: no pooling
    groups: int
    bias: np.ndarray  # (groups, P) int64
    acc_bits: int
    requant: Requant | None  # None: the logits
    weights: np.ndarray | None  # (P, groups * c_in * kh * kw) ROM banks of the head; None: kernel RAM

    @property
    def reduce(self) -> int:
        return self.src.channels * self.kh * self.kw

    @property
    def pool_shift(self) -> int:
        return (self.pool * self.pool).bit_length() - 1

    @property
    def issue_cycles(self) -> int:
        return self.groups * self.out_h * self.out_w * self.reduce


@dataclass(frozen=True)
class Block:
    """A kwconv2d (+ folded avg-pool): its attention arithmetic, assembly and convolution."""

    layer: KWConv2d
    conv: Pass
    warehouse: int
    cell_groups: int  # cell_out / P: cell rows per lane
    gap_bits: int  # signed width of the running channel sums
    div_bits: int  # numerator bits of the attention division = restoring-division iterations

    @property
    def fc_cycles(self) -> tuple[int, int]:
        f1, f2 = self.layer.fc1, self.layer.fc2
        return f1.weight.data.size + FC_DRAIN, f2.weight.data.size + FC_DRAIN

    @property
    def norm_cycles(self) -> int:
        """Per mixture: n + 1 reads of |z| plus one to finish the sum, then per cell: read, load, |z|, iterate, round, store."""
        n = self.layer.cells
        return self.layer.mixtures * ((n + 1) + 1 + n * (self.div_bits + 5))

    @property
    def assembly_issue(self) -> int:
        l = self.layer
        return self.conv.groups * l.in_shape[0] * l.kernel**2 * l.cells


@dataclass(frozen=True)
class ImagePlan(StreamPlan):
    """The image engine's phases and memories. The input memory is single-buffered."""

    input_mem: MapMem
    maps: tuple[MapMem, ...]  # written by block i, read by block i + 1 or the head
    blocks: tuple[Block, ...]
    head: Pass
    warehouses: tuple[np.ndarray, ...]  # (P, words) ROM banks per warehouse
    kernel_words: int  # depth of each lane's kernel RAM
    macs: int

    @property
    def lane_macs(self) -> int:
        """MACs on the P lanes (assemblies, convolutions, head); the attention FCs and the gain
        multiplications have multipliers of their own and the channel sums cost nothing."""
        blocks = sum((b.assembly_issue + b.conv.issue_cycles) * self.lanes for b in self.blocks)  # P divides every C_out
        return blocks + self.n_classes * self.head.reduce

    @property
    def passes(self) -> tuple[Pass, ...]:
        return tuple(b.conv for b in self.blocks) + (self.head,)

    def cycle_phases(self) -> list[tuple[str, int]]:
        """Every phase of one inference with its exact cycles (the generator follows this order)."""
        out: list[tuple[str, int]] = []
        for b in self.blocks:
            f1, f2 = b.fc_cycles
            out += [(f"{b.layer.name}.fc1", f1), (f"{b.layer.name}.fc2", f2), (f"{b.layer.name}.norm", b.norm_cycles),
                    (f"{b.layer.name}.assembly", b.assembly_issue + PASS_DRAIN), (f"{b.layer.name}.conv", b.conv.issue_cycles + PASS_DRAIN)]
        out.append((f"{self.head.name}", self.head.issue_cycles + PASS_DRAIN))
        return out

    def memory_bits(self) -> dict[str, int]:
        weights = sum(int(w.size) * 8 for w in self.warehouses) + int(self.head.weights.size) * 8
        weights += sum(b.layer.fc1.weight.data.size * b.layer.fc1.weight.bits + b.layer.fc2.weight.data.size * b.layer.fc2.weight.bits for b in self.blocks)
        bias = sum(int(p.bias.size) * p.acc_bits for p in self.passes)
        acts = sum(m.channels * m.pixels * m.bits for m in (self.input_mem, *self.maps))
        kernels = self.lanes * self.kernel_words * 8
        return {"weights": weights, "bias": bias, "activations": acts, "kernels": kernels, "total": weights + bias + acts + kernels}

    def report_stages(self) -> list[dict]:
        return [{"name": name, "cycles": cycles} for name, cycles in self.cycle_phases()]


def _requant_bits(rq: Requant) -> tuple[int, bool]:
    """(stored bits, signed) of values clamped by `rq`."""
    lo, hi = rq.clamp
    return bits_for(lo, hi) - (1 if lo >= 0 else 0), lo < 0


def _head_pass(layer: Linear, src: MapMem, lanes: int, n_classes: int) -> Pass:
    if layer.requant is not None:
        raise IRError(f"layer {layer.name!r}: {CONSUMER} expects the logits from the final linear layer (requant null)")
    if layer.out_shape[0] != n_classes:
        raise IRError(f"layer {layer.name!r}: {layer.out_shape[0]} outputs for {n_classes} classes")
    if layer.weight.data.shape[1] != src.channels * src.pixels:
        raise IRError(f"layer {layer.name!r}: {layer.weight.data.shape[1]} inputs, but the map before it holds {src.channels * src.pixels}")
    groups = -(-n_classes // lanes)
    w = np.zeros((groups * lanes, layer.weight.data.shape[1]), dtype=np.int64)
    w[:n_classes] = layer.weight.data
    banks = w.reshape(groups, lanes, -1).transpose(1, 0, 2).reshape(lanes, -1)
    bias = np.zeros(groups * lanes, dtype=np.int64)
    bias[:n_classes] = layer.bias.data
    return Pass(layer.name, src, n_classes, src.height, src.width, 0, 1, 1, 1, groups, bias.reshape(groups, lanes), layer.acc_bits, None, banks)


def _warehouse_banks(cells: np.ndarray, lanes: int) -> np.ndarray:
    """(n, c_o, c_i, k, k) cells -> (P, words): bank l holds rows o = og * P + l at word ((n * c_o/P + og) * c_i + i) * k*k + kk."""
    n, c_o, c_i, k, _ = cells.shape
    return cells.reshape(n, c_o // lanes, lanes, c_i, k * k).transpose(2, 0, 1, 3, 4).reshape(lanes, -1)


def _block(layer: KWConv2d, pool: AvgPool2d | None, src: MapMem, lanes: int) -> tuple[Block, MapMem]:
    c_in, h, w = layer.in_shape
    c_out = layer.out_shape[0]
    if layer.out_shape[1:] != (h, w):
        raise IRError(f"layer {layer.name!r}: {CONSUMER} supports 'same' kwconv2d only (stride 1, output {h}x{w}), got {list(layer.out_shape)}")
    if layer.cell_out % lanes or c_out % lanes:
        raise IRError(f"layer {layer.name!r}: lanes ({lanes}) must divide the cell rows ({layer.cell_out}) and output channels ({c_out}) of every kwconv2d")
    k = pool.kernel if pool else 1
    if pool and (pool.in_shape != layer.out_shape or h % k or w % k):
        raise IRError(f"layer {pool.name!r}: the avgpool2d must take the kwconv2d's {list(layer.out_shape)} map in whole windows")
    groups = c_out // lanes
    conv = Pass(layer.name, src, c_out, layer.kernel, layer.kernel, layer.padding, h, w, k, groups, layer.bias.data.reshape(groups, lanes),
                layer.acc_bits, layer.requant, None)
    bits, signed = _requant_bits(layer.requant)
    out = MapMem(c_out, h // k, w // k, lanes, True, bits, signed)
    gap_lo, gap_hi = src.pixels * (-(1 << (src.bits - 1)) if src.signed else 0), src.pixels * ((1 << (src.bits - (1 if src.signed else 0))) - 1)
    z_max = max(abs(v) for v in layer.fc2.requant.clamp)
    div_bits = (z_max << -layer.norm.scale_exp).bit_length()
    return Block(layer, conv, layer.warehouse, layer.cell_out // lanes, bits_for(gap_lo, gap_hi), div_bits), out


def plan_image(ir: IRModel, lanes: int, beat: int = 1) -> ImagePlan:
    """Check that the image IR and the options fit the engine, and lay out the schedule and memories."""
    check_lanes(lanes)
    for layer in ir.layers:
        dispatch(layer, SUPPORTED, CONSUMER)
    if len(ir.input.shape) != 3:
        raise IRError(f"input: {CONSUMER} expects (channels, height, width) images, got shape {list(ir.input.shape)}")
    c, h, w = ir.input.shape
    if not (is_pow2(h) and is_pow2(w)):
        raise IRError(f"input: {CONSUMER} needs power-of-two image sides, got {h}x{w}")
    if not is_pow2(beat) or (h * w) % beat:
        raise IRError(f"beat must be a power of two dividing the {h * w} pixels of a channel, got {beat}")
    n_inputs = c * h * w
    src = MapMem(c, h, w, beat, False, ir.input.bits, ir.input.signed)
    input_mem = src
    layers = list(ir.layers)
    blocks: list[Block] = []
    maps: list[MapMem] = []
    i = 0
    while i < len(layers) and isinstance(layers[i], KWConv2d):
        pool = layers[i + 1] if i + 1 < len(layers) and isinstance(layers[i + 1], AvgPool2d) else None
        blk, src = _block(layers[i], pool, src, lanes)
        blocks.append(blk)
        maps.append(src)
        i += 2 if pool else 1
    rest = layers[i:]
    if not blocks or len(rest) != 2 or not isinstance(rest[0], Linear) or not isinstance(rest[1], Argmax):
        raise IRError(f"{CONSUMER} runs networks of the form (kwconv2d [avgpool2d])+ linear argmax; got {[l.op for l in layers]}")
    n_classes = len(ir.classes)
    head = _head_pass(rest[0], src, lanes, n_classes)
    n_wh = len(ir.warehouses)
    warehouses = tuple(_warehouse_banks(ir.warehouses[k].data, lanes) for k in range(n_wh))
    kernel_words = max(b.conv.groups * b.conv.reduce for b in blocks)
    return ImagePlan(lanes, beat, n_inputs, ir.input.bits, ir.input.signed, n_classes, head.acc_bits, input_mem, tuple(maps), tuple(blocks),
                     head, warehouses, kernel_words, ir.macs)
