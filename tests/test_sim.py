"""Bit-exact cocotb + Verilator verification of the generated accelerator on real CWRU windows.

Verilator builds are cached by content (faultedge.sim.runner), so the three designs here are
compiled once: the student at 32 and 64 lanes and the teacher at 32 lanes. Simulation cost grows
with the MACs simulated, so the teacher (22x the student's MACs) runs a few windows only.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from faultedge.cli import main
from faultedge.errors import ToolError
from faultedge.hdl import generate_verilog
from faultedge.hdl import plan
from faultedge.hdl.cycles import model
from faultedge.ir import IRModel
from faultedge.sim import runner
from faultedge.sim.verify import verify


@pytest.fixture(scope="module")
def student(edge_run):
    ir = IRModel.load(edge_run[0] / "model.ir.json")
    with np.load(edge_run[0] / "golden_vectors.npz") as z:
        return ir, z["x_int"], z["logits"]


@pytest.fixture(scope="module")
def teacher_run(cwru_run, tmp_path_factory):
    """The BN-folded teacher, quantised to 8 bits in a copy of the trained run."""
    from faultedge.quant.qat import QATConfig
    from faultedge.families import family
    from faultedge.quant.stage import quantize
    from faultedge.runs import RunDir

    run = RunDir(tmp_path_factory.mktemp("teacher") / "run")
    shutil.copytree(cwru_run[0].path, run.path)
    quantize(run, family("teacher"), QATConfig(epochs=1), progress=False)
    return run


def _assert_exact(report: dict, lanes: int, beat: int, ir: IRModel) -> None:
    assert report["mismatches"] == {"samples": 0, "logits": 0, "classes": 0, "first": []}
    assert report["bit_exact"]
    cyc = report["cycles"]
    assert cyc["match"], cyc
    assert cyc["measured"]["per_inference_min"] == cyc["measured"]["per_inference_max"] == model(plan(ir, lanes, beat)).per_inference
    assert cyc["measured"]["latency_first"] == cyc["model"]["latency_first"]
    assert cyc["measured"]["latency_last"] == cyc["model"]["latency_last"]


@pytest.mark.slow
@pytest.mark.parametrize("lanes, beat", [(32, 16), (64, 8)])
def test_student_is_bit_exact_on_300_real_windows(student, lanes, beat):
    ir, x, logits = student
    assert len(x) >= 300
    report = verify(ir, generate_verilog(ir, lanes, beat), lanes, beat, x[:300], n_random=8, n_backpressure=12, seed=lanes)
    assert report["vectors"] == {"vectors": 300, "random": 8, "extremes": 4, "backpressure": 12, "total": 324}
    _assert_exact(report, lanes, beat, ir)


@pytest.mark.slow
def test_teacher_is_bit_exact(teacher_run):
    ir = IRModel.load(teacher_run / "model_teacher.ir.json")
    assert len([l for l in ir.layers if l.op == "conv1d"]) == 6
    with np.load(teacher_run / "golden_vectors_teacher.npz") as z:
        x = z["x_int"][:2]
    report = verify(ir, generate_verilog(ir, 32, 8), 32, 8, x, n_random=0, n_backpressure=2, seed=1)  # random inputs: student tests
    assert report["vectors"]["total"] == 2 + 4 + 2
    _assert_exact(report, 32, 8, ir)


@pytest.mark.slow
def test_a_wrong_model_is_caught(student):
    """The comparison is real: the same hardware against a golden model with one bias changed."""
    ir, x, _ = student
    verilog = generate_verilog(ir, 32, 16)
    fc = ir.layers[2]
    bias = fc.bias.data.copy()
    bias[3] += 1
    wrong = type(ir)(ir.name, ir.classes, ir.input, (*ir.layers[:2], type(fc)(fc.name, fc.in_shape, fc.out_shape, fc.weight,
                     type(fc.bias)(fc.bias.shape, fc.bias.bits, fc.bias.scale_exp, bias), fc.acc_bits, fc.requant), ir.layers[3]),
                     ir.output_scale_exp)
    report = verify(wrong, verilog, 32, 16, x[:3], n_random=0, n_backpressure=0)
    assert not report["bit_exact"]
    assert report["mismatches"]["logits"] == 3 + 4  # class 3's logit of every vector and extreme
    first = report["mismatches"]["first"][0]
    assert first["rtl_logits"][3] == first["golden_logits"][3] - 1 and first["kind"] == "vector"


@pytest.mark.slow
def test_sim_command_writes_its_report(edge_run, tmp_path, capsys):
    for name in ("model.ir.json", "golden_vectors.npz"):
        shutil.copy(edge_run[0] / name, tmp_path / name)
    assert main(["sim", str(tmp_path)]) == 2
    assert "has no hdl/design.json: run `faultedge hdl" in capsys.readouterr().err
    assert main(["hdl", str(tmp_path), "--lanes", "32", "--beat", "16"]) == 0  # the design simulated above: a cached build
    assert main(["sim", str(tmp_path), "--limit", "4", "--random", "2", "--backpressure", "3", "--quiet", "--clock-mhz", "50"]) == 0
    report = json.loads((tmp_path / "sim" / "report.json").read_text())
    assert report["vectors"]["total"] == 4 + 2 + 4 + 3 and report["bit_exact"] and report["cycles"]["match"]
    assert report["versions"]["cocotb"] == "2.1.0" and report["versions"]["verilator"]
    lat = report["latency"]
    assert lat["first_beat_to_result_us"] == pytest.approx(report["cycles"]["model"]["latency_first"] / 50)
    assert lat["throughput_per_s"] == pytest.approx(50e6 / report["cycles"]["model"]["per_inference"])
    assert "0 mismatched logits" in capsys.readouterr().out


def test_missing_verilator_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToolError, match="verilator is neither beside .* nor on PATH"):
        runner.verilator_version()


def test_the_venvs_verilator_is_found_without_an_activated_venv(monkeypatch):
    """`.venv/bin/faultedge sim` must work when the venv's bin is not on PATH (as `make demo` runs it)."""
    env_bin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if d != env_bin))
    assert runner.find_verilator() == str(Path(env_bin) / "verilator")
    assert os.environ["PATH"].startswith(env_bin + os.pathsep)
    assert runner.verilator_version()  # it runs (a failing --version raises ToolError)
