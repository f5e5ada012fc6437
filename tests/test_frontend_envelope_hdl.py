"""The fft+envelope front end in hardware: the window buffer's second burst, the squarer, the FFT, against the golden model."""

from __future__ import annotations

import numpy as np
import pytest

from test_frontend_hdl import framed, run_stream, tiny_parts
from test_ir import tiny_ir_json

from faultedge.hdl.frontend.plan import FrontEndPlan, check_frontend
from faultedge.ir import frontend


def envelope_front_end(window: int, hop: int, seed: int = 0) -> frontend.FrontEnd:
    rng = np.random.default_rng(seed)
    bins = window // 2
    return frontend.fit(rng.uniform(0, 2, bins), rng.uniform(0.5, 2, bins), -4, (-128, 127), 16, 2.0**-12, window, hop,
                        frontend.default_shifts(window, 16), 16, features="fft+envelope")


def samples_to_two_frames(fe: frontend.FrontEnd, to_values: bool = False):
    """Window buffer -> squarer -> pipelined FFT: samples in, two spectra per window out, and the gains."""
    from amaranth import Module
    from amaranth.lib import wiring

    from faultedge.hdl.components.streams import samples_signature
    from faultedge.hdl.frontend.fft import PipelinedFFT
    from faultedge.hdl.frontend.squarer import Squarer
    from faultedge.hdl.frontend.streams import bins_signature, gains_signature
    from faultedge.hdl.frontend.blocks import FeatureBlocks, values_signature
    from faultedge.hdl.frontend.magnitude import Magnitude
    from faultedge.hdl.frontend.window import WindowBuffer

    fp = FrontEndPlan(fe, "pipelined")  # check_frontend refuses envelope front ends until the chain computes them

    class Chain(wiring.Component):
        def __init__(self) -> None:
            out = values_signature(fp) if to_values else bins_signature(fe)
            super().__init__({"samples": wiring.In(samples_signature(16)), "bins": wiring.Out(out), "gains": wiring.Out(gains_signature())})

        def elaborate(self, platform) -> Module:
            m = Module()
            m.submodules.window, m.submodules.squarer, m.submodules.fft = wb, sq, fft = WindowBuffer(fp), Squarer(fp), PipelinedFFT(fp)
            wiring.connect(m, wiring.flipped(self.samples), wb.samples)
            wiring.connect(m, wb.pairs, sq.window_pairs)
            wiring.connect(m, sq.pairs, fft.pairs)
            if to_values:
                m.submodules.magnitude, m.submodules.blocks = mag, blocks = Magnitude(fp), FeatureBlocks(fp)
                wiring.connect(m, fft.bins, mag.bins)
                wiring.connect(m, mag.mags, blocks.mags)
                wiring.connect(m, blocks.values, wiring.flipped(self.bins))
            else:
                wiring.connect(m, fft.bins, wiring.flipped(self.bins))
            wiring.connect(m, sq.gains, wiring.flipped(self.gains))
            return m

    return Chain()


@pytest.mark.parametrize("window, hop, rate", [(16, 8, 0.5), (64, 16, 0.7), (32, 32, 1.0)])
def test_two_frames_per_window_are_the_golden_spectrum_and_squared_spectrum(window, hop, rate):
    fe = envelope_front_end(window, hop)
    dut = samples_to_two_frames(fe)
    lo, hi = fe.sample_range
    rng = np.random.default_rng(window + hop)
    stream = np.concatenate([np.full(window, hi), np.tile([hi, lo], window // 2), rng.integers(-40, 41, 2 * window), np.zeros(window, np.int64),
                             rng.integers(-3000, 3001, 2 * window), rng.integers(lo, hi + 1, 2 * window)])
    windows = frontend.frame(stream, window, hop)
    gains = frontend.window_gain(fe, windows)
    squared = ((windows << gains[:, None]) ** 2) >> (fe.sample_bits - 1)
    want = [frontend.spectrum(fe, windows), frontend.spectrum(fe, squared)]
    take, frames = framed(lambda b: b.bin)
    assert run_stream(dut, stream, rate, rng, dut.bins, take) == gains.tolist()
    frames = frames[:-1]
    assert len(frames) == 2 * len(windows)
    bins = range(1, window // 2 + 1)
    for f, got in enumerate(frames):
        w, part = divmod(f, 2)
        re, im = want[part]
        assert sorted(got) == list(bins)
        assert [got[k].re for k in bins] == re[w].tolist() and [got[k].im for k in bins] == im[w].tolist(), (w, part)


@pytest.mark.parametrize("window, hop, rate", [(16, 8, 0.6), (64, 32, 1.0)])
def test_the_feature_blocks_are_the_golden_magnitudes(window, hop, rate):
    fe = envelope_front_end(window, hop)
    dut = samples_to_two_frames(fe, to_values=True)
    lo, hi = fe.sample_range
    rng = np.random.default_rng(window)
    stream = np.concatenate([rng.integers(-40, 41, 2 * window), np.full(window, hi), rng.integers(lo, hi + 1, 3 * window)])
    windows = frontend.frame(stream, window, hop)
    want = frontend.magnitudes(fe, windows)
    take, frames = framed(lambda v: v.addr)
    run_stream(dut, stream, rate, rng, dut.bins, take)
    frames, m = frames[:-1], window // 2
    assert len(frames) == len(windows)
    for w, got in enumerate(frames):
        assert sorted(got) == list(range(m))
        assert [got[f].value for f in range(m)] == want[w].tolist(), w
        assert [got[f].envelope for f in range(m)] == [0] * (m // 2) + [1] * (m // 2)


@pytest.mark.parametrize("window, hop, rate", [(16, 8, 0.6), (64, 16, 1.0)])
def test_the_chain_gives_the_golden_inputs(window, hop, rate):
    """The whole chain, gains FIFO included: with window 16 and a FIFO of 4, the pipeline held more windows than that and
    stalled the squarer behind the window the normaliser waited for (FrontEndPlan.gains_queue)."""
    from faultedge.hdl.frontend.chain import FrontEndChain

    fe = envelope_front_end(window, hop)
    dut = FrontEndChain(check_frontend(fe, "pipelined", "x"), 8)
    lo, hi = fe.sample_range
    rng = np.random.default_rng(hop)
    stream = np.concatenate([rng.integers(-40, 41, 2 * window), np.zeros(window, np.int64), np.full(window, hi),
                             rng.integers(-3000, 3001, 2 * window), rng.integers(lo, hi + 1, 2 * window)])
    windows = frontend.frame(stream, window, hop)
    want = frontend.inputs(fe, windows)
    assert len({int(g) for g in frontend.window_gain(fe, windows)}) > 2  # quiet and loud windows: several gains
    take, frames = framed(lambda v: v.addr)
    run_stream(dut, stream, rate, rng, dut.features, take)
    frames = frames[:-1]
    assert len(frames) == len(windows)
    for w, got in enumerate(frames):
        assert [got[f].value for f in range(window // 2)] == want[w].tolist(), w


def test_sample_in_accelerator_with_the_envelope_is_bit_and_cycle_exact_in_verilator():
    """The tiny network behind a 16-sample fft+envelope front end: paced windows (latency), full rate, back-pressure."""
    import dataclasses


    from faultedge.hdl.artifacts import generate
    from faultedge.hdl.cycles import frontend_model
    from faultedge.hdl.design import DesignPoint
    from faultedge.hdl.plan import plan_1d
    from faultedge.ir import IRModel
    from faultedge.sim.verify import verify_samples

    ir = dataclasses.replace(IRModel.from_json(tiny_ir_json()), frontend=envelope_front_end(16, 8))
    fe = ir.frontend
    verilog, report = generate(ir, DesignPoint(lanes=2, frontend="pipelined"))
    assert report["frontend"]["cycle_model"] == frontend_model(check_frontend(fe, "pipelined", "x"), plan_1d(ir, 2)).to_dict()
    r = verify_samples(ir, verilog, 2, "pipelined", tiny_parts(fe), seed=3)
    assert r["bit_exact"] and r["mismatches"]["samples"] == 0, r["mismatches"]
    assert r["cycles"]["match"], r["cycles"]
    assert r["windows"]["full_rate_measured"] > 10 and r["windows"]["kinds"]["clipping (back-pressure)"] > 3
