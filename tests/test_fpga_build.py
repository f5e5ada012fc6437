"""FPGA builds with the real tools (yowasp yosys / nextpnr / ecppack): one ECP5 bitstream of a
small design through the CLI, the iCE40 no-fit verdict from synthesis alone, and the Xilinx
estimate + Vivado project. A missing tool fails these tests (ToolError), it never skips them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from test_ir import tiny_ir_json

from faultedge.cli import main
from faultedge.fpga.build import MAX_PASSES, RAISE_MIN, BuildOptions, build
from faultedge.fpga.flow import FitError
from faultedge.ir import IRModel, bits_for
from faultedge.runs import RunDir


def _run_with(ir_json: dict, path: Path) -> Path:
    path.mkdir(parents=True)
    IRModel.from_json(ir_json).save(path / "model.ir.json")
    return path


def student_shaped_ir(seed: int = 0) -> dict:
    """The 2,830-parameter student's layers (conv 1->4 k64 s8 p28, ReLU, pool 2, linear 256->10) at
    8 bits with seeded random weights: resources and timing depend on the shapes, not the values."""
    rng = np.random.default_rng(seed)
    ir = tiny_ir_json()
    conv, pool, fc, arg = ir["layers"]
    w1, w2 = rng.integers(-128, 128, (4, 1, 64)), rng.integers(-128, 128, (10, 256))
    conv.update(in_shape=[1, 1024], out_shape=[4, 128], kernel=64, stride=8, padding=28,
                weight={"shape": [4, 1, 64], "bits": 8, "scale_exp": -8, "data": w1.ravel().tolist()},
                bias={"shape": [4], "bits": 32, "scale_exp": -12, "data": rng.integers(-999, 999, 4).tolist()},
                acc_bits=bits_for(-64 * 128 * 128 - 999, 64 * 128 * 128 + 999))
    conv["requant"].update(shift=8, out_scale_exp=-4)
    pool.update(in_shape=[4, 128], out_shape=[4, 64])
    fc.update(in_shape=[4, 64], out_shape=[10], weight={"shape": [10, 256], "bits": 8, "scale_exp": -8, "data": w2.ravel().tolist()},
              bias={"shape": [10], "bits": 32, "scale_exp": -12, "data": rng.integers(-999, 999, 10).tolist()},
              acc_bits=bits_for(-256 * 255 * 128 - 999, 256 * 255 * 128 + 999))
    arg["in_shape"] = [10]
    ir.update(name="student-shaped", classes=[f"c{i}" for i in range(10)])
    ir["input"]["shape"] = [1, 1024]
    return ir


@pytest.mark.slow
def test_ice40_no_fit_verdict_comes_from_synthesis_alone(tmp_path):
    run = _run_with(student_shaped_ir(), tmp_path / "run")
    assert main(["hdl", str(run), "--lanes", "16"]) == 0
    with pytest.raises(FitError, match=r"does not fit iCE40UP5K \(synthesis estimate\): 16 SB_MAC16 > 8 \(\+8, 200.0 % of the device\)") as refused:
        build(RunDir(run), "icebreaker", BuildOptions(), log=lambda s: None)
    assert f"`faultedge hdl {run} --lanes 8`" in str(refused.value)  # the knob that shrinks the engine
    out = run / "fpga" / "icebreaker"
    r = json.loads((out / "report.json").read_text())
    assert r["fit"]["fits"] is False and r["fit"]["stage"] == "synthesis estimate"
    assert r["fit"]["over"]["dsp"] == {"need": 16, "have": 8, "excess": 8, "percent_of_device": 200.0}
    assert r["synthesis"]["cells"]["SB_MAC16"] == 16
    assert not (out / "build" / "nextpnr.log").exists() and "bitstream" not in r


@pytest.mark.slow
def test_a_pass_that_meets_timing_with_slack_tries_a_faster_clock_and_the_fastest_met_pass_is_kept(tmp_path):
    """The tiny network on the iCE40 meets the profile's 30 MHz with room to spare: the search climbs towards the
    achieved Fmax within the pass budget. Whatever the later passes do, the report, the routed design it was packed
    from and the bitstream are those of the fastest pass that met timing."""
    run = _run_with(tiny_ir_json(), tmp_path / "run")
    assert main(["hdl", str(run), "--lanes", "2", "--board", "icebreaker"]) == 0
    r = build(RunDir(run), None, BuildOptions(), log=lambda s: None)
    passes, kept = r["passes"], r["passes"][r["kept_pass"] - 1]
    assert passes[0]["core_clock_mhz"] == 30.0 and passes[0]["timing_met"] and passes[0]["fmax_mhz"] > 30.0 * (1 + RAISE_MIN)
    assert 2 <= len(passes) <= MAX_PASSES and passes[1]["core_clock_mhz"] > 30.0
    assert kept["timing_met"] and kept["core_clock_mhz"] == max(p["core_clock_mhz"] for p in passes if p["timing_met"]) > 30.0
    assert (r["clock_mhz"], r["fmax_mhz"], r["timing_met"]) == (kept["core_clock_mhz"], kept["fmax_mhz"], True)
    work = run / "fpga" / "icebreaker" / "build"
    routed = json.loads((work / "pnr_report.json").read_text())
    assert round(min(v["achieved"] for v in routed["fmax"].values()), 2) == r["fmax_mhz"]  # the kept pass's routing, restored
    top = (work / "faultedge_top.v").read_text()
    assert all(f".{k}(32'd{v})" in top for k, v in r["pll"].items() if k != "FILTER_RANGE")  # the kept pass's PLL
    assert not (work / "kept").exists()
    assert all((work / f"nextpnr-pass{n}.log").is_file() for n in range(1, len(passes) + 1))  # every pass's log kept
    bit = Path(r["bitstream"]["path"])
    assert hashlib.sha256(bit.read_bytes()).hexdigest() == r["bitstream"]["sha256"] and r["latency_us"] > 0


def test_place_and_route_past_its_budget_is_stopped_with_a_clear_error(tmp_path, capsys):
    """nextpnr is stopped when the budget runs out; with no pass met, the build fails naming the budget and the pass."""
    run = _run_with(tiny_ir_json(), tmp_path / "run")
    assert main(["hdl", str(run), "--lanes", "2", "--board", "icebreaker"]) == 0
    assert main(["fpga", "build", str(run), "--pnr-budget-min", "0"]) != 0
    assert "--pnr-budget-min must be a positive number" in capsys.readouterr().err
    assert main(["fpga", "build", str(run), "--pnr-budget-min", "0.001"]) != 0
    err = capsys.readouterr().err
    assert "place and route ran past its budget of 0.001 min in pass 1" in err and "before any pass met timing" in err


@pytest.mark.slow
def test_xilinx_estimate_and_vivado_project(tmp_path):
    run = _run_with(tiny_ir_json(), tmp_path / "run")
    assert main(["hdl", str(run), "--lanes", "2", "--board", "kc705"]) == 0
    assert main(["fpga", "build", str(run)]) == 0  # the design point's board
    r = json.loads((run / "fpga" / "kc705" / "report.json").read_text())
    assert r["resources"]["stage"] == "yosys synth_xilinx estimate" and r["resources"]["lut"] > 0
    assert r["timing_met"] is None and r["latency_us"] is None and r["fmax_mhz"] is None and r["bitstream"] is None
    assert r["clock_mhz"] == 100.0 and r["pll"]["DIVCLK_DIVIDE"] >= 1
    build = Path(r["vivado"]["project"]).parent
    top = (build / "faultedge_top.v").read_text()
    assert "MMCME2_BASE" in top and "IBUFDS" in top and "clk_in_p" in top
    assert "create_clock" in (build / "board.xdc").read_text()
    assert "xc7k325tffg900-2" in (build / "build.tcl").read_text()


def test_a_top_without_pll_keeps_its_logic(tmp_path):
    """At the board's own clock there is no PLL; the power-on reset must still release, or yosys
    (rightly) removes the whole design as constant."""
    from faultedge.fpga.accel_instance import VerilogAccelerator
    from faultedge.fpga.board import load_fpga_board
    from faultedge.fpga.clocks import plan_clock
    from faultedge.fpga.flow import synthesize
    from faultedge.fpga.top import TOP_NAME, top_verilog
    from faultedge.hdl.artifacts import generate
    from faultedge.hdl.design import DesignPoint
    from faultedge.ir.files import TOPLEVEL

    board = load_fpga_board("ulx3s-85f")
    clock = plan_clock(board.family, board.clock_mhz, board.clock_mhz)
    assert not clock.uses_pll
    verilog, report = generate(IRModel.from_json(tiny_ir_json()), DesignPoint(lanes=2))
    (tmp_path / f"{TOPLEVEL}.v").write_text(verilog)
    (tmp_path / f"{TOP_NAME}.v").write_text(top_verilog(board, VerilogAccelerator(report), clock))
    synth = synthesize(tmp_path, board)
    assert synth["estimate"]["lut"] > 100 and synth["estimate"]["ff"] > 50, synth["cells"]


@pytest.mark.slow
def test_ecp5_bitstream_of_a_sample_in_design_with_the_core_clock_at_the_achieved_fmax(tmp_path, capsys):
    """The tiny network behind a 16-sample front end. First pass at an unreachable 400 MHz target, then the PLL
    follows the achieved Fmax; the front end is synthesised alone (its resources apart); the latency is from a
    window's last sample, the throughput the sustained sample rate at the post-route clock."""
    from test_frontend_hdl import tiny_sample_ir

    run = tmp_path / "run"
    run.mkdir()
    tiny_sample_ir().save(run / "model.ir.json")
    assert main(["hdl", str(run), "--lanes", "2", "--frontend", "pipelined"]) == 0
    assert main(["fpga", "build", str(run), "--board", "ulx3s-85f", "--target-mhz", "400"]) == 0
    r = json.loads((run / "fpga" / "ulx3s-85f" / "report.json").read_text())
    first, kept = r["passes"][0], r["passes"][r["kept_pass"] - 1]
    assert not first["timing_met"] and first["fmax_mhz"] < first["core_clock_mhz"]
    assert kept["timing_met"] and r["timing_met"] is True and r["kept_pass"] >= 2 and len(r["passes"]) <= MAX_PASSES
    assert (kept["core_clock_mhz"], kept["fmax_mhz"]) == (r["clock_mhz"], r["fmax_mhz"])
    assert all(p["core_clock_mhz"] > kept["core_clock_mhz"] and not p["timing_met"] for p in r["passes"][r["kept_pass"]:])
    f = r["clock_mhz"]
    assert f <= r["fmax_mhz"] and f > 0.8 * first["fmax_mhz"]
    pll = r["pll"]
    assert 25 / pll["CLKI_DIV"] * pll["CLKFB_DIV"] == pytest.approx(f)
    fe, model = r["frontend"], r["frontend"]["cycle_model"]
    assert r["includes_fft"] and r["bits"] == 8
    assert fe["resources"]["stage"] == "yosys synthesis estimate, the front end alone"
    assert 0 < fe["resources"]["lut"] < r["resources"]["lut"] and 0 < fe["resources"]["dsp"] <= r["resources"]["dsp"]
    assert fe["resources"]["bram"] > 0  # the ring buffer, the split's RAM, delay lines and twiddles
    for key in ("lut", "ff", "dsp"):
        assert 0 < r["resources"][key] < r["resources"]["available"][key]
    assert r["latency_last_sample_us"] == r["latency_us"] == pytest.approx(model["latency_last_sample"] / f, abs=1e-4)
    assert r["latency_slow_stream_us"] == pytest.approx(model["latency_slow_stream"] / f, abs=1e-4)
    assert r["latency_slow_stream_us"] > r["latency_last_sample_us"]  # the burst follows the window
    assert r["samples_per_s"] == pytest.approx(model["samples_per_cycle"] * f * 1e6, rel=1e-4)
    assert r["results_per_s"] == pytest.approx(r["samples_per_s"] / 8, rel=1e-4)
    assert r["uart"]["window"] == 16 and r["uart"]["hop"] == 8 and r["uart"]["samples_per_s"] == 5760.0
    assert r["uart"]["divisor"] == round(f * 1e6 / 115200)
    bit = Path(r["bitstream"]["path"])
    assert bit.is_file() and bit.read_bytes()[:2] == b"\xff\x00"  # ECP5 bitstream preamble
    assert hashlib.sha256(bit.read_bytes()).hexdigest() == r["bitstream"]["sha256"]
    out = capsys.readouterr().out
    assert "timing met" in out and "bitstream" in out and "from a window's last sample to its class" in out
