"""The SPI ADC reader (faultedge.fpga.spi_adc) and the board tops that take samples, in Verilator under
cocotb: the four SPI modes on bare readers against a converter model, the SPI board top (ADC -> the tiny
sample-in accelerator -> UART replies), and the UART board top in its sample-streaming mode (raw samples
in over uart_rx, a reply per hop on uart_tx), both compared with the golden model. One design holds them
all and one simulation runs them side by side (a Verilator build and a simulator start cost more than
the simulation itself); each test checks its part of the record.

The converter model is ours (`Converter`): cocotbext-spi 0.5.0 imports cocotb.clock.BaseClock, which
cocotb 2.x no longer has. This module is also the cocotb test module (`adc_bench`); its job comes in a
JSON file named by $FAULTEDGE_ADC_JOB, its record goes back as JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from faultedge.fpga.protocol import Protocol
from faultedge.fpga.spi_adc import RATE_TOLERANCE, AdcError, AdcSettings
from faultedge.fpga.top import POR_CYCLES

JOB_ENV = "FAULTEDGE_ADC_JOB"
MARGIN_NS = 2  # the model's MISO holds a bit from this long before the master's reading edge is due until this long after it


# ---- the cocotb side: a converter model, a stream sink, a UART receiver ---------------------------


class Converter:
    """A read-only SPI converter. Each time CS goes active it converts the next code and shifts out
    `lead` junk bits, then the code's `width` bits MSB first, each one driven `t_do` after its launching
    SCLK edge (CPHA 0: CS and the trailing edges; CPHA 1: the leading edges) and replaced by its
    complement MARGIN_NS after the reading edge, so a master that reads on the wrong edge, or a cycle
    early or late, reads garbage. It checks the master: SCLK at its CPOL idle level whenever CS
    changes, exactly 2 (lead + width) SCLK edges per frame, no SCLK half period (nor CS to the first
    edge) shorter than `half_ns`, CS activations 1 / rate apart within RATE_TOLERANCE. The first
    violation ends the model with a message in `errors`."""

    def __init__(self, sclk, cs, miso, job: dict, rng: np.random.Generator) -> None:
        self.sclk, self.cs, self.miso = sclk, cs, miso
        self.mode, self.lead, self.width = job["mode"], job["lead"], job["width"]
        self.cpol, self.cpha, self.active = self.mode >> 1, self.mode & 1, 0 if job["cs_active_low"] else 1
        self.rate, self.half_ns = job["rate_hz"], job["half_ns"]
        self.t_do = self.half_ns - MARGIN_NS
        self.words, self.rng = job["words"], rng
        self.errors: list[str] = []
        self.starts: list[float] = []  # CS activations (ns)
        self.shortest_half = float("inf")

    async def run(self) -> None:
        for word in self.words:
            if not await self._frame(word):
                return

    def _fail(self, message: str) -> bool:
        self.errors.append(f"frame {len(self.starts)}: {message}")
        return False

    async def _drive(self, bit: int, delay: float) -> None:
        await Timer(delay, unit="ns")
        self.miso.value = bit

    async def _frame(self, word: int) -> bool:
        await (RisingEdge(self.cs) if self.active else FallingEdge(self.cs))
        now = get_sim_time(unit="ns")
        if self.starts:
            rate = 1e9 / (now - self.starts[-1])
            if abs(rate - self.rate) / self.rate > RATE_TOLERANCE:
                return self._fail(f"CS came {now - self.starts[-1]:g} ns after the last one: {rate:g} samples/s, not {self.rate:g}")
        self.starts.append(now)
        if int(self.sclk.value) != self.cpol:
            return self._fail("SCLK not at its idle level (CPOL) when CS went active")
        n = self.lead + self.width
        bits = [int(b) for b in self.rng.integers(0, 2, self.lead)] + [(word >> (self.width - 1 - k)) & 1 for k in range(self.width)]
        if not self.cpha:
            cocotb.start_soon(self._drive(bits[0], self.t_do))
        last = now
        for k in range(n):
            for trailing in (0, 1):
                sclk_edge, cs_edge = self.sclk.value_change, self.cs.value_change
                if await First(sclk_edge, cs_edge) is cs_edge:
                    return self._fail(f"CS went inactive after {k} of {n} bits")
                t = get_sim_time(unit="ns")
                self.shortest_half = min(self.shortest_half, t - last)
                if t - last < self.half_ns:
                    return self._fail(f"an SCLK half period of {t - last:g} ns, shorter than {self.half_ns:g} ns")
                last = t
                if int(self.sclk.value) != (self.cpol if trailing else 1 - self.cpol):
                    return self._fail("SCLK edge in the wrong direction")
                if trailing == self.cpha:  # the reading edge: the bit's hold time ends
                    cocotb.start_soon(self._drive(1 - bits[k], MARGIN_NS))
                if self.cpha and not trailing:
                    cocotb.start_soon(self._drive(bits[k], self.t_do))
                elif not self.cpha and trailing and k + 1 < n:
                    cocotb.start_soon(self._drive(bits[k + 1], self.t_do))
        sclk_edge, cs_edge = self.sclk.value_change, self.cs.value_change
        if await First(sclk_edge, cs_edge) is sclk_edge:
            return self._fail(f"an SCLK edge beyond the frame's {2 * n}")
        if int(self.sclk.value) != self.cpol:
            return self._fail("SCLK not at its idle level (CPOL) when CS went inactive")
        return True


async def _sink(dut, mode: int, stall_after: int, stall_cycles: int, rec: dict) -> None:
    """Takes every sample on `samples`, except for `stall_cycles` cycles (ready low) after the first `stall_after`."""
    valid, ready, payload = (getattr(dut, f"{name}{mode}") for name in ("valid", "ready", "payload"))
    stalled = 0
    while True:
        await FallingEdge(dut.clk_in)  # ready set here holds at the next rising edge, where a transfer happens
        if len(rec["samples"]) >= stall_after and stalled < stall_cycles:
            stalled += 1
            ready.value = 0
            continue
        ready.value = 1
        if int(valid.value):
            rec["samples"].append(payload.value.to_signed())


async def _reader(dut, mode: int, model: Converter, job: dict, rec: dict) -> None:
    """A bare reader against its converter, its stream into a stalling sink, until the converter's last frame."""
    sink = cocotb.start_soon(_sink(dut, mode, job["stall_after"], job["stall_cycles"], rec))
    await model.run()
    await Timer(3 * PERIOD_NS, unit="ns")  # the last sample onto the stream
    sink.cancel()
    rec["overruns"] = int(getattr(dut, f"overruns{mode}").value)


async def _top(dut, model: Converter, job: dict, rec: dict) -> None:
    """The board top against its converter, its replies read off uart_tx until the last window's."""
    received: list[int] = []
    rx = cocotb.start_soon(_uart_rx(dut.uart_tx, job["bit_ns"], received))
    await model.run()
    for _ in range(200):
        if len(received) >= job["reply_bytes"]:
            break
        await Timer(job["bit_ns"] * 10, unit="ns")
    rx.cancel()
    rec.update(bytes=received, led=int(dut.led.value))


async def _uart_top(dut, job: dict, rec: dict) -> None:
    """The UART board top: the host's bytes (0xA5, then raw samples) sent on u_uart_rx, its replies read off u_uart_tx."""
    received: list[int] = []
    rx = cocotb.start_soon(_uart_rx(dut.u_uart_tx, job["bit_ns"], received))
    await Timer(job["start_ns"], unit="ns")  # the top's power-on reset
    for byte in job["bytes"]:
        for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:  # 8N1: start, LSB first, stop
            dut.u_uart_rx.value = bit
            await Timer(job["bit_ns"], unit="ns")
    for _ in range(200):
        if len(received) >= job["reply_bytes"]:
            break
        await Timer(job["bit_ns"] * 10, unit="ns")
    rx.cancel()
    rec.update(bytes=received, led=int(dut.u_led.value))


async def _uart_rx(line, bit_ns: float, out: list[int]) -> None:
    """8N1 bytes from `line`, each read in the middle of its bits."""
    while True:
        await FallingEdge(line)
        await Timer(bit_ns * 1.5, unit="ns")
        value = 0
        for i in range(8):
            value |= int(line.value) << i
            await Timer(bit_ns, unit="ns")
        out.append(value)


@cocotb.test()
async def adc_bench(dut) -> None:
    job = json.loads(Path(os.environ[JOB_ENV]).read_text())
    cocotb.start_soon(Clock(dut.clk_in, PERIOD_NS, unit="ns").start())
    dut.bench_rst.value = 1
    dut.u_uart_rx.value = 1  # the UART top's line idles high
    await Timer(3 * PERIOD_NS, unit="ns")
    dut.bench_rst.value = 0
    models, record, tasks = {}, {}, []
    for i, (mode, j) in enumerate(job["readers"].items()):
        models[mode] = Converter(getattr(dut, f"sclk{mode}"), getattr(dut, f"cs{mode}"), getattr(dut, f"miso{mode}"), j,
                                 np.random.default_rng([job["seed"], i]))
        record[mode] = {"samples": []}
        tasks.append(cocotb.start_soon(_reader(dut, int(mode), models[mode], j, record[mode])))
    top = job["top"]  # the board top: its own power-on reset, replies on uart_tx
    models["top"] = Converter(dut.adc_sclk, dut.adc_cs, dut.adc_miso, top, np.random.default_rng([job["seed"], len(models)]))
    record["top"] = {"bytes": []}
    tasks.append(cocotb.start_soon(_top(dut, models["top"], top, record["top"])))
    record["uart_top"] = {}
    tasks.append(cocotb.start_soon(_uart_top(dut, job["uart_top"], record["uart_top"])))
    for task in tasks:
        await task
    for key, model in models.items():  # the converters' checks (the UART top has none)
        record[key].update(errors=model.errors, frames=len(model.starts), starts=model.starts, shortest_half_ns=model.shortest_half)
    Path(job["record"]).write_text(json.dumps(record))


# ---- the pytest side ---------------------------------------------------------------------------------

BOARD = "ulx3s-85f"
PERIOD_NS = 40  # its 25 MHz board clock drives the core (no PLL), the top's and the bare readers'
BAUD = 3_125_000  # 8 cycles per bit: the tiny network's reply per hop of 8 samples keeps up
TOP_ADC = AdcSettings(100e3, width=16, mode=2, lead=2, sclk_hz=5e6)
# SPI mode -> (settings, the stream's sample bits, overrun counter bits) of the bare readers
MODES = {
    0: (AdcSettings(250e3, width=12, mode=0, lead=4, coding="offset", sclk_hz=6.25e6), 16, 16),  # 4 leading zeros, straight binary: AD7476-like
    1: (AdcSettings(125e3, width=16, mode=1, cs_active_low=False, sclk_hz=2.5e6), 16, 2),  # the counter saturates at 3
    2: (AdcSettings(100e3, width=18, mode=2, lead=1, sclk_hz=3e6), 16, 16),  # wider than the stream: the low bits go
    3: (AdcSettings(125e3, width=24, mode=3, lead=2, coding="offset", sclk_hz=5e6), 24, 16),
}
N_SAMPLES = 40
TOP_SAMPLES = 48  # 5 windows of 16 at hop 8
UART_SAMPLES = 56  # 6 windows of 16 at hop 8, the UART top's stream
STALL_AFTER, STALL_PERIODS = 12, 6  # the sink stops taking samples for 6 sample periods after the 12th


def _sample(code: int, width: int, bits: int) -> int:
    """What the reader should make of a converter code (two's complement, `width` bits): see SpiAdc."""
    v = code << (bits - width) if bits >= width else code >> (width - bits)
    return max(v, -(1 << (bits - 1)) + 1)


def _word(code: int, s: AdcSettings) -> int:
    """The bits on the wire for a code."""
    return code + (1 << (s.width - 1)) if s.coding == "offset" else code & ((1 << s.width) - 1)


def _codes(width: int, n: int, rng: np.random.Generator) -> list[int]:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return [lo, hi, 0, -1, 1, lo + 1] + rng.integers(lo, hi + 1, n - 6).tolist()


def _simulate(verilog: str, job: dict, tmp_path: Path, toplevel: str = "spi_bench") -> dict:
    """Build (cached by content, faultedge.sim.runner) and run `adc_bench` on `job`; the bench's record."""
    from cocotb_tools.runner import get_results, get_runner

    from faultedge.sim.runner import build

    b = build(verilog, toplevel)
    job = {**job, "record": str(tmp_path / "record.json")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    pytest_name = os.environ.pop("PYTEST_CURRENT_TEST", None)  # the record is checked here, not by cocotb's pytest hook
    try:
        get_runner("verilator").test(test_module="test_spi_adc", hdl_toplevel=toplevel, hdl_toplevel_lang="verilog", build_dir=b.directory,
                                     test_dir=tmp_path, extra_env={JOB_ENV: str(tmp_path / "job.json")}, results_xml=str(tmp_path / "results.xml"),
                                     log_file=tmp_path / "sim.log")
    finally:
        if pytest_name is not None:
            os.environ["PYTEST_CURRENT_TEST"] = pytest_name
    assert not get_results(tmp_path / "results.xml")[1], (tmp_path / "sim.log").read_text()[-3000:]
    return json.loads((tmp_path / "record.json").read_text())


def _tiny_accelerator():
    from test_frontend_hdl import tiny_sample_ir

    from faultedge.hdl.engines import engine
    from faultedge.hdl.frontend.plan import check_frontend

    ir = tiny_sample_ir()
    mac = engine("mac1d")
    return ir, mac.build_sample_in(mac.planner(ir, 2, 1), check_frontend(ir.frontend, "pipelined", "x"))


def _bench_verilog() -> tuple[str, Protocol]:
    """The SPI board top beside the UART board top (samples over the UART) and one bare reader per SPI mode, on the
    same clock, so that one Verilator build serves every test here: the SPI top's ports as they are, the UART top's
    with a `u_` prefix, the readers' flat and named by their mode, with their own reset (`bench_rst`)."""
    from amaranth.back import verilog
    from amaranth.hdl import ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal, signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from faultedge.fpga.board import load_fpga_board
    from faultedge.fpga.clocks import plan_clock
    from faultedge.fpga.spi_adc import SpiAdc
    from faultedge.fpga.top import BoardTop

    board = load_fpga_board(BOARD)
    clock = plan_clock(board.family, board.clock_mhz, board.clock_mhz)
    assert not clock.uses_pll and clock.core_mhz == 1e3 / PERIOD_NS

    class Bench(wiring.Component):
        def __init__(self) -> None:
            self.top = BoardTop(board, _tiny_accelerator()[1], clock, BAUD, TOP_ADC)
            self.utop = BoardTop(board, _tiny_accelerator()[1], clock, BAUD)  # the UART's sample-streaming mode
            self.readers = {mode: SpiAdc(s, 1e9 / PERIOD_NS, bits, counter) for mode, (s, bits, counter) in MODES.items()}
            members = {**dict(self.top.signature.members.items()), "bench_rst": In(1)}
            members.update({f"u_{name}": member for name, member in self.utop.signature.members.items() if name != "clk_in"})
            for mode, r in self.readers.items():
                members.update({f"sclk{mode}": Out(1), f"cs{mode}": Out(1), f"miso{mode}": In(1), f"valid{mode}": Out(1), f"ready{mode}": In(1),
                                f"payload{mode}": Out(signed(r.sample_bits)), f"overruns{mode}": Out(r.overrun_bits)})
            super().__init__(members)

        def elaborate(self, platform) -> Module:
            m = Module()
            m.submodules.top = self.top
            m.submodules.utop = DomainRenamer({"sync": "usync", "por": "upor"})(self.utop)  # its own domains beside the SPI top's
            for top, prefix in ((self.top, ""), (self.utop, "u_")):
                for name, member in top.signature.members.items():
                    inner, outer = getattr(top, name), getattr(self, name if name == "clk_in" else prefix + name)
                    m.d.comb += inner.eq(outer) if member.flow == In else outer.eq(inner)
            m.domains.bench = ClockDomain("bench")
            m.d.comb += [ClockSignal("bench").eq(self.clk_in), ResetSignal("bench").eq(self.bench_rst)]
            for mode, r in self.readers.items():
                m.submodules[f"adc{mode}"] = DomainRenamer("bench")(r)
                port = lambda name: getattr(self, f"{name}{mode}")  # noqa: E731
                m.d.comb += [port("sclk").eq(r.sclk), port("cs").eq(r.cs), r.miso.eq(port("miso")), port("valid").eq(r.samples.valid),
                             r.samples.ready.eq(port("ready")), port("payload").eq(r.samples.payload), port("overruns").eq(r.overruns)]
            return m

    bench = Bench()
    return verilog.convert(bench, name="spi_bench", emit_src=False), Protocol.of(bench.top.accel)


def _converter_job(s: AdcSettings, codes: list[int], **more) -> dict:
    return {"mode": s.mode, "lead": s.lead, "width": s.width, "cs_active_low": s.cs_active_low, "rate_hz": s.rate_hz,
            "half_ns": s.timing(1e9 / PERIOD_NS).half * PERIOD_NS, "words": [_word(c, s) for c in codes], **more}


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> tuple[dict, dict, Protocol]:
    """The simulation every test here checks: (the codes each converter sent, the bench's record, the top's protocol)."""
    verilog, proto = _bench_verilog()
    codes = {str(mode): _codes(s.width, N_SAMPLES, np.random.default_rng(mode)) for mode, (s, _, _) in MODES.items()}
    codes["top"] = _codes(16, TOP_SAMPLES, np.random.default_rng(7))
    readers = {str(mode): _converter_job(s, codes[str(mode)], stall_after=STALL_AFTER, stall_cycles=STALL_PERIODS * s.timing(1e9 / PERIOD_NS).period)
               for mode, (s, _, _) in MODES.items()}
    codes["uart_top"] = [max(c, -32767) for c in _codes(16, UART_SAMPLES, np.random.default_rng(8))]  # the front end's symmetric range
    job = {"seed": 1, "readers": readers,
           "top": _converter_job(TOP_ADC, codes["top"], bit_ns=1e9 / BAUD, reply_bytes=proto.reply_bytes * proto.replies_for(TOP_SAMPLES)),
           "uart_top": {"bytes": list(b"\x00" + proto.encode_samples(np.array(codes["uart_top"]))), "bit_ns": 1e9 / BAUD,
                        "start_ns": 2 * POR_CYCLES * PERIOD_NS,
                        "reply_bytes": proto.reply_bytes * proto.replies_for(UART_SAMPLES)}}
    return codes, _simulate(verilog, job, tmp_path_factory.mktemp("spi_bench")), proto


@pytest.mark.parametrize("mode", sorted(MODES))
def test_reader_against_a_converter_model_in_every_spi_mode(mode, bench):
    """Every code (extremes included) comes out as the two's-complement sample the golden model takes, the
    converter model finds the master's SPI timing right, and a stalled stream drops samples: counted, saturating."""
    s, bits, counter = MODES[mode]
    t = s.timing(1e9 / PERIOD_NS)
    codes, rec = bench[0][str(mode)], bench[1][str(mode)]
    assert rec["errors"] == [] and rec["frames"] == N_SAMPLES
    assert rec["shortest_half_ns"] == t.half * PERIOD_NS
    assert np.diff(rec["starts"]).tolist() == [t.period * PERIOD_NS] * (N_SAMPLES - 1)
    expected = [_sample(c, s.width, bits) for c in codes]
    got = rec["samples"]
    gap = N_SAMPLES - len(got)  # the samples dropped while the sink stalled: one run of them
    first = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
    assert first > STALL_AFTER and gap >= STALL_PERIODS - 1
    assert got == expected[:first] + expected[first + gap:]
    assert rec["overruns"] == min(gap, (1 << counter) - 1)


@pytest.mark.parametrize(
    "settings, clock_hz, message",
    [
        (dict(rate_hz=1.7e6), 25e6,
         r"a 25 MHz core clock cannot make a 1\.7 MHz sample rate: the nearest divider \(15\) gives 1\.66667 MHz, 1\.961% off \(tolerance 0\.1%\)"),
        (dict(rate_hz=12e3, sclk_hz=30e6), 100e6, r"SCLK 30 MHz is above the reader's limit of 25 MHz"),
        (dict(rate_hz=12e3, sclk_hz=10e6), 25e6, r"SCLK 10 MHz is faster than a 25 MHz core clock can make \(at most core / 4 = 6\.25 MHz\)"),
        (dict(rate_hz=100e3, width=24, lead=4, sclk_hz=1e6), 25e6,
         r"a 28-bit frame at SCLK 961\.538 kHz takes 767 core cycles .* longer than the 250-cycle sample period at 100 kHz"),
    ],
)
def test_rates_the_clock_cannot_make_are_refused(settings, clock_hz, message):
    with pytest.raises(AdcError, match=message):
        AdcSettings(**settings).timing(clock_hz)


@pytest.mark.parametrize(
    "settings, message",
    [(dict(width=10), r"ADC width 10: the reader takes 12\.\.24-bit"), (dict(mode=4), r"SPI mode 4: expected 0, 1, 2 or 3"),
     (dict(lead=9), r"9 lead bits"), (dict(coding="gray"), r"ADC coding 'gray'"), (dict(rate_hz=0.0), r"rate_hz: must be a positive")],
)
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(AdcError, match=message):
        AdcSettings(**{"rate_hz": 12e3, **settings})


def test_spi_board_top_replies_per_hop_bit_exactly_with_the_class_on_the_leds(bench):
    """The board top with the SPI source around the tiny network behind a 16-sample front end: the ADC's
    samples from power-on, one UART reply per hop, each the golden model's class and logits."""
    from test_frontend_hdl import tiny_sample_ir

    from faultedge.ir import frontend, golden

    ir = tiny_sample_ir()
    codes, rec, proto = bench[0]["top"], bench[1]["top"], bench[2]
    assert rec["errors"] == [] and rec["frames"] == TOP_SAMPLES
    samples = np.array([_sample(c, 16, 16) for c in codes], dtype=np.int64)
    expected = golden.predict_samples(ir, frontend.frame(samples, ir.frontend.window, ir.frontend.hop))
    n = proto.reply_bytes
    assert len(rec["bytes"]) == n * len(expected.classes) == n * 5
    replies = [proto.decode_reply(bytes(rec["bytes"][i * n:(i + 1) * n])) for i in range(len(expected.classes))]
    assert [r.logits.tolist() for r in replies] == expected.logits.tolist()
    assert [r.cls for r in replies] == expected.classes.tolist()
    assert rec["led"] == int(expected.classes[-1])  # the class on led[0..1]; led[7] (overrun) dark


def test_uart_board_top_streams_raw_samples_with_a_reply_per_hop(bench):
    """The UART board top in its sample-streaming mode around the same network: a byte before the sync is ignored, the
    samples come over uart_rx (two bytes each, extremes included), one reply per hop goes back on uart_tx, each the golden
    model's class and logits, and the last class is on the LEDs."""
    from test_frontend_hdl import tiny_sample_ir

    from faultedge.ir import frontend, golden

    ir = tiny_sample_ir()
    codes, rec, proto = bench[0]["uart_top"], bench[1]["uart_top"], bench[2]
    expected = golden.predict_samples(ir, frontend.frame(np.array(codes, dtype=np.int64), ir.frontend.window, ir.frontend.hop))
    n = proto.reply_bytes
    assert len(expected.classes) == proto.replies_for(UART_SAMPLES) == 6 and len(rec["bytes"]) == n * 6
    replies = [proto.decode_reply(bytes(rec["bytes"][i * n:(i + 1) * n])) for i in range(6)]
    assert [r.logits.tolist() for r in replies] == expected.logits.tolist()
    assert [r.cls for r in replies] == expected.classes.tolist()
    assert rec["led"] & 0b11 == int(expected.classes[-1])


def test_spi_source_refuses_what_it_cannot_build():
    """What BoardTop checks before anything is built or written (faultedge.fpga.top.check_spi_source)."""
    from faultedge.fpga.board import load_fpga_board
    from faultedge.fpga.clocks import plan_clock
    from faultedge.fpga.top import check_spi_source

    board = load_fpga_board(BOARD)
    clock = plan_clock(board.family, board.clock_mhz, board.clock_mhz)
    features_in, sample_in = Protocol(8, 8, 3, 12), Protocol(8, 16, 3, 12, window=16, hop=8)
    with pytest.raises(AdcError, match=r"needs a sample-in accelerator .* this one takes features \(use --source uart\)"):
        check_spi_source(board, features_in, AdcSettings(12e3), clock, 115200)
    with pytest.raises(AdcError, match=r"at 115200 baud a 9-byte reply takes 0\.781 ms, longer than a hop of 8 samples at 12 kHz \(0\.667 ms\)"):
        check_spi_source(board, sample_in, AdcSettings(12e3), clock, 115200)
    check_spi_source(board, sample_in, AdcSettings(12e3), clock, 230400)
    with pytest.raises(AdcError, match="board kc705 has no SPI ADC pins"):
        kc705 = load_fpga_board("kc705")
        check_spi_source(kc705, sample_in, AdcSettings(12e3), plan_clock(kc705.family, kc705.clock_mhz, 100.0), 230400)
    for name in ("ulx3s-85f", "icebreaker"):
        pins = load_fpga_board(name).pin_text
        assert all(port in pins for port in ("adc_cs", "adc_sclk", "adc_miso")), name


def test_fpga_build_refuses_the_spi_source_of_a_feature_in_design_before_writing_anything(tmp_path, capsys):
    from test_ir import tiny_ir_json

    from faultedge.cli import main
    from faultedge.ir import IRModel

    run = tmp_path / "run"
    run.mkdir()
    IRModel.from_json(tiny_ir_json()).save(run / "model.ir.json")
    assert main(["hdl", str(run), "--lanes", "2"]) == 0
    capsys.readouterr()
    for args, message in ((["--source", "spi", "--adc-rate", "12000"], "it needs a sample-in accelerator (`faultedge hdl RUN --frontend pipelined`)"),
                          (["--source", "spi"], "--source spi needs --adc-rate HZ"),
                          (["--adc-mode", "3"], "--adc-* options set the SPI ADC source: add --source spi"),
                          (["--source", "spi", "--adc-rate", "12000", "--adc-width", "10"], "ADC width 10: the reader takes 12..24-bit converters")):
        assert main(["fpga", "build", str(run), "--board", BOARD, *args]) == 2
        assert message in capsys.readouterr().err
    assert not (run / "fpga").exists()
