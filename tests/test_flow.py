"""The flow: named steps chained on one run directory, the families that say which steps apply, and
`faultedge run` / `faultedge demo` as lists of steps."""

from __future__ import annotations

import json
import shutil

import pytest

from faultedge.cli import main
from faultedge.errors import FaultedgeError
from faultedge.families import FAMILIES, MKW_NAME, STUDENT_NAME, family
from faultedge.flow.presets import demo
from faultedge.flow.runner import run_steps, select_steps
from faultedge.flow.steps import STEPS, StepFailed
from faultedge.ir import IRModel
from faultedge.runs import RunDir


def test_steps_follow_the_flow_order_whatever_the_order_asked():
    steps = family(STUDENT_NAME).steps
    assert tuple(STEPS) == steps == ("train", "quantize", "export", "hdl", "sim", "fpga", "bundle", "bench")
    assert select_steps(steps) == list(steps)
    assert select_steps(steps, ["sim", "quantize", "hdl"]) == ["quantize", "hdl", "sim"]
    assert select_steps(steps, start="hdl", stop="fpga") == ["hdl", "sim", "fpga"]
    assert select_steps(steps, ["train", "hdl", "bench"], start="quantize") == ["hdl", "bench"]
    assert select_steps(family(MKW_NAME).steps) == ["train", "quantize", "hdl", "sim", "fpga"]


def test_step_choices_that_cannot_run_are_refused():
    with pytest.raises(FaultedgeError, match=r"step 'export' does not apply to this network; its steps are train, quantize, hdl, sim, fpga"):
        select_steps(family(MKW_NAME).steps, ["export"])
    with pytest.raises(FaultedgeError, match=r"unknown step 'synth'"):
        select_steps(family(STUDENT_NAME).steps, ["synth"])
    with pytest.raises(FaultedgeError, match=r"no steps left to run between 'sim' and 'hdl'"):
        select_steps(family(STUDENT_NAME).steps, start="sim", stop="hdl")
    with pytest.raises(FaultedgeError, match=r"unknown network 'lstm'; the families are student, teacher, mkw"):
        family("lstm")


def test_every_family_names_an_engine_and_a_design_point_default():
    """A family with hardware steps names an engine and a design point; a float-only one has the train step alone."""
    from faultedge.hdl import ENGINES

    for f in FAMILIES.values():
        assert f.steps[0] == "train" and set(f.steps) <= set(STEPS)
        if "hdl" in f.steps:
            assert f.engine in ENGINES and f.lanes >= 1 and f.beat >= 1
        else:
            assert f.steps == ("train",) and f.engine not in ENGINES


def test_the_demo_is_each_familys_step_list_with_small_settings():
    cfg, steps = demo(STUDENT_NAME)
    assert steps == family(STUDENT_NAME).steps
    design = cfg.design()
    assert (design.network, design.engine, design.lanes, design.beat, design.board) == ("student", "mac1d", 8, 8, "ulx3s-85f")
    assert cfg.qat_config().epochs == 3 and cfg.sim.limit == 64 and cfg.fpga.target_mhz == 75.0
    assert cfg.train_spec().config.teacher.epochs == 15
    cfg, steps = demo(MKW_NAME)
    assert steps == ("train", "quantize", "hdl", "sim") and cfg.design().engine == "image" and cfg.source == "distilled"
    with pytest.raises(FaultedgeError, match="there is a demo for student, mkw, not for 'teacher'"):
        demo("teacher")


@pytest.fixture()
def ir_run(edge_run, tmp_path) -> RunDir:
    """A run directory holding what the integer steps read: the IR and the golden vectors."""
    for name in ("model.ir.json", "golden_vectors.npz"):
        shutil.copy(edge_run[0] / name, tmp_path / name)
    return RunDir(tmp_path)


@pytest.mark.slow
def test_steps_chain_on_one_run_directory_and_a_failing_step_stops_the_flow(ir_run):
    from faultedge.flow.config import FlowConfig, SimOptions

    lines: list[str] = []
    cfg = FlowConfig(lanes=32, beat=16, sim=SimOptions(limit=4, random=2, backpressure=2), progress=False)
    reports = run_steps(ir_run, cfg, ["hdl", "sim"], lines.append)
    assert reports["sim"]["bit_exact"] and reports["sim"]["cycles"]["match"]
    assert reports["sim"]["design"] == reports["hdl"]["design"] == json.loads((ir_run / "hdl" / "design.json").read_text())
    assert lines[0].startswith(f"[1/2] the accelerator's Verilog and design point   ($ faultedge hdl {ir_run.path} --network student --bits 8 --lanes 32 --beat 16)")
    assert any(line.startswith("[2/2] bit-exact simulation") and "--limit 4 --random 2 --backpressure 2" in line for line in lines)
    assert lines[-1].startswith("2 steps in ")

    # the simulated hardware no longer matches the golden model of a changed IR: the sim step fails, nothing after it runs
    ir = IRModel.load(ir_run / "model.ir.json")
    fc = ir.layers[2]
    fc.bias.data[3] += 1
    ir.save(ir_run / "model.ir.json")
    lines.clear()
    with pytest.raises(StepFailed, match=r"sim: the RTL differs from the golden model on \d+ inputs"):
        run_steps(ir_run, cfg, ["sim", "fpga"], lines.append)
    assert not any(line.startswith("[2/2]") for line in lines)
    assert not (ir_run / "fpga").exists()


def test_run_command_runs_the_named_steps_and_refuses_others(ir_run, capsys):
    assert main(["run", str(ir_run.path), "--steps", "hdl", "--lanes", "16", "--beat", "4", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "[1/1] the accelerator's Verilog and design point" in out and "2,208" in out  # the 16-lane bound
    assert json.loads((ir_run / "hdl" / "design.json").read_text())["lanes"] == 16
    assert main(["run", str(ir_run.path), "--network", "mkw", "--steps", "export"]) == 2
    assert "step 'export' does not apply to this network" in capsys.readouterr().err
    assert main(["run", str(ir_run.path), "--from", "fpga", "--to", "hdl"]) == 2
    assert "no steps left to run between 'fpga' and 'hdl'" in capsys.readouterr().err


def test_run_command_builds_the_sample_in_accelerator_with_frontend(ir_run, capsys):
    """`faultedge run --frontend pipelined`: the design point records the front end and takes one sample per transfer."""
    assert main(["run", str(ir_run.path), "--steps", "hdl", "--lanes", "64", "--frontend", "pipelined", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"faultedge hdl {ir_run.path} --network student --bits 8 --lanes 64 --beat 1 --frontend pipelined" in out
    assert "raw samples in: pipelined FFT front end, window 2048, hop 1024, 16-bit samples: 1,968 cycles from a window's last sample to its class at one sample per cycle" in out
    assert "2,991 for samples slower than one per 1,024 cycles" in out
    design = json.loads((ir_run / "hdl" / "design.json").read_text())
    assert (design["frontend"], design["beat"]) == ("pipelined", 1)
    assert json.loads((ir_run / "hdl" / "report.json").read_text())["frontend"]["cycle_model"]["cycles_per_hop"] == 1024
