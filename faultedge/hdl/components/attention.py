"""The image engine's attention unit: per KernelWarehouse block, FC1 and FC2 on one multiplier,
then the normalisation with one restoring divider, into the attention memory the kernel
assembly reads."""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.common import odometer, read_signature, registered
from faultedge.hdl.components.requant import clamp, round_shift
from faultedge.hdl.components.streams import control_signature
from faultedge.hdl.image_plan import FC_DRAIN, Block


def sums_signature(block: Block) -> wiring.Signature:
    """A block's input channel sums (its global average pool before the shift), added up while
    the map is written: by the input loader for the first block, by the write-back for the others."""
    return wiring.Signature({"value": Out(signed(block.gap_bits)).array(block.layer.in_shape[0])})


def attention_memory(blocks: tuple[Block, ...]) -> tuple[Shape, int]:
    """(shape, depth) of the attention memory: a[mixture, cell] of every block in turn."""
    return signed(max(b.layer.norm.bits for b in blocks)), max(b.layer.mixtures * b.layer.cells for b in blocks)


class Attention(wiring.Component):
    """FC1 -> FC2 -> normalisation of one block per `control.start`, block after block.

    FC1 and FC2 share one multiplier (issue t; t+1: input select; t+2, t+3: input
    requantisation (FC1), ROM read and ROM words registered; t+4: product; t+5: accumulate;
    t+6, t+7: requantise and store), FC_DRAIN cycles of drain each: the FCs are small next to the
    passes, so one multiplier costs little. The normalisation sums |z| per mixture (+ eps), then
    divides one quotient bit per cycle with the IR's round-half-to-even and clamp, into the
    attention memory (`a_read` is its read port for the kernel assembly). Every z read is
    registered straight from the block RAM and |z| taken a cycle later, for the sum and the
    dividend alike, so no logic sits behind the RAM's slow output. `control.done` is high in the
    block's last cycle (faultedge.hdl.image_plan.Block counts the cycles)."""

    def __init__(self, blocks: tuple[Block, ...]) -> None:
        self.blocks = blocks
        members = {"control": In(control_signature()), "a_read": Out(read_signature(*attention_memory(blocks)))}
        members.update({f"sums{i}": In(sums_signature(b)) for i, b in enumerate(blocks)})
        super().__init__(members)

    def block_sums(self, i: int):
        """The interface of block i's channel sums."""
        return getattr(self, f"sums{i}")

    def elaborate(self, platform) -> Module:
        m = Module()
        blocks = self.blocks
        fcs = [fc for b in blocks for fc in (b.layer.fc1, b.layer.fc2)]
        fc_w = max(fc.acc_bits for fc in fcs) + 1
        n_h = max(b.layer.fc1.out_shape[0] for b in blocks)
        h_bits = max(b.layer.fc1.requant.bits + 1 for b in blocks)
        z_bits = max(b.layer.fc2.requant.bits + 1 for b in blocks)
        a_shape, a_depth = attention_memory(blocks)
        zmem = Memory(shape=signed(z_bits), depth=max(b.layer.fc2.out_shape[0] for b in blocks), init=[])
        amem = Memory(shape=a_shape, depth=a_depth, init=[])
        m.submodules.z_mem, m.submodules.a_mem = zmem, amem
        z_rd, z_wr, a_wr = zmem.read_port(), zmem.write_port(), amem.write_port()
        wiring.connect(m, wiring.flipped(self.a_read), amem.read_port())
        hregs = [Signal(signed(h_bits), name=f"h{k}") for k in range(n_h)]
        drain = Signal(range(FC_DRAIN + 1))

        # ---------------------------------------------------------------- FC1 and FC2
        # the datapath follows `fsel` (2 * block + fc), which the issuing state sets, so the stages
        # behind the issue (t+1 to the store at t+7) still see the right layer during the drain
        fo = Signal(range(max(fc.out_shape[0] for fc in fcs) + 1))
        fi = Signal(range(max(fc.weight.data.shape[1] for fc in fcs) + 1))
        fa = Signal(range(max(fc.weight.data.size for fc in fcs) + 1))
        fsel = Signal(range(len(fcs)))
        ftag = data.StructLayout({"valid": 1, "first": 1, "last": 1, "o": fo.shape(), "i": fi.shape(), "a": fa.shape()})
        ft = [Signal(ftag, name=f"ftag{k}") for k in range(FC_DRAIN + 1)]  # ft[k]: the item issued k cycles ago
        m.d.sync += [ft[k].eq(ft[k - 1]) for k in range(1, len(ft))]
        f0 = ft[0]
        x_w = max(h_bits, max(b.gap_bits for b in blocks)) + 1
        xsel, xr, ox = (Signal(signed(x_w), name=n) for n in ("fc_xsel", "fc_xr", "fc_x"))  # t+1: input select, t+2: rounded, t+3: clamped
        fw, fb = Signal(signed(max(fc.weight.bits for fc in fcs)), name="fc_w"), Signal(signed(fc_w), name="fc_b")  # t+3: ROM words
        fprod, fbias, facc = (Signal(signed(fc_w), name=n) for n in ("fc_prod", "fc_bias", "fc_acc"))  # t+4: product and bias, t+5: sum
        m.d.sync += [fprod.eq(fw * ox), fbias.eq(fb)]
        fr = Signal(signed(fc_w + 1))  # t+6: the sum rounded; t+7: clamped and stored
        with m.If(ft[5].valid):
            m.d.sync += facc.eq(Mux(ft[5].first, fbias, facc) + fprod)
        fs = ft[FC_DRAIN]
        with m.Switch(fsel):
            for k, fc in enumerate(fcs):
                bi, j = divmod(k, 2)
                b = blocks[bi]
                wrom = Memory(shape=signed(fc.weight.bits), depth=fc.weight.data.size, init=[int(x) for x in fc.weight.data.reshape(-1)])
                brom = Memory(shape=signed(fc.acc_bits), depth=fc.out_shape[0], init=[int(x) for x in fc.bias.data])
                m.submodules[f"att{bi}_fc{j + 1}_w"], m.submodules[f"att{bi}_fc{j + 1}_b"] = wrom, brom
                wrd, brd = wrom.read_port(), brom.read_port()
                with m.Case(k):
                    if j == 0:  # the requantised global average pool
                        gap = b.layer.gap
                        m.d.sync += [xsel.eq(Array(self.block_sums(bi).value)[ft[1].i]), xr.eq(round_shift(m, xsel, gap.shift, x_w, f"gapq{bi}")),
                                     ox.eq(clamp(xr, *gap.clamp))]
                    else:
                        m.d.sync += [xsel.eq(Array(hregs)[ft[1].i]), xr.eq(xsel), ox.eq(xr)]
                    m.d.comb += [wrd.addr.eq(ft[2].a), brd.addr.eq(ft[2].o)]
                    m.d.sync += [fw.eq(wrd.data), fb.eq(brd.data), fr.eq(round_shift(m, facc, fc.requant.shift, fc_w + 1, f"att{bi}_fc{j + 1}_r"))]
                    r = clamp(fr, *fc.requant.clamp)
                    with m.If(fs.valid & fs.last):
                        if j == 0:
                            with m.Switch(fs.o):
                                for o in range(fc.out_shape[0]):
                                    with m.Case(o):
                                        m.d.sync += hregs[o].eq(r)
                        else:
                            m.d.comb += [z_wr.addr.eq(fs.o), z_wr.data.eq(r), z_wr.en.eq(1)]

        # ---------------------------------------------------------------- normalisation
        # per mixture the sum of |z| (+ eps), then one restoring division per cell
        nm = Signal(range(max(b.layer.mixtures for b in blocks) + 1))
        zbase, abase = Signal(range(zmem.depth + 1)), Signal(range(amem.depth + 1))  # nm * (n + 1) and nm * n, kept by adding
        nj = Signal(range(max(b.layer.cells for b in blocks) + 2))
        den = Signal(max(b.layer.norm.eps + (b.layer.cells + 1) * (1 << (z_bits - 1)) for b in blocks).bit_length())
        sum_valid = Signal()
        max_div = max(b.div_bits for b in blocks)
        num, quo = Signal(max_div), Signal(max_div + 1)  # quo: room for the rounding carry
        rem = Signal(len(den) + 1)
        neg = Signal()
        it = Signal(range(max_div + 1))
        zreg = registered(m, z_rd, "zreg")
        zreg_abs, zabs_sum = Signal(z_bits), Signal(z_bits)
        m.d.comb += zreg_abs.eq(Mux(zreg < 0, -zreg, zreg))
        loaded, summing = Signal(), Signal()  # zreg holds a read z to sum (a cycle after its read), zabs_sum its |z| (two)
        m.d.sync += [sum_valid.eq(0), loaded.eq(sum_valid), summing.eq(loaded), zabs_sum.eq(zreg_abs)]
        with m.If(summing):
            m.d.sync += den.eq(den + zabs_sum)

        def block_states(bi: int, nxt: str) -> None:
            """Block bi: wait for `start`, FC1, FC2 and the normalisation, then `nxt`."""
            b = blocks[bi]
            lay = b.layer
            names = (f"B{bi}_FC1", f"B{bi}_FC2", f"B{bi}_NORM")
            with m.State(f"B{bi}_WAIT"):
                with m.If(self.control.start):
                    m.next = names[0]
            for j, fc in enumerate((lay.fc1, lay.fc2)):
                n_out, n_in = fc.weight.data.shape
                with m.State(names[j]):
                    m.d.comb += [f0.valid.eq(1), f0.first.eq(fi == 0), f0.last.eq(fi == n_in - 1), f0.o.eq(fo), f0.i.eq(fi), f0.a.eq(fa)]
                    m.d.sync += [fa.eq(fa + 1), fsel.eq(2 * bi + j)]
                    with m.If(odometer(m, [(fo, n_out), (fi, n_in)])):
                        m.d.sync += [fa.eq(0), drain.eq(FC_DRAIN - 1)]
                        m.next = names[j] + "_DRAIN"
                with m.State(names[j] + "_DRAIN"):
                    m.d.sync += drain.eq(drain - 1)
                    with m.If(drain == 0):
                        m.next = names[j + 1]
                        if j == 1:
                            m.d.sync += [nm.eq(0), zbase.eq(0), abase.eq(0), nj.eq(0), den.eq(lay.norm.eps)]

            s_norm, n, nbits = names[2], lay.cells, b.div_bits
            lo, hi = lay.norm.clamp
            with m.State(s_norm):  # n + 1 reads of |z| of mixture nm; each is summed three cycles later (done before DIVIDE)
                m.d.comb += z_rd.addr.eq(zbase + nj)
                m.d.sync += [sum_valid.eq(1), nj.eq(Mux(nj == n, 0, nj + 1))]
                with m.If(nj == n):
                    m.next = s_norm + "_SUMMED"
            with m.State(s_norm + "_SUMMED"):
                m.next = s_norm + "_READ"
            with m.State(s_norm + "_READ"):
                m.d.comb += z_rd.addr.eq(zbase + nj)
                m.next = s_norm + "_LOAD"
            with m.State(s_norm + "_LOAD"):  # the word read goes into zreg, |z| comes a cycle later
                m.next = s_norm + "_ABS"
            with m.State(s_norm + "_ABS"):
                m.d.sync += [num.eq(zreg_abs << -lay.norm.scale_exp), neg.eq(zreg < 0), rem.eq(0), quo.eq(0), it.eq(nbits - 1)]
                m.next = s_norm + "_DIVIDE"
            with m.State(s_norm + "_DIVIDE"):  # one quotient bit per cycle, most significant first
                trial = Cat(num[nbits - 1], rem)
                take = trial >= den
                m.d.sync += [rem.eq(Mux(take, trial - den, trial)), quo.eq(Cat(take, quo)), num.eq(num << 1), it.eq(it - 1)]
                with m.If(it == 0):
                    m.next = s_norm + "_ROUND"
            with m.State(s_norm + "_ROUND"):
                twice = rem << 1
                m.d.sync += quo.eq(quo + ((twice > den) | ((twice == den) & quo[0])))
                m.next = s_norm + "_STORE"
            with m.State(s_norm + "_STORE"):
                m.d.comb += [a_wr.addr.eq(abase + nj), a_wr.data.eq(clamp(Mux(neg, -quo, quo), lo, hi)), a_wr.en.eq(1)]
                with m.If(nj != n - 1):
                    m.d.sync += nj.eq(nj + 1)
                    m.next = s_norm + "_READ"
                with m.Elif(nm != lay.mixtures - 1):
                    m.d.sync += [nj.eq(0), nm.eq(nm + 1), zbase.eq(zbase + n + 1), abase.eq(abase + n), den.eq(lay.norm.eps)]
                    m.next = s_norm
                with m.Else():
                    m.d.comb += self.control.done.eq(1)
                    m.next = nxt

        with m.FSM(name="attention"):
            for bi in range(len(blocks)):
                block_states(bi, f"B{(bi + 1) % len(blocks)}_WAIT")
        return m
