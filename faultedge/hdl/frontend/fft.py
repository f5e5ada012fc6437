"""The pipelined FFT: maia-hdl's radix-2 single-delay-feedback (R2SDF) FFT, one pair per clock, and the split.

maia-hdl's `FFT` has no handshake: every cycle its clock enable is high, one value goes in and one
comes out, `fft_delay` steps behind, in bit-reversed order (its numpy model is the golden model's
reference, tests/test_frontend.py). `SdfCore` gives it streams:

- Inputs come in frames of M steps that start on the pipeline's phase 0: a *real* frame is one
  window's burst of pairs; a *zero* frame pushes zeros. A frame never starts mid-way, so the
  butterflies' counters always see a window at its phase 0, and the zeros never mix with a window.
- A window's outputs leave while the next frame goes in. At a frame boundary the next burst starts
  if it is waiting; otherwise zero frames follow while a real window's outputs are still inside;
  otherwise the pipeline rests at phase 0.
- The output stream is valid while the position in front of it belongs to a real frame and the
  pipeline can step; the clock enable waits for its `ready`, so back-pressure stops the whole
  pipeline without losing a value. A burst that waits for its next pair (the window buffer starts
  bursts before their window is complete) stops the pipeline the same way; the rest of a burst
  the window buffer gives up comes marked `void`, and that frame's outputs are dropped.

Twiddles are synchronous ROMs (`twiddle_storage="bram"`, with maia-hdl's output register): no
asynchronous ROM for synth_ecp5 to refuse. Delay lines are in block RAM read through its output
register (`butterfly_storage="bram"`, `use_bram_reg=True`: a RAM read without the register starts
the critical path, 5.6 ns clock-to-out on ECP5), except the two-word one: with the register,
maia-hdl's two-word delay line reads the word it is writing and the FFT departs from its model,
so that stage is rebuilt with flip-flops (`maia_fft`; the one-word last stage always is).
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.hdl import Fragment
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.frontend.cmult import RegisteredCmult
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.split import Split, points_signature
from faultedge.hdl.frontend.streams import bins_signature, pairs_signature


def maia_fft(fp: FrontEndPlan):
    """maia-hdl's FFT with the front end's widths and per-stage shifts (its arithmetic is the contract's), its delay lines in
    block RAM read through the output register, except the two-word one, which is in flip-flops (see the module's docstring),
    and its twiddle multipliers with their products registered twice (cmult.py)."""
    from maia_hdl.fft import FFT, FFTControl, R2SDF, Twiddle

    fe = fp.fe
    fft = FFT(fe.widths[0], fe.stages, 2, width_twiddle=fe.twiddle_bits, truncates=list(fe.shifts), butterfly_storage="bram",
              twiddle_storage="bram", use_bram_reg=True)
    two = fft._butterflies[-2]  # order 2: a two-word delay line
    replaced = [two, fft._control]
    fft._butterflies[-2] = R2SDF(two.order, two.w, truncate=two.trunc, storage="distributed")
    for tw in fft._twiddles:
        if isinstance(tw, Twiddle):
            replaced.append(tw.cmult)
            tw.cmult = RegisteredCmult(tw.sw, tw.tw, truncate=tw.twiddle_scale_clog2())
    fft._control = FFTControl(fft._butterflies, fft._twiddles, fft._window)  # the controller follows the stages' storage
    for part in replaced:
        Fragment.get(part, None)  # elaborated once, so Amaranth does not warn that they were never used
    return fft


class SdfCore(wiring.Component):
    """Pairs in, the M-point FFT's values out in bit-reversed position order (`pos` = j holds Z[bitrev(j)])."""

    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"pairs": In(pairs_signature(fp.fe)), "points": Out(points_signature(fp))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        pts, delay = fp.points, fp.fft_delay
        m.submodules.fft = fft = maia_fft(fp)
        assert fft.delay == delay, (fft.delay, delay)
        behind, rem = divmod(delay, pts)  # an output frame is `behind` input frames old (plus `rem` steps)
        frames = -(-delay // pts)  # frames after a real one that still hold its outputs
        pairs, points = self.pairs, self.points

        phase = Signal(range(pts))  # input step within the current frame
        kind_real = Signal()  # the current frame (phase > 0) is a window's burst
        hist = Signal(frames + 1)  # hist[d]: the input frame d frames back was real (hist[0]: the current one)
        out_pos = Signal(range(pts), init=(-delay) % pts)
        out_real = Signal()

        at_boundary = phase == 0
        start_real = at_boundary & pairs.valid
        start_zero = at_boundary & ~pairs.valid & hist[:frames].any()
        real_now = Signal()
        m.d.comb += real_now.eq(Mux(at_boundary, pairs.valid, kind_real))
        has_input = Signal()
        m.d.comb += has_input.eq(Mux(at_boundary, start_real | start_zero, Mux(kind_real, pairs.valid, 1)))
        clken = Signal()
        m.d.comb += [clken.eq(has_input & (~out_real | points.ready)), fft.clken.eq(clken)]
        m.d.comb += [pairs.ready.eq(clken & real_now),
                     fft.re_in.eq(Mux(real_now, pairs.payload.re, 0)), fft.im_in.eq(Mux(real_now, pairs.payload.im, 0))]

        with m.If(clken):
            m.d.sync += [phase.eq(Mux(phase == pts - 1, 0, phase + 1)), out_pos.eq(Mux(out_pos == pts - 1, 0, out_pos + 1))]
            with m.If(at_boundary):
                m.d.sync += [kind_real.eq(real_now), hist.eq((hist << 1) | real_now)]
            with m.Elif(real_now & pairs.payload.void):  # a burst given up: its outputs are dropped like a zero frame's
                m.d.sync += hist[0].eq(0)
            with m.If(out_pos == pts - 1):  # the next position starts an output frame
                m.d.sync += out_real.eq(hist[behind] if rem else hist[behind - 1])
        m.d.comb += [points.valid.eq(out_real & has_input), points.payload.pos.eq(out_pos), points.payload.re.eq(fft.re_out),
                     points.payload.im.eq(fft.im_out), points.payload.last.eq(out_pos == pts - 1)]
        return m


class PipelinedFFT(wiring.Component):
    """The pipelined architecture of the FFT knob: pairs in, spectrum bins out (the R2SDF core, then the split)."""

    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"pairs": In(pairs_signature(fp.fe)), "bins": Out(bins_signature(fp.fe))})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.core = core = SdfCore(self.fp)
        m.submodules.split = split = Split(self.fp)
        wiring.connect(m, wiring.flipped(self.pairs), core.pairs)
        wiring.connect(m, core.points, split.points)
        wiring.connect(m, split.bins, wiring.flipped(self.bins))
        return m
