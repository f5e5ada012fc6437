"""The pipelined front end in hardware (faultedge.hdl.frontend): window buffer, maia-hdl's R2SDF FFT, split,
magnitude and normalisation, bit-exact against faultedge.ir.frontend; the sample-in accelerator in Verilator
against golden.predict_samples with its cycle model checked exactly; the design point's knob and its errors."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from test_ir import tiny_ir_json

from faultedge.cli import main
from faultedge.errors import IRError
from faultedge.hdl.artifacts import generate
from faultedge.hdl.cycles import frontend_model
from faultedge.hdl.design import DesignPoint
from faultedge.hdl.frontend.plan import check_frontend
from faultedge.hdl.plan import plan_1d
from faultedge.ir import IRModel, frontend
from faultedge.ir.intmath import isqrt


def small_front_end(window: int, hop: int, seed: int = 0) -> frontend.FrontEnd:
    """A front end fitted to made-up statistics (its offsets and multipliers vary per bin, as real ones do)."""
    rng = np.random.default_rng(seed)
    bins = window // 2
    return frontend.fit(rng.uniform(0, 2, bins), rng.uniform(0.5, 2, bins), -4, (-128, 127), 16, 2.0**-12, window, hop,
                        frontend.default_shifts(window, 16), 16)


def tiny_sample_ir(hop: int = 8) -> IRModel:
    """The hand-written tiny network (8 inputs) behind a 16-sample front end."""
    return dataclasses.replace(IRModel.from_json(tiny_ir_json()), frontend=small_front_end(16, hop))


def _simulate(dut, drive, collect, cycles: int) -> None:
    from amaranth.sim import Simulator

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(collect, background=True)
    sim.run_until(cycles * 1e-8)


def test_the_plan_knows_maia_hdls_delay():
    from amaranth.hdl import Fragment

    from faultedge.hdl.frontend.fft import maia_fft

    for window in (8, 16, 64, 2048):
        fp = check_frontend(small_front_end(window, window // 2), "pipelined", "x")
        fft = maia_fft(fp)
        assert fft.delay == fp.fft_delay
        Fragment.get(fft, None)  # elaborated: no warning about unused parts
    assert check_frontend(small_front_end(2048, 1024), "pipelined", "x").fft_delay == 1080  # 1,023 in delay lines, 8 x 7 + 1 in twiddles


def samples_to_bins(fe: frontend.FrontEnd):
    """The pipelined window buffer and FFT (with its split) as one component: samples in, spectrum bins out."""
    from amaranth import Module
    from amaranth.lib import wiring

    from faultedge.hdl.components.streams import samples_signature
    from faultedge.hdl.frontend.fft import PipelinedFFT
    from faultedge.hdl.frontend.streams import bins_signature
    from faultedge.hdl.frontend.window import WindowBuffer

    fp = check_frontend(fe, "pipelined", "x")

    class Chain(wiring.Component):
        def __init__(self) -> None:
            super().__init__({"samples": wiring.In(samples_signature(16)), "bins": wiring.Out(bins_signature(fe))})

        def elaborate(self, platform) -> Module:
            m = Module()
            m.submodules.window, m.submodules.fft = wb, fft = WindowBuffer(fp), PipelinedFFT(fp)
            wiring.connect(m, wiring.flipped(self.samples), wb.samples)
            wiring.connect(m, wb.pairs, fft.pairs)
            wiring.connect(m, fft.bins, wiring.flipped(self.bins))
            return m

    return Chain()


def run_stream(dut, stream: np.ndarray, rate: float, rng: np.random.Generator, port, take) -> list[int]:
    """Drive `stream` into dut.samples and read `port`, both with random valid and ready at `rate`; take(payload) gets each
    transfer out. Returns the gains the dut gave on its `gains` port, if it has one."""
    from amaranth.sim import Simulator

    async def drive(ctx):
        i = 0
        while i < len(stream):
            ctx.set(dut.samples.payload, int(stream[i]))
            ctx.set(dut.samples.valid, int(rng.random() < rate))
            await ctx.delay(1e-9)
            if ctx.get(dut.samples.valid) and ctx.get(dut.samples.ready):
                i += 1
            await ctx.tick()
        ctx.set(dut.samples.valid, 0)

    async def collect(ctx):
        while True:
            ready = int(rng.random() < rate)
            ctx.set(port.ready, ready)
            if hasattr(dut, "gains"):
                ctx.set(dut.gains.ready, 1)
            await ctx.delay(1e-9)
            if hasattr(dut, "gains") and ctx.get(dut.gains.valid):
                gains.append(ctx.get(dut.gains.payload))
            if ready and ctx.get(port.valid):
                take(ctx.get(port.payload))
            await ctx.tick()

    gains: list[int] = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(collect, background=True)
    sim.run_until((60 * len(stream) + 2000) * 1e-8)
    return gains


def framed(key):
    """A take() that groups transfers into windows (frames) at `last`: (take, the list of dicts key(payload) -> payload)."""
    frames: list[dict] = [{}]

    def take(p) -> None:
        k = key(p)
        assert k not in frames[-1]
        frames[-1][k] = p
        if p.last:
            frames.append({})

    return take, frames


@pytest.mark.parametrize("window, hop, rate", [(16, 8, 0.5), (64, 2, 0.7), (128, 128, 0.8), (8, 4, 1.0)])
def test_window_buffer_fft_and_split_are_bit_exact_under_backpressure(window, hop, rate):
    """Samples in, spectrum bins out, in Amaranth's simulator, with random valid and ready (rate 1: none)."""
    fe = small_front_end(window, hop)
    dut = samples_to_bins(fe)
    lo, hi = fe.sample_range
    rng = np.random.default_rng(window + hop)
    stream = np.concatenate([np.full(window, hi), np.tile([hi, lo], window // 2), np.full(window, lo), np.zeros(window, np.int64),
                             rng.integers(lo, hi + 1, 3 * window)])
    windows = frontend.frame(stream, window, hop)
    want_re, want_im = frontend.spectrum(fe, windows)
    take, got = framed(lambda b: b.bin)
    run_stream(dut, stream, rate, rng, dut.bins, take)
    got = got[:-1]
    assert len(got) == len(windows)
    bins = range(1, window // 2 + 1)
    for w, frame in enumerate(got):
        assert sorted(frame) == list(bins)  # every bin k = 1 .. M once, the last one flagged last
        assert [frame[k].re for k in bins] == want_re[w].tolist()
        assert [frame[k].im for k in bins] == want_im[w].tolist()


def test_a_stream_that_pauses_does_not_hold_the_previous_window_back():
    """At one sample per cycle a burst starts before its window is complete; when the stream then pauses, the burst is given
    up after M cycles, so the window before it still leaves the FFT within its latency, not when the stream resumes; the
    given-up window comes again, bit-exact, once its samples are in."""
    window, hop, pause = 64, 32, 3000
    fe = small_front_end(window, hop)
    fp = check_frontend(fe, "pipelined", "x")
    dut = samples_to_bins(fe)
    rng = np.random.default_rng(5)
    stream = rng.integers(*fe.sample_range, 6 * window)
    windows = frontend.frame(stream, window, hop)
    want_re, want_im = frontend.spectrum(fe, windows)
    stop = 3 * window + hop // 2 + 4  # mid-way through the new half of window 5: its burst has started
    sent: list[int] = []
    done: list[tuple[int, dict]] = []

    async def drive(ctx):
        cycle, i = 0, 0
        while i < len(stream):
            valid = not (stop <= i and cycle < stop + pause)
            ctx.set(dut.samples.payload, int(stream[i]))
            ctx.set(dut.samples.valid, int(valid))
            await ctx.delay(1e-9)
            if valid and ctx.get(dut.samples.ready):
                sent.append(cycle)
                i += 1
            await ctx.tick()
            cycle += 1
        ctx.set(dut.samples.valid, 0)

    async def collect(ctx):
        cycle, current = 0, {}
        ctx.set(dut.bins.ready, 1)
        while True:
            await ctx.delay(1e-9)
            if ctx.get(dut.bins.valid):
                b = ctx.get(dut.bins.payload)
                current[b.bin] = (b.re, b.im)
                if b.last:
                    done.append((cycle, current))
                    current = {}
            await ctx.tick()
            cycle += 1

    _simulate(dut, drive, collect, len(stream) + pause + 40 * window)
    assert len(done) == len(windows)
    for w, (_, bins) in enumerate(done):
        assert [bins[k] for k in range(1, window // 2 + 1)] == list(zip(want_re[w].tolist(), want_im[w].tolist()))
    before = (stop - window) // hop  # the last window complete before the pause
    last_sample = sent[before * hop + window - 1]
    bound = fp.points + fp.fft_delay + fp.split_tail() + fp.points  # its burst's lag, the FFT, the split, and the give-up budget
    assert done[before][0] - last_sample <= bound < pause
    assert done[before + 1][0] > sent[stop]  # the window the pause cut comes after the stream resumes


def check_magnitude_and_normalisation(fe: frontend.FrontEnd, fp, magnitude: type, normalise: type, n_random: int, cycles_per_bin: int) -> None:
    """Bins at the corners of their range (the most negative values too) and random ones, under random ready, through a
    magnitude and a normalisation component joined: every input at its address as the golden model's."""
    from amaranth import Module
    from amaranth.lib import wiring

    from faultedge.hdl.components.streams import features_signature
    from faultedge.hdl.frontend.streams import bins_signature

    class Tail(wiring.Component):
        def __init__(self) -> None:
            super().__init__({"bins": wiring.In(bins_signature(fe)), "features": wiring.Out(features_signature(fe.points, 8))})

        def elaborate(self, platform) -> Module:
            m = Module()
            m.submodules.mag, m.submodules.norm = mag, norm = magnitude(fp), normalise(fp, 8)
            wiring.connect(m, wiring.flipped(self.bins), mag.bins)
            wiring.connect(m, mag.mags, norm.mags)
            wiring.connect(m, norm.features, wiring.flipped(self.features))
            return m

    dut, pts = Tail(), fe.points
    top = 1 << (fe.spectrum_bits - 1)
    rng = np.random.default_rng(1)
    corners = [-top, -top + 1, -1, 0, 1, top - 1]
    re = np.array([a for a in corners for _ in corners] + rng.integers(-top, top, n_random).tolist())
    im = np.array([b for _ in corners for b in corners] + rng.integers(-top, top, n_random).tolist())
    k = (np.arange(len(re)) % pts) + 1
    feats = np.zeros((len(re), pts), np.int64)
    feats[np.arange(len(re)), pts - k] = isqrt(re * re + im * im)
    want = frontend.normalise(fe, feats)[np.arange(len(re)), pts - k]
    got: list[tuple[int, int]] = []

    async def drive(ctx):
        for i in range(len(re)):
            ctx.set(dut.bins.payload.bin, int(k[i]))
            ctx.set(dut.bins.payload.re, int(re[i]))
            ctx.set(dut.bins.payload.im, int(im[i]))
            ctx.set(dut.bins.valid, 1)
            await ctx.tick().until(dut.bins.ready)
        ctx.set(dut.bins.valid, 0)

    async def collect(ctx):
        while True:
            ready = int(rng.random() < 0.6)
            ctx.set(dut.features.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.features.valid):
                f = ctx.get(dut.features.payload)
                got.append((f.addr, f.value))
            await ctx.tick()

    _simulate(dut, drive, collect, cycles_per_bin * len(re) + 200)
    assert got == list(zip((pts - k).tolist(), want.tolist()))


def test_magnitude_and_normalisation_at_the_extremes():
    """The pipelined architecture's square root and normalisation (a bin per cycle)."""
    from faultedge.hdl.frontend.magnitude import Magnitude
    from faultedge.hdl.frontend.normalise import Normalise

    fe = small_front_end(64, 32)
    check_magnitude_and_normalisation(fe, check_frontend(fe, "pipelined", "x"), Magnitude, Normalise, 64, 10)


def test_cycle_model_of_the_student_sized_front_end():
    """Last sample -> engine input for a slow stream: the burst's start (3), the FFT (M - 1 + its delay), the split's lag (M/4 + 8),
    the square root (spectrum_bits + 4) and the normalisation (8). At one sample per cycle the burst starts M - 1 samples early,
    and at `pace` cycles a sample (M - 1) >> ceil(log2 pace) samples early, so it never waits for a sample."""
    fp = check_frontend(small_front_end(2048, 1024), "pipelined", "x")
    assert (fp.points, fp.fft_delay, fp.fe.spectrum_bits) == (1024, 1080, 19)
    assert fp.latency_to_features(2048) == 3 + (1023 + 1080) + (256 + 8) + (19 + 4) + 8 == 2401
    assert fp.latency_to_features() == 2401 - 1023 == 1378
    assert [fp.lead(pace) for pace in (1, 2, 3, 4, 5, 1023, 1024)] == [1023, 511, 255, 255, 127, 0, 0]
    assert all(fp.lead(pace) * pace <= fp.points - 1 for pace in range(1, 3000))
    assert check_frontend(small_front_end(2048, 1024), "iterative", "x").lead(1) == 0


def test_sample_in_accelerator_is_bit_and_cycle_exact_in_verilator():
    """The tiny network behind a 16-sample front end: paced windows (latency), full rate (cycles per hop), back-pressure."""
    from faultedge.sim.verify import verify_samples

    ir = tiny_sample_ir()
    fe = ir.frontend
    verilog, report = generate(ir, DesignPoint(lanes=2, frontend="pipelined"))
    assert report["frontend"]["cycle_model"] == frontend_model(check_frontend(fe, "pipelined", "x"), plan_1d(ir, 2)).to_dict()
    parts = tiny_parts(fe)
    r = verify_samples(ir, verilog, 2, "pipelined", parts, seed=3)
    assert r["bit_exact"] and r["mismatches"]["samples"] == 0, r["mismatches"]
    assert r["cycles"]["match"], r["cycles"]
    assert r["cycles"]["measured"]["latency_paced"] == [r["cycles"]["model"]["latency_paced"]]
    assert r["windows"]["full_rate_measured"] > 10 and r["windows"]["kinds"]["clipping (back-pressure)"] > 3

    check_a_changed_multiplier_is_caught(verilog, "pipelined", parts, 3)


def tiny_parts(fe: frontend.FrontEnd) -> list:
    """The sample streams the tiny sample-in designs are checked on: silence, full scale, random, and clipping and random
    samples under back-pressure."""
    from faultedge.sim.samples import Part, extremes

    rng = np.random.default_rng(0)
    ext = extremes(fe, 6, rng)
    return [Part("silent", ext["silent"]), Part("full-scale", ext["full-scale"]), Part("random", ext["random"]),
            Part("clipping", ext["clipping"], True), Part("random", rng.integers(-32767, 32768, 160), True)]


def check_a_changed_multiplier_is_caught(verilog: str, architecture: str, parts: list, feature: int) -> None:
    """The same RTL against a golden model whose front end zeroes one feature must disagree: the comparison is real."""
    from faultedge.sim.verify import verify_samples

    wrong = tiny_sample_ir()
    mult = wrong.frontend.multiplier.copy()
    mult[feature] = 0
    wrong = dataclasses.replace(wrong, frontend=dataclasses.replace(wrong.frontend, multiplier=mult))
    bad = verify_samples(wrong, verilog, 2, architecture, parts, seed=3)
    assert not bad["bit_exact"] and bad["mismatches"]["samples"] > 0


def test_sample_in_verilog_is_deterministic_and_the_knob_refuses_what_it_cannot_build():
    ir = tiny_sample_ir()
    design = DesignPoint(lanes=2, frontend="pipelined")
    assert generate(ir, design)[0] == generate(tiny_sample_ir(), design)[0]
    with pytest.raises(IRError, match=r"the IR has no front end .* run `faultedge quantize RUN` first"):
        generate(IRModel.from_json(tiny_ir_json()), design)
    with pytest.raises(IRError, match="frontend.hop: 5 is odd"):
        generate(dataclasses.replace(ir, frontend=small_front_end(16, 5)), design)
    with pytest.raises(IRError, match="beat 2: a sample-in accelerator takes one sample per transfer"):
        generate(ir, dataclasses.replace(design, beat=2))
    with pytest.raises(IRError, match="the image engine takes features only"):
        generate(ir, dataclasses.replace(design, engine="image"))


def test_hdl_command_without_a_front_end_names_the_command(tmp_path, capsys):
    IRModel.from_json(tiny_ir_json()).save(tmp_path / "model.ir.json")
    assert main(["hdl", str(tmp_path), "--lanes", "2", "--frontend", "pipelined"]) == 2
    assert f"run `faultedge quantize {tmp_path}` first" in capsys.readouterr().err
    assert not (tmp_path / "hdl").exists()


@pytest.mark.slow
def test_student_sample_in_on_real_cwru_recordings(edge_run, tmp_path, capsys):
    """`faultedge hdl --frontend pipelined` then `faultedge sim`: the run's real CWRU test records (noise-free and at -6 dB),
    silence, full scale, clipping, random samples and back-pressure, every window bit-exact, cycles as modelled."""
    for name in ("config.json", "model.ir.json", "golden_vectors.npz", "preprocessing.json"):
        shutil.copy(edge_run[0] / name, tmp_path / name)
    assert IRModel.load(tmp_path / "model.ir.json").frontend is not None
    assert main(["hdl", str(tmp_path), "--lanes", "64", "--frontend", "pipelined"]) == 0  # its preprocessing.json matches
    design = json.loads((tmp_path / "hdl" / "design.json").read_text())
    assert design["frontend"] == "pipelined" and design["beat"] == 1
    assert (tmp_path / "hdl" / "faultedge_frontend.v").exists()
    assert main(["sim", str(tmp_path), "--windows", "40", "--quiet"]) == 0
    r = json.loads((tmp_path / "sim" / "report.json").read_text())
    assert r["bit_exact"] and r["mismatches"]["samples"] == 0 and r["cycles"]["match"]
    kinds = r["windows"]["kinds"]
    assert {"silent", "full-scale", "clipping", "recording", "recording -6 dB (back-pressure)", "clipping (back-pressure)"} <= set(kinds)
    assert r["windows"]["total"] >= 40
    model = r["cycles"]["model"]
    assert model["cycles_per_hop"] == 1024 and r["cycles"]["measured"]["cycles_per_hop"] == [1024]  # one sample a cycle at hop 1024
    assert "0 mismatched windows" in capsys.readouterr().out


def test_a_preprocessing_json_that_is_not_the_irs_front_end_is_refused(edge_run, tmp_path, capsys):
    """A run retrained after `faultedge quantize`: the float features and the chip's would differ, so no sample-in design."""
    for name in ("config.json", "model.ir.json", "golden_vectors.npz"):
        shutil.copy(edge_run[0] / name, tmp_path / name)
    prep = json.loads((edge_run[0] / "preprocessing.json").read_text())
    prep["std"][5] *= 1.5
    (tmp_path / "preprocessing.json").write_text(json.dumps(prep))
    assert main(["hdl", str(tmp_path), "--lanes", "8", "--frontend", "pipelined"]) != 0
    err = capsys.readouterr().err
    assert "other multipliers than the IR's front end (1 of 1024 bins, first feature 5)" in err and "faultedge quantize" in err
    assert not (tmp_path / "hdl").exists()
