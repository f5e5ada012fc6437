"""The iterative in-memory FFT (faultedge.hdl.frontend.iterative) in Verilator: every bin of every window equals
frontend.split(fe, *frontend.fft_points(fe, ...)) bit for bit, on real CWRU windows, full-scale, silent,
alternating and random ones, with and without random valid/ready back-pressure; the cycles per window equal
the formula in iterative_cycles."""

from __future__ import annotations

import numpy as np
import pytest
from test_architecture import _loaded_by

from faultedge.data.features import Preprocessing
from faultedge.errors import IRError
from faultedge.hdl.frontend.iterative import IterativeFFT, check_memory, quarter_cosines
from faultedge.hdl.frontend.iterative_cycles import BUTTERFLY, RESULT, Mac, compile_program, window_cycles
from faultedge.hdl.frontend.iterative_tb import simulate, simulation_verilog, spectra
from faultedge.ir import frontend


def windows_of(recordings, window: int, sample_bits: int, twiddle_bits: int, count: int, seed: int) -> tuple[frontend.FrontEnd, np.ndarray]:
    """A front end fitted to real CWRU windows (full scale at the recordings' peak), then `count` of those windows
    (the loudest first) and the extremes: all max, all min, alternating max/min, silence, full-range random."""
    framed = np.concatenate([frontend.frame(r.signal, window, window) for r in recordings])
    prep = Preprocessing.fit(framed[::7], window)
    lsb = frontend.full_scale_lsb(float(np.abs(framed).max()), sample_bits)
    fe = frontend.fit(prep.mean, prep.std, -4, (-128, 127), sample_bits, lsb, window, min(256, window), frontend.default_shifts(window, sample_bits), twiddle_bits)
    rng = np.random.default_rng(seed)
    real = frontend.quantize_samples(fe, framed[[int(np.abs(framed).max(axis=1).argmax()), *rng.choice(len(framed), count - 1, replace=False)]])
    lo, hi = fe.sample_range
    extremes = [np.full(window, hi), np.full(window, lo), np.tile([hi, lo], window // 2), np.zeros(window, np.int64), rng.integers(lo, hi + 1, window)]
    return fe, np.concatenate([real, np.stack(extremes)])


def check_bins(fe: frontend.FrontEnd, windows: np.ndarray, results: dict) -> None:
    re, im = spectra(results, fe.points)
    want_re, want_im = frontend.split(fe, *frontend.fft_points(fe, windows[:, 0::2], windows[:, 1::2]))
    for w in range(len(windows)):
        bad = np.flatnonzero((re[w] != want_re[w]) | (im[w] != want_im[w]))
        assert bad.size == 0, f"window {w}: bins {bad[:8] + 1} give {re[w, bad[:8]]} + i {im[w, bad[:8]]}, want {want_re[w, bad[:8]]} + i {want_im[w, bad[:8]]}"


def check_cycles(fe: frontend.FrontEnd, backpressure: list[bool], results: dict) -> None:
    """Without back-pressure a window takes the formula's cycles from its last pair to its last bin, and back to
    back windows start `period` cycles apart."""
    model = window_cycles(fe.points)
    first, last, done = (np.array(results[k]) for k in ("first_pair", "last_pair", "last_bin"))
    free = ~np.array(backpressure)
    assert (done - last)[free].tolist() == [model.latency] * int(free.sum())
    both = free[:-1] & free[1:]
    assert both.any() and np.diff(first)[both].tolist() == [model.period] * int(both.sum())


@pytest.fixture(scope="module")
def full_window(cwru_0hp):
    """The deployed front end: 2,048 samples of 16 bits, the default shift schedule, SPRAM."""
    fe, windows = windows_of(cwru_0hp, 2048, 16, 16, count=2, seed=0)
    backpressure = [False, False, True, False, True, False, True]
    return fe, windows, backpressure, simulate(IterativeFFT(fe, "spram"), windows, backpressure, seed=1)


@pytest.fixture(scope="module")
def small_window(cwru_0hp):
    """64 samples of 12 bits (the values grow from 13 to 17 bits over the stages), 12-bit twiddles, block RAM."""
    fe, windows = windows_of(cwru_0hp, 64, 12, 12, count=6, seed=2)
    backpressure = [False, False, True, False, True, True, False, False, True, False, True]
    return fe, windows, backpressure, simulate(IterativeFFT(fe, "bram"), windows, backpressure, seed=3)


def test_a_full_2048_sample_window_gives_the_golden_spectrum(full_window):
    fe, windows, _, results = full_window
    assert fe.widths == (17,) * 11 and fe.spectrum_bits == 19
    check_bins(fe, windows, results)


def test_a_small_window_with_growing_widths_gives_the_golden_spectrum(small_window):
    fe, windows, _, results = small_window
    assert fe.widths == (13, 14, 15, 16, 17, 17)
    check_bins(fe, windows, results)


@pytest.mark.parametrize("run", ["full_window", "small_window"])
def test_cycles_per_window_equal_the_formula(run, request):
    fe, _, backpressure, results = request.getfixturevalue(run)
    check_cycles(fe, backpressure, results)


def test_the_formula_for_the_deployed_window():
    """2,048 samples: 107,520 cycles per window, 4.2 ms at 25.5 MHz against 21.3 ms between windows at hop 256, 12 kHz."""
    c = window_cycles(1024)
    assert (c.load, c.fft, c.split) == (2048, 10 * 512 * 17, 1024 * 18) and c.period == 107_520


@pytest.mark.parametrize("window", [8, 64, 2048, 16384])
@pytest.mark.parametrize("twiddle_bits", [4, 12, 16, 18])
def test_every_golden_twiddle_comes_from_the_quarter_wave_rom(window, twiddle_bits):
    fe = frontend.fit(np.zeros(window // 2), np.ones(window // 2), -4, (-128, 127), 16, 2.0**-10, window, window // 2,
                      frontend.default_shifts(window), twiddle_bits)
    rom = quarter_cosines(fe)  # raises if a twiddle of an FFT stage or of the split does not follow from it
    assert len(rom) == window // 4 and rom[0] == 2 ** (twiddle_bits - 2) and rom.min() >= 0


def test_the_schedule_refuses_a_port_conflict_and_an_early_register_read():
    with pytest.raises(ValueError, match="would read and write"):
        compile_program((Mac("a.re", "unit", result="a.re"), *(Mac("b.re", "unit") for _ in range(RESULT))))
    with pytest.raises(ValueError, match="register d.re is read before its sum is written"):
        compile_program((Mac("a.re", "unit", result="d.re"), Mac("d.re", "tw.re", result="b.re")))
    assert len(compile_program(BUTTERFLY)) == len(BUTTERFLY) + RESULT == 17


def test_the_component_refuses_what_it_cannot_build():
    fe = frontend.fit(np.zeros(16384), np.ones(16384), -4, (-128, 127), 16, 2.0**-10, 32768, 256, frontend.default_shifts(32768), 16)
    with pytest.raises(IRError, match="32768 samples need 32768 words, more than one SPRAM's 16384"):
        check_memory(fe, "spram")
    with pytest.raises(ValueError, match="memory: 'dram' is not one of spram, bram"):
        check_memory(fe, "dram")
    check_memory(fe, "bram")


def test_the_cycle_formula_loads_no_amaranth():
    assert _loaded_by("import faultedge.hdl.frontend.iterative_cycles") == []


def test_the_verilog_is_the_same_in_another_process():
    """Deterministic Verilog: a fresh interpreter (another hash seed) writes the same bytes."""
    import hashlib
    import subprocess
    import sys

    code = ("import hashlib, numpy as np; from faultedge.ir import frontend; from faultedge.hdl.frontend.iterative import IterativeFFT; "
            "from faultedge.hdl.frontend.iterative_tb import simulation_verilog; "
            "fe = frontend.fit(np.zeros(16), np.ones(16), -4, (-128, 127), 16, 2.0**-10, 32, 16, frontend.default_shifts(32), 16); "
            "print(hashlib.sha256(simulation_verilog(IterativeFFT(fe)).encode()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    fe = frontend.fit(np.zeros(16), np.ones(16), -4, (-128, 127), 16, 2.0**-10, 32, 16, frontend.default_shifts(32), 16)
    assert hashlib.sha256(simulation_verilog(IterativeFFT(fe)).encode()).hexdigest() == other
