"""Lower an IR network onto the accelerator's one reused MAC engine: the schedule and the memories.

Every conv1d and linear layer becomes a *stage* computed by the same P multiply lanes. A stage is
a conv over a channels-last activation memory (address = offset + position * stride + channel):
output position l of any layer reads one contiguous window of `K * channels` values starting at
`offset + (l * S - padding) * stride`, and a linear layer is the conv whose kernel spans the whole
(flattened) map. The P lanes split into `pc` output-channel lanes times `pr` reduction lanes
(both powers of two): each cycle issues one chunk of `pr` window values (broadcast over the `pc`
channel lanes) against `pc * pr` weights, an adder tree sums each group of `pr` products, and `pc`
accumulators add the chunks. A max-pool (kernel <= stride) directly after a conv is folded into
that stage's write-back, so the pooled map is what the next stage's memory holds.

Memories are banked (`banks` = a power of two) so that a window of `pr` consecutive addresses
reads each bank once; the writer (the input loader, `beat` values per cycle, or the previous
stage, `pc` channels per cycle) writes an aligned block, so its data lanes wire to banks without
a multiplexer. Zero padding, padded channels and window overrun are memory that is never written.

Axial-shift MLP blocks (x + fc2(relu(fc1(shift(x))))) add two ops. A `shift` is an address offset
with zero fill on the write side: the stage that writes the shifted map puts channel c of position
l at position l + offset[c] of the next memory, whose margin of max|offset| positions on each side
keeps every value and whose never-written positions are the zero fill; the stride is a multiple of
the banks there, so a channel keeps its bank and a per-bank row offset is all the shift costs. An
`add` folds into the MAC stage before it: the *residual* operand (the block input, in the memory
the block's first stage read, idle while this stage runs) is read by channel block, shifted onto
the accumulator grid and added to the finished sums in one extra pipeline register in front of
the requantiser, which then requantises the sum with the add's settings.

This module is pure Python: the Amaranth generator (faultedge.hdl.accel) and the analytic cycle
model (faultedge.hdl.cycles) both read the plan, so they cannot disagree about the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from faultedge.errors import IRError
from faultedge.hdl.stream_plan import StreamPlan, check_lanes
from faultedge.ir import Add, Argmax, Conv1d, IRModel, Layer, Linear, MaxPool1d, Requant, Shift, bits_for, dispatch, is_pow2

CONSUMER = "the hardware generator (faultedge.hdl)"

# Cycles from an issue to the tap before the adder tree (read, operand, multiply), and from the
# accumulator to the write (requant 1-3, write): the pipeline of faultedge.hdl.components.mac1d.
PRE_TREE = 3
POST_ACC = 4


@dataclass(frozen=True)
class ActMemory:
    """A banked, channels-last activation memory: value (position p, channel c) is at address
    `offset + p * stride + c`, in bank `address % banks`, row `address // banks`."""

    banks: int
    rows: int
    bits: int
    signed: bool
    offset: int
    stride: int  # stored channels per position (channels rounded up to the writer's block)
    shifts: tuple[int, ...] = ()  # per channel: the writer puts position l at l + shift (an IR shift before the reader); () = none

    def row_shift(self, channel: int) -> int:
        """Rows channel `channel` is moved by (the stride is a multiple of the banks wherever there are shifts)."""
        return self.shifts[channel] * self.stride // self.banks if channel < len(self.shifts) else 0

    @property
    def width(self) -> int:
        """Signed width that holds every stored value."""
        return self.bits + (0 if self.signed else 1)


@dataclass(frozen=True)
class Pool:
    kernel: int
    stride: int
    length: int  # pooled positions written


@dataclass(frozen=True)
class Residual:
    """The second operand of a residual add: the block input, in stage `source`'s input memory (which
    holds it shifted by that memory's shifts), left-shifted by `shift` onto the accumulator grid."""

    source: int
    shift: int


@dataclass(frozen=True)
class Stage:
    """One conv1d/linear layer (with its folded max-pool) as the engine runs it."""

    name: str
    channels: int  # real output channels
    positions: int  # output positions computed (before pooling)
    kernel: int
    stride: int
    padding: int
    reduce: int  # window length: kernel * in_mem.stride
    pr: int  # reduction lanes
    pc: int  # output-channel lanes
    weights: np.ndarray  # (groups * chunks, pc * pr) int64: the weight ROM, lane pc_i * pr + q
    bias: np.ndarray  # (groups, pc) int64
    acc_bits: int
    requant: Requant | None  # None: the logits
    pool: Pool | None
    in_mem: ActMemory
    weight_bits: int
    residual: Residual | None = None  # an add folded into this stage (its requant is then the add's)

    @property
    def chunks(self) -> int:
        return -(-self.reduce // self.pr)

    @property
    def groups(self) -> int:
        return -(-self.channels // self.pc)

    @property
    def issue_cycles(self) -> int:
        """Cycles in which the stage issues chunks: one chunk per cycle, no bubbles."""
        return self.groups * self.positions * self.chunks

    @property
    def tree_levels(self) -> int:
        return self.pr.bit_length() - 1

    @property
    def out_positions(self) -> int:
        return self.pool.length if self.pool else self.positions

    @property
    def out_stride(self) -> int:
        """Stored channels per position of this stage's output (channels rounded up to pc)."""
        return self.groups * self.pc

    def window_bases(self) -> np.ndarray:
        """Start address of every issued chunk's window (positions x chunks), for one group."""
        l = np.arange(self.positions)[:, None]
        j = np.arange(self.chunks)[None, :]
        return self.in_mem.offset + (l * self.stride - self.padding) * self.in_mem.stride + j * self.pr

    @property
    def rotates(self) -> bool:
        """Whether windows start off a bank boundary (the engine then needs a rotator)."""
        return bool(np.any(self.window_bases() % self.in_mem.banks))


@dataclass(frozen=True)
class Plan(StreamPlan):
    """The 1-D engine's schedule. The input memory is double-buffered."""

    double_buffered = True
    stages: tuple[Stage, ...]
    macs: int

    @property
    def acc_bits(self) -> int:
        return max(s.acc_bits for s in self.stages)

    @property
    def residual(self) -> bool:
        """Whether the engine has the residual adder (one more pipeline register behind the accumulators, for every stage)."""
        return any(s.residual for s in self.stages)

    @property
    def post_acc(self) -> int:
        """Cycles from the accumulator to the write: requantiser and write-back, and the residual adder where there is one."""
        return POST_ACC + int(self.residual)

    @property
    def act_width(self) -> int:
        return max(s.in_mem.width for s in self.stages)

    @property
    def weight_bits(self) -> int:
        return max(s.weight_bits for s in self.stages)

    @property
    def max_pc(self) -> int:
        return max(s.pc for s in self.stages)

    def cycle_phases(self) -> list[tuple[str, int]]:
        """Per stage: its issue cycles and the pipeline drain before the next stage may read what it wrote."""
        return [(s.name, s.issue_cycles + PRE_TREE + s.tree_levels + self.post_acc) for s in self.stages]

    @property
    def lane_macs(self) -> int:
        return self.macs

    def report_stages(self) -> list[dict]:
        return [{"name": s.name, "pr": s.pr, "pc": s.pc, "groups": s.groups, "positions": s.positions, "chunks": s.chunks,
                 "issue_cycles": s.issue_cycles, "banks": s.in_mem.banks, "rotator": s.rotates, "pool": s.pool is not None} for s in self.stages]

    def memory_bits(self) -> dict[str, int]:
        """Bits of initialised and working memory: weight ROMs, bias ROMs, activation RAMs."""
        weights = sum(s.weights.shape[0] * self.lanes * self.weight_bits for s in self.stages)
        bias = sum(s.groups * s.pc * self.acc_bits for s in self.stages)
        acts = sum(s.in_mem.banks * s.in_mem.rows * s.in_mem.bits * (2 if i == 0 else 1) for i, s in enumerate(self.stages))
        return {"weights": weights, "bias": bias, "activations": acts, "total": weights + bias + acts}


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


def _choose_split(lanes: int, channels: int, positions: int, reduce: int) -> tuple[int, int]:
    """(pr, pc) with pr * pc == lanes minimising issue cycles, then accumulators (pc)."""
    best: tuple[tuple[int, int], tuple[int, int]] | None = None
    pr = 1
    while pr <= lanes:
        pc = lanes // pr
        key = (-(-channels // pc) * positions * -(-reduce // pr), pc)
        if best is None or key < best[0]:
            best = (key, (pr, pc))
        pr *= 2
    assert best is not None
    return best[1]


@dataclass
class _Map:
    """The activation map flowing between layers while planning."""

    channels: int
    length: int
    stride: int  # stored channels per position
    block: int  # the writer's aligned block (beat, or the previous stage's pc)
    bits: int
    signed: bool


def _conv_geometry(layer: Conv1d, m: _Map) -> tuple[int, int, int, int, np.ndarray]:
    """(kernel, stride, padding, positions, weights (out, kernel * m.stride)) in window order k * stride + c."""
    w = np.zeros((layer.out_shape[0], layer.kernel, m.stride), dtype=np.int64)
    w[:, :, : m.channels] = layer.weight.data.transpose(0, 2, 1)
    return layer.kernel, layer.stride, layer.padding, layer.out_shape[1], w.reshape(len(w), -1)


def _linear_geometry(layer: Linear, m: _Map) -> tuple[int, int, int, int, np.ndarray]:
    """A linear layer is the conv whose kernel covers all m.length positions of the map."""
    w = np.zeros((layer.out_shape[0], m.length, m.stride), dtype=np.int64)
    w[:, :, : m.channels] = layer.weight.data.reshape(-1, m.channels, m.length).transpose(0, 2, 1)
    return m.length, 1, 0, 1, w.reshape(len(w), -1)


GEOMETRY = {"conv1d": _conv_geometry, "linear": _linear_geometry}
# ops the engine runs; argmax closes the network, max-pool and add fold into the stage before them, a shift into the writer
SUPPORTED = {"conv1d": None, "linear": None, "maxpool1d": None, "argmax": None, "shift": None, "add": None}


def _memory(m: _Map, banks: int, padding: int, stage_reads_end: int, shifts: tuple[int, ...] = ()) -> ActMemory:
    margin = max((abs(k) for k in shifts), default=0)  # positions written before the first and after the last
    offset = _align((padding + margin) * m.stride, banks)
    data_end = offset + (m.length + margin) * m.stride
    rows = max(data_end, stage_reads_end(offset)) // banks + 2  # +1 row: a window spans two rows
    return ActMemory(banks, rows, m.bits, m.signed, offset, m.stride, shifts)


def _pow2_ceil(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _fold_add(add: Add, layer: Conv1d | Linear, in_memory: dict[str, int], index: int) -> tuple[Requant, int, Residual, str]:
    """An add after stage `index` (`layer`): its requantiser, the sum's width, the residual operand, the name of what it writes."""
    source = in_memory.get(add.skip)
    if source is None or source == 0 or source == index:
        raise IRError(f"layer {add.name!r}: {CONSUMER} adds the input of an earlier stage other than the first (a block input), "
                      f"got {add.skip!r}")
    if add.acc_shift:
        raise IRError(f"layer {add.name!r}: {CONSUMER} shifts the residual operand onto the accumulator grid; the accumulators "
                      f"must be on the finer grid (acc_shift 0, got {add.acc_shift})")
    return add.requant, max(layer.acc_bits, add.acc_bits), Residual(source, add.skip_shift), add.name


def plan_1d(ir: IRModel, lanes: int, beat: int = 1) -> Plan:
    """Check that the IR and the options fit the 1-D engine, and lay out the schedule and memories."""
    check_lanes(lanes)
    n_inputs = int(np.prod(ir.input.shape))
    if not is_pow2(beat) or n_inputs % beat:
        raise IRError(f"beat must be a power of two dividing the {n_inputs} inputs, got {beat}")
    for layer in ir.layers:
        dispatch(layer, SUPPORTED, CONSUMER)
    in_ch, in_len = (1, ir.input.shape[0]) if len(ir.input.shape) == 1 else ir.input.shape
    if in_ch != 1:
        raise IRError(f"input: {CONSUMER} streams single-channel inputs, got shape {list(ir.input.shape)}")
    m = _Map(1, in_len, 1, beat, ir.input.bits, ir.input.signed)
    stages: list[Stage] = []
    layers = list(ir.layers)
    skips = {l.skip for l in layers if isinstance(l, Add)}
    held = "input"  # the layer whose output the map `m` is
    in_memory: dict[str, int] = {}  # a layer's name -> the stage whose input memory holds its output
    shift: Shift | None = None  # a shift waiting for the stage that reads the map
    i = 0
    while i < len(layers):
        layer: Layer = layers[i]
        if isinstance(layer, Argmax):
            break
        if isinstance(layer, MaxPool1d):
            raise IRError(f"layer {layer.name!r}: {CONSUMER} folds max-pool into the conv1d before it; a max-pool must follow a conv1d")
        if isinstance(layer, Add):
            raise IRError(f"layer {layer.name!r}: {CONSUMER} folds an add into the conv1d/linear right before it")
        if isinstance(layer, Shift):
            if not stages or shift is not None or i + 1 >= len(layers) or not isinstance(layers[i + 1], (Conv1d, Linear)):
                raise IRError(f"layer {layer.name!r}: {CONSUMER} shifts a map one stage writes for the conv1d/linear right after the shift")
            shift = layer
            i += 1
            continue
        assert isinstance(layer, (Conv1d, Linear))
        pool, pool_name = None, None
        if i + 1 < len(layers) and isinstance(layers[i + 1], MaxPool1d):
            p = layers[i + 1]
            pool_name = p.name
            if not isinstance(layer, Conv1d) or p.kernel > p.stride:
                raise IRError(f"layer {p.name!r}: {CONSUMER} supports max-pool after conv1d with kernel <= stride, got kernel {p.kernel}, stride {p.stride}")
            pool = Pool(p.kernel, p.stride, p.out_shape[1])
            i += 1
        kernel, stride, padding, positions, w = GEOMETRY[layer.op](layer, m)
        channels = layer.out_shape[0]
        reduce = w.shape[1]
        pr, pc = _choose_split(lanes, channels, positions, reduce)
        banks = max(pr, m.block)
        shifts: tuple[int, ...] = ()
        if shift is not None and padding:
            raise IRError(f"layer {shift.name!r}: {CONSUMER} writes a shifted map with a margin the zero padding of {layer.name!r} "
                          f"would read; a shift must feed an unpadded conv1d or a linear")
        if shift is not None or held in skips:
            # read by channel (a residual block) or written shifted: the stride becomes a multiple of the banks, so a
            # channel always sits in the same bank; the banks cover a residual's channel block (pc <= next power of two)
            banks = max(banks, min(lanes, _pow2_ceil(m.channels)))
            m = _Map(m.channels, m.length, _align(m.stride, banks), m.block, m.bits, m.signed)
            kernel, stride, padding, positions, w = GEOMETRY[layer.op](layer, m)
            reduce = w.shape[1]
            shifts = shift.offsets if shift is not None else ()
            shift = None
        in_memory[held] = len(stages)

        def reads_end(offset: int, positions=positions, stride=stride, padding=padding, reduce=reduce, pr=pr, banks=banks, st=m.stride) -> int:
            return offset + ((positions - 1) * stride - padding) * st + _align(reduce, pr) + banks

        mem = _memory(m, banks, padding, reads_end, shifts)
        groups, chunks = -(-channels // pc), -(-reduce // pr)
        rom = np.zeros((groups * pc, chunks * pr), dtype=np.int64)
        rom[:channels, :reduce] = w
        # ROM word (g, j) holds, for lane pc_i * pr + q, the weight of channel g*pc+pc_i at window index j*pr+q
        rom = rom.reshape(groups, pc, chunks, pr).transpose(0, 2, 1, 3).reshape(groups * chunks, pc * pr)
        bias = np.zeros(groups * pc, dtype=np.int64)
        bias[:channels] = layer.bias.data
        requant, acc_bits, residual, held = layer.requant, layer.acc_bits, None, pool_name or layer.name
        if requant is None and i + 1 < len(layers) and isinstance(layers[i + 1], Add):
            requant, acc_bits, residual, held = _fold_add(layers[i + 1], layer, in_memory, len(stages))
            i += 1
        stage = Stage(layer.name, channels, positions, kernel, stride, padding, reduce, pr, pc, rom, bias.reshape(groups, pc),
                      acc_bits, requant, pool, mem, layer.weight.bits, residual)
        stages.append(stage)
        if residual and pc > stages[residual.source].in_mem.banks:  # the planner gives such memories enough banks
            raise IRError(f"layer {layer.name!r}: {pc} channel lanes read a residual operand from {stages[residual.source].in_mem.banks} banks")
        if requant is not None:
            lo, hi = requant.clamp
            out_len = pool.length if pool else positions
            m = _Map(channels, out_len, stage.out_stride, pc, bits_for(lo, hi) - (1 if lo >= 0 else 0), lo < 0)
        i += 1
    last = stages[-1]
    if last.requant is not None or last.positions != 1 or last.pool is not None:
        raise IRError(f"layer {last.name!r}: {CONSUMER} expects the logits from a final linear layer")
    n_classes = len(ir.classes)
    if last.channels != n_classes:
        raise IRError(f"layer {last.name!r}: {last.channels} outputs for {n_classes} classes")
    return Plan(lanes, beat, n_inputs, ir.input.bits, ir.input.signed, n_classes, last.acc_bits, tuple(stages), ir.macs)
