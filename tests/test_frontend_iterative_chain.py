"""The iterative front end as a chain (faultedge.hdl.frontend.chain, architecture "iterative"): the SPRAM window
ring, the iterative FFT, the serial magnitude and normalisation, bit-exact against faultedge.ir.frontend in
Amaranth's simulator (block RAM in place of SPRAM, which it cannot run) with its cycle model checked; the serial
parts at their extremes; the sample-in accelerator behind it in Verilator (SPRAM with yosys's model) against
golden.predict_samples, latency and cycles per hop equal to the cycle model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_frontend_envelope_hdl import envelope_front_end
from test_frontend_hdl import check_a_changed_multiplier_is_caught, check_magnitude_and_normalisation, small_front_end, tiny_parts, tiny_sample_ir

from faultedge.errors import IRError
from faultedge.hdl.artifacts import generate
from faultedge.hdl.cycles import frontend_model
from faultedge.hdl.design import DesignPoint
from faultedge.hdl.frontend.iterative_cycles import window_cycles
from faultedge.hdl.frontend.plan import check_frontend, pieces, product_terms, square_terms
from faultedge.hdl.plan import plan_1d
from faultedge.ir import frontend


def _stream(fe: frontend.FrontEnd, rng: np.random.Generator) -> np.ndarray:
    """Extremes then random samples: all max, alternating max/min, all min, silence, full range, quiet (several envelope gains)."""
    n = fe.window
    lo, hi = fe.sample_range
    return np.concatenate([np.full(n, hi), np.tile([hi, lo], n // 2), np.full(n, lo), np.zeros(n, np.int64), rng.integers(lo, hi + 1, 2 * n),
                           rng.integers(-40, 41, n), rng.integers(-3000, 3001, n)])


@pytest.mark.parametrize("features, window, hop, rate, pace", [("fft", 16, 8, 1.0, 1), ("fft", 16, 4, 0.6, 1), ("fft", 32, 32, 1.0, 0),
                                                               ("fft+envelope", 16, 8, 1.0, 1), ("fft+envelope", 16, 4, 0.6, 1),
                                                               ("fft+envelope", 32, 16, 1.0, 0)])
def test_iterative_chain_is_bit_exact_and_its_cycles_are_the_models(features, window, hop, rate, pace):
    """Samples in, the network's inputs out, at full rate (rate 1: results every fft_period cycles), under random
    valid/ready (rate < 1), or paced so that each window finds the chain idle (pace 0: its latency is the model's).
    fft+envelope: each window read twice, squared the second time, the feature blocks, the gains FIFO."""
    from amaranth.sim import Simulator

    from faultedge.hdl.frontend.chain import FrontEndChain

    fe = small_front_end(window, hop) if features == "fft" else envelope_front_end(window, hop)
    fp = check_frontend(fe, "iterative", "x", memory="bram")
    pace = pace or -(-fp.busy_after_window() // hop) + 1
    dut = FrontEndChain(fp, 8)
    rng = np.random.default_rng(window + hop)
    stream = _stream(fe, rng)
    windows = frontend.frame(stream, window, hop)
    want = frontend.inputs(fe, windows)
    got: list[dict] = []
    taken, done, cycle = [], [], [0]

    async def count(ctx):
        while True:
            await ctx.tick()
            cycle[0] += 1

    async def drive(ctx):
        i = 0
        while i < len(stream):
            offer = cycle[0] % pace == 0 and rng.random() < rate
            ctx.set(dut.samples.payload, int(stream[i]))
            ctx.set(dut.samples.valid, int(offer))
            await ctx.delay(1e-9)
            if offer and ctx.get(dut.samples.ready):
                taken.append(cycle[0])
                i += 1
            await ctx.tick()
        ctx.set(dut.samples.valid, 0)

    async def collect(ctx):
        current: dict = {}
        while len(got) < len(windows):
            ready = int(rng.random() < rate)
            ctx.set(dut.features.ready, ready)
            await ctx.delay(1e-9)
            if ready and ctx.get(dut.features.valid):
                f = ctx.get(dut.features.payload)
                assert f.addr not in current
                current[f.addr] = f.value
                if f.last:
                    got.append(current)
                    done.append(cycle[0])
                    current = {}
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(count, background=True)
    sim.add_testbench(drive, background=True)
    sim.add_testbench(collect)
    sim.run_until((pace * len(stream) + int(len(windows) * fp.fft_period() / rate ** 2) + 20 * window) * 1e-8)
    assert len(got) == len(windows)
    for w, inputs in enumerate(got):
        assert [inputs.get(a) for a in range(fe.points)] == want[w].tolist(), f"window {w}"
    ends = np.array(taken)[np.arange(len(windows)) * hop + window - 1]
    if pace > 1:  # each window finds the chain idle: last sample -> last input, as modelled
        assert (np.array(done) - ends).tolist() == [fp.latency_to_features()] * len(windows)
    elif rate == 1:  # the ring keeps the FFT fed: one window per fft_period
        assert np.diff(done)[2:].tolist() == [fp.fft_period()] * (len(windows) - 3)


def test_serial_magnitude_and_normalisation_at_the_extremes():
    """The iterative architecture's serial square root and normalisation (one shared multiplier each)."""
    from faultedge.hdl.frontend.magnitude_seq import SerialMagnitude
    from faultedge.hdl.frontend.normalise_seq import SerialNormalise

    fe = small_front_end(64, 32, seed=2)
    fp = check_frontend(fe, "iterative", "x", memory="bram")
    check_magnitude_and_normalisation(fe, fp, SerialMagnitude, SerialNormalise, 24, 60)


def test_the_cycle_model_of_the_deployed_iterative_front_end():
    """2,048 samples: the ring's first pair (4), the load (a pair every 2 cycles), the FFT and split (105,472), the serial magnitude
    (6 products of 10 x 10 bits, drain 2, 10 root steps, 2) and normalisation (4 products, drain 2, 7); one window per 107,520 cycles."""
    fe = small_front_end(2048, 256)
    fp = check_frontend(fe, "iterative", "x")
    assert (fe.spectrum_bits, pieces(19), len(square_terms(19))) == (19, [(0, 10), (10, 9)], 3)
    assert fp.difference_bits == 21 and fp.normalise_terms == product_terms(21, 17) and len(fp.normalise_terms) == 4
    assert window_cycles(1024).latency == 105_472 and fp.fft_period() == 107_520
    assert fp.magnitude_depth == 6 + 2 + 10 + 2 and fp.normalise_depth == 4 + 2 + 7
    assert fp.latency_to_features() == 4 + 2 * 1023 + 105_472 + 20 + 13 == 107_555
    # at hop 256 the FFT sets the pace: 256 samples per 107,520 cycles
    assert frontend_model(fp, plan_1d(tiny_sample_ir(), 2)).cycles_per_hop == 107_520
    for width in (1, 16, 17, 19, 32, 33):  # the pieces cover the operand, each fits one SB_MAC16
        ps = pieces(width)
        assert sum(b for _, b in ps) == width and all(b <= 16 for _, b in ps) and [lo for lo, _ in ps] == list(np.cumsum([0] + [b for _, b in ps[:-1]]))
    x = (1 << 19) - 1
    assert sum(((x >> pieces(19)[i][0]) & ((1 << pieces(19)[i][1]) - 1)) * ((x >> pieces(19)[j][0]) & ((1 << pieces(19)[j][1]) - 1)) << s
               for i, j, s in square_terms(19)) == x * x


@pytest.mark.parametrize("features", ["fft", "fft+envelope"])
def test_iterative_sample_in_accelerator_is_bit_and_cycle_exact_in_verilator(features):
    """The tiny network behind a 16-sample iterative front end, SPRAM simulated with yosys's model: paced windows (latency),
    full rate (cycles per hop: the FFT's period), back-pressure; and a changed IR is caught (feature 5: an envelope one)."""
    from faultedge.sim.verify import verify_samples

    ir = tiny_sample_ir() if features == "fft" else dataclasses.replace(tiny_sample_ir(), frontend=envelope_front_end(16, 8))
    fe = ir.frontend
    verilog, report = generate(ir, DesignPoint(lanes=2, frontend="iterative"))
    fp = check_frontend(fe, "iterative", "x")
    assert "SB_SPRAM256KA" in verilog and report["frontend"]["architecture"] == "iterative"
    assert report["frontend"]["cycle_model"] == frontend_model(fp, plan_1d(ir, 2)).to_dict()
    parts = tiny_parts(fe)
    r = verify_samples(ir, verilog, 2, "iterative", parts, seed=3)
    assert r["bit_exact"] and r["mismatches"]["samples"] == 0, r["mismatches"]
    assert r["cycles"]["match"], r["cycles"]
    model = report["frontend"]["cycle_model"]
    assert r["cycles"]["measured"]["latency_paced"] == [model["latency_last_sample"]] == [model["latency_slow_stream"]]
    assert r["cycles"]["measured"]["cycles_per_hop"] == [model["cycles_per_hop"]] == [fp.fft_period()]
    assert r["windows"]["full_rate_measured"] > 5 and r["windows"]["kinds"]["clipping (back-pressure)"] > 3

    check_a_changed_multiplier_is_caught(verilog, "iterative", parts, 5)


def test_the_iterative_knob_refuses_what_it_cannot_build():
    ir = tiny_sample_ir()
    design = DesignPoint(lanes=2, frontend="iterative")
    assert generate(ir, design)[0] == generate(tiny_sample_ir(), design)[0]
    with pytest.raises(IRError, match=r"frontend.window: 32768 samples is more than the iterative front end's window buffer holds"):
        check_frontend(small_front_end(32768, 1024), "iterative", "x")
    with pytest.raises(IRError, match="frontend.hop: 5 is odd"):
        generate(dataclasses.replace(ir, frontend=small_front_end(16, 5)), design)


def test_an_iterative_front_end_for_a_board_without_spram_is_refused(tmp_path, capsys):
    """Its memories are iCE40 SPRAM: `faultedge hdl` for an ECP5 board says so and writes nothing; for the UP5K it builds."""
    from faultedge.cli import main

    tiny_sample_ir().save(tmp_path / "model.ir.json")
    assert main(["hdl", str(tmp_path), "--lanes", "2", "--frontend", "iterative"]) == 2  # the default board, ulx3s-85f
    assert "board ulx3s-85f (ecp5): the iterative front end's memories are iCE40 SPRAM blocks" in capsys.readouterr().err
    assert not (tmp_path / "hdl").exists()
    assert main(["hdl", str(tmp_path), "--lanes", "2", "--frontend", "iterative", "--board", "icebreaker"]) == 0
