"""The accelerator: one P-lane MAC engine, reused by every stage of a `faultedge.hdl.plan.Plan`.

Pipeline of one issued chunk (cycle t = issue; every arrow is a register):

    t     sequencer drives bank rows and the weight-ROM address
    t+1   banks -> rotator (window start off a bank boundary) -> lane operands   -> a, w
    t+2   a * w                                                                   -> product
    t+3.. adder tree, one level per cycle; a stage with pr reduction lanes taps level log2(pr)
    T     accumulators (bias on the first chunk) at T = t + 3 + log2(pr)
    T+1   requant: arithmetic shift and the round-half-to-even decision
    T+2   + round bit
    T+3   clamp (saturation; ReLU is the lower bound 0)
    T+4   max-pool running maximum, write to the next stage's memory (or the logit registers)

Stages run back to back with the pipeline drained in between (the next stage reads what this one
wrote), so the cycle count is exact and data-independent (faultedge.hdl.cycles). The input
memory is double-buffered: the next window streams in while the current one is computed.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.plan import POST_ACC, PRE_TREE, ActMemory, Plan, Stage
from faultedge.hdl.stream_plan import StreamPlan, class_bits


def _bits(n: int) -> int:
    """Unsigned width that holds 0..n."""
    return max(1, int(n).bit_length())


def _pack(words, width: int) -> int:
    """Pack signed integers into one unsigned word, element 0 in the LSBs."""
    out = 0
    for k, v in enumerate(words):
        out |= (int(v) & ((1 << width) - 1)) << (k * width)
    return out


def _log2(n: int) -> int:
    return n.bit_length() - 1


def _rotate(values: list, amount: Signal) -> list:
    """values rotated so that element q is values[(amount + q) % len]: log2(len) mux levels."""
    n = len(values)
    cur = list(values)
    for bit in range(_log2(n)):
        step = 1 << bit
        cur = [Mux(amount[bit], cur[(q + step) % n], cur[q]) for q in range(n)]
    return cur


class ShiftRound:
    """A shift chosen per stage at run time, rounded half to even like `golden.round_shift` (a
    negative shift is an exact left shift), and an optional clamp: the requantisation unit's
    settings (`select`, inside a stage's Case) and its arithmetic (`shift`, `clamp`)."""

    def __init__(self, max_right: int, max_left: int, clamp_width: int = 0) -> None:
        self.right = Signal(range(max_right + 1))
        self.left = Signal(range(max_left + 1))
        self.mask = Signal(max(max_right, 1))
        self.half = Signal(max(max_right, 1) + 1)
        self.lo, self.hi = Signal(signed(max(clamp_width, 1))), Signal(signed(max(clamp_width, 1)))
        self.max_left = max_left

    def select(self, m: Module, shift: int, clamp: tuple[int, int] | None = None) -> None:
        if clamp is not None:
            m.d.comb += [self.lo.eq(clamp[0]), self.hi.eq(clamp[1])]
        if shift > 0:
            m.d.comb += [self.right.eq(shift), self.mask.eq((1 << shift) - 1), self.half.eq(1 << (shift - 1))]
        else:  # exact (left) shift: no rounding (remainder 0 is never above 1)
            m.d.comb += [self.left.eq(-shift), self.half.eq(1)]

    def shift(self, value) -> tuple:
        """(value shifted, the round-up bit): their sum is the rounded quotient."""
        shifted = value >> self.right
        rem = value.as_unsigned() & self.mask
        return (shifted << self.left if self.max_left else shifted), (rem > self.half) | ((rem == self.half) & shifted[0])

    def clamp(self, value):
        return clamp(value, self.lo, self.hi)


def clamp(value, lo, hi):
    """min(max(value, lo), hi) for signals or constant bounds."""
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


class StreamAccelerator(wiring.Component):
    """The ports every engine shares: `n_inputs / beat` beats of quantised inputs in (valid/ready),
    the class and all logits out (valid/ready); and the plan's figures that board tops read."""

    def __init__(self, plan: StreamPlan) -> None:
        self.plan = plan
        super().__init__(
            {
                "in_valid": In(1),
                "in_ready": Out(1),
                "in_data": In(plan.beat * plan.input_bits),
                "out_valid": Out(1),
                "out_ready": In(1),
                "out_class": Out(class_bits(plan.n_classes)),
                "out_logits": Out(plan.n_classes * plan.logit_bits),
            }
        )

    input_bits = property(lambda self: self.plan.input_bits)
    logit_bits = property(lambda self: self.plan.logit_bits)
    n_inputs = property(lambda self: self.plan.n_inputs)
    n_classes = property(lambda self: self.plan.n_classes)
    lanes = property(lambda self: self.plan.lanes)
    beat = property(lambda self: self.plan.beat)


class ResultStage:
    """The sequential argmax (one class per cycle, ties to the lowest index) and the hand-off to the
    output registers, which hold the result until out_ready."""

    def __init__(self, m: Module, comp: StreamAccelerator, logits: list[Signal]) -> None:
        n = comp.n_classes
        self.comp, self.logits = comp, logits
        self.best = Signal(signed(comp.logit_bits))
        self.best_i = Signal(class_bits(n))
        self.k = Signal(range(n + 1))  # the class compared next; 0 when ARGMAX is entered
        self.out_logits = Signal(n * comp.logit_bits)
        self.out_class = Signal(class_bits(n))
        self.out_valid = Signal()
        m.d.comb += [comp.out_logits.eq(self.out_logits), comp.out_class.eq(self.out_class), comp.out_valid.eq(self.out_valid)]
        with m.If(self.out_valid & comp.out_ready):
            m.d.sync += self.out_valid.eq(0)

    def states(self, m: Module, on_handoff: list = ()) -> None:
        """ARGMAX and HANDOFF (then IDLE); call inside the sequencer's FSM."""
        with m.State("ARGMAX"):
            cur = Array(self.logits)[self.k]
            m.d.sync += self.k.eq(self.k + 1)
            with m.If((self.k == 0) | (cur > self.best)):
                m.d.sync += [self.best.eq(cur), self.best_i.eq(self.k)]
            with m.If(self.k == self.comp.n_classes - 1):
                m.next = "HANDOFF"
        with m.State("HANDOFF"):
            with m.If(~self.out_valid | self.comp.out_ready):
                m.d.sync += [self.out_valid.eq(1), self.out_class.eq(self.best_i), self.out_logits.eq(Cat(*self.logits)), *on_handoff]
                m.next = "IDLE"


class Accelerator(StreamAccelerator):
    """The 1-D engine: stream in a window, stream out the class and all logits."""

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        stages = p.stages
        n_st = len(stages)
        P = p.lanes
        accw = p.acc_bits
        max_left = max([max(-s.requant.shift, 0) for s in stages if s.requant] + [0])
        max_right = max([max(s.requant.shift, 0) for s in stages if s.requant] + [0])
        qw = accw + max_left  # width after a left shift
        max_levels = max(s.tree_levels for s in stages)
        rows0 = stages[0].in_mem.rows

        # ---------------------------------------------------------------- memories
        banks = []  # per stage: list of (read port, write port)
        for i, s in enumerate(stages):
            mem_shape = signed(s.in_mem.bits) if s.in_mem.signed else unsigned(s.in_mem.bits)
            depth = s.in_mem.rows * (2 if i == 0 else 1)
            ports = []
            for b in range(s.in_mem.banks):
                mem = Memory(shape=mem_shape, depth=depth, init=[])
                m.submodules[f"act{i}_bank{b}"] = mem
                ports.append((mem.read_port(), mem.write_port()))
            banks.append(ports)
        wroms, broms = [], []
        for i, s in enumerate(stages):
            wrom = Memory(shape=unsigned(P * p.weight_bits), depth=len(s.weights), init=[_pack(w, p.weight_bits) for w in s.weights])
            brom = Memory(shape=unsigned(s.pc * accw), depth=s.groups, init=[_pack(b, accw) for b in s.bias])
            m.submodules[f"weights{i}"], m.submodules[f"bias{i}"] = wrom, brom
            wroms.append(wrom.read_port())
            broms.append(brom.read_port())

        # ---------------------------------------------------------------- sequencer state
        addr_w = _bits(max(s.in_mem.rows * s.in_mem.banks for s in stages))
        wa_w = max(addr_w, _bits(p.n_classes))
        stage = Signal(range(max(n_st, 2)))
        g = Signal(range(max(s.groups for s in stages) + 1))
        l = Signal(range(max(s.positions for s in stages) + 1))
        j = Signal(range(max(s.chunks for s in stages) + 1))
        pos_base = Signal(addr_w + 1)
        base = Signal(addr_w + 1)
        waddr = Signal(range(max(len(s.weights) for s in stages) + 1))
        wgbase = Signal.like(waddr)
        pp = Signal(range(max([s.pool.stride for s in stages if s.pool] + [1]) + 1))  # pool phase
        pm = Signal(range(max(s.out_positions for s in stages) + 2))  # pooled position
        wa = Signal(wa_w)  # write address of this position's block in the next memory
        drain = Signal(range(PRE_TREE + max_levels + POST_ACC + 2))
        rbuf, wbuf = Signal(), Signal()
        full = [Signal(name="full0"), Signal(name="full1")]
        release = Signal()  # stage 0 issued its last chunk: the input buffer may be refilled

        tag_layout = data.StructLayout({"valid": 1, "first": 1, "last": 1, "pfirst": 1, "contrib": 1, "write": 1, "wa": wa_w, "g": g.shape()})
        depth = PRE_TREE + max_levels + 1
        tags = [Signal(tag_layout, name=f"tag{k}") for k in range(depth)]
        for k in range(1, depth):
            m.d.sync += tags[k].eq(tags[k - 1])

        def next_write_layout(i: int) -> tuple[int, int]:
            """(offset, stride) of stage i's output: the next memory, or the logit registers."""
            if i + 1 < n_st:
                nm = stages[i + 1].in_mem
                return nm.offset, nm.stride
            return 0, 0

        def enter(i: int) -> list:
            s = stages[i]
            start = s.in_mem.offset - s.padding * s.in_mem.stride
            off, _ = next_write_layout(i)
            return [g.eq(0), l.eq(0), j.eq(0), pos_base.eq(start), base.eq(start), waddr.eq(0), wgbase.eq(0), pp.eq(0), pm.eq(0), wa.eq(off)]

        # ---------------------------------------------------------------- input loader
        s0 = stages[0]
        nb0 = s0.in_mem.banks
        n_beats = p.n_inputs // p.beat
        la = Signal(range(s0.in_mem.offset + p.n_inputs + 1), init=s0.in_mem.offset)
        beat_no = Signal(range(n_beats))
        m.d.comb += self.in_ready.eq(Mux(wbuf, ~full[1], ~full[0]))
        accept = Signal()
        m.d.comb += accept.eq(self.in_valid & self.in_ready)
        for b, (_, wp) in enumerate(banks[0]):
            k = b % p.beat
            m.d.comb += [
                wp.addr.eq((la >> _log2(nb0)) + Mux(wbuf, rows0, 0)),
                wp.data.eq(self.in_data[k * p.input_bits : (k + 1) * p.input_bits]),
                wp.en.eq(accept & ((la & (nb0 - 1)) >> _log2(p.beat) == b // p.beat)),
            ]
        done_loading = Signal()
        m.d.comb += done_loading.eq(accept & (beat_no == n_beats - 1))
        with m.If(accept):
            m.d.sync += [la.eq(la + p.beat), beat_no.eq(beat_no + 1)]
            with m.If(done_loading):
                m.d.sync += [la.eq(s0.in_mem.offset), beat_no.eq(0), wbuf.eq(~wbuf)]
        for k in range(2):
            with m.If(done_loading & (wbuf == k)):
                m.d.sync += full[k].eq(1)
            with m.Elif(release & (rbuf == k)):
                m.d.sync += full[k].eq(0)
        with m.If(release):
            m.d.sync += rbuf.eq(~rbuf)

        # ---------------------------------------------------------------- read side: banks, rotator, operands
        for i, s in enumerate(stages):
            lg = _log2(s.in_mem.banks)
            row = base >> lg
            rr = Signal(range(s.in_mem.banks), name=f"rr{i}")
            m.d.comb += rr.eq(base & (s.in_mem.banks - 1))
            for b, (rp, _) in enumerate(banks[i]):
                extra = Mux(rbuf, rows0, 0) if i == 0 else 0
                m.d.comb += rp.addr.eq(row + (b < rr) + extra)
            m.d.comb += wroms[i].addr.eq(waddr)

        act_w = p.act_width
        a_ops = [Signal(signed(act_w), name=f"a{k}") for k in range(P)]
        w_ops = [Signal(signed(p.weight_bits), name=f"w{k}") for k in range(P)]
        rr_d = [Signal(range(s.in_mem.banks), name=f"rr{i}_d") for i, s in enumerate(stages)]
        for i, s in enumerate(stages):
            m.d.sync += rr_d[i].eq(base & (s.in_mem.banks - 1))
        with m.Switch(stage):
            for i, s in enumerate(stages):
                with m.Case(i):
                    data_out = [rp.data for rp, _ in banks[i]]
                    window = _rotate(data_out, rr_d[i]) if s.rotates else data_out
                    for k in range(P):
                        m.d.sync += [
                            a_ops[k].eq(window[k % s.pr]),
                            w_ops[k].eq(wroms[i].data[k * p.weight_bits : (k + 1) * p.weight_bits].as_signed()),
                        ]

        # ---------------------------------------------------------------- multiply and adder tree
        prod_w = act_w + p.weight_bits
        levels = [[Signal(signed(prod_w), name=f"prod{k}") for k in range(P)]]
        for k in range(P):
            m.d.sync += levels[0][k].eq(a_ops[k] * w_ops[k])
        for lv in range(1, _log2(P) + 1):
            width = min(prod_w + lv, max(accw, prod_w))
            prev = levels[-1]
            cur = [Signal(signed(width), name=f"sum{lv}_{k}") for k in range(len(prev) // 2)]
            for k, sig in enumerate(cur):
                m.d.sync += sig.eq(prev[2 * k] + prev[2 * k + 1])
            levels.append(cur)

        # ---------------------------------------------------------------- accumulators
        pcm = p.max_pc
        acc = [Signal(signed(accw), name=f"acc{k}") for k in range(pcm)]
        fin = Signal(tag_layout)  # tag of the accumulators' content when it is a finished sum
        bias_word = Signal(pcm * accw)
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

        # ---------------------------------------------------------------- requantisation
        rq = ShiftRound(max_right, max_left, qw + 1)
        with m.Switch(stage):
            for i, s in enumerate(stages):
                with m.Case(i):
                    if s.requant is None:  # the logits pass through unchanged
                        rq.select(m, 0, (-(1 << (accw - 1)), (1 << (accw - 1)) - 1))
                    else:
                        rq.select(m, s.requant.shift, s.requant.clamp)
        q1 = [Signal(signed(qw), name=f"rq_q{k}") for k in range(pcm)]
        up1 = [Signal(name=f"rq_up{k}") for k in range(pcm)]
        q2 = [Signal(signed(qw + 1), name=f"rq_r{k}") for k in range(pcm)]
        q3 = [Signal(signed(qw + 1), name=f"rq_c{k}") for k in range(pcm)]
        t1, t2, t3 = (Signal(tag_layout, name=f"rq_tag{k}") for k in (1, 2, 3))
        m.d.sync += [t1.eq(fin), t2.eq(t1), t3.eq(t2)]
        for k in range(pcm):
            shifted, round_up = rq.shift(acc[k])
            m.d.sync += [q1[k].eq(shifted), up1[k].eq(round_up), q2[k].eq(q1[k] + up1[k]), q3[k].eq(rq.clamp(q2[k]))]

        # ---------------------------------------------------------------- max-pool and write-back
        pool_reg = [Signal(signed(qw + 1), name=f"pool{k}") for k in range(pcm)]
        pooled = [Signal(signed(qw + 1), name=f"pooled{k}") for k in range(pcm)]
        for k in range(pcm):
            m.d.comb += pooled[k].eq(Mux(t3.pfirst | (q3[k] > pool_reg[k]), q3[k], pool_reg[k]))
            with m.If(t3.valid & t3.contrib):
                m.d.sync += pool_reg[k].eq(pooled[k])
        logits = [Signal(signed(p.logit_bits), name=f"logit{c}") for c in range(p.n_classes)]
        write = Signal()
        m.d.comb += write.eq(t3.valid & t3.contrib & t3.write)
        with m.Switch(stage):
            for i, s in enumerate(stages):
                with m.Case(i):
                    if i + 1 < n_st:
                        nm: ActMemory = stages[i + 1].in_mem
                        lg = _log2(nm.banks)
                        for b, (_, wp) in enumerate(banks[i + 1]):
                            m.d.comb += [
                                wp.addr.eq(t3.wa >> lg),
                                wp.data.eq(pooled[b % s.pc]),
                                wp.en.eq(write & ((t3.wa & (nm.banks - 1)) >> _log2(s.pc) == b // s.pc)),
                            ]
                    else:
                        for c in range(p.n_classes):
                            with m.If(write & (t3.wa >> _log2(s.pc) == c // s.pc)):
                                m.d.sync += logits[c].eq(pooled[c % s.pc])

        # ---------------------------------------------------------------- sequencer
        result = ResultStage(m, self, logits)

        with m.FSM(name="seq"):
            with m.State("IDLE"):
                with m.If(Mux(rbuf, full[1], full[0])):
                    m.d.sync += [stage.eq(0), *enter(0)]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                with m.Switch(stage):
                    for i, s in enumerate(stages):
                        with m.Case(i):
                            self._issue(m, i, s, tags[0], dict(g=g, l=l, j=j, pos_base=pos_base, base=base, waddr=waddr, wgbase=wgbase, pp=pp, pm=pm, wa=wa), next_write_layout(i), drain, release)
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
                                    m.d.sync += result.k.eq(0)
                                    m.next = "ARGMAX"
            result.states(m)
        return m

    def _issue(self, m: Module, i: int, s: Stage, tag0, c: dict, write_layout: tuple[int, int], drain: Signal, release: Signal) -> None:
        """One chunk per cycle: chunks j inside positions l inside channel groups g."""
        start = s.in_mem.offset - s.padding * s.in_mem.stride
        step = s.stride * s.in_mem.stride
        off, nstride = write_layout
        g, l, j = c["g"], c["l"], c["j"]
        pool = s.pool
        if pool:
            contrib = (c["pp"] < pool.kernel) & (c["pm"] < pool.length)
            write = c["pp"] == pool.kernel - 1
        else:
            contrib, write = Const(1), Const(1)
        m.d.comb += [
            tag0.valid.eq(1),
            tag0.first.eq(j == 0),
            tag0.last.eq(j == s.chunks - 1),
            tag0.pfirst.eq(c["pp"] == 0),
            tag0.contrib.eq(contrib),
            tag0.write.eq(write),
            tag0.wa.eq(c["wa"]),
            tag0.g.eq(g),
        ]
        with m.If(j != s.chunks - 1):
            m.d.sync += [j.eq(j + 1), c["base"].eq(c["base"] + s.pr), c["waddr"].eq(c["waddr"] + 1)]
        with m.Elif(l != s.positions - 1):
            m.d.sync += [j.eq(0), l.eq(l + 1), c["pos_base"].eq(c["pos_base"] + step), c["base"].eq(c["pos_base"] + step), c["waddr"].eq(c["wgbase"])]
            if pool:
                with m.If(c["pp"] == pool.stride - 1):
                    m.d.sync += [c["pp"].eq(0), c["pm"].eq(c["pm"] + 1), c["wa"].eq(c["wa"] + nstride)]
                with m.Else():
                    m.d.sync += c["pp"].eq(c["pp"] + 1)
            else:
                m.d.sync += c["wa"].eq(c["wa"] + nstride)
        with m.Else():
            m.d.sync += [j.eq(0), l.eq(0), c["pos_base"].eq(start), c["base"].eq(start), c["pp"].eq(0), c["pm"].eq(0)]
            with m.If(g != s.groups - 1):
                m.d.sync += [g.eq(g + 1), c["wgbase"].eq(c["wgbase"] + s.chunks), c["waddr"].eq(c["wgbase"] + s.chunks),
                             c["wa"].eq(off + (g + 1) * s.pc)]
            with m.Else():
                m.d.sync += drain.eq(PRE_TREE + s.tree_levels + POST_ACC - 1)
                if i == 0:
                    m.d.comb += release.eq(1)
                m.next = "DRAIN"
