"""The image engine: MKW-Net (kwconv2d blocks and a linear head) on P reused MAC lanes.

The phases and memories are laid out by faultedge.hdl.image_plan. Three datapaths are shared by
every block:

* the attention unit, one multiplier: FC1 and FC2 (issue t; t+1: input select; t+2, t+3: input
  requantisation (FC1), ROM read and ROM words registered; t+4: product; t+5: accumulate; t+6,
  t+7: requantise and store), then the normalisation with one restoring divider;
* the P-lane MAC pass, run for every kernel assembly, convolution and the head:

      t     address registers -> memory addresses (operand A broadcast, operand B per lane);
            the counters and the address registers step (strides, no multipliers)
      t+1   every memory word registered as read (no logic behind a block RAM's output)
      t+2   bank select, padding mask                      -> a, b
      t+3   a * b                                          -> product
      t+4   accumulate (bias on the first item)            -> acc
      t+5   x gain (assembly) or x 1, two partial products
      t+6   their sum                                      -> v
      t+7   arithmetic shift, round-half-to-even decision
      t+8   + round bit
      t+9   clamp (ReLU is the lower bound)                -> q
      t+10  average-pool running sum                       -> s
      t+11  s >> log2(k*k) rounded half to even            -> out
      t+12  write (map, kernel RAM or logits); the next block's global-average-pool sums add
            the written values

  Every pass drains (PASS_DRAIN cycles) before the next phase reads what it wrote, so the cycle
  count is exact and data-independent;
* the sequential argmax and the output hand-off, as in the 1-D accelerator.

The input memory is single-buffered: in_ready is high from the hand-off of a result until the
last beat of the next image.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from faultedge.hdl.accel import ResultStage, ShiftRound, StreamAccelerator, _bits, _log2, _pack, clamp
from faultedge.hdl.image_plan import FC_DRAIN, PASS_DRAIN, Block, MapMem, Pass


def _shape(bits: int, is_signed: bool):
    return signed(bits) if is_signed else unsigned(bits)


def _round_shift(m: Module, value, shift: int, width: int, name: str):
    """value / 2**shift rounded half to even (a constant shift; a negative one shifts left exactly)."""
    out = Signal(signed(width), name=name)
    if shift <= 0:
        m.d.comb += out.eq(value << -shift)
        return out
    q = value >> shift
    rem = value.as_unsigned()[:shift]
    half = 1 << (shift - 1)
    m.d.comb += out.eq(q + ((rem > half) | ((rem == half) & q[0])))
    return out


def _odometer(m: Module, counters: list[tuple[Signal, int]], linear: list[tuple[Signal, list[int]]] = ()):
    """Advance nested counters (outermost first) by one; the expression is true on the last step.

    Each (register, coefficients) of `linear` follows sum(coefficient * counter) without a
    multiplier: it adds the stride of the digit that steps (its coefficient minus what the
    wrapping inner digits had added), so memory addresses come straight from registers. On the
    last step everything returns to 0, ready for the next pass."""
    carry = Const(1)
    steps = []  # (digit, it steps while every inner digit wraps)
    for k in reversed(range(len(counters))):
        sig, n = counters[k]
        at_end = sig == n - 1
        with m.If(carry):
            m.d.sync += sig.eq(Mux(at_end, 0, sig + 1))
        steps.append((k, carry & ~at_end))
        carry = carry & at_end
    for reg, coefs in linear:
        stride = 0
        for k, stepping in steps:
            rewind = sum(coefs[j] * (counters[j][1] - 1) for j in range(k + 1, len(counters)))
            stride = Mux(stepping, coefs[k] - rewind, stride)
        m.d.sync += reg.eq(Mux(carry, 0, reg + stride))
    return carry


def _registered(m: Module, port, name: str) -> Signal:
    """A memory read port's data, registered as it leaves the RAM (a block RAM's output is slow)."""
    reg = Signal.like(port.data, name=name)
    m.d.sync += reg.eq(port.data)
    return reg


def _locate(mem: MapMem, c, yy, xx) -> tuple:
    """(bank, row) of value (c, yy, xx) of `mem` (the layout in image_plan.MapMem), with wiring only."""
    lb = _log2(mem.banks)
    pix = Cat(xx[: _log2(mem.width)], yy[: _log2(mem.height)])  # no bits at all for a 1 x 1 map
    if mem.by_channel:
        return (c[:lb] if lb else Const(0, 1)), Cat(pix, c[lb:])
    return (pix[:lb] if lb else Const(0, 1)), Cat(pix[lb:], c)


class ImageAccelerator(StreamAccelerator):
    """The image engine: stream in an image (channel-major), stream out the class and all logits."""

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        P = p.lanes
        blocks = p.blocks
        nb = len(blocks)
        passes: list[tuple[str, Block | None, Pass]] = []  # pass id -> (kind, block, pass)
        for b in blocks:
            passes += [("assembly", b, b.conv), ("conv", b, b.conv)]
        passes.append(("head", None, p.head))

        # ------------------------------------------------------------ memories
        def mem_banks(mem: MapMem, name: str) -> list:
            ports = []
            for k in range(mem.banks):
                mm = Memory(shape=_shape(mem.bits, mem.signed), depth=mem.rows, init=[])
                m.submodules[f"{name}_bank{k}"] = mm
                ports.append((mm.read_port(), mm.write_port()))
            return ports

        in_banks = mem_banks(p.input_mem, "image")
        map_banks = [mem_banks(mem, f"map{i}") for i, mem in enumerate(p.maps)]
        src_banks = [in_banks, *map_banks]  # block i reads src_banks[i]; the head reads src_banks[nb]
        src_mems = [p.input_mem, *p.maps]

        kbits = max(b.layer.kernel_requant.bits for b in blocks)
        kram = []
        for l in range(P):
            mm = Memory(shape=signed(kbits), depth=p.kernel_words, init=[])
            m.submodules[f"kernel_lane{l}"] = mm
            kram.append((mm.read_port(), mm.write_port()))
        wbits = max(max(b.layer.warehouse_cells.bits for b in blocks), max(1, int(abs(p.head.weights).max()).bit_length() + 1))
        wh_rom = []
        for w, banks in enumerate(p.warehouses):
            ports = []
            for l in range(P):
                mm = Memory(shape=signed(wbits), depth=banks.shape[1], init=[int(v) for v in banks[l]])
                m.submodules[f"warehouse{w}_lane{l}"] = mm
                ports.append(mm.read_port())
            wh_rom.append(ports)
        head_rom = []
        for l in range(P):
            mm = Memory(shape=signed(wbits), depth=p.head.weights.shape[1], init=[int(v) for v in p.head.weights[l]])
            m.submodules[f"head_lane{l}"] = mm
            head_rom.append(mm.read_port())

        # ------------------------------------------------------------ widths
        accw = max(max(b.layer.assembly_acc_bits for b in blocks), max(ps.acc_bits for ps in p.passes)) + 1
        gain_bits = max(b.layer.gain.bits for b in blocks)
        vw = accw + gain_bits
        max_left = max([max(-ps.requant.shift, 0) for ps in p.passes if ps.requant] + [max(-b.layer.kernel_requant.shift, 0) for b in blocks] + [0])
        qw = vw + max_left + 1
        act_w = max(max(mem.bits + (0 if mem.signed else 1) for mem in src_mems), max(b.layer.norm.bits for b in blocks))
        opw = max(kbits, wbits)

        # bias ROMs (per pass, P biases a word) and gain ROMs (per block)
        bias_rd, gain_rd = {}, {}
        for pid, (kind, b, ps) in enumerate(passes):
            if kind == "assembly":
                gains = b.layer.gain.data.reshape(ps.groups, P)
                mm = Memory(shape=unsigned(P * gain_bits), depth=ps.groups, init=[_pack(g, gain_bits) for g in gains])
                m.submodules[f"gain{pid}"] = mm
                gain_rd[pid] = mm.read_port()
            else:
                mm = Memory(shape=unsigned(P * accw), depth=ps.groups, init=[_pack(bb, accw) for bb in ps.bias])
                m.submodules[f"bias{pid}"] = mm
                bias_rd[pid] = mm.read_port()

        # ------------------------------------------------------------ state shared by the phases
        pid = Signal(range(len(passes)))
        full = Signal()
        g = Signal(range(max(ps.groups for ps in p.passes) + 1))
        py, px, dy, dx = (Signal(range(max(ps.out_h for ps in p.passes) + 1), name=n) for n in ("py", "px", "dy", "dx"))
        ci = Signal(range(max(ps.src.channels for ps in p.passes) + 1))
        ky = Signal(range(max(ps.kh for ps in p.passes) + 1))
        kx = Signal(range(max(ps.kw for ps in p.passes) + 1))
        cj = Signal(range(max(b.layer.in_shape[0] for b in blocks) + 1))
        n_c = Signal(range(max(b.layer.cells for b in blocks) + 1))
        gh = Signal(range(max(ps.groups for ps in p.passes) + 1))  # the assembly's g = gh * cell_groups + gl
        gl = Signal(range(max(b.cell_groups for b in blocks) + 1))
        # address registers that follow the counters (see _odometer): operand A (attention a),
        # operand B (kernel RAM, warehouse or head ROM word), write address, padded y and x
        waddr_w = max(_bits(p.kernel_words), max(_bits(mem.rows) for mem in p.maps), 1)
        ra = Signal(range(max(b.layer.mixtures * b.layer.cells for b in blocks) + 1))
        rb = Signal(range(max(p.kernel_words, p.head.weights.shape[1], *(w.shape[1] for w in p.warehouses)) + 1))
        rw = Signal(waddr_w)
        ry, rx = (Signal(range(max(ps.out_h + ps.kh for ps in p.passes) + 1), name=n) for n in ("ry", "rx"))
        self._ctr = dict(g=g, py=py, px=px, dy=dy, dx=dx, ci=ci, ky=ky, kx=kx, cj=cj, n=n_c, gh=gh, gl=gl, ra=ra, rb=rb, rw=rw, ry=ry, rx=rx)

        tag_layout = data.StructLayout({"valid": 1, "first": 1, "last": 1, "pfirst": 1, "plast": 1, "inb": 1,
                                        "bank": max(1, _log2(max(mem.banks for mem in src_mems))), "waddr": waddr_w, "g": g.shape()})
        tag0 = Signal(tag_layout)
        tags = [tag0] + [Signal(tag_layout, name=f"tag{k}") for k in range(1, 5)]
        for k in range(1, 5):
            m.d.sync += tags[k].eq(tags[k - 1])
        m.d.comb += tag0.valid.eq(0)  # overridden while a pass issues

        # ------------------------------------------------------------ input loader (+ the first block's channel sums)
        mem0 = p.input_mem
        n_beats = p.n_inputs // p.beat
        per_channel = mem0.pixels // p.beat
        beat_no = Signal(range(n_beats))
        lp = Signal(range(per_channel))
        lc = Signal(range(mem0.channels))
        accept = Signal()
        m.d.comb += [self.in_ready.eq(~full), accept.eq(self.in_valid & ~full)]
        values = [self.in_data[k * p.input_bits : (k + 1) * p.input_bits] for k in range(p.beat)]
        values = [v.as_signed() if p.input_signed else v for v in values]
        for k, (_, wp) in enumerate(in_banks):
            m.d.comb += [wp.addr.eq(beat_no), wp.data.eq(values[k]), wp.en.eq(accept)]
        gaps = [[Signal(signed(b.gap_bits), name=f"gap{i}_{c}") for c in range(b.layer.in_shape[0])] for i, b in enumerate(blocks)]
        # a beat's sum is registered and added one cycle later (the FCs read the sums 3 cycles after the last beat at the earliest)
        beat_sum = Signal(signed(blocks[0].gap_bits))
        summed, sum_first, sum_c = Signal(), Signal(), Signal.like(lc)
        m.d.sync += [summed.eq(accept), beat_sum.eq(sum(values)), sum_first.eq(lp == 0), sum_c.eq(lc)]
        with m.If(summed):
            with m.Switch(sum_c):
                for c, sig in enumerate(gaps[0]):
                    with m.Case(c):
                        m.d.sync += sig.eq(Mux(sum_first, 0, sig) + beat_sum)
        with m.If(accept):
            m.d.sync += [beat_no.eq(beat_no + 1), lp.eq(Mux(lp == per_channel - 1, 0, lp + 1))]
            with m.If(lp == per_channel - 1):
                m.d.sync += lc.eq(lc + 1)
            with m.If(beat_no == n_beats - 1):
                m.d.sync += [beat_no.eq(0), lc.eq(0), full.eq(1)]

        # ------------------------------------------------------------ attention unit
        drain = Signal(range(max(PASS_DRAIN, FC_DRAIN) + 1))
        att = self._attention(m, blocks, gaps, drain)

        # ------------------------------------------------------------ P-lane MAC pass: operands
        # t+1: every word as read, so no multiplexer sits behind a block RAM's slow output
        a_word = _registered(m, att["a_rd"], "a_word")
        src_words = [[_registered(m, rp, f"src{i}_word{k}") for k, (rp, _) in enumerate(banks)] for i, banks in enumerate(src_banks)]
        wh_words = [[_registered(m, rp, f"wh{w}_word{l}") for l, rp in enumerate(ports)] for w, ports in enumerate(wh_rom)]
        k_words = [_registered(m, kram[l][0], f"k_word{l}") for l in range(P)]
        head_words = [_registered(m, head_rom[l], f"head_word{l}") for l in range(P)]
        # t+2: the pass's operands
        a_op = Signal(signed(act_w))
        b_op = [Signal(signed(opw), name=f"b{l}") for l in range(P)]
        t2 = tags[2]
        with m.Switch(pid):
            for i, (kind, b, ps) in enumerate(passes):
                with m.Case(i):
                    if kind == "assembly":
                        m.d.sync += a_op.eq(a_word)
                        for l in range(P):
                            m.d.sync += b_op[l].eq(wh_words[b.warehouse][l])
                    else:
                        words = src_words[blocks.index(b) if b else nb]
                        word = Array(words)[t2.bank] if len(words) > 1 else words[0]
                        m.d.sync += a_op.eq(Mux(t2.inb, word, 0))
                        for l in range(P):
                            m.d.sync += b_op[l].eq((k_words if kind == "conv" else head_words)[l])
        prod = [Signal(signed(act_w + opw), name=f"prod{l}") for l in range(P)]
        for l in range(P):
            m.d.sync += prod[l].eq(a_op * b_op[l])

        # accumulate (t+4): bias and gain registered from the pass's ROMs, read with earlier tags
        acc = [Signal(signed(accw), name=f"acc{l}") for l in range(P)]
        bias = [Signal(signed(accw), name=f"bias{l}") for l in range(P)]
        gain = [Signal(signed(gain_bits + 1), name=f"gain{l}") for l in range(P)]
        with m.Switch(pid):
            for i, (kind, b, ps) in enumerate(passes):
                with m.Case(i):
                    if kind == "assembly":
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
        fin = Signal(tag_layout)
        m.d.sync += [fin.eq(t4), fin.valid.eq(t4.valid & t4.last)]

        # t+5: x gain as two partial products (one multiplier each); t+6: their sum; t+7: shift and
        # round decision; t+8: + round bit; t+9: clamp; t+10: pool sum; t+11: pool shift; t+12: write
        f = [Signal(tag_layout, name=f"fin{k}") for k in range(6, 13)]  # f[k]: the finished sum's tag at t+6+k
        m.d.sync += [f[0].eq(fin), *(f[k].eq(f[k - 1]) for k in range(1, len(f)))]
        split = min(17, accw - 1)  # acc = hi * 2**split + lo, lo unsigned: each part fits an 18 x 18 multiplier
        v_lo = [Signal(signed(split + gain_bits + 2), name=f"vlo{l}") for l in range(P)]
        v_hi = [Signal(signed(accw - split + gain_bits + 1), name=f"vhi{l}") for l in range(P)]
        v = [Signal(signed(vw), name=f"v{l}") for l in range(P)]
        for l in range(P):
            m.d.sync += [v_lo[l].eq(acc[l][:split] * gain[l]), v_hi[l].eq(acc[l][split:].as_signed() * gain[l]), v[l].eq((v_hi[l] << split) + v_lo[l])]
        max_right = max([max(ps.requant.shift, 0) for ps in p.passes if ps.requant] + [max(b.layer.kernel_requant.shift, 0) for b in blocks] + [1])
        rq_unit = ShiftRound(max_right, max_left, qw)
        pool_unit = ShiftRound(max(ps.pool_shift for ps in p.passes), 0)
        with m.Switch(pid):
            for i, (kind, b, ps) in enumerate(passes):
                with m.Case(i):
                    rq = b.layer.kernel_requant if kind == "assembly" else ps.requant
                    if rq is None:  # the logits pass through
                        rq_unit.select(m, 0, (-(1 << (vw - 1)), (1 << (vw - 1)) - 1))
                    else:
                        rq_unit.select(m, rq.shift, rq.clamp)
                    pool_unit.select(m, ps.pool_shift if kind == "conv" else 0)
        q1 = [Signal(signed(qw), name=f"q1_{l}") for l in range(P)]
        up = [Signal(name=f"up{l}") for l in range(P)]
        r = [Signal(signed(qw + 1), name=f"r{l}") for l in range(P)]
        q = [Signal(signed(qw + 1), name=f"q{l}") for l in range(P)]
        s = [Signal(signed(qw + 4), name=f"psum{l}") for l in range(P)]
        out = [Signal(signed(qw + 4), name=f"out{l}") for l in range(P)]
        for l in range(P):
            shifted, round_up = rq_unit.shift(v[l])
            m.d.sync += [q1[l].eq(shifted), up[l].eq(round_up), r[l].eq(q1[l] + up[l]), q[l].eq(rq_unit.clamp(r[l]))]
            with m.If(f[4].valid):
                m.d.sync += s[l].eq(Mux(f[4].pfirst, 0, s[l]) + q[l])
            pooled, pool_up = pool_unit.shift(s[l])
            m.d.sync += out[l].eq(pooled + pool_up)

        # write-back (t+12)
        wtag = f[6]
        write = Signal()
        m.d.comb += write.eq(wtag.valid & wtag.plast)
        logits = [Signal(signed(p.logit_bits), name=f"logit{c}") for c in range(p.n_classes)]
        with m.Switch(pid):
            for i, (kind, b, ps) in enumerate(passes):
                with m.Case(i):
                    if kind == "assembly":
                        for l in range(P):
                            m.d.comb += [kram[l][1].addr.eq(wtag.waddr), kram[l][1].data.eq(out[l]), kram[l][1].en.eq(write)]
                    elif kind == "conv":
                        bi = blocks.index(b)
                        for l, (_, wp) in enumerate(map_banks[bi]):
                            m.d.comb += [wp.addr.eq(wtag.waddr), wp.data.eq(out[l]), wp.en.eq(write)]
                        if bi + 1 < nb:  # the next block's channel sums
                            for c, sig in enumerate(gaps[bi + 1]):
                                with m.If(write & (wtag.g == c // P)):
                                    m.d.sync += sig.eq(sig + out[c % P])
                    else:
                        for c in range(p.n_classes):
                            with m.If(write & (wtag.g == c // P)):
                                m.d.sync += logits[c].eq(out[c % P])

        # read addresses straight from the address registers (each memory has one reader; reading
        # outside its pass is harmless)
        m.d.comb += att["a_rd"].addr.eq(ra)
        for rp in [*(k[0] for k in kram), *head_rom, *(rp for ports in wh_rom for rp in ports)]:
            m.d.comb += rp.addr.eq(rb)
        for kind, b, ps in passes:
            if kind != "assembly":
                si = blocks.index(b) if b else nb
                _, row = _locate(src_mems[si], ci, (ry - ps.padding).as_unsigned(), (rx - ps.padding).as_unsigned())
                for rp, _ in src_banks[si]:
                    m.d.comb += rp.addr.eq(row)

        # ------------------------------------------------------------ the sequence of phases
        result = ResultStage(m, self, logits)

        reset_counters = [sig.eq(0) for sig in self._ctr.values()]
        with m.FSM(name="seq"):
            with m.State("IDLE"):
                with m.If(full):
                    m.d.sync += reset_counters
                    m.next = "B0_FC1"
            self._mems = dict(src_mems=src_mems, tag0=tag0, drain=drain, pid=pid)
            for bi, b in enumerate(blocks):
                att["states"](bi, (f"B{bi}_FC1", f"B{bi}_FC2", f"B{bi}_NORM"), f"B{bi}_ASSEMBLY", reset_counters)
                next_gaps = [sig.eq(0) for sig in gaps[bi + 1]] if bi + 1 < nb else []
                self._pass_states(m, 2 * bi, f"B{bi}_ASSEMBLY", "assembly", b, b.conv, bi, f"B{bi}_CONV", [*reset_counters, *next_gaps])
                self._pass_states(m, 2 * bi + 1, f"B{bi}_CONV", "conv", b, b.conv, bi, f"B{bi + 1}_FC1" if bi + 1 < nb else "HEAD", reset_counters)
            self._pass_states(m, 2 * nb, "HEAD", "head", None, p.head, nb, "ARGMAX", [result.k.eq(0)])
            result.states(m, [full.eq(0)])
        return m

    # ---------------------------------------------------------------- the P-lane pass's issue side
    def _pass_states(self, m: Module, pass_id: int, state: str, kind: str, b: Block | None, ps: Pass, src_index: int, nxt: str, on_exit: list) -> None:
        """ISSUE state `state` (one item per cycle, no bubbles) and its DRAIN state, then `nxt`.

        The issuing state sets `pid`, so the datapath behind it (t+1 on) follows this pass."""
        c, mem = self._ctr, self._mems
        src, tag0, drain = mem["src_mems"][src_index], mem["tag0"], mem["drain"]
        with m.State(state):
            m.d.comb += tag0.valid.eq(1)
            m.d.sync += mem["pid"].eq(pass_id)
            if kind == "assembly":
                l = b.layer
                cpm = l.in_shape[0] // l.cell_in  # mixtures per block row
                cg = b.cell_groups
                kk = l.kernel * l.kernel
                order = [(c["gh"], ps.groups // cg), (c["gl"], cg), (c["cj"], cpm), (c["ci"], l.cell_in), (c["ky"], l.kernel), (c["kx"], l.kernel),
                         (c["n"], l.cells)]
                linear = [  # coefficients of gh, gl, cj, ci, ky, kx, n
                    (c["g"], [cg, 1, 0, 0, 0, 0, 0]),
                    (c["ra"], [cpm * l.cells, 0, l.cells, 0, 0, 0, 1]),  # a[mixture gh * cpm + cj, n]
                    (c["rb"], [0, l.cell_in * kk, 0, kk, l.kernel, 1, cg * l.cell_in * kk]),  # warehouse word
                    (c["rw"], [cg * l.in_shape[0] * kk, l.in_shape[0] * kk, l.cell_in * kk, kk, l.kernel, 1, 0]),  # kernel RAM word
                ]
                m.d.comb += [tag0.first.eq(c["n"] == 0), tag0.last.eq(c["n"] == l.cells - 1), tag0.pfirst.eq(1), tag0.plast.eq(1)]
            else:
                order = [(c["g"], ps.groups), (c["py"], ps.out_h // ps.pool), (c["px"], ps.out_w // ps.pool), (c["dy"], ps.pool), (c["dx"], ps.pool),
                         (c["ci"], src.channels), (c["ky"], ps.kh), (c["kx"], ps.kw)]
                ho, wo = ps.out_h // ps.pool, ps.out_w // ps.pool
                linear = [  # coefficients of g, py, px, dy, dx, ci, ky, kx
                    (c["ry"], [0, ps.pool, 0, 1, 0, 0, 1, 0]),  # padded coordinates
                    (c["rx"], [0, 0, ps.pool, 0, 1, 0, 0, 1]),
                    (c["rb"], [src.channels * ps.kh * ps.kw, 0, 0, 0, 0, ps.kh * ps.kw, ps.kw, 1]),  # kernel word
                    (c["rw"], [ho * wo, wo, 1, 0, 0, 0, 0, 0]),
                ]
                y, x = c["ry"], c["rx"]
                inb = (y >= ps.padding) & (y < src.height + ps.padding) & (x >= ps.padding) & (x < src.width + ps.padding)
                bank, _ = _locate(src, c["ci"], (y - ps.padding).as_unsigned(), (x - ps.padding).as_unsigned())
                first = (c["ci"] == 0) & (c["ky"] == 0) & (c["kx"] == 0)
                last = (c["ci"] == src.channels - 1) & (c["ky"] == ps.kh - 1) & (c["kx"] == ps.kw - 1)
                m.d.comb += [
                    tag0.first.eq(first), tag0.last.eq(last), tag0.inb.eq(inb), tag0.bank.eq(bank),
                    tag0.pfirst.eq((c["dy"] == 0) & (c["dx"] == 0)), tag0.plast.eq((c["dy"] == ps.pool - 1) & (c["dx"] == ps.pool - 1)),
                ]
            m.d.comb += [tag0.waddr.eq(c["rw"]), tag0.g.eq(c["g"])]
            done = _odometer(m, order, linear)
            with m.If(done):
                m.d.sync += drain.eq(PASS_DRAIN - 1)
                m.next = state + "_DRAIN"
        with m.State(state + "_DRAIN"):
            m.d.sync += drain.eq(drain - 1)
            with m.If(drain == 0):
                m.d.sync += on_exit
                m.next = nxt

    # ---------------------------------------------------------------- attention: FC1, FC2, normalisation
    def _attention(self, m: Module, blocks: tuple[Block, ...], gaps: list[list[Signal]], drain: Signal) -> dict:
        """Memories and datapath of the attention unit; `states(...)` adds one block's FSM states.

        The FC datapath follows `fsel` (2 * block + fc), which the issuing state sets, so the
        stages behind the issue (t+1 to the store at t+7) still see the right layer during the drain.
        """
        fcs = [fc for b in blocks for fc in (b.layer.fc1, b.layer.fc2)]
        fc_w = max(fc.acc_bits for fc in fcs) + 1
        n_h = max(b.layer.fc1.out_shape[0] for b in blocks)
        h_bits = max(b.layer.fc1.requant.bits + 1 for b in blocks)
        z_bits = max(b.layer.fc2.requant.bits + 1 for b in blocks)
        a_bits = max(b.layer.norm.bits for b in blocks)
        zmem = Memory(shape=signed(z_bits), depth=max(b.layer.fc2.out_shape[0] for b in blocks), init=[])
        amem = Memory(shape=signed(a_bits), depth=max(b.layer.mixtures * b.layer.cells for b in blocks), init=[])
        m.submodules.z_mem, m.submodules.a_mem = zmem, amem
        z_rd, z_wr, a_rd, a_wr = zmem.read_port(), zmem.write_port(), amem.read_port(), amem.write_port()
        hregs = [Signal(signed(h_bits), name=f"h{k}") for k in range(n_h)]

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
        roms = []
        with m.Switch(fsel):
            for k, fc in enumerate(fcs):
                bi, j = divmod(k, 2)
                b = blocks[bi]
                wrom = Memory(shape=signed(fc.weight.bits), depth=fc.weight.data.size, init=[int(x) for x in fc.weight.data.reshape(-1)])
                brom = Memory(shape=signed(fc.acc_bits), depth=fc.out_shape[0], init=[int(x) for x in fc.bias.data])
                m.submodules[f"att{bi}_fc{j + 1}_w"], m.submodules[f"att{bi}_fc{j + 1}_b"] = wrom, brom
                wrd, brd = wrom.read_port(), brom.read_port()
                roms.append((wrd, brd))
                with m.Case(k):
                    if j == 0:  # the requantised global average pool
                        gap = b.layer.gap
                        m.d.sync += [xsel.eq(Array(gaps[bi])[ft[1].i]), xr.eq(_round_shift(m, xsel, gap.shift, x_w, f"gapq{bi}")), ox.eq(clamp(xr, *gap.clamp))]
                    else:
                        m.d.sync += [xsel.eq(Array(hregs)[ft[1].i]), xr.eq(xsel), ox.eq(xr)]
                    m.d.comb += [wrd.addr.eq(ft[2].a), brd.addr.eq(ft[2].o)]
                    m.d.sync += [fw.eq(wrd.data), fb.eq(brd.data), fr.eq(_round_shift(m, facc, fc.requant.shift, fc_w + 1, f"att{bi}_fc{j + 1}_r"))]
                    r = clamp(fr, *fc.requant.clamp)
                    with m.If(fs.valid & fs.last):
                        if j == 0:
                            with m.Switch(fs.o):
                                for o in range(fc.out_shape[0]):
                                    with m.Case(o):
                                        m.d.sync += hregs[o].eq(r)
                        else:
                            m.d.comb += [z_wr.addr.eq(fs.o), z_wr.data.eq(r), z_wr.en.eq(1)]

        # normalisation: per mixture the sum of |z| (+ eps), then one restoring division per cell
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
        # every z read is registered straight from the block RAM (its output is slow) and |z| taken a
        # cycle later, for the sum and for the dividend alike
        zreg = _registered(m, z_rd, "zreg")
        zreg_abs, zabs_sum = Signal(z_bits), Signal(z_bits)
        m.d.comb += zreg_abs.eq(Mux(zreg < 0, -zreg, zreg))
        loaded, summing = Signal(), Signal()  # zreg holds a read z to sum (a cycle after its read), zabs_sum its |z| (two)
        m.d.sync += [sum_valid.eq(0), loaded.eq(sum_valid), summing.eq(loaded), zabs_sum.eq(zreg_abs)]
        with m.If(summing):
            m.d.sync += den.eq(den + zabs_sum)

        def states(bi: int, names: tuple[str, str, str], nxt: str, on_done: list) -> None:
            """FC1, FC2 and normalisation states of block `bi`, then `nxt` (with `on_done`)."""
            lay = blocks[bi].layer
            for j, fc in enumerate((lay.fc1, lay.fc2)):
                wrd, brd = roms[2 * bi + j]
                n_out, n_in = fc.weight.data.shape
                with m.State(names[j]):
                    m.d.comb += [f0.valid.eq(1), f0.first.eq(fi == 0), f0.last.eq(fi == n_in - 1), f0.o.eq(fo), f0.i.eq(fi), f0.a.eq(fa)]
                    m.d.sync += [fa.eq(fa + 1), fsel.eq(2 * bi + j)]
                    with m.If(_odometer(m, [(fo, n_out), (fi, n_in)])):
                        m.d.sync += [fa.eq(0), drain.eq(FC_DRAIN - 1)]
                        m.next = names[j] + "_DRAIN"
                with m.State(names[j] + "_DRAIN"):
                    m.d.sync += drain.eq(drain - 1)
                    with m.If(drain == 0):
                        m.next = names[j + 1]
                        if j == 1:
                            m.d.sync += [nm.eq(0), zbase.eq(0), abase.eq(0), nj.eq(0), den.eq(lay.norm.eps)]

            s_norm, n, nbits = names[2], lay.cells, blocks[bi].div_bits
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
                    m.d.sync += on_done
                    m.next = nxt

        return {"a_rd": a_rd, "states": states}
