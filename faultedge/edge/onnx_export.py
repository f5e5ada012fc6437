"""ONNX export of a run's network of one family: fp32 and int8 QDQ networks, plus preprocessing front ends.

Any family whose steps include `export` (the FFT-feature networks: the CNN student, the axial-shift
MLP) exports the same way. Per precision three models, named by their input (the runner picks its
front end from it) and suffixed by the family as its quantised files are (model_fp32_axmlp.onnx, ...):
  model_fp32.onnx / model_int8_qdq.onnx         features  -> logits (the networks alone)
  model_*_magnitude.onnx                        |FFT| bins -> logits (normalisation in the graph;
                                                numpy does the FFT: the fast path)
  model_*_window.onnx                           raw window -> logits (ONNX DFT in the graph:
                                                one file for runtimes without numpy)
Everything the front ends compute comes from the run's preprocessing spec (mean, std, window),
and export refuses to write models whose outputs differ from PyTorch/Brevitas or whose front
ends differ from `Preprocessing.__call__` (see `verify`).
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, compose, helper, numpy_helper, version_converter

from faultedge.data.classes import CLASS_NAMES
from faultedge.data.dataset import Dataset
from faultedge.edge import runner
from faultedge.edge.artifacts import ONNX_DIR, OnnxModel, load_spec, report_name, sources
from faultedge.errors import FaultedgeError
from faultedge.families import STUDENT, Family
from faultedge.ir.files import Artifacts
from faultedge.runs import RunDir, atomic_path, read_json, write_json
from faultedge.ir.provenance import versions
from faultedge.train.pipeline import TrainConfig

OPSET = 13  # networks and normalisation: ONNX Runtime >= 1.8, so JetPack 4 builds run them too
OPSET_DFT = 17  # the first opset with DFT
LOGIT_TOL = 1e-4  # max |ORT - PyTorch/Brevitas| on logits
FEATURE_TOL = 1e-5  # max |front end - Preprocessing.__call__| on features


class ExportError(FaultedgeError):
    """An exported model failed its checks; nothing was written."""


# --------------------------------------------------------------------------- networks


def export_fp32(model: torch.nn.Module, n_features: int) -> onnx.ModelProto:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # input shape checks in forward trace to constants (the graph's input width is fixed anyway), and
        # F.pad's exporter reverses its constant pads with a step -1 Slice that ONNX Runtime folds on load
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)
        torch.onnx.export(model, (torch.zeros(1, n_features),), buf, dynamo=False, opset_version=OPSET, input_names=["features"],
                          output_names=["logits"], dynamic_axes={"features": {0: "N"}, "logits": {0: "N"}})
    return onnx.load_from_string(buf.getvalue())


def export_int8_qdq(net: torch.nn.Module, n_features: int) -> onnx.ModelProto:
    """Brevitas' QCDQ form: QuantizeLinear/Clip/DequantizeLinear around float ops, integer weights stored as int8."""
    from brevitas.export import export_onnx_qcdq

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "qcdq.onnx"
        export_onnx_qcdq(net, args=torch.zeros(1, n_features), export_path=str(path), dynamo=False, opset_version=OPSET,
                         input_names=["features"], output_names=["logits"], dynamic_axes={"features": {0: "N"}, "logits": {0: "N"}})
        return onnx.load(path)


# --------------------------------------------------------------------------- preprocessing front ends


def _model(nodes: list, inputs: list, outputs: list, inits: list, opset: int, name: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    opsets = [helper.make_opsetid("", opset)]
    # the oldest IR version that can hold the opset, so older runtimes load the file
    return helper.make_model(graph, opset_imports=opsets, producer_name="faultedge", ir_version=helper.find_min_ir_version_for(opsets))


def normalise_graph(spec: runner.Spec) -> onnx.ModelProto:
    """magnitude (N, bins) -> features: m * 1/(window*std) - mean/std, in float32."""
    bins = spec.bins
    return _model(
        [helper.make_node("Mul", ["magnitude", "normalise/scale"], ["normalise/scaled"]), helper.make_node("Sub", ["normalise/scaled", "normalise/offset"], ["features"])],
        [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["N", bins])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", bins])],
        [numpy_helper.from_array(spec.scale.astype(np.float32), "normalise/scale"), numpy_helper.from_array(spec.offset.astype(np.float32), "normalise/offset")],
        OPSET, "normalise",
    )


def dft_graph(spec: runner.Spec) -> onnx.ModelProto:
    """window (N, L) -> magnitude: |DFT| bins L/2 .. 1 in that order, unnormalised (ONNX DFT, opset 17); for a
    version-2 spec those bins averaged in pairs, then |DFT(window**2)| bins 1 .. L/4.

    The DFT runs in float64: ORT's float32 DFT misses the spec by more than 1e-5 on some data."""
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    quarter = spec.bins // 2
    nodes = [
        helper.make_node("Cast", ["window"], ["dft/window64"], to=TensorProto.DOUBLE),
        helper.make_node("Unsqueeze", ["dft/window64", "dft/axis_2"], ["dft/signal"]),  # DFT wants (N, L, 1) real
        helper.make_node("DFT", ["dft/signal"], ["dft/spectrum"], axis=1, onesided=1),  # (N, L/2+1, 2)
        helper.make_node("Slice", ["dft/spectrum", "dft/top", "dft/zero", "dft/axis_1", "dft/minus_one"], ["dft/half"]),
        helper.make_node("ReduceSumSquare", ["dft/half"], ["dft/power"], axes=[2], keepdims=0),
        helper.make_node("Sqrt", ["dft/power"], ["dft/magnitude64" if not spec.envelope else "dft/bins64"]),
    ]
    inits = [i64("dft/axis_2", [2]), i64("dft/top", [spec.bins]), i64("dft/zero", [0]), i64("dft/axis_1", [1]), i64("dft/minus_one", [-1])]
    if spec.envelope:
        nodes += [
            helper.make_node("Reshape", ["dft/bins64", "dft/pairs_shape"], ["dft/pairs"]),
            helper.make_node("ReduceMean", ["dft/pairs"], ["dft/pair_means"], axes=[2], keepdims=0),
            helper.make_node("Mul", ["dft/window64", "dft/window64"], ["dft/squared"]),
            helper.make_node("Unsqueeze", ["dft/squared", "dft/axis_2"], ["dft/squared_signal"]),
            helper.make_node("DFT", ["dft/squared_signal"], ["dft/envelope_spectrum"], axis=1, onesided=1),
            helper.make_node("Slice", ["dft/envelope_spectrum", "dft/one", "dft/envelope_end", "dft/axis_1"], ["dft/envelope_bins"]),
            helper.make_node("ReduceSumSquare", ["dft/envelope_bins"], ["dft/envelope_power"], axes=[2], keepdims=0),
            helper.make_node("Sqrt", ["dft/envelope_power"], ["dft/envelope"]),
            helper.make_node("Concat", ["dft/pair_means", "dft/envelope"], ["dft/magnitude64"], axis=1),
        ]
        inits += [i64("dft/pairs_shape", [-1, quarter, 2]), i64("dft/one", [1]), i64("dft/envelope_end", [quarter + 1])]
    nodes.append(helper.make_node("Cast", ["dft/magnitude64"], ["magnitude"], to=TensorProto.FLOAT))
    return _model(
        nodes,
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", spec.window])],
        [helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["N", spec.bins])],
        inits, OPSET_DFT, "dft_magnitude",
    )


def chain(first: onnx.ModelProto, second: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """first's single output feeds second's single input; opsets are raised to the higher one.

    The front-end graphs name their internal tensors "normalise/..." and "dft/...", so no prefixes
    are needed and the models keep their input names (the runner reads the front end from them)."""
    opset = max(m.opset_import[0].version for m in (first, second))
    first, second = (m if m.opset_import[0].version == opset else version_converter.convert_version(m, opset) for m in (first, second))
    first.ir_version = second.ir_version = min(first.ir_version, second.ir_version)
    io_map = [(first.graph.output[0].name, second.graph.input[0].name)]
    merged = compose.merge_models(first, second, io_map=io_map, producer_name="faultedge")
    merged.graph.name = name
    del merged.opset_import[:]  # merge_models keeps one entry per input model's import
    merged.opset_import.append(helper.make_opsetid("", opset))
    return merged


def front_end(spec: runner.Spec, front: str, threads: int = 1) -> runner.Classifier:
    """The runner's raw window -> features path alone (its numpy FFT for "magnitude", the ONNX DFT
    for "window"), through a graph that stops at the features: what parity checks and benchmarks time."""
    graph = normalise_graph(spec) if front == "magnitude" else chain(dft_graph(spec), normalise_graph(spec), "front")
    return runner.Classifier(graph.SerializeToString(), spec, ["CPUExecutionProvider"], threads)


def build_models(spec: runner.Spec, network: str, nets: dict[str, torch.nn.Module]) -> dict[OnnxModel, onnx.ModelProto]:
    """Every model of one family's networks (by precision), checked by onnx.checker."""
    exporters = {"fp32": export_fp32, "int8": export_int8_qdq}
    models = {}
    for precision, net in nets.items():
        alone = exporters[precision](net, spec.bins)
        magnitude = chain(normalise_graph(spec), alone, f"faultedge_{precision}_magnitude")
        models[OnnxModel(precision, "features", network)] = alone
        models[OnnxModel(precision, "magnitude", network)] = magnitude
        models[OnnxModel(precision, "window", network)] = chain(dft_graph(spec), magnitude, f"faultedge_{precision}_window")
    for m, proto in models.items():
        try:
            onnx.checker.check_model(proto, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"{m.name}: onnx.checker rejects the exported graph: {exc}") from None
    return models


# --------------------------------------------------------------------------- verification


def test_windows(run: RunDir) -> tuple[np.ndarray, np.ndarray]:
    """The run's noisy test windows and labels, rebuilt from config.json exactly as training saw them."""
    cfg = TrainConfig.from_dict(read_json(run.require("config.json")))
    windows, labels = Dataset(cfg.data).noisy("test")
    return windows, labels


@torch.no_grad()
def reference_logits(nets: dict[str, torch.nn.Module], features: np.ndarray) -> dict[str, np.ndarray]:
    """PyTorch/Brevitas logits by precision, taken before export: what the ONNX models must reproduce."""
    return {precision: net(torch.from_numpy(features)).numpy() for precision, net in nets.items()}


def verify(spec: runner.Spec, models: dict[OnnxModel, onnx.ModelProto], refs: dict[str, np.ndarray], windows: np.ndarray,
           features: np.ndarray) -> dict[str, Any]:
    """ORT vs PyTorch/Brevitas (`refs`) on every test window, per model; front ends vs Preprocessing.__call__ (`features`)."""
    report: dict[str, Any] = {"windows": int(len(windows))}
    # the front ends alone, against the one specification
    report["features_max_abs_diff"] = {front: float(np.abs(front_end(spec, front).logits(windows) - features).max())
                                       for front in ("magnitude", "window")}
    problems = [f"{front} front end differs from Preprocessing by {d:.2e} > {FEATURE_TOL}" for front, d in report["features_max_abs_diff"].items() if d > FEATURE_TOL]
    for m, proto in models.items():
        ref = refs[m.precision]
        clf = runner.Classifier(proto.SerializeToString(), spec)
        got = np.concatenate([clf.logits(chunk) for chunk in np.array_split(features if m.front == "features" else windows, max(1, len(windows) // 256))])
        err = np.abs(got - ref).max(axis=1)
        diff, agree = float(err.max()), int((got.argmax(1) == ref.argmax(1)).sum())
        report[m.key] = {"max_abs_logit_diff": diff, "argmax_agree": agree, "windows_over_tol": int((err > LOGIT_TOL).sum())}
        if m.front == "features" and (diff > LOGIT_TOL or agree != len(windows)):
            problems.append(f"{m.name}: ORT vs {'PyTorch' if m.precision == 'fp32' else 'Brevitas'}: max |logit diff| {diff:.2e}, argmax agrees on {agree}/{len(windows)}")
    if problems:
        raise ExportError("exported models failed verification, nothing was written: " + "; ".join(problems))
    return report


# --------------------------------------------------------------------------- the stage


def export(run: RunDir, family: Family = STUDENT) -> dict[str, Any]:
    """Export the family's networks, verify them on the whole test set, then write runs/NAME/onnx/*.onnx and
    the family's report (onnx/export.json for the student, onnx/export_NAME.json for another)."""
    prep, spec = load_spec(run)
    quantised = Artifacts(family.name, 8)
    model, weights = family.float_model(run)
    src = sources(run, family.name, weights)  # before the QAT weights are read: a change meanwhile leaves the report stale, not the models
    nets = {"fp32": model}
    if (run / quantised.qat).exists():
        nets["int8"] = family.load_qat(run, 8)
    windows, _ = test_windows(run)
    features = prep(windows, "test windows")
    refs = reference_logits(nets, features)
    models = build_models(spec, family.name, nets)
    parity = verify(spec, models, refs, windows, features)
    out = run / ONNX_DIR
    for m, proto in models.items():
        with atomic_path(out / m.name) as tmp:
            tmp.write_bytes(proto.SerializeToString())
    report = {
        "network": family.name,
        "float_weights": weights,
        "sources": src,
        "models": {m.key: m.name for m in models},
        "labels": list(CLASS_NAMES),
        "quantisation": read_json(run / "metrics.json").get(quantised.metrics_key) if "int8" in nets else None,
        "opsets": {"network": OPSET, "dft": OPSET_DFT},
        "parity": parity,
        "versions": {**versions(), "onnx": onnx.__version__, "onnxruntime": runner.ort.__version__},
    }
    write_json(out / report_name(family.name), report)
    return report
