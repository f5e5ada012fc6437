"""The split: the M-point FFT of the paired samples (Z, in bit-reversed order) -> the real window's spectrum X[k].

X[k] needs Z[k] and Z[M-k] (faultedge.ir.frontend.split). In bit-reversed order the two members of a
pair {k, M-k} sit in the same block [2**a, 2**(a+1)) of positions, mirrored (j' = j ^ (2**a - 1)),
so a pair is complete once its second member, in the block's upper half, has arrived: positions 0
and 1 (Z[0] and Z[M/2]) pair with themselves and are handled as one pair. Each position is written into a RAM (two windows,
so the next window's values may arrive while this one's last bins are computed); an emitter walks
the completed pairs in order, reading each pair's two members (partner first) and producing both
of its bins, X[k] and X[M-k], one per cycle. It computes a pair as soon as its second member is in,
so at the end of a window it lags the FFT by M/4 cycles (the last block completes a pair, two
bins, on every position).

Per bin (a = Z[k], b = Z[M-k]), one register stage each, all advancing together when the output
can move (back-pressure holds everything, the RAM and ROM reads included):

    T1  the bin's a, b, k; the twiddle ROM read (V_k at word k mod M: word 0 holds V_M)
    T2  A = a + conj(b), B = a - conj(b), V
    T3  the four products of B * V
    T4  the products registered again (so the placer can keep the first register at the DSPs)
    T5  P = B * V (exact)
    T6  X = (A + floor(P / 2**(twiddle_bits - 2)) wrapped) >> 1, wrapped     -> bins
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.common import log2, pack
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.streams import bins_signature
from faultedge.ir.frontend import twiddles


def points_signature(fp: FrontEndPlan) -> stream.Signature:
    """The R2SDF core's output: Z[bitrev(pos)] at position `pos` = 0 .. M-1 of a window, `last` on M-1."""
    w = fp.fe.widths[-1]
    return stream.Signature(data.StructLayout({"pos": unsigned(log2(fp.points)), "re": signed(w), "im": signed(w), "last": unsigned(1)}))


def _complex(width: int) -> data.StructLayout:
    return data.StructLayout({"re": signed(width), "im": signed(width)})


class Split(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"points": In(points_signature(fp)), "bins": Out(bins_signature(fp.fe))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp, fe = self.fp, self.fp.fe
        pts, bits = fp.points, log2(fp.points)
        w, ws, tw = fe.widths[-1], fe.spectrum_bits, fe.twiddle_bits
        z = _complex(w)
        ram = Memory(shape=z, depth=2 * pts, init=[])
        v = twiddles(fe.window, pts + 1, tw, quarter=True)
        v[0] = v[pts]  # k = 0 never occurs: word 0 holds V_M, for bin M (which pairs Z[0] with itself)
        rom = Memory(shape=unsigned(2 * tw), depth=pts, init=[pack(t, tw) for t in v[:pts]])
        m.submodules.ram, m.submodules.twiddles = ram, rom
        wr, rd, vr = ram.write_port(), ram.read_port(), rom.read_port()
        points, bins = self.points, self.bins

        def rev(v) -> object:
            return Cat(*(v[i] for i in reversed(range(bits))))

        # writer: the FFT's positions of window W into RAM half W % 2; windows_ahead = W - E
        wwin = Signal()
        wcount = Signal(range(pts + 1))  # positions of the writer's window written
        ahead = Signal(range(3))
        m.d.comb += points.ready.eq(ahead != 2)
        write = Signal()
        m.d.comb += write.eq(points.valid & points.ready)
        m.d.comb += [wr.addr.eq(Cat(points.payload.pos, wwin)), wr.data.re.eq(points.payload.re), wr.data.im.eq(points.payload.im), wr.en.eq(write)]
        wlast = write & points.payload.last
        with m.If(write):
            m.d.sync += wcount.eq(Mux(points.payload.last, 0, wcount + 1))
            with m.If(points.payload.last):
                m.d.sync += wwin.eq(~wwin)

        # the whole emitter and bin pipeline moves when the output register is free or being taken
        adv = Signal()
        m.d.comb += adv.eq(~bins.valid | bins.ready)

        # S0: read the next pair's members, partner first. Positions 0 and 1 (Z[0], Z[M/2]) pair with
        # themselves; they are read as one pair (1 after 0), so a window takes M reads for its M bins.
        ej = Signal(bits, init=1)  # the pair's second member
        mask = Signal(bits, init=1)  # 2**a - 1 for the pair's block: the partner is ej ^ mask
        second = Signal()  # the read issued next is the pair's second member
        ewin = Signal()
        x = Signal(bits)
        m.d.comb += x.eq(Mux(second, ej, ej ^ mask))
        issue = Signal()
        m.d.comb += issue.eq(adv & ((ahead != 0) | (wcount > x)))
        m.d.comb += [rd.addr.eq(Cat(x, ewin)), rd.en.eq(adv)]
        elast = Signal()
        m.d.comb += elast.eq(issue & second & (ej == pts - 1))
        with m.If(issue):
            m.d.sync += second.eq(~second)
            with m.If(second):
                block_end = (ej & (ej + 1)) == 0
                m.d.sync += ej.eq(ej + 1)
                with m.If(block_end):  # on to the upper half of the next block
                    m.d.sync += [ej.eq(ej + 1 + ((ej + 1) >> 1)), mask.eq(ej)]
                with m.If(ej == pts - 1):
                    m.d.sync += [ej.eq(1), mask.eq(1), ewin.eq(~ewin)]
        m.d.sync += ahead.eq(ahead + wlast - elast)

        # S1: the RAM's data; the first member waits in `first`; a complete pair gives bin 1 now and bin 2 next
        v1, second1, self1, j1, p1, last1 = Signal(), Signal(), Signal(), Signal(bits), Signal(bits), Signal()
        with m.If(adv):
            m.d.sync += [v1.eq(issue), second1.eq(second), self1.eq(ej == 1), j1.eq(ej), p1.eq(ej ^ mask), last1.eq(ej == pts - 1)]
        first, pa, pb = Signal(z), Signal(z), Signal(z)
        pend, self2, k2, last2 = Signal(), Signal(), Signal(bits), Signal()
        pair_done = v1 & second1
        tup_a, tup_b, tup_k, tup_last, tup_v = Signal(z), Signal(z), Signal(bits), Signal(), Signal()
        pair_b = Mux(self1, rd.data.as_value(), first.as_value())  # Z[M/2] and Z[0] pair with themselves
        pend_b = Mux(self2, pa.as_value(), pb.as_value())
        m.d.comb += [tup_v.eq(pair_done | pend), tup_a.eq(Mux(pend, pa.as_value(), rd.data.as_value())), tup_b.eq(Mux(pend, pend_b, pair_b)),
                     tup_k.eq(Mux(pend, k2, rev(j1))), tup_last.eq(pend & last2)]
        with m.If(adv):
            with m.If(v1 & ~second1):
                m.d.sync += first.eq(rd.data)
            m.d.sync += [pend.eq(pair_done), self2.eq(self1), pa.eq(first), pb.eq(rd.data), k2.eq(rev(p1)), last2.eq(last1)]

        # T1 .. T5 and the output register: the split's arithmetic on one bin per cycle
        stages = 5
        valid = [Signal(name=f"v_t{i + 1}") for i in range(stages)]
        last = [Signal(name=f"last_t{i + 1}") for i in range(stages)]
        kk = [Signal(bits, name=f"k_t{i + 1}") for i in range(stages)]
        a1, b1 = Signal(z), Signal(z)
        am, bm, vv = Signal(_complex(w + 1)), Signal(_complex(w + 1)), Signal(_complex(tw))
        prods = [Signal(signed(w + 1 + tw), name=f"prod{i}") for i in range(4)]
        prods_q = [Signal(signed(w + 1 + tw), name=f"prod{i}_q") for i in range(4)]
        a3, a3q, a4 = Signal(_complex(w + 1)), Signal(_complex(w + 1)), Signal(_complex(w + 1))
        pre, pim = Signal(signed(w + 2 + tw)), Signal(signed(w + 2 + tw))
        drop = tw - 2
        m.d.comb += [vr.addr.eq(tup_k), vr.en.eq(adv)]  # V_k arrives with the bin in T1
        with m.If(adv):
            m.d.sync += [valid[0].eq(tup_v), last[0].eq(tup_last), kk[0].eq(tup_k), a1.eq(tup_a), b1.eq(tup_b)]
            for i in range(1, stages):
                m.d.sync += [valid[i].eq(valid[i - 1]), last[i].eq(last[i - 1]), kk[i].eq(kk[i - 1])]
            m.d.sync += [am.re.eq(a1.re + b1.re), am.im.eq(a1.im - b1.im), bm.re.eq(a1.re - b1.re), bm.im.eq(a1.im + b1.im),
                         vv.re.eq(vr.data[:tw].as_signed()), vv.im.eq(vr.data[tw:].as_signed())]
            m.d.sync += [prods[0].eq(bm.re * vv.re), prods[1].eq(bm.im * vv.im), prods[2].eq(bm.im * vv.re), prods[3].eq(bm.re * vv.im),
                         a3.eq(am)]
            m.d.sync += [*(q.eq(pr) for q, pr in zip(prods_q, prods)), a3q.eq(a3)]
            m.d.sync += [pre.eq(prods_q[0] - prods_q[1]), pim.eq(prods_q[2] + prods_q[3]), a4.eq(a3q)]
            t_re, t_im = pre[drop : drop + ws].as_signed(), pim[drop : drop + ws].as_signed()
            m.d.sync += [bins.valid.eq(valid[4]), bins.payload.last.eq(last[4]), bins.payload.bin.eq(Mux(kk[4] == 0, pts, kk[4])),
                         bins.payload.re.eq((a4.re + t_re) >> 1), bins.payload.im.eq((a4.im + t_im) >> 1)]
        return m
