"""The image engine's components (faultedge.hdl.image_accel.ImageAccelerator joins them, with the
attention unit of attention.py).

The P-lane MAC pass, run for every kernel assembly, convolution and the head (every arrow a register):

    t     PassSequencer     address registers -> memory addresses (operand A broadcast, operand B per lane);
                            the counters and the address registers step (strides, no multipliers)
    t+1   LaneMacs          every memory word registered as read (no logic behind a block RAM's output)
    t+2                     bank select, padding mask                      -> a, b
    t+3                     a * b                                          -> product
    t+4                     accumulate (bias on the first item)            -> acc
    t+5                     x gain (assembly) or x 1, two partial products
    t+6                     their sum                                      -> v
    t+7   Requantiser       arithmetic shift, round-half-to-even decision
    t+8                     + round bit
    t+9                     clamp (ReLU is the lower bound)                -> q
    t+10  AvgPoolWriteBack  average-pool running sum                       -> s
    t+11                    s >> log2(k*k) rounded half to even            -> out
    t+12                    write (map, kernel RAM or logits); the next block's channel sums add the written values

Every pass drains (PASS_DRAIN in faultedge.hdl.image_plan) before the next phase reads what it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from amaranth import Array, Cat, Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.argmax import logits_signature
from faultedge.hdl.components.attention import attention_memory, sums_signature
from faultedge.hdl.components.common import Banks, addr_bits, bits, log2, odometer, pack, read_signature, registered, value_shape, write_signature
from faultedge.hdl.components.requant import ShiftRound
from faultedge.hdl.components.streams import (beats_signature, buffer_signature, control_signature, pipeline_signature,
                                              select_signature)
from faultedge.hdl.image_plan import PASS_DRAIN, Block, ImagePlan, MapMem, Pass


@dataclass(frozen=True)
class LanePass:
    """One run of the P-lane pass: a block's kernel assembly or convolution, or the head."""

    kind: str  # "assembly", "conv" or "head"
    block: Block | None  # None: the head
    ps: Pass  # what it runs over (an assembly: its block's convolution, whose output groups it shares)


def passes(p: ImagePlan) -> list[LanePass]:
    """Every pass in the order the engine runs them; a pass's index is its `pid`."""
    out = [LanePass(kind, b, b.conv) for b in p.blocks for kind in ("assembly", "conv")]
    return out + [LanePass("head", None, p.head)]


@dataclass(frozen=True)
class Widths:
    """The widths of the P-lane datapath, from the plan."""

    kbits: int  # a kernel RAM word
    wbits: int  # a warehouse or head ROM word
    accw: int  # an accumulator
    gain_bits: int
    act: int  # operand A (map values and attention weights)
    waddr: int  # a write address (kernel RAM or map)
    bank: int  # a source bank index

    @property
    def v(self) -> int:
        """The accumulator times the gain."""
        return self.accw + self.gain_bits

    @property
    def operand_b(self) -> int:
        return max(self.kbits, self.wbits)


def widths(p: ImagePlan) -> Widths:
    blocks, src_mems = p.blocks, source_memories(p)
    return Widths(
        kbits=max(b.layer.kernel_requant.bits for b in blocks),
        wbits=max(max(b.layer.warehouse_cells.bits for b in blocks), max(1, int(abs(p.head.weights).max()).bit_length() + 1)),
        accw=max(max(b.layer.assembly_acc_bits for b in blocks), max(ps.acc_bits for ps in p.passes)) + 1,
        gain_bits=max(b.layer.gain.bits for b in blocks),
        act=max(max(mem.bits + (0 if mem.signed else 1) for mem in src_mems), max(b.layer.norm.bits for b in blocks)),
        waddr=max(bits(p.kernel_words), max(bits(mem.rows) for mem in p.maps), 1),
        bank=max(1, log2(max(mem.banks for mem in src_mems))),
    )


def source_memories(p: ImagePlan) -> list[MapMem]:
    """What each block reads, then what the head reads: the input image, then the maps."""
    return [p.input_mem, *p.maps]


def map_banks(mem: MapMem) -> Banks:
    return Banks(value_shape(mem.bits, mem.signed), mem.rows, mem.banks)


def kernel_memory(p: ImagePlan) -> tuple[Shape, int]:
    """(shape, depth) of a lane's kernel RAM: the assembly writes the kernels the convolution reads."""
    return signed(widths(p).kbits), p.kernel_words


def tag_layout(p: ImagePlan) -> data.StructLayout:
    """What travels down the pass with an item: first and last item of an output value, first and
    last of a pool window, inside the unpadded map (inb), the source bank, the write address and
    the output channel group."""
    w = widths(p)
    return data.StructLayout({"valid": 1, "first": 1, "last": 1, "pfirst": 1, "plast": 1, "inb": 1, "bank": w.bank, "waddr": w.waddr,
                              "g": Shape.cast(range(max(ps.groups for ps in p.passes) + 1))})


def issue_signature(p: ImagePlan) -> wiring.Signature:
    """PassSequencer -> LaneMacs: the item's tag and the read addresses from the address registers:
    `ra` (attention memory), `rb` (kernel RAM, warehouse and head ROMs), `row{i}` (source i's banks)."""
    _, a_depth = attention_memory(p.blocks)
    rb_depth = max(p.kernel_words, p.head.weights.shape[1], *(w.shape[1] for w in p.warehouses))
    members = {"tag": Out(tag_layout(p)), "ra": Out(range(a_depth + 1)), "rb": Out(range(rb_depth + 1))}
    members.update({f"row{i}": Out(addr_bits(mem.rows)) for i, mem in enumerate(source_memories(p))})
    return wiring.Signature(members)


def locate(mem: MapMem, c: Value, yy: Value, xx: Value) -> tuple[Value, Value]:
    """(bank, row) of value (c, yy, xx) of `mem` (the layout in image_plan.MapMem), with wiring only."""
    lb = log2(mem.banks)
    pix = Cat(xx[: log2(mem.width)], yy[: log2(mem.height)])  # no bits at all for a 1 x 1 map
    if mem.by_channel:
        return (c[:lb] if lb else Const(0, 1)), Cat(pix, c[lb:])
    return (pix[:lb] if lb else Const(0, 1)), Cat(pix[lb:], c)


class ImageLoader(wiring.Component):
    """Input beats into the image memory, channel-major, `beat` values (one bank each) per cycle,
    and the first block's channel sums, added while the image arrives so its attention can start
    at once. A beat's sum is registered and added a cycle later (the FCs read the sums three
    cycles after the last beat at the earliest).

    Single-buffered: `buffer.filled` from the last beat until `buffer.release` (the hand-off of
    the result), and beats are accepted only while the buffer is not filled."""

    def __init__(self, p: ImagePlan) -> None:
        self.plan = p
        mem = p.input_mem
        super().__init__({"beats": In(beats_signature(p.beat, p.input_bits)), "buffer": Out(buffer_signature()),
                          "read": Out(read_signature(value_shape(mem.bits, mem.signed), mem.rows)).array(mem.banks),
                          "sums": Out(sums_signature(p.blocks[0]))})

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        mem0 = p.input_mem
        m.submodules.memory = mem = map_banks(mem0)
        for k in range(mem0.banks):
            wiring.connect(m, wiring.flipped(self.read[k]), mem.read[k])
        n_beats = p.n_inputs // p.beat
        per_channel = mem0.pixels // p.beat
        beat_no = Signal(range(n_beats))
        lp = Signal(range(per_channel))
        lc = Signal(range(mem0.channels))
        full = Signal()
        accept = Signal()
        m.d.comb += [self.beats.ready.eq(~full), accept.eq(self.beats.valid & ~full), self.buffer.filled.eq(full)]
        values = [self.beats.payload[k] if p.input_signed else self.beats.payload[k].as_unsigned() for k in range(p.beat)]
        for k, wp in enumerate(mem.write):
            m.d.comb += [wp.addr.eq(beat_no), wp.data.eq(values[k]), wp.en.eq(accept)]
        beat_sum = Signal(signed(p.blocks[0].gap_bits))
        summed, sum_first, sum_c = Signal(), Signal(), Signal.like(lc)
        m.d.sync += [summed.eq(accept), beat_sum.eq(sum(values)), sum_first.eq(lp == 0), sum_c.eq(lc)]
        with m.If(summed):
            with m.Switch(sum_c):
                for c, sig in enumerate(self.sums.value):
                    with m.Case(c):
                        m.d.sync += sig.eq(Mux(sum_first, 0, sig) + beat_sum)
        with m.If(accept):
            m.d.sync += [beat_no.eq(beat_no + 1), lp.eq(Mux(lp == per_channel - 1, 0, lp + 1))]
            with m.If(lp == per_channel - 1):
                m.d.sync += lc.eq(lc + 1)
            with m.If(beat_no == n_beats - 1):
                m.d.sync += [beat_no.eq(0), lc.eq(0), full.eq(1)]
        with m.If(self.buffer.release):
            m.d.sync += full.eq(0)
        return m


class LaneMacs(wiring.Component):
    """The P MAC lanes of every pass, from the memory words to the accumulator times the gain.

    Operand A is broadcast (an attention weight for the assembly, a map value, zero in the
    padding, otherwise), operand B is per lane (a warehouse cell, a kernel RAM word, a head
    weight). Every memory word is registered as it leaves the RAM and the operand multiplexers
    work from those registers a cycle later: that, not the arithmetic, set the clock on ECP5.
    The accumulator (bias first) is scaled by the folded BatchNorm gain (the assembly; 1
    otherwise) as two partial products, so each fits an 18 x 18 multiplier."""

    def __init__(self, p: ImagePlan) -> None:
        self.plan, self.widths = p, widths(p)
        a_shape, a_depth = attention_memory(p.blocks)
        members = {"pid": In(select_signature(len(passes(p)))), "issue": In(issue_signature(p)), "a_read": In(read_signature(a_shape, a_depth)),
                   "kernel": In(read_signature(*kernel_memory(p))).array(p.lanes),
                   "out": Out(pipeline_signature(tag_layout(p), signed(self.widths.v), p.lanes))}
        for i, mem in enumerate(source_memories(p)):
            members[f"src{i}"] = In(read_signature(value_shape(mem.bits, mem.signed), mem.rows)).array(mem.banks)
        super().__init__(members)

    def sources(self, i: int) -> list:
        """The read ports of source i's banks (0: the image, then the maps)."""
        return getattr(self, f"src{i}")

    def elaborate(self, platform) -> Module:
        m = Module()
        p, w = self.plan, self.widths
        P, blocks, nb = p.lanes, p.blocks, len(p.blocks)
        accw, gain_bits = w.accw, w.gain_bits
        pid, issue = self.pid.index, self.issue
        all_passes = passes(p)
        tags = [issue.tag] + [Signal(tag_layout(p), name=f"tag{k}") for k in range(1, 5)]
        for k in range(1, 5):
            m.d.sync += tags[k].eq(tags[k - 1])

        # ROMs: the warehouses (one per lane, banked by cell row), the head, the gains and biases per pass
        wh_rom = []
        for wi, banks in enumerate(p.warehouses):
            ports = []
            for l in range(P):
                mm = Memory(shape=signed(w.wbits), depth=banks.shape[1], init=[int(v) for v in banks[l]])
                m.submodules[f"warehouse{wi}_lane{l}"] = mm
                ports.append(mm.read_port())
            wh_rom.append(ports)
        head_rom = []
        for l in range(P):
            mm = Memory(shape=signed(w.wbits), depth=p.head.weights.shape[1], init=[int(v) for v in p.head.weights[l]])
            m.submodules[f"head_lane{l}"] = mm
            head_rom.append(mm.read_port())
        bias_rd, gain_rd = {}, {}
        for i, ps in enumerate(all_passes):
            if ps.kind == "assembly":
                gains = ps.block.layer.gain.data.reshape(ps.ps.groups, P)
                mm = Memory(shape=unsigned(P * gain_bits), depth=ps.ps.groups, init=[pack(g, gain_bits) for g in gains])
                m.submodules[f"gain{i}"] = mm
                gain_rd[i] = mm.read_port()
            else:
                mm = Memory(shape=unsigned(P * accw), depth=ps.ps.groups, init=[pack(bb, accw) for bb in ps.ps.bias])
                m.submodules[f"bias{i}"] = mm
                bias_rd[i] = mm.read_port()

        # t: read addresses straight from the address registers (each memory has one reader;
        # reading outside its pass is harmless)
        m.d.comb += self.a_read.addr.eq(issue.ra)
        for rp in [*self.kernel, *head_rom, *(rp for ports in wh_rom for rp in ports)]:
            m.d.comb += rp.addr.eq(issue.rb)
        for i in range(nb + 1):
            for rd in self.sources(i):
                m.d.comb += rd.addr.eq(getattr(issue, f"row{i}"))

        # t+1: every word as read, so no multiplexer sits behind a block RAM's slow output
        a_word = registered(m, self.a_read, "a_word")
        src_words = [[registered(m, rd, f"src{i}_word{k}") for k, rd in enumerate(self.sources(i))] for i in range(nb + 1)]
        wh_words = [[registered(m, rp, f"wh{wi}_word{l}") for l, rp in enumerate(ports)] for wi, ports in enumerate(wh_rom)]
        k_words = [registered(m, self.kernel[l], f"k_word{l}") for l in range(P)]
        head_words = [registered(m, head_rom[l], f"head_word{l}") for l in range(P)]
        # t+2: the pass's operands
        a_op = Signal(signed(w.act))
        b_op = [Signal(signed(w.operand_b), name=f"b{l}") for l in range(P)]
        t2 = tags[2]
        with m.Switch(pid):
            for i, ps in enumerate(all_passes):
                with m.Case(i):
                    if ps.kind == "assembly":
                        m.d.sync += a_op.eq(a_word)
                        for l in range(P):
                            m.d.sync += b_op[l].eq(wh_words[ps.block.warehouse][l])
                    else:
                        words = src_words[blocks.index(ps.block) if ps.block else nb]
                        word = Array(words)[t2.bank] if len(words) > 1 else words[0]
                        m.d.sync += a_op.eq(Mux(t2.inb, word, 0))
                        for l in range(P):
                            m.d.sync += b_op[l].eq((k_words if ps.kind == "conv" else head_words)[l])
        # t+3: products
        prod = [Signal(signed(w.act + w.operand_b), name=f"prod{l}") for l in range(P)]
        for l in range(P):
            m.d.sync += prod[l].eq(a_op * b_op[l])

        # t+4: accumulate; bias and gain registered from the pass's ROMs, read with earlier tags
        acc = [Signal(signed(accw), name=f"acc{l}") for l in range(P)]
        bias = [Signal(signed(accw), name=f"bias{l}") for l in range(P)]
        gain = [Signal(signed(gain_bits + 1), name=f"gain{l}") for l in range(P)]
        with m.Switch(pid):
            for i, ps in enumerate(all_passes):
                with m.Case(i):
                    if ps.kind == "assembly":
                        m.d.comb += gain_rd[i].addr.eq(tags[3].g)
                        for l in range(P):
                            m.d.sync += [bias[l].eq(0), gain[l].eq(gain_rd[i].data[l * gain_bits : (l + 1) * gain_bits].as_signed())]
                    else:
                        m.d.comb += bias_rd[i].addr.eq(t2.g)
                        for l in range(P):
                            m.d.sync += [bias[l].eq(bias_rd[i].data[l * accw : (l + 1) * accw].as_signed()), gain[l].eq(1)]
        t4 = tags[4]
        for l in range(P):
            with m.If(t4.valid):
                m.d.sync += acc[l].eq(Mux(t4.first, bias[l], acc[l]) + prod[l])
        fin = Signal(tag_layout(p))  # the tag of the accumulators' content when it is a finished sum
        m.d.sync += [fin.eq(t4), fin.valid.eq(t4.valid & t4.last)]

        # t+5: x gain as two partial products (one multiplier each); t+6: their sum
        f0 = Signal(tag_layout(p))
        m.d.sync += [f0.eq(fin), self.out.tag.eq(f0)]
        split = min(17, accw - 1)  # acc = hi * 2**split + lo, lo unsigned: each part fits an 18 x 18 multiplier
        for l in range(P):
            v_lo = Signal(signed(split + gain_bits + 2), name=f"vlo{l}")
            v_hi = Signal(signed(accw - split + gain_bits + 1), name=f"vhi{l}")
            m.d.sync += [v_lo.eq(acc[l][:split] * gain[l]), v_hi.eq(acc[l][split:].as_signed() * gain[l]), self.out.value[l].eq((v_hi << split) + v_lo)]
        return m


def clear_signature(p: ImagePlan) -> wiring.Signature:
    """PassSequencer -> write-back: bit i - 1 clears block i's channel sums (after block i - 1's
    assembly, before its convolution writes them)."""
    return wiring.Signature({"blocks": Out(len(p.blocks) - 1)})


class AvgPoolWriteBack(wiring.Component):
    """The average pool and the write of every finished value: kernels into the kernel RAMs
    (assembly), pooled maps into the next map's banks (convolution; lane l writes bank l, no
    multiplexer) while adding them to the next block's channel sums, the logits into the
    registers the argmax reads (head).

    The pool is a running sum over the k x k window (the pass issues a window's positions back to
    back), then a shift by log2(k*k) rounded half to even, each in its own register stage."""

    def __init__(self, p: ImagePlan, width: int) -> None:
        self.plan, self.width = p, width
        members = {"pid": In(select_signature(len(passes(p)))), "inp": In(pipeline_signature(tag_layout(p), signed(width), p.lanes)),
                   "kernel": In(write_signature(*kernel_memory(p))).array(p.lanes),
                   "clear": In(clear_signature(p)), "logits": Out(logits_signature(p.n_classes, p.logit_bits))}
        for i, mem in enumerate(p.maps):
            members[f"map{i}"] = In(write_signature(value_shape(mem.bits, mem.signed), mem.rows)).array(mem.banks)
        for i, b in enumerate(p.blocks[1:], start=1):
            members[f"sums{i}"] = Out(sums_signature(b))
        super().__init__(members)

    def map_writes(self, i: int) -> list:
        """The write ports of map i's banks (block i's output)."""
        return getattr(self, f"map{i}")

    def block_sums(self, i: int):
        """The interface of block i's channel sums (i >= 1)."""
        return getattr(self, f"sums{i}")

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        P, blocks, nb = p.lanes, p.blocks, len(p.blocks)
        pid, q = self.pid.index, self.inp.value
        all_passes = passes(p)
        tag = self.inp.tag
        s_tag, out_tag = Signal(tag_layout(p), name="s_tag"), Signal(tag_layout(p), name="out_tag")  # the tags of s and of out
        m.d.sync += [s_tag.eq(tag), out_tag.eq(s_tag)]
        pool_unit = ShiftRound(max(ps.pool_shift for ps in p.passes), 0)
        with m.Switch(pid):
            for i, ps in enumerate(all_passes):
                with m.Case(i):
                    pool_unit.select(m, ps.ps.pool_shift if ps.kind == "conv" else 0)
        s = [Signal(signed(self.width + 4), name=f"psum{l}") for l in range(P)]
        out = [Signal(signed(self.width + 4), name=f"out{l}") for l in range(P)]
        for l in range(P):
            with m.If(tag.valid):
                m.d.sync += s[l].eq(Mux(tag.pfirst, 0, s[l]) + q[l])
            pooled, pool_up = pool_unit.shift(s[l])
            m.d.sync += out[l].eq(pooled + pool_up)

        wtag = out_tag
        write = Signal()
        m.d.comb += write.eq(wtag.valid & wtag.plast)
        logits = self.logits.value
        with m.Switch(pid):
            for i, ps in enumerate(all_passes):
                with m.Case(i):
                    if ps.kind == "assembly":
                        for l, wp in enumerate(self.kernel):
                            m.d.comb += [wp.addr.eq(wtag.waddr), wp.data.eq(out[l]), wp.en.eq(write)]
                    elif ps.kind == "conv":
                        bi = blocks.index(ps.block)
                        for l, wp in enumerate(self.map_writes(bi)):
                            m.d.comb += [wp.addr.eq(wtag.waddr), wp.data.eq(out[l]), wp.en.eq(write)]
                        if bi + 1 < nb:  # the next block's channel sums
                            for c, sig in enumerate(self.block_sums(bi + 1).value):
                                with m.If(write & (wtag.g == c // P)):
                                    m.d.sync += sig.eq(sig + out[c % P])
                    else:
                        for c in range(p.n_classes):
                            with m.If(write & (wtag.g == c // P)):
                                m.d.sync += logits[c].eq(out[c % P])
        for i in range(1, nb):
            with m.If(self.clear.blocks[i - 1]):
                m.d.sync += [sig.eq(0) for sig in self.block_sums(i).value]
        return m


class PassSequencer(wiring.Component):
    """Runs an image: per block the attention (started, then waited for), the kernel assembly and
    the convolution on the P lanes, then the head and the argmax. A pass issues one item per cycle
    with no bubbles and then drains, so the cycle count is exact and data-independent
    (ImagePlan.cycle_phases).

    Loop counters step like an odometer, and every address (operand A, operand B, write address,
    padded y and x) is a register that adds a precomputed stride when its counter steps and
    rewinds when the inner counters wrap (common.odometer): memory addresses come straight from
    flip-flops, with no multiplier. `pid`, set by the issuing state, tells the datapath behind
    the issue which pass it carries, also while it drains."""

    def __init__(self, p: ImagePlan) -> None:
        self.plan = p
        super().__init__({"buffer": In(buffer_signature()), "attention": Out(control_signature()), "argmax": Out(control_signature()),
                          "pid": Out(select_signature(len(passes(p)))), "issue": Out(issue_signature(p)), "clear": Out(clear_signature(p))})

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        blocks, nb, issue = p.blocks, len(p.blocks), self.issue
        src_mems = source_memories(p)
        all_passes = passes(p)
        # counters of the passes (assembly: gh, gl, cj, ci, ky, kx, n; convolution and head: g, py, px, dy, dx, ci, ky, kx)
        g = Signal(range(max(ps.groups for ps in p.passes) + 1))
        py, px, dy, dx = (Signal(range(max(ps.out_h for ps in p.passes) + 1), name=n) for n in ("py", "px", "dy", "dx"))
        ci = Signal(range(max(ps.src.channels for ps in p.passes) + 1))
        ky = Signal(range(max(ps.kh for ps in p.passes) + 1))
        kx = Signal(range(max(ps.kw for ps in p.passes) + 1))
        cj = Signal(range(max(b.layer.in_shape[0] for b in blocks) + 1))
        n_c = Signal(range(max(b.layer.cells for b in blocks) + 1))
        gh = Signal(range(max(ps.groups for ps in p.passes) + 1))  # the assembly's g = gh * cell_groups + gl
        gl = Signal(range(max(b.cell_groups for b in blocks) + 1))
        # address registers that follow the counters: operand A (attention a), operand B (kernel RAM,
        # warehouse or head ROM word), write address, padded y and x
        ra, rb = issue.ra, issue.rb
        rw = Signal(len(issue.tag.waddr))
        ry, rx = (Signal(range(max(ps.out_h + ps.kh for ps in p.passes) + 1), name=n) for n in ("ry", "rx"))
        ctr = dict(g=g, py=py, px=px, dy=dy, dx=dx, ci=ci, ky=ky, kx=kx, cj=cj, n=n_c, gh=gh, gl=gl, ra=ra, rb=rb, rw=rw, ry=ry, rx=rx)
        reset_counters = [sig.eq(0) for sig in ctr.values()]
        drain = Signal(range(PASS_DRAIN + 1))

        for pk in all_passes:  # source rows straight from the address registers
            if pk.kind != "assembly":
                si = blocks.index(pk.block) if pk.block else nb
                _, row = locate(src_mems[si], ci, (ry - pk.ps.padding).as_unsigned(), (rx - pk.ps.padding).as_unsigned())
                m.d.comb += getattr(issue, f"row{si}").eq(row)

        def pass_states(pass_id: int, state: str, nxt: str, on_exit: Callable[[], None]) -> None:
            """ISSUE state `state` (one item per cycle, no bubbles) and its DRAIN state, then `nxt`."""
            pk = all_passes[pass_id]
            ps, tag0 = pk.ps, issue.tag
            src = src_mems[blocks.index(pk.block) if pk.block else nb]  # what a convolution or the head reads
            with m.State(state):
                m.d.comb += tag0.valid.eq(1)
                m.d.sync += self.pid.index.eq(pass_id)
                if pk.kind == "assembly":
                    l = pk.block.layer
                    cpm = l.in_shape[0] // l.cell_in  # mixtures per block row
                    cg = pk.block.cell_groups
                    kk = l.kernel * l.kernel
                    order = [(gh, ps.groups // cg), (gl, cg), (cj, cpm), (ci, l.cell_in), (ky, l.kernel), (kx, l.kernel), (n_c, l.cells)]
                    linear = [  # coefficients of gh, gl, cj, ci, ky, kx, n
                        (g, [cg, 1, 0, 0, 0, 0, 0]),
                        (ra, [cpm * l.cells, 0, l.cells, 0, 0, 0, 1]),  # a[mixture gh * cpm + cj, n]
                        (rb, [0, l.cell_in * kk, 0, kk, l.kernel, 1, cg * l.cell_in * kk]),  # warehouse word
                        (rw, [cg * l.in_shape[0] * kk, l.in_shape[0] * kk, l.cell_in * kk, kk, l.kernel, 1, 0]),  # kernel RAM word
                    ]
                    m.d.comb += [tag0.first.eq(n_c == 0), tag0.last.eq(n_c == l.cells - 1), tag0.pfirst.eq(1), tag0.plast.eq(1)]
                else:
                    order = [(g, ps.groups), (py, ps.out_h // ps.pool), (px, ps.out_w // ps.pool), (dy, ps.pool), (dx, ps.pool),
                             (ci, src.channels), (ky, ps.kh), (kx, ps.kw)]
                    ho, wo = ps.out_h // ps.pool, ps.out_w // ps.pool
                    linear = [  # coefficients of g, py, px, dy, dx, ci, ky, kx
                        (ry, [0, ps.pool, 0, 1, 0, 0, 1, 0]),  # padded coordinates
                        (rx, [0, 0, ps.pool, 0, 1, 0, 0, 1]),
                        (rb, [src.channels * ps.kh * ps.kw, 0, 0, 0, 0, ps.kh * ps.kw, ps.kw, 1]),  # kernel word
                        (rw, [ho * wo, wo, 1, 0, 0, 0, 0, 0]),
                    ]
                    inb = (ry >= ps.padding) & (ry < src.height + ps.padding) & (rx >= ps.padding) & (rx < src.width + ps.padding)
                    bank, _ = locate(src, ci, (ry - ps.padding).as_unsigned(), (rx - ps.padding).as_unsigned())
                    first = (ci == 0) & (ky == 0) & (kx == 0)
                    last = (ci == src.channels - 1) & (ky == ps.kh - 1) & (kx == ps.kw - 1)
                    m.d.comb += [tag0.first.eq(first), tag0.last.eq(last), tag0.inb.eq(inb), tag0.bank.eq(bank),
                                 tag0.pfirst.eq((dy == 0) & (dx == 0)), tag0.plast.eq((dy == ps.pool - 1) & (dx == ps.pool - 1))]
                m.d.comb += [tag0.waddr.eq(rw), tag0.g.eq(g)]
                with m.If(odometer(m, order, linear)):
                    m.d.sync += drain.eq(PASS_DRAIN - 1)
                    m.next = state + "_DRAIN"
            with m.State(state + "_DRAIN"):
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    on_exit()
                    m.next = nxt

        def reset() -> None:
            m.d.sync += reset_counters

        def start_attention() -> None:
            reset()
            m.d.comb += self.attention.start.eq(1)

        def start_argmax() -> None:
            m.d.comb += self.argmax.start.eq(1)

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                with m.If(self.buffer.filled):
                    start_attention()
                    m.next = "B0_ATTENTION"
            for bi in range(nb):
                with m.State(f"B{bi}_ATTENTION"):
                    with m.If(self.attention.done):
                        reset()
                        m.next = f"B{bi}_ASSEMBLY"

                def after_assembly(bi: int = bi) -> None:  # and before the convolution adds to the next block's sums
                    reset()
                    if bi + 1 < nb:
                        m.d.comb += self.clear.blocks[bi].eq(1)

                pass_states(2 * bi, f"B{bi}_ASSEMBLY", f"B{bi}_CONV", after_assembly)
                last = bi + 1 == nb
                pass_states(2 * bi + 1, f"B{bi}_CONV", "HEAD" if last else f"B{bi + 1}_ATTENTION", reset if last else start_attention)
            pass_states(2 * nb, "HEAD", "RESULT", start_argmax)
            with m.State("RESULT"):
                with m.If(self.argmax.done):
                    m.d.comb += self.buffer.release.eq(1)
                    m.next = "IDLE"
        return m
