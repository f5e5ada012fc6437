"""The accelerator generator: schedule and cycle model, deterministic Verilog, clear errors (no simulator here)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from amaranth import signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from faultedge.cli import main
from faultedge.errors import IRError
from faultedge.hdl import build_accelerator, generate_verilog, plan
from faultedge.hdl.artifacts import ports
from faultedge.hdl.components.streams import accelerator_signature, stream_ports
from faultedge.hdl.cycles import model
from faultedge.ir import IRModel


@pytest.fixture(scope="module")
def student_ir(edge_run) -> IRModel:
    return IRModel.load(edge_run[0] / "model.ir.json")


@pytest.fixture()
def student_run(edge_run, tmp_path):
    """A run directory holding only what `faultedge hdl` and `faultedge sim` read."""
    for name in ("model.ir.json", "golden_vectors.npz"):
        shutil.copy(edge_run[0] / name, tmp_path / name)
    return tmp_path


def test_student_schedule_reaches_the_bound_up_to_the_pipeline_drain(student_ir):
    macs = student_ir.macs
    assert macs == 4 * 128 * 64 + 256 * 10
    for lanes, beat in [(1, 1), (8, 1), (32, 1), (64, 8), (256, 8)]:
        p = plan(student_ir, lanes, beat)
        cm = model(p)
        assert cm.bound == max(-(-macs // lanes), 1024 // beat)
        assert cm.per_inference == max(cm.load, cm.compute)
        # every issued cycle keeps all lanes busy; the only overhead is a fixed drain per stage
        assert sum(s.issue_cycles for s in p.stages) == -(-macs // lanes)
        assert cm.compute - -(-macs // lanes) <= 2 * 20 + 10 + 2
        assert cm.latency_first == cm.load - 1 + cm.compute and cm.latency_last == cm.compute
    assert model(plan(student_ir, 32)).per_inference == 1140  # bound 1,104 (previous design: 1,127)


def test_accelerator_ports_are_two_streams(student_ir):
    acc = build_accelerator(student_ir, 16, 4)
    assert (acc.input_bits, acc.n_inputs, acc.n_classes, acc.lanes, acc.beat) == (8, 1024, 10, 16, 4)
    lb = acc.logit_bits
    assert lb == student_ir.logits_layer.acc_bits
    members = acc.signature.members
    assert set(members) == {"beats", "result"}
    assert members["beats"] == In(stream.Signature(data.ArrayLayout(signed(8), 4)))  # value k in bits [8k, 8k + 8)
    result = data.StructLayout({"cls": 4, "logits": data.ArrayLayout(signed(lb), 10)})  # the class in the low bits, then class 0's logit
    assert members["result"] == Out(stream.Signature(result))
    assert acc.signature == accelerator_signature(beat=4, input_bits=8, n_classes=10, logit_bits=lb)
    assert ports(acc) == {
        "beats__payload": {"direction": "in", "width": 32}, "beats__valid": {"direction": "in", "width": 1}, "beats__ready": {"direction": "out", "width": 1},
        "result__payload": {"direction": "out", "width": 4 + 10 * lb}, "result__valid": {"direction": "out", "width": 1},
        "result__ready": {"direction": "in", "width": 1}}
    assert stream_ports(acc.signature) == {
        "input": {"valid": "beats__valid", "ready": "beats__ready", "payload": "beats__payload"},
        "output": {"valid": "result__valid", "ready": "result__ready", "payload": "result__payload", "fields": {"cls": [0, 4], "logits": [4, 10 * lb]}}}
    verilog = generate_verilog(student_ir, 16, 4)  # the Verilog module's ports are exactly these
    assert set(re.search(r"module faultedge_accel\((.*?)\);", verilog).group(1).split(", ")) == {"clk", "rst", *ports(acc)}
    for name, port in ports(acc).items():
        width = f"[{port['width'] - 1}:0] " if port["width"] > 1 else ""
        assert f"  {'input' if port['direction'] == 'in' else 'output'} {width}{name};" in verilog


def _verilog_sha_in_subprocess(ir_path, lanes: int, beat: int, hash_seed: str) -> str:
    code = ("import hashlib, sys; from faultedge.ir import IRModel; from faultedge.hdl import generate_verilog; "
            f"print(hashlib.sha256(generate_verilog(IRModel.load(sys.argv[1]), {lanes}, {beat}).encode()).hexdigest())")
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    res = subprocess.run([sys.executable, "-c", code, str(ir_path)], capture_output=True, text=True, env=env, check=True)
    return res.stdout.strip()


def test_verilog_is_byte_identical_across_processes(edge_run, student_ir):
    ir_path = edge_run[0] / "model.ir.json"
    here = hashlib.sha256(generate_verilog(student_ir, 8, 8).encode()).hexdigest()
    assert _verilog_sha_in_subprocess(ir_path, 8, 8, "12345") == here  # another process, another hash seed
    assert generate_verilog(student_ir, 16, 8) != generate_verilog(student_ir, 8, 8)
    text = generate_verilog(student_ir, 8, 8, name="my_accel")
    assert "module my_accel(" in text and str(ir_path.parent) not in text  # no source paths baked in


@dataclasses.dataclass(frozen=True)
class _Gelu:
    name: str
    in_shape: tuple
    out_shape: tuple
    op: str = "gelu"


def test_unsupported_ops_and_options_get_clear_errors(student_ir):
    layers = list(student_ir.layers)
    gelu = dataclasses.replace(student_ir, layers=(layers[0], _Gelu("act", layers[0].out_shape, layers[0].out_shape), *layers[1:]))
    with pytest.raises(IRError, match=r"faultedge\.hdl\) does not support op 'gelu' \(layer 'act'\); supported: add, argmax, conv1d, linear, maxpool1d, shift"):
        generate_verilog(gelu, 8)
    pool = layers[1]
    overlapping = dataclasses.replace(student_ir, layers=(layers[0], dataclasses.replace(pool, kernel=3), *layers[2:]))
    with pytest.raises(IRError, match="max-pool after conv1d with kernel <= stride"):
        plan(overlapping, 8)
    with pytest.raises(IRError, match="lanes must be a power of two"):
        plan(student_ir, 12)
    with pytest.raises(IRError, match="beat must be a power of two dividing the 1024 inputs"):
        plan(student_ir, 8, 3)


def test_hdl_command_writes_verilog_and_report(student_run, capsys):
    assert main(["hdl", str(student_run), "--lanes", "16", "--beat", "4"]) == 0
    report = json.loads((student_run / "hdl" / "report.json").read_text())
    verilog = (student_run / "hdl" / "faultedge_accel.v").read_text()
    assert report["lanes"] == 16 and report["beat"] == 4 and report["macs"] == 35328
    assert report["cycles"] == report["cycle_model"]["per_inference"] >= report["bound"] == 2208
    assert report["ports"] == ports(build_accelerator(IRModel.load(student_run / "model.ir.json"), 16, 4))  # read from the signature
    assert report["ports"]["beats__payload"] == {"direction": "in", "width": 32}
    assert report["ports"]["result__payload"] == {"direction": "out", "width": 4 + 10 * report["logit_bits"]}
    assert json.loads((student_run / "hdl" / "design.json").read_text()) == {
        "network": "student", "bits": 8, "engine": "mac1d", "lanes": 16, "beat": 4, "board": "ulx3s-85f", "frontend": "none"}
    assert report["memory_bits"]["weights"] == sum(s["groups"] * s["chunks"] for s in report["stages"]) * 16 * 8
    assert report["verilog_sha256"] == hashlib.sha256(verilog.encode()).hexdigest()
    assert "module faultedge_accel(" in verilog
    assert "cycles per inference (bound 2,208)" in capsys.readouterr().out


def test_hdl_command_on_a_run_without_ir(tmp_path, capsys):
    assert main(["hdl", str(tmp_path), "--lanes", "8"]) == 2
    assert f"has no model.ir.json: run `faultedge quantize {tmp_path} --network student --bits 8` first" in capsys.readouterr().err
    assert not (tmp_path / "hdl").exists()
