"""FPGA builds, fast parts: board profiles, PLL settings, the UART protocol (host side and, in
Amaranth's simulator, the board top's UART engine around a real generated accelerator),
constraint/TCL generation and report parsing. The tool runs are in test_fpga_build.py."""

from __future__ import annotations

import numpy as np
import pytest
from test_ir import tiny_ir_json
from uart_bridge import Line, run_uart

from faultedge.fpga.board import BoardError, fpga_boards, load_fpga_board, parse_profile
from faultedge.fpga.clocks import plan_clock
from faultedge.fpga.flow import constraint_file, estimate, fit_verdict, parse_pnr_report, pnr_utilisation
from faultedge.fpga.protocol import Protocol, ProtocolError, classify
from faultedge.fpga.top import uart_divisor
from faultedge.fpga.xilinx import build_tcl
from faultedge.errors import RunDirError
from faultedge.ir import IRModel

EXPECTED = {"ulx3s-85f": "ecp5", "icebreaker": "ice40", "ice40-hx8k": "ice40", "kc705": "xilinx", "pynq-z2": "xilinx", "arty-a7-35": "xilinx"}


def test_every_profile_loads_and_its_pin_file_names_the_top_ports():
    assert set(EXPECTED) <= set(fpga_boards())
    for name in fpga_boards():
        b = load_fpga_board(name)
        assert b.family == EXPECTED[name]
        pins = b.pin_text
        clocks = ("clk_in_p", "clk_in_n") if b.clock_differential else ("clk_in",)
        for port in (*clocks, "uart_rx", "uart_tx", *(f"led[{i}]" for i in range(b.leds))):
            assert port in pins, (name, port)
        assert f"led[{b.leds}]" not in pins


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardError, match=r"unknown fpga board 'ulx3s'; known: .*ulx3s-85f"):
        load_fpga_board("ulx3s")


def _raw(**change) -> dict:
    from faultedge.boards import load_board

    raw = load_board("fpga", "icebreaker")
    for key, value in change.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    return raw


@pytest.mark.parametrize(
    "change, message",
    [
        ({"family": "gowin"}, r"family: expected one of ecp5, ice40, xilinx, got 'gowin'"),
        ({"clock_mhz": None}, r"clock_mhz: missing \(required for ice40 boards\)"),
        ({"baud": "fast"}, r"baud: expected an integer, got 'fast'"),
        ({"clock_mhz": -12}, r"clock_mhz: must be positive"),
        ({"pll": "SB_PLL40_2F"}, r"pll: expected one of SB_PLL40_PAD, SB_PLL40_CORE"),
        ({"constraints": "icebreaker.xdc"}, r"constraints: a ice40 board needs a .pcf pin file"),
        ({"constraints": "missing.pcf"}, r"constraints: pin file .*missing.pcf not found"),
        ({"capacity": {"lut": 5280, "ff": 5280, "dsp": 8}}, r"capacity.bram: expected a count >= 0, got None"),
        ({"lutz": 3}, r"unknown field\(s\) lutz"),
        ({"leds": True}, r"leds: expected an integer, got True"),
    ],
)
def test_bad_profiles_are_refused_naming_the_field(change, message):
    with pytest.raises(BoardError, match=message):
        parse_profile("icebreaker", _raw(**change), where="icebreaker.toml")


def test_pll_settings_stay_in_range_and_never_exceed_the_request():
    p = plan_clock("ecp5", 25.0, 100.0)
    assert p.core_mhz == 100.0
    d = p.params
    assert 3.125 <= 25 / d["CLKI_DIV"] <= 400 and 400 <= p.core_mhz * d["CLKOP_DIV"] <= 800
    assert 25 / d["CLKI_DIV"] * d["CLKFB_DIV"] == pytest.approx(p.core_mhz)
    for target in (33.3, 56.61, 87.07, 133.0):
        for family, fin in (("ecp5", 25.0), ("ice40", 12.0), ("xilinx", 200.0)):
            got = plan_clock(family, fin, target).core_mhz
            assert target * 0.9 < got <= target, (family, target, got)
    # icepll -i 12 -o 30: DIVR 0, DIVF 79, DIVQ 5, FILTER_RANGE 1
    assert plan_clock("ice40", 12.0, 30.0).params == {"DIVR": 0, "DIVF": 79, "DIVQ": 5, "FILTER_RANGE": 1}
    assert not plan_clock("ecp5", 25.0, 25.0).uses_pll
    slow = plan_clock("ice40", 12.0, 14.0)  # below the PLL's 16 MHz minimum: the 12 MHz board clock
    assert not slow.uses_pll and slow.core_mhz == 12.0
    with pytest.raises(Exception, match="no iCE40 PLL setting makes <= 10.00 MHz"):
        plan_clock("ice40", 12.0, 10.0)


def test_uart_divisor_refuses_inexact_rates():
    assert uart_divisor(85.714286, 115200) == 744
    with pytest.raises(Exception, match="cannot make 3000000 baud"):
        uart_divisor(10.0, 3_000_000)


PROTO = Protocol(n_inputs=4, input_bits=12, n_classes=3, logit_bits=17)


def _reply(cls: int, logits: list[int], proto: Protocol = PROTO) -> bytes:
    body = bytes([cls]) + b"".join(v.to_bytes(proto.logit_bytes, "little", signed=True) for v in logits)
    return bytes([0x5A]) + body + bytes([sum(body) % 256])


def test_protocol_encodes_windows_and_decodes_replies():
    frame = PROTO.encode_window(np.array([1, -1, 2047, -2048]))
    assert frame == bytes([0xA5, 1, 0, 0xFF, 0xFF, 0xFF, 0x07, 0x00, 0xF8])
    assert len(frame) == PROTO.request_bytes
    r = PROTO.decode_reply(_reply(2, [-65536, 65535, 7]))
    assert r.cls == 2 and r.logits.tolist() == [-65536, 65535, 7]
    assert PROTO.reply_bytes == 3 + 3 * 3


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda f: f[:-1], "expected a 12-byte reply, got 11"),
        (lambda f: b"\x00" + f[1:], "reply starts with 0x00"),
        (lambda f: f[:-1] + bytes([(f[-1] + 1) % 256]), "checksum"),
    ],
)
def test_protocol_refuses_malformed_replies(bad, message):
    with pytest.raises(ProtocolError, match=message):
        PROTO.decode_reply(bad(_reply(1, [1, 2, 3])))


def test_protocol_refuses_bad_windows():
    with pytest.raises(ProtocolError, match="expected 4 input values, got 3"):
        PROTO.encode_window(np.array([1, 2, 3]))
    with pytest.raises(ProtocolError, match=r"\[-2048, 2047\]"):
        PROTO.encode_window(np.array([1, 2, 3, 2048]))
    with pytest.raises(ProtocolError, match="integers"):
        PROTO.encode_window(np.array([1.0, 2, 3, 4]))


def test_constraints_and_vivado_script():
    kc705 = load_fpga_board("kc705")
    name, xdc = constraint_file(kc705)
    assert name == "board.xdc" and "create_clock -name board_clk -period 5.000 [get_ports clk_in_p]" in xdc
    assert "PACKAGE_PIN AD12" in xdc
    tcl = build_tcl(kc705)
    for needed in ("-part xc7k325tffg900-2", "add_files -fileset constrs_1 -norecurse $here/board.xdc", "write_bitstream",
                   "if {$wns < 0} { error", "report_utilization"):
        assert needed in tcl
    assert tcl.index("if {$wns < 0}") < tcl.index("write_bitstream")
    _, lpf = constraint_file(load_fpga_board("ulx3s-85f"))
    assert lpf.endswith('FREQUENCY PORT "clk_in" 25 MHZ;\n')
    _, pcf = constraint_file(load_fpga_board("icebreaker"))
    assert pcf.endswith("set_frequency clk_in 12\n")


def test_nextpnr_report_parsing_takes_the_slowest_clock():
    report = {
        "utilization": {"TRELLIS_COMB": {"available": 83640, "used": 2495}, "TRELLIS_FF": {"available": 83640, "used": 1558},
                        "MULT18X18D": {"available": 156, "used": 4}, "DP16KD": {"available": 208, "used": 6},
                        "TRELLIS_IO": {"available": 365, "used": 11}},
        "fmax": {"$glbnet$clk_in$TRELLIS_IO_IN": {"achieved": 412.3, "constraint": 25.0},
                 "$glbnet$pll_clkop": {"achieved": 90.7412, "constraint": 85.714}},
    }
    r = parse_pnr_report("ecp5", report, 3.0)
    assert r.used == {"lut": 2495, "ff": 1558, "dsp": 4, "bram": 6}
    assert r.available == {"lut": 83640, "ff": 83640, "dsp": 156, "bram": 208}
    assert r.fmax_mhz == 90.74
    with pytest.raises(Exception, match="no clock"):
        parse_pnr_report("ecp5", {"utilization": {}, "fmax": {}})


def test_fit_verdict_says_by_how_much():
    up5k = load_fpga_board("icebreaker")
    used = estimate("ice40", {"SB_LUT4": 7000, "SB_DFFE": 3000, "SB_DFFSR": 100, "SB_CARRY": 900, "SB_MAC16": 12, "SB_RAM40_4K": 6})
    assert used == {"lut": 7000, "ff": 3100, "dsp": 12, "bram": 6}
    v = fit_verdict(up5k, used, "synthesis estimate")
    assert not v["fits"] and set(v["over"]) == {"lut", "dsp"}
    assert v["over"]["lut"] == {"need": 7000, "have": 5280, "excess": 1720, "percent_of_device": 132.6}
    assert "7,000 logic cells > 5,280 (+1,720, 132.6 % of the device)" in v["message"]
    assert "12 SB_MAC16 > 8 (+4" in v["message"]
    assert fit_verdict(up5k, {"lut": 10, "ff": 10, "dsp": 0, "bram": 0}, "place and route")["fits"]
    # a logic cell holds one LUT and one flip-flop: flip-flops alone can exceed the device
    assert estimate("ice40", {"SB_LUT4": 10, "SB_DFF": 6000})["lut"] == 6000


# nextpnr-ice40 0.11.1 on the 4-lane fft+envelope UP5K design (2026-12-04): it stops with "Failed to expand region"
NEXTPNR_OVERFULL = """Info: Device utilisation:
Info: \t         ICESTORM_LC:    5586/   5280   105%
Info: \t        ICESTORM_RAM:      28/     30    93%
Info: \t               SB_IO:       5/     39    12%
Info: \t        ICESTORM_DSP:       8/      8   100%
Info: \t      ICESTORM_SPRAM:       4/      4   100%

Info: Running main analytical placer, max placement attempts per cell = 3974790.
ERROR: Failed to expand region (0, 0) |_> (25, 31) of 5584 ICESTORM_LCs
"""


def test_a_place_and_route_that_runs_out_of_cells_says_which_and_by_how_much():
    used = pnr_utilisation("ice40", "Info: Device utilisation:\nInfo: \t ICESTORM_LC: 1/ 5280 0%\n" + NEXTPNR_OVERFULL)
    assert used == {"lut": 5586, "bram": 28, "dsp": 8}  # the last table counts; SPRAM and IO are not lut/ff/dsp/bram
    v = fit_verdict(load_fpga_board("icebreaker"), used, "place and route")
    assert not v["fits"] and set(v["over"]) == {"lut"}
    assert "5,586 logic cells > 5,280 (+306, 105.8 % of the device)" in v["message"]
    assert pnr_utilisation("ice40", "ERROR: no table before the failure") == {}


def test_the_verilog_instance_presents_the_engines_signature():
    """The board top's black box has exactly the engine's signature, built from hdl/report.json's
    figures; a report whose recorded ports differ (Verilog from another version) is refused."""
    from faultedge.fpga.accel_instance import FIGURES, VerilogAccelerator
    from faultedge.fpga.board import load_fpga_board
    from faultedge.fpga.top import top_verilog
    from faultedge.hdl import build_accelerator
    from faultedge.hdl.artifacts import generate
    from faultedge.hdl.design import DesignPoint

    ir = IRModel.from_json(tiny_ir_json())
    _, report = generate(ir, DesignPoint(lanes=2, beat=2))
    instance, engine = VerilogAccelerator(report), build_accelerator(ir, lanes=2, beat=2)
    assert instance.signature == engine.signature
    assert {k: getattr(instance, k) for k in FIGURES} == {k: getattr(engine, k) for k in FIGURES}
    board = load_fpga_board("ulx3s-85f")
    top = top_verilog(board, instance, plan_clock(board.family, board.clock_mhz, 50.0))
    assert all(f".{name}(" in top for name in report["ports"])  # the instance is wired by the recorded port names
    with pytest.raises(RunDirError, match=r"the recorded ports \(in_valid, in_data\) are not the accelerator's \(beats__payload, .*run `faultedge hdl` again"):
        VerilogAccelerator({**report, "ports": {"in_valid": {"direction": "in", "width": 1}, "in_data": {"direction": "in", "width": 16}}})
    with pytest.raises(RunDirError, match="missing or malformed field"):
        VerilogAccelerator({k: v for k, v in report.items() if k != "beat"})


# ---- the UART engine around a real generated accelerator, in Amaranth's simulator (tests/uart_bridge.py) ----


@pytest.mark.parametrize("beat", [1, 2])
def test_uart_top_classifies_windows_bit_exactly_and_recovers_from_a_broken_request(beat):
    from faultedge.fpga.uart import UartHost
    from faultedge.hdl import build_accelerator
    from faultedge.ir import golden

    ir = IRModel.from_json(tiny_ir_json())
    accel = build_accelerator(ir, lanes=2, beat=beat)
    divisor, timeout = 4, 400
    host = UartHost(accel, divisor, timeout)
    proto = Protocol.of(accel)
    rng = np.random.default_rng(beat)
    windows = np.concatenate([rng.integers(-128, 128, (3, 8)), np.full((1, 8), 127), np.full((1, 8), -128)])

    async def bench(ctx):
        line = Line(ctx, host, divisor)
        await ctx.tick().repeat(10)
        await line.send(b"\x00\x17" + proto.encode_window(windows[0]))  # noise before the sync byte is ignored
        await line.send(proto.encode_window(windows[1])[:4])  # a broken request, then silence
        await ctx.tick().repeat(timeout + 50)
        for w in windows[1:]:
            await line.send(proto.encode_window(w))
        await ctx.tick().repeat(proto.reply_bytes * 10 * divisor + 2000)

    received = run_uart(host, divisor, bench)

    expected = golden.run(ir, windows.reshape(len(windows), *ir.input.shape))
    n = proto.reply_bytes
    assert len(received) == n * len(windows)
    for i in range(len(windows)):
        reply = proto.decode_reply(bytes(received[i * n:(i + 1) * n]))
        assert reply.logits.tolist() == expected.logits[i].tolist()
        assert reply.cls == expected.classes[i]


def test_host_helper_talks_to_a_stream():
    class Loopback:
        """Answers every request with a fixed reply, recording what was written."""

        def __init__(self) -> None:
            self.written = b""

        def write(self, data: bytes) -> int:
            self.written += data
            return len(data)

        def read(self, size: int) -> bytes:
            return _reply(1, [3, -4, 5])[:size]

    port = Loopback()
    reply = classify(port, PROTO, np.array([1, 2, 3, 4]))
    assert port.written == PROTO.encode_window(np.array([1, 2, 3, 4]))
    assert reply.cls == 1 and reply.logits.tolist() == [3, -4, 5]



def test_uart_streams_raw_samples_to_a_sample_in_accelerator_with_a_reply_per_hop():
    """The UART sample mode around the tiny network behind a 16-sample front end: a reply for every hop once a window is in,
    bit-exact with golden.predict_samples; a pause resets the stream (the next one starts with an empty window buffer)."""
    from test_frontend_hdl import tiny_sample_ir

    from faultedge.fpga.protocol import classify_stream
    from faultedge.fpga.uart import UartHost
    from faultedge.hdl.artifacts import generate
    from faultedge.hdl.design import DesignPoint
    from faultedge.hdl.engines import engine
    from faultedge.hdl.frontend.plan import check_frontend
    from faultedge.ir import frontend, golden

    ir = tiny_sample_ir()
    _, report = generate(ir, DesignPoint(lanes=2, frontend="pipelined"))
    accel = engine("mac1d").build_sample_in(engine("mac1d").planner(ir, 2, 1), check_frontend(ir.frontend, "pipelined", "x"))
    divisor, timeout = 4, 600
    host = UartHost(accel, divisor, timeout)
    proto = Protocol.of(accel)
    assert proto.samples and proto.to_json() == {"sample_bits": 16, "window": 16, "hop": 8, "n_inputs": 8, "n_classes": 3,
                                                 "logit_bits": report["logit_bits"]}
    rng = np.random.default_rng(5)
    streams = [rng.integers(-32767, 32768, 40), np.concatenate([np.full(12, 32767), np.full(12, -32767)])]

    async def bench(ctx):
        line = Line(ctx, host, divisor)
        await ctx.tick().repeat(10)
        await line.send(b"\x00" + proto.encode_samples(streams[0]))
        await ctx.tick().repeat(timeout + 3000)  # the last replies, then the pause that ends the stream
        await line.send(proto.encode_samples(streams[1]))
        await ctx.tick().repeat(3000)

    received = run_uart(host, divisor, bench)

    n = proto.reply_bytes
    expected = [golden.predict_samples(ir, frontend.frame(s, 16, 8)) for s in streams]
    assert [proto.replies_for(len(s)) for s in streams] == [len(e.classes) for e in expected] == [4, 2]
    replies = [proto.decode_reply(bytes(received[i * n:(i + 1) * n])) for i in range(len(received) // n)]
    assert len(received) == n * 6
    assert [r.logits.tolist() for r in replies] == [l.tolist() for e in expected for l in e.logits]
    assert [r.cls for r in replies] == [c for e in expected for c in e.classes.tolist()]

    class Loopback:
        def __init__(self) -> None:
            self.written, self.replies = b"", bytes(received)

        def write(self, data: bytes) -> int:
            self.written += data
            return len(data)

        def read(self, size: int) -> bytes:
            out, self.replies = self.replies[:size], self.replies[size:]
            return out

    port = Loopback()
    assert [r.cls for r in classify_stream(port, proto, streams[0])] == expected[0].classes.tolist()
    assert port.written == proto.encode_samples(streams[0])
    with pytest.raises(ProtocolError, match="takes raw samples: use encode_samples"):
        proto.encode_window(np.zeros(8, np.int64))
