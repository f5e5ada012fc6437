"""The named flow steps, in the style of FINN's build steps: each is a function of (run, config) -> report.

    train     the family's training (1-D pipeline; or distillation + MKW-Net)
    quantize  QAT -> integer IR -> golden vectors, golden == Brevitas checked
    export    ONNX fp32 + int8, verified against PyTorch / Brevitas
    hdl       the design point -> Verilog + hdl/design.json + hdl/report.json
    sim       cocotb + Verilator on what hdl wrote, bit- and cycle-exact against the golden model
    fpga      the Verilog hdl wrote in a board top -> bitstream + report
    bundle    an edge bundle (numpy + onnxruntime only)
    bench     latency of every inference path side by side

A step also knows how to summarise its report for a person, the command that runs it alone, and
when its report means the flow must stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from faultedge.errors import FaultedgeError
from faultedge.sim import DEFAULT_WINDOWS
from faultedge.runs import RunDir
from faultedge.tables import format_table

if TYPE_CHECKING:  # the steps import their stages when they run, so the step names load without torch or Amaranth
    from faultedge.flow.config import FlowConfig

Report = dict[str, Any]


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[RunDir, "FlowConfig"], Report]
    summary: Callable[[Report, "FlowConfig"], list[str]]
    command: Callable[[RunDir, "FlowConfig"], str]  # the same step alone, as a user types it
    failure: Callable[[Report], str | None] = lambda report: None  # a reason to stop the flow


class StepFailed(FaultedgeError):
    """A step finished, but its result means the steps after it must not run (it says why)."""


# ---------------------------------------------------------------------------------------- train


def train(run: RunDir, cfg: "FlowConfig") -> Report:
    return cfg.family.train(run, cfg.train_spec(), cfg.progress)


TRAIN_COLUMNS = [("stage", "stage"), ("params", "params"), ("trainable_params", "trainable"), ("train_images", "training images"),
                 ("macs", "MACs"), ("accuracy", "test acc %"), ("f1", "macro F1 %"), ("epochs_run", "epochs"), ("train_seconds", "seconds")]


def train_summary(report: Report, cfg: "FlowConfig") -> list[str]:
    """One row per trained model; the columns its family's entries have."""
    rows = [{**m, "stage": "merged" if stage == "merge" else stage, "accuracy": m["test"]["accuracy"], "f1": m["test"]["f1_macro"]}
            for stage, m in report.items() if "test" in m]
    lines = format_table(rows, [c for c in TRAIN_COLUMNS if any(r.get(c[0]) is not None for r in rows)])
    if "distill" in report:
        d = report["distill"]
        lines.insert(0, f"distilled {d['images_per_class']} images per class in {d['seconds_total']:.0f} s; matching loss "
                        f"{d['loss_first_10']:.3f} -> {d['loss_last_10']:.3f}")
    return lines


def train_command(run: RunDir, cfg: "FlowConfig") -> str:
    data = f" --data {cfg.data}" if cfg.data else ""
    return f"faultedge run {run.path} --network {cfg.network}{data} --steps train"


# ---------------------------------------------------------------------------------------- quantize


def quantize(run: RunDir, cfg: "FlowConfig") -> Report:
    from faultedge.quant.stage import quantize as quantize_run

    return quantize_run(run, cfg.family, cfg.qat_config(), cfg.source, cfg.progress)


def quantize_summary(entry: Report, cfg: "FlowConfig") -> list[str]:
    name = entry["network"]
    lines = format_table([{"model": f"{name} float", "acc": entry["float_test"]["accuracy"], "f1": entry["float_test"]["f1_macro"]},
                          {"model": f"{name} {entry['bits']}-bit (golden)", "acc": entry["test"]["accuracy"], "f1": entry["test"]["f1_macro"]}],
                         [("model", "model"), ("acc", "test acc %"), ("f1", "macro F1 %")])
    check = entry["golden_vs_brevitas"]
    lines.append(f"F1 drop {entry['f1_drop_pp']:+.2f} pp; golden == Brevitas (float64) on {check['samples']} test samples: "
                 f"{check['mismatched_logits']} mismatched logits")
    if entry.get("float_temperature", 0.0) > 0:
        lines.append(f"note: the float network was saved at temperature {entry['float_temperature']:.2f}; the fixed-point one runs at 0 (fully dynamic)")
    lines.append(f"wrote {', '.join(entry['artifacts'].values())}")
    return lines


def quantize_command(run: RunDir, cfg: "FlowConfig") -> str:
    opts = "".join(f" --{k} {v}" for k, v in cfg.qat.items())
    source = f" --train-on {cfg.source}" if cfg.source else ""
    return f"faultedge quantize {run.path} --network {cfg.network} --bits {cfg.bits}{source}{opts}"


# ---------------------------------------------------------------------------------------- export


def export(run: RunDir, cfg: "FlowConfig") -> Report:
    from faultedge.edge.onnx_export import export as export_onnx

    return export_onnx(run, cfg.family)


def export_summary(report: Report, cfg: "FlowConfig") -> list[str]:
    parity = report["parity"]
    n = parity["windows"]
    rows = [{"model": name, "diff": f"{parity[key]['max_abs_logit_diff']:.2e}", "over": parity[key]["windows_over_tol"],
             "agree": f"{parity[key]['argmax_agree']}/{n}"} for key, name in report["models"].items()]
    lines = format_table(rows, [("model", "model"), ("diff", "max |logit - PyTorch/Brevitas|"), ("over", "windows > 1e-4"), ("agree", "same class")])
    fronts = ", ".join(f"{k} {v:.1e}" for k, v in parity["features_max_abs_diff"].items())
    return lines + [f"front ends vs the preprocessing spec (max |feature diff|): {fronts}",
                    "the networks alone (model_*.onnx) must match exactly; with a front end, float32 FFT rounding can move an int8 "
                    "input across a quantisation step (one LSB) on a few windows",
                    f"wrote {len(rows)} models and their report in onnx/"]


# ---------------------------------------------------------------------------------------- hdl


def hdl(run: RunDir, cfg: "FlowConfig") -> Report:
    from faultedge.fpga.board import load_fpga_board
    from faultedge.fpga.build import check_board_memories
    from faultedge.hdl.artifacts import write_hdl

    design = cfg.design()
    check_board_memories(design.frontend, load_fpga_board(design.board))
    return write_hdl(run, design)


def hdl_summary(report: Report, cfg: "FlowConfig") -> list[str]:
    if "pc" in report["stages"][0]:
        lines = format_table(report["stages"], [("name", "stage"), ("pc", "channel lanes"), ("pr", "reduction lanes"), ("issue_cycles", "issue cycles"),
                                                ("banks", "banks")])
    else:  # the image engine: one row per phase
        lines = format_table(report["stages"], [("name", "phase"), ("cycles", "cycles")])
    cm, d = report["cycle_model"], report["design"]
    lines.append(f"{d['network']}, {d['bits']} bit, {d['engine']} engine, {report['lanes']} lanes, beat {report['beat']}: "
                 f"{cm['per_inference']:,} cycles per inference (bound {cm['bound']:,}), latency {cm['latency_first']:,} cycles from the "
                 f"first input beat, {cm['latency_last']:,} from the last; {report['macs']:,} MACs, {report['memory_bits']['total']:,} memory bits")
    if "frontend" in report:
        fe = report["frontend"]
        fm = fe["cycle_model"]
        lines.append(f"raw samples in: {fe['architecture']} FFT front end, window {fe['window']}, hop {fe['hop']}, {fe['sample_bits']}-bit samples: "
                     f"{fm['latency_last_sample']:,} cycles from a window's last sample to its class at one sample per cycle "
                     f"({fm['to_features']:,} to the engine's input; {fm['latency_slow_stream']:,} for samples slower than one per "
                     f"{fe['points']:,} cycles), {fm['cycles_per_hop']:,} cycles per hop at the highest rate "
                     f"({fm['samples_per_cycle']:.3f} samples per cycle)")
    return lines + ["wrote hdl/faultedge_accel.v, hdl/design.json and hdl/report.json"]


def hdl_command(run: RunDir, cfg: "FlowConfig") -> str:
    d = cfg.design()
    frontend = f" --frontend {d.frontend}" if d.sample_in else ""
    return f"faultedge hdl {run.path} --network {d.network} --bits {d.bits} --lanes {d.lanes} --beat {d.beat}{frontend}"


# ---------------------------------------------------------------------------------------- sim


def sim(run: RunDir, cfg: "FlowConfig") -> Report:
    from faultedge.families import family
    from faultedge.hdl.design import read_design
    from faultedge.sim.report import simulate_run

    extra = family(read_design(run).network).sim_inputs
    s = cfg.sim
    return simulate_run(run, extra if s.random is None else s.random, extra if s.backpressure is None else s.backpressure, s.limit,
                        s.clock_mhz, s.seed, cfg.progress, s.windows)


def sim_summary(report: Report, cfg: "FlowConfig") -> list[str]:
    if "windows" in report:
        return sample_sim_summary(report)
    mm, cyc, lat, v = report["mismatches"], report["cycles"], report["latency"], report["vectors"]
    return [f"{v['total']:,} inferences ({v['vectors']:,} golden vectors, {v['random']} random, {v['extremes']} extremes, "
            f"{v['backpressure']} under back-pressure): {mm['samples']} mismatched samples, {mm['logits']} mismatched logits",
            f"cycles per inference: measured {cyc['measured']['per_inference_min']:,}, model {cyc['model']['per_inference']:,} "
            f"({'equal' if cyc['match'] else 'DIFFERENT'}); latency {cyc['measured']['latency_first']:,} cycles from the first input beat "
            f"({lat['first_beat_to_result_us']:.2f} us at {lat['clock_mhz']:g} MHz), {cyc['measured']['latency_last']:,} from the last",
            "wrote sim/report.json"]


def sample_sim_summary(report: Report) -> list[str]:
    """A sample-in design's simulation: windows by kind, mismatches, latency and cycles per hop against the model."""
    mm, cyc, lat, w = report["mismatches"], report["cycles"], report["latency"], report["windows"]
    model, measured = cyc["model"], cyc["measured"]
    kinds = ", ".join(f"{n} {k}" for k, n in w["kinds"].items())
    return [f"{w['total']:,} windows of {w['samples']:,} raw samples ({kinds}): {mm['samples']} mismatched windows, {mm['logits']} mismatched logits",
            f"last sample -> class at one sample per cycle: measured {', '.join(map(str, measured['latency_last_sample'])) or '-'} cycles, "
            f"model {model['latency_last_sample']:,} ({lat['last_sample_to_result_us']:.2f} us at {lat['clock_mhz']:g} MHz); at one sample "
            f"per {model['pace']} cycles: measured {', '.join(map(str, measured['latency_paced']))}, model {model['latency_paced']:,}; "
            f"cycles per hop at full rate: measured "
            f"{', '.join(map(str, measured['cycles_per_hop']))}, model {model['cycles_per_hop']:,} ({'equal' if cyc['match'] else 'DIFFERENT'}); "
            f"highest sustained rate {lat['samples_per_s'] / 1e6:.2f} M samples/s at hop {model['hop']}",
            "wrote sim/report.json"]


def sim_failure(report: Report) -> str | None:
    if not report["bit_exact"]:
        what = "windows" if "windows" in report else "inputs"
        return f"the RTL differs from the golden model on {report['mismatches']['samples']} {what} (sim/report.json lists the first)"
    if not report["cycles"]["match"]:
        return "the measured cycles differ from the cycle model (sim/report.json)"
    return None


def sim_command(run: RunDir, cfg: "FlowConfig") -> str:
    s = cfg.sim
    opts = [f"--{k} {v}" for k, v in (("limit", s.limit), ("random", s.random), ("backpressure", s.backpressure)) if v is not None]
    if s.windows != DEFAULT_WINDOWS:
        opts.append(f"--windows {s.windows}")
    return " ".join([f"faultedge sim {run.path}", *opts])


# ---------------------------------------------------------------------------------------- fpga


def fpga(run: RunDir, cfg: "FlowConfig") -> Report:
    from faultedge.fpga.build import build

    return build(run, cfg.fpga_board, cfg.fpga, log=print if cfg.progress else lambda line: None)


def fpga_summary(r: Report, cfg: "FlowConfig") -> list[str]:
    res = r.get("resources", {})
    avail = res.get("available", {})
    c = r["cycles"]
    lines = [f"{r['board']} ({r['device']}): {r['fit']['message']}",
             ", ".join(f"{k} {res[k]:,}/{avail.get(k, 0):,}" for k in ("lut", "ff", "dsp", "bram") if k in res) + f" ({res.get('stage')})",
             f"cycles: {c['latency_first']} first beat -> result, {c['latency_last']} last beat -> result, {c['per_inference']} per inference (steady state)"]
    if r.get("fmax_mhz"):
        lines.append(f"Fmax {r['fmax_mhz']:.2f} MHz, core clock {r['clock_mhz']:g} MHz: timing {'met' if r['timing_met'] else 'NOT met'}")
    if r.get("latency_last_sample_us") is not None:
        fe = r["frontend"]
        lines.append(f"raw samples in: {r['latency_last_sample_us']:.3f} us from a window's last sample to its class at one sample per "
                     f"cycle ({r['latency_slow_stream_us']:.3f} us for a slow stream), up to "
                     f"{r['samples_per_s'] / 1e6:.2f} M samples/s at hop {fe['hop']} ({r['results_per_s']:,.0f} results/s)")
        res = fe["resources"]
        lines.append("the front end alone: " + ", ".join(f"{k} {res[k]:,}" for k in ("lut", "ff", "dsp", "bram")) + f" ({res['stage']})")
    elif r.get("latency_us") is not None:
        lines.append(f"latency {r['latency_us']:.3f} us (first beat), {r['latency_last_beat_us']:.3f} us (last beat), {r['throughput_per_s']:,.0f} windows/s")
    if r.get("bitstream"):
        lines.append(f"bitstream {r['bitstream']['path']} (sha256 {r['bitstream']['sha256'][:16]}...)")
    if r.get("vivado"):
        lines.append(f"Vivado: {r['vivado']['run']}")
    return lines


def fpga_failure(report: Report) -> str | None:
    return "timing is not met at the core clock: no bitstream (lower --clock-mhz)" if report.get("timing_met") is False else None


def fpga_command(run: RunDir, cfg: "FlowConfig") -> str:
    board = f" --board {cfg.fpga_board}" if cfg.fpga_board else ""
    target = f" --target-mhz {cfg.fpga.target_mhz:g}" if cfg.fpga.target_mhz else ""
    return f"faultedge fpga build {run.path}{board}{target}"


# ---------------------------------------------------------------------------------------- bundle


def bundle(run: RunDir, cfg: "FlowConfig") -> Report:
    from faultedge.edge.bundle import default_out, deploy

    b = cfg.bundle
    out = b.out or default_out(run, b.board, cfg.family)
    return {"out": str(out), **deploy(run, b.board, out, replace=b.replace, family=cfg.family)}


def bundle_summary(manifest: Report, cfg: "FlowConfig") -> list[str]:
    board, out = manifest["board"], manifest["out"]
    return [f"bundle for {board['description']} in {out}: {len(manifest['files'])} files ({', '.join(sorted(manifest['files']))})",
            f"default: {board['precision']} model, {board['threads']} thread(s), providers {' > '.join(board['providers'])}",
            f"on the device: see {out}/README.md; then `python run.py RECORDING.npy`"]


# ---------------------------------------------------------------------------------------- bench


def bench(run: RunDir, cfg: "FlowConfig") -> Report:
    from faultedge.edge.bench import bench as bench_run

    return bench_run(run, cfg.bench)


def bench_summary(result: Report, cfg: "FlowConfig") -> list[str]:
    from faultedge.edge.bench import TABLE, table_rows

    rows = table_rows(result)
    if not cfg.bench_compact:
        return format_table(rows, TABLE) + [f"{result['cpu']}; load average {result['load_average'][0]:.1f} during the run; wrote bench/report.json"]
    rows = [row for row in rows if row["threads"] in (1, "-") and row["scope"] == "model only"]
    return ["latency per window, features in (model only), one CPU thread; the accelerator at its post-route clock:", *format_table(rows, TABLE)]


STEPS: dict[str, Step] = {
    s.name: s
    for s in (
        Step("train", "training", train, train_summary, train_command),
        Step("quantize", "quantisation-aware training -> integer IR, checked against Brevitas", quantize, quantize_summary, quantize_command),
        Step("export", "ONNX export (fp32, int8 QDQ), verified against PyTorch/Brevitas", export, export_summary,
             lambda run, cfg: f"faultedge export {run.path} --network {cfg.network}"),
        Step("hdl", "the accelerator's Verilog and design point", hdl, hdl_summary, hdl_command),
        Step("sim", "bit-exact simulation (Verilator) against the golden model", sim, sim_summary, sim_command, sim_failure),
        Step("fpga", "FPGA build: yosys -> nextpnr -> bitstream, core clock from the achieved Fmax", fpga, fpga_summary, fpga_command, fpga_failure),
        Step("bundle", "edge bundle", bundle, bundle_summary, lambda run, cfg: f"faultedge deploy {run.path} --board {cfg.bundle.board} --network {cfg.network}"),
        Step("bench", "latency, batch 1: PyTorch eager, ONNX Runtime fp32/int8, the accelerator", bench, bench_summary,
             lambda run, cfg: f"faultedge bench {run.path}"),
    )
}
