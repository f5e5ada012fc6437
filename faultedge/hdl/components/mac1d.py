"""The 1-D engine's components: one P-lane MAC array reused by every stage of a
`faultedge.hdl.plan.Plan` (faultedge.hdl.accel.Accelerator joins them).

Pipeline of one issued chunk (cycle t = issue; every arrow is a register):

    t     Sequencer         bank rows and the weight-ROM address (from `base` and `waddr`)
    t+1   MacArray          banks -> rotator (window start off a bank boundary) -> lane operands   -> a, w
    t+2                     a * w                                                                   -> product
    t+3..                   adder tree, one level per cycle; a stage with pr reduction lanes taps level log2(pr)
    T                       accumulators (bias on the first chunk) at T = t + 3 + log2(pr)
   (T+1   MacArray          with a residual add: + the block input, read from its memory by channel block)
    T+1   Requantiser       arithmetic shift and the round-half-to-even decision
    T+2                     + round bit
    T+3                     clamp (saturation; ReLU is the lower bound 0)
    T+4   MaxPoolWriteBack  max-pool running maximum, write to the next stage's banks (or the logit registers)

PRE_TREE and `Plan.post_acc` (POST_ACC, plus one with the residual adder) in faultedge.hdl.plan are
those depths; the cycle model reads them there.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.argmax import logits_signature
from faultedge.hdl.components.common import Banks, addr_bits, bits, log2, pack, read_signature, value_shape, write_signature
from faultedge.hdl.components.streams import (beats_signature, buffer_signature, control_signature, features_signature, pipeline_signature,
                                              select_signature)
from faultedge.hdl.plan import PRE_TREE, ActMemory, Plan, Stage


def stage_memory(p: Plan, i: int) -> tuple[Shape, int, int]:
    """(shape, depth, banks) of stage i's input memory; stage 0's is the loader's two buffers."""
    mem = p.stages[i].in_mem
    return value_shape(mem.bits, mem.signed), mem.rows * (2 if i == 0 else 1), mem.banks


def _addr_bits(p: Plan) -> int:
    return bits(max(s.in_mem.rows * s.in_mem.banks for s in p.stages))


def tag_layout(p: Plan) -> data.StructLayout:
    """What travels down the pipeline with an issued chunk: first and last chunk of a position,
    first of a pool window, whether the position is in the pool (contrib) and ends it (write),
    the write address in the next memory, and the channel group."""
    fields = {"valid": 1, "first": 1, "last": 1, "pfirst": 1, "contrib": 1, "write": 1,
              "wa": max(_addr_bits(p), bits(p.n_classes)), "g": Shape.cast(range(max(s.groups for s in p.stages) + 1))}
    if p.residual:  # the residual operand's address in its memory: the position's first channel of the group
        fields["ra"] = _addr_bits(p)
    return data.StructLayout(fields)


def issue_signature(p: Plan) -> wiring.Signature:
    """Sequencer -> MAC array: the chunk's tag, its window's first address and its weight-ROM word,
    and the next chunk's first address one cycle ahead (`next_base`), from which the MAC array
    registers its bank addresses so that no adder sits in front of the banks' LUT RAM."""
    return wiring.Signature({"tag": Out(tag_layout(p)), "base": Out(_addr_bits(p) + 1), "next_base": Out(_addr_bits(p) + 1),
                             "waddr": Out(range(max(len(s.weights) for s in p.stages) + 1))})


def _rotate(values: list, amount: Signal) -> list:
    """values rotated so that element q is values[(amount + q) % len]: log2(len) mux levels."""
    n = len(values)
    cur = list(values)
    for bit in range(log2(n)):
        step = 1 << bit
        cur = [Mux(amount[bit], cur[(q + step) % n], cur[q]) for q in range(n)]
    return cur


def _double_buffer(m: Module, p: Plan, mem: Banks, ready: Signal, done_loading: Value, buffer, read) -> Signal:
    """The input memory's two buffers: the writer fills buffer `wbuf` (returned; `ready` while it is free) and hands it
    over on `done_loading`; `buffer.filled` while the buffer read next holds a whole window, `buffer.release` hands it back.
    The MAC array's read addresses come without the buffer offset, which is added here."""
    mem0 = p.stages[0].in_mem
    rbuf, wbuf = Signal(), Signal()
    full = [Signal(name="full0"), Signal(name="full1")]
    m.d.comb += ready.eq(Mux(wbuf, ~full[1], ~full[0]))
    with m.If(done_loading):
        m.d.sync += wbuf.eq(~wbuf)
    for k in range(2):
        with m.If(done_loading & (wbuf == k)):
            m.d.sync += full[k].eq(1)
        with m.Elif(buffer.release & (rbuf == k)):
            m.d.sync += full[k].eq(0)
    with m.If(buffer.release):
        m.d.sync += rbuf.eq(~rbuf)
    m.d.comb += buffer.filled.eq(Mux(rbuf, full[1], full[0]))
    for b in range(mem0.banks):
        m.d.comb += [mem.read[b].addr.eq(read[b].addr + Mux(rbuf, mem0.rows, 0)), mem.read[b].en.eq(read[b].en), read[b].data.eq(mem.read[b].data)]
    return wbuf


def _loader_members(p: Plan) -> dict:
    shape, depth, banks = stage_memory(p, 0)
    return {"buffer": Out(buffer_signature()), "read": Out(read_signature(shape, depth)).array(banks)}


class InputLoader(wiring.Component):
    """Input beats into the double-buffered input memory (stage 0's banks), so the next window
    streams in while the MAC array reads the current one.

    A beat is an aligned block of `beat` values, so value k wires straight to its bank (no write
    multiplexer). `buffer.filled`: the buffer read next holds a whole window; `buffer.release`
    (stage 0 issued its last chunk) hands that buffer back to the writer."""

    def __init__(self, p: Plan) -> None:
        self.plan = p
        super().__init__({"beats": In(beats_signature(p.beat, p.input_bits)), **_loader_members(p)})

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        mem0 = p.stages[0].in_mem
        nb0, rows0 = mem0.banks, mem0.rows
        m.submodules.memory = mem = Banks(*stage_memory(p, 0))
        n_beats = p.n_inputs // p.beat
        la = Signal(range(mem0.offset + p.n_inputs + 1), init=mem0.offset)
        beat_no = Signal(range(n_beats))
        beats = self.beats
        accept = Signal()
        m.d.comb += accept.eq(beats.valid & beats.ready)
        done_loading = Signal()
        m.d.comb += done_loading.eq(accept & (beat_no == n_beats - 1))
        wbuf = _double_buffer(m, p, mem, beats.ready, done_loading, self.buffer, self.read)
        for b in range(nb0):
            wp = mem.write[b]
            m.d.comb += [
                wp.addr.eq((la >> log2(nb0)) + Mux(wbuf, rows0, 0)),
                wp.data.eq(beats.payload[b % p.beat]),
                wp.en.eq(accept & ((la & (nb0 - 1)) >> log2(p.beat) == b // p.beat)),
            ]
        with m.If(accept):
            m.d.sync += [la.eq(la + p.beat), beat_no.eq(beat_no + 1)]
            with m.If(done_loading):
                m.d.sync += [la.eq(mem0.offset), beat_no.eq(0)]
        return m


class FeatureLoader(wiring.Component):
    """The input memory of a sample-in accelerator: the front end writes each input at its own address
    (`features`: address, value, last), in whatever order its bins come, into the buffer the engine
    does not read; the window's `last` input hands the buffer to the sequencer (as InputLoader's last beat)."""

    def __init__(self, p: Plan) -> None:
        self.plan = p
        super().__init__({"features": In(features_signature(p.n_inputs, p.input_bits)), **_loader_members(p)})

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        mem0 = p.stages[0].in_mem
        nb0 = mem0.banks
        m.submodules.memory = mem = Banks(*stage_memory(p, 0))
        feats = self.features
        accept = Signal()
        m.d.comb += accept.eq(feats.valid & feats.ready)
        wbuf = _double_buffer(m, p, mem, feats.ready, accept & feats.payload.last, self.buffer, self.read)
        address = Signal(range(mem0.offset + p.n_inputs))
        m.d.comb += address.eq(feats.payload.addr + mem0.offset)
        for b in range(nb0):
            wp = mem.write[b]
            m.d.comb += [wp.addr.eq((address >> log2(nb0)) + Mux(wbuf, mem0.rows, 0)), wp.data.eq(feats.payload.value),
                         wp.en.eq(accept & ((address & (nb0 - 1)) == b))]
        return m


class MacArray(wiring.Component):
    """P multipliers, an adder tree and the channel accumulators, reused by every stage.

    Per stage the lanes split into pc channel lanes x pr reduction lanes: each cycle one chunk of
    pr window values (read from the stage's banks, rotated when windows start off a bank
    boundary) meets pc * pr weights from the stage's ROM, the tree sums each group of pr products
    and pc accumulators, initialised with the bias, add the chunks. Operands, products and every
    tree level are registers: the price is a drain per stage, the gain a short critical path.
    `sums` carries the accumulators with the tag of the chunk that finished them."""

    def __init__(self, p: Plan) -> None:
        self.plan = p
        members = {"stage": In(select_signature(len(p.stages))), "issue": In(issue_signature(p)),
                   "sums": Out(pipeline_signature(tag_layout(p), signed(p.acc_bits), p.max_pc))}
        for i in range(len(p.stages)):
            shape, depth, banks = stage_memory(p, i)
            members[f"read{i}"] = In(read_signature(shape, depth)).array(banks)
        super().__init__(members)

    @property
    def reads(self) -> list[list]:
        """The read ports of every stage's banks (stage 0's are the loader's)."""
        return [getattr(self, f"read{i}") for i in range(len(self.plan.stages))]

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        stages, P, accw = p.stages, p.lanes, p.acc_bits
        stage, issue = self.stage.index, self.issue
        depth = PRE_TREE + max(s.tree_levels for s in stages) + 1
        tags = [issue.tag] + [Signal(tag_layout(p), name=f"tag{k}") for k in range(1, depth)]
        for k in range(1, depth):
            m.d.sync += tags[k].eq(tags[k - 1])

        wroms, broms = [], []
        for i, s in enumerate(stages):
            wrom = Memory(shape=unsigned(P * p.weight_bits), depth=len(s.weights), init=[pack(w, p.weight_bits) for w in s.weights])
            brom = Memory(shape=unsigned(s.pc * accw), depth=s.groups, init=[pack(b, accw) for b in s.bias])
            m.submodules[f"weights{i}"], m.submodules[f"bias{i}"] = wrom, brom
            wroms.append(wrom.read_port())
            broms.append(brom.read_port())

        # read side: bank rows (one more in the banks before the window's first), the weight word.
        # The row, the row after it and each bank's choice between them are registered from
        # `next_base`, so a bank's address is one 2:1 mux (the adder used to limit the clock).
        residual_rows = self._residual_rows(m, tags)
        for i, s in enumerate(stages):
            nb = s.in_mem.banks
            row, row1 = (Signal(len(issue.base), name=f"row{i}_{k}") for k in range(2))
            m.d.sync += [row.eq(issue.next_base >> log2(nb)), row1.eq((issue.next_base >> log2(nb)) + 1)]
            for b, rd in enumerate(self.reads[i]):
                after = Signal(name=f"after{i}_{b}")  # bank b lies before the window's first: read the next row
                m.d.sync += after.eq(b < (issue.next_base & (nb - 1)))
                addr = Mux(after, row1, row)
                for r, rows in residual_rows.get(i, []):  # idle while stage r runs: its residual operand's reads
                    addr = Mux(stage == r, rows[b], addr)
                m.d.comb += rd.addr.eq(addr)
            m.d.comb += wroms[i].addr.eq(issue.waddr)

        # operands: the window rotated into lane order, the weights
        a_ops = [Signal(signed(p.act_width), name=f"a{k}") for k in range(P)]
        w_ops = [Signal(signed(p.weight_bits), name=f"w{k}") for k in range(P)]
        rr_d = [Signal(range(s.in_mem.banks), name=f"rr{i}_d") for i, s in enumerate(stages)]
        for i, s in enumerate(stages):
            m.d.sync += rr_d[i].eq(issue.base & (s.in_mem.banks - 1))
        with m.Switch(stage):
            for i, s in enumerate(stages):
                with m.Case(i):
                    data_out = [rd.data for rd in self.reads[i]]
                    window = _rotate(data_out, rr_d[i]) if s.rotates else data_out
                    for k in range(P):
                        m.d.sync += [
                            a_ops[k].eq(window[k % s.pr]),
                            w_ops[k].eq(wroms[i].data[k * p.weight_bits : (k + 1) * p.weight_bits].as_signed()),
                        ]

        # multiply and adder tree
        prod_w = p.act_width + p.weight_bits
        levels = [[Signal(signed(prod_w), name=f"prod{k}") for k in range(P)]]
        for k in range(P):
            m.d.sync += levels[0][k].eq(a_ops[k] * w_ops[k])
        for lv in range(1, log2(P) + 1):
            width = min(prod_w + lv, max(accw, prod_w))
            prev = levels[-1]
            cur = [Signal(signed(width), name=f"sum{lv}_{k}") for k in range(len(prev) // 2)]
            for k, sig in enumerate(cur):
                m.d.sync += sig.eq(prev[2 * k] + prev[2 * k + 1])
            levels.append(cur)

        # accumulators; `fin` is the tag of their content when it is a finished sum
        if p.residual:
            acc = [Signal(signed(accw), name=f"acc{k}") for k in range(p.max_pc)]
            fin = Signal(tag_layout(p), name="fin")
        else:
            acc, fin = self.sums.value, self.sums.tag
        bias_word = Signal(p.max_pc * accw)
        with m.Switch(stage):
            for i, s in enumerate(stages):
                with m.Case(i):
                    t = PRE_TREE + s.tree_levels
                    m.d.comb += broms[i].addr.eq(tags[t - 1].g)
                    m.d.comb += bias_word.eq(broms[i].data)
                    tag = tags[t]
                    sums = levels[s.tree_levels]
                    for k in range(s.pc):
                        bias_k = bias_word[k * accw : (k + 1) * accw].as_signed()
                        with m.If(tag.valid):
                            m.d.sync += acc[k].eq(Mux(tag.first, bias_k, acc[k]) + sums[k])
                    m.d.sync += [fin.eq(tag), fin.valid.eq(tag.valid & tag.last)]
        if p.residual:
            self._residual_add(m, acc, fin)
        return m

    def _residual_rows(self, m: Module, tags: list) -> dict[int, list[tuple[int, list[Signal]]]]:
        """Per source memory, per residual stage r reading it: each bank's row of the residual operand, registered one
        cycle before the finishing chunk reaches the accumulators (from the tag one step behind), so that the banks' data
        arrive with the finished sums. Bank b holds channel g * pc + b % pc of group g's block, moved by its shift."""
        p = self.plan
        rows: dict[int, list[tuple[int, list[Signal]]]] = {}
        for r, s in enumerate(p.stages):
            if s.residual is None:
                continue
            src = p.stages[s.residual.source].in_mem
            tag = tags[PRE_TREE + s.tree_levels - 1]
            regs = [Signal(addr_bits(src.rows), name=f"res_row{r}_{b}") for b in range(src.banks)]
            for b, reg in enumerate(regs):
                delta = Signal(signed(addr_bits(src.rows) + 1), name=f"res_delta{r}_{b}")
                with m.Switch(tag.g):
                    for g in range(s.groups):
                        with m.Case(g):
                            m.d.comb += delta.eq(src.row_shift(g * s.pc + b % s.pc))
                m.d.sync += reg.eq((tag.ra >> log2(src.banks)) + delta)
            rows.setdefault(s.residual.source, []).append((r, regs))
        return rows

    def _residual_add(self, m: Module, acc: list[Signal], fin: Signal) -> None:
        """The finished sums plus, in a residual stage, the block input (lane k: bank (g * pc) % banks + k of the source
        memory), shifted onto the accumulator grid: one register, then `sums`."""
        p = self.plan
        addend = [Signal(signed(p.acc_bits), name=f"addend{k}") for k in range(p.max_pc)]
        with m.Switch(self.stage.index):
            for r, s in enumerate(p.stages):
                if s.residual is None:
                    continue
                with m.Case(r):
                    src = p.stages[s.residual.source].in_mem
                    data_out = [rd.data for rd in self.reads[s.residual.source]]
                    with m.Switch(fin.g):
                        for g in range(s.groups):
                            with m.Case(g):
                                first = (g * s.pc) % src.banks
                                m.d.comb += [addend[k].eq(data_out[first + k] << s.residual.shift) for k in range(s.pc)]
        m.d.sync += self.sums.tag.eq(fin)
        m.d.sync += [self.sums.value[k].eq(acc[k] + addend[k]) for k in range(p.max_pc)]


class MaxPoolWriteBack(wiring.Component):
    """The running max-pool of each channel lane and the write of every finished position.

    A pool's kernel is at most its stride, so windows never overlap and one register per lane
    holds the running maximum. A position goes to the next stage's banks as an aligned block of
    pc channels (lane k wires to its bank: no write multiplexer), or after the last stage into the
    logit registers that the argmax reads. Into a shifted memory (an IR shift before the next stage)
    each bank's row moves by its channel's shift: the channel keeps its bank, so still no multiplexer."""

    def __init__(self, p: Plan, width: int) -> None:
        self.plan, self.width = p, width
        members = {"stage": In(select_signature(len(p.stages))), "inp": In(pipeline_signature(tag_layout(p), signed(width), p.max_pc)),
                   "logits": Out(logits_signature(p.n_classes, p.logit_bits))}
        for i in range(1, len(p.stages)):
            shape, depth, banks = stage_memory(p, i)
            members[f"write{i}"] = In(write_signature(shape, depth)).array(banks)
        super().__init__(members)

    def write_ports(self, i: int) -> list:
        """The write ports of stage i's banks (i >= 1)."""
        return getattr(self, f"write{i}")

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        stages, n_st = p.stages, len(p.stages)
        tag, q = self.inp.tag, self.inp.value
        pool_reg = [Signal(signed(self.width), name=f"pool{k}") for k in range(p.max_pc)]
        pooled = [Signal(signed(self.width), name=f"pooled{k}") for k in range(p.max_pc)]
        for k in range(p.max_pc):
            m.d.comb += pooled[k].eq(Mux(tag.pfirst | (q[k] > pool_reg[k]), q[k], pool_reg[k]))
            with m.If(tag.valid & tag.contrib):
                m.d.sync += pool_reg[k].eq(pooled[k])
        logits = self.logits.value
        write = Signal()
        m.d.comb += write.eq(tag.valid & tag.contrib & tag.write)
        with m.Switch(self.stage.index):
            for i, s in enumerate(stages):
                with m.Case(i):
                    if i + 1 < n_st:
                        nm = stages[i + 1].in_mem
                        for b, wp in enumerate(self.write_ports(i + 1)):
                            row = tag.wa >> log2(nm.banks)
                            m.d.comb += [
                                wp.addr.eq(row + self._shift_rows(m, nm, i, b) if nm.shifts else row),
                                wp.data.eq(pooled[b % s.pc]),
                                wp.en.eq(write & ((tag.wa & (nm.banks - 1)) >> log2(s.pc) == b // s.pc)),
                            ]
                    else:
                        for c in range(p.n_classes):
                            with m.If(write & (tag.wa >> log2(s.pc) == c // s.pc)):
                                m.d.sync += logits[c].eq(pooled[c % s.pc])
        return m


    def _shift_rows(self, m: Module, nm: ActMemory, i: int, b: int) -> Signal:
        """Rows bank b's write of stage i moves by in a shifted memory: the shift of the channel it gets in group g (g * pc + b % pc)."""
        tag, s = self.inp.tag, self.plan.stages[i]
        delta = Signal(signed(addr_bits(nm.rows) + 1), name=f"shift_rows{i}_{b}")
        with m.Switch(tag.g):
            for g in range(s.groups):
                with m.Case(g):
                    m.d.comb += delta.eq(nm.row_shift(g * s.pc + b % s.pc))
        return delta


class Sequencer(wiring.Component):
    """Runs an inference: each stage's chunks, one per cycle with no bubbles (chunks j inside
    positions l inside channel groups g), then the pipeline's drain before the next stage reads
    what this one wrote, then the argmax. So the cycle count is exact and data-independent
    (faultedge.hdl.cycles); `stage` tells the datapath behind the issue which stage it carries."""

    def __init__(self, p: Plan) -> None:
        self.plan = p
        super().__init__({"buffer": In(buffer_signature()), "stage": Out(select_signature(len(p.stages))),
                          "issue": Out(issue_signature(p)), "argmax": Out(control_signature())})

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        stages, n_st = p.stages, len(p.stages)
        stage, tag0 = self.stage.index, self.issue.tag
        g = Signal(range(max(s.groups for s in stages) + 1))
        l = Signal(range(max(s.positions for s in stages) + 1))
        j = Signal(range(max(s.chunks for s in stages) + 1))
        base, waddr = self.issue.base, self.issue.waddr  # the window's first address, the weight word
        next_base = self.issue.next_base  # base's next value: the states below set it, base follows a cycle later
        m.d.comb += next_base.eq(base)
        m.d.sync += base.eq(next_base)
        pos_base = Signal.like(base)
        wgbase = Signal.like(waddr)
        pp = Signal(range(max([s.pool.stride for s in stages if s.pool] + [1]) + 1))  # pool phase
        pm = Signal(range(max(s.out_positions for s in stages) + 2))  # pooled position
        wa = Signal.like(tag0.wa)  # write address of this position's block in the next memory
        drain = Signal(range(PRE_TREE + max(s.tree_levels for s in stages) + p.post_acc + 2))
        ra = Signal.like(tag0.ra) if p.residual else None  # the residual operand's address (residual stages)

        def residual_layout(s: Stage) -> tuple[int, int] | None:
            """(offset, stride) of a residual stage's source memory."""
            if s.residual is None:
                return None
            src = stages[s.residual.source].in_mem
            return src.offset, src.stride

        def write_layout(i: int) -> tuple[int, int]:
            """(offset, stride) of stage i's output: the next memory, or the logit registers."""
            if i + 1 < n_st:
                nm = stages[i + 1].in_mem
                return nm.offset, nm.stride
            return 0, 0

        def enter(i: int) -> list:
            s = stages[i]
            start = s.in_mem.offset - s.padding * s.in_mem.stride
            m.d.comb += next_base.eq(start)
            res = residual_layout(s)
            return [g.eq(0), l.eq(0), j.eq(0), pos_base.eq(start), waddr.eq(0), wgbase.eq(0), pp.eq(0), pm.eq(0),
                    wa.eq(write_layout(i)[0]), *([ra.eq(res[0])] if res else [])]

        def issue(i: int, s: Stage) -> None:
            """One chunk per cycle: chunks j inside positions l inside channel groups g."""
            start = s.in_mem.offset - s.padding * s.in_mem.stride
            step = s.stride * s.in_mem.stride
            off, nstride = write_layout(i)
            pool = s.pool
            if pool:
                contrib = (pp < pool.kernel) & (pm < pool.length)
                write = pp == pool.kernel - 1
            else:
                contrib, write = Const(1), Const(1)
            m.d.comb += [tag0.valid.eq(1), tag0.first.eq(j == 0), tag0.last.eq(j == s.chunks - 1), tag0.pfirst.eq(pp == 0),
                         tag0.contrib.eq(contrib), tag0.write.eq(write), tag0.wa.eq(wa), tag0.g.eq(g)]
            res = residual_layout(s)
            if res:
                m.d.comb += tag0.ra.eq(ra)
            with m.If(j != s.chunks - 1):
                m.d.sync += [j.eq(j + 1), waddr.eq(waddr + 1)]
                m.d.comb += next_base.eq(base + s.pr)
            with m.Elif(l != s.positions - 1):
                m.d.sync += [j.eq(0), l.eq(l + 1), pos_base.eq(pos_base + step), waddr.eq(wgbase)]
                m.d.comb += next_base.eq(pos_base + step)
                if pool:
                    with m.If(pp == pool.stride - 1):
                        m.d.sync += [pp.eq(0), pm.eq(pm + 1), wa.eq(wa + nstride)]
                    with m.Else():
                        m.d.sync += pp.eq(pp + 1)
                else:
                    m.d.sync += wa.eq(wa + nstride)
                if res:
                    m.d.sync += ra.eq(ra + res[1])
            with m.Else():
                m.d.sync += [j.eq(0), l.eq(0), pos_base.eq(start), pp.eq(0), pm.eq(0)]
                m.d.comb += next_base.eq(start)
                with m.If(g != s.groups - 1):
                    m.d.sync += [g.eq(g + 1), wgbase.eq(wgbase + s.chunks), waddr.eq(wgbase + s.chunks), wa.eq(off + (g + 1) * s.pc)]
                    if res:
                        m.d.sync += ra.eq(res[0] + (g + 1) * s.pc)
                with m.Else():
                    m.d.sync += drain.eq(PRE_TREE + s.tree_levels + p.post_acc - 1)
                    if i == 0:
                        m.d.comb += self.buffer.release.eq(1)  # the input buffer may be refilled
                    m.next = "DRAIN"

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                with m.If(self.buffer.filled):
                    m.d.sync += [stage.eq(0), *enter(0)]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                with m.Switch(stage):
                    for i, s in enumerate(stages):
                        with m.Case(i):
                            issue(i, s)
            with m.State("DRAIN"):
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    with m.Switch(stage):
                        for i in range(n_st):
                            with m.Case(i):
                                if i + 1 < n_st:
                                    m.d.sync += [stage.eq(i + 1), *enter(i + 1)]
                                    m.next = "ISSUE"
                                else:
                                    m.d.comb += self.argmax.start.eq(1)
                                    m.next = "RESULT"
            with m.State("RESULT"):
                with m.If(self.argmax.done):
                    m.next = "IDLE"
        return m
