"""How closely the integer front end (faultedge.ir.frontend) follows the float preprocessing.

On real CWRU 0 hp test windows (at -6 dB and noise-free) the integer magnitude of every bin,
times its LSB, is compared with |FFT(window, norm="forward")|, in units of that bin's training
std (what the network sees); then the network inputs themselves (input-grid LSBs) against the
float features quantised to the same grid. Variants: sample width and the FFT's shift schedule.
Writes JSON and a plot of the error per bin.

    python benchmarks/frontend_error.py --data ../shared/data/cwru
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faultedge.data.cwru import load_recordings
from faultedge.data.features import FEATURES, SCALES, Preprocessing, feature_blocks, raw_features
from faultedge.data.noise import add_awgn
from faultedge.data.splits import SplitSpec, make_splits
from faultedge.ir import frontend
from faultedge.ir.provenance import versions
from faultedge.plots import plt, save_figure
from faultedge.runs import write_json

INPUT_SCALE_EXP = -4  # the 8-bit student's input grid (1/16 of a training std)
WINDOW = 2048


def variants() -> dict[str, dict]:
    every = (1,) * ((WINDOW // 2).bit_length() - 1)
    return {f"{bits}-bit samples, {name}": {"sample_bits": bits, "shifts": shifts}
            for bits in (12, 16, 24) for name, shifts in ((f"default schedule (values grow to {frontend.VALUE_BITS} bits)",
                                                          frontend.default_shifts(WINDOW, bits)), ("every stage drops a bit", every))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/cwru")
    ap.add_argument("--windows", type=int, default=100, help="test windows per class (and training windows for the statistics)")
    ap.add_argument("--features", choices=tuple(FEATURES), default="fft", help="the features computed (fft+envelope: the error per block too)")
    ap.add_argument("--feature-scale", choices=SCALES, default="bin", help="the std the error is measured in: each bin's (default, as "
                    "the first table), or one per block (the robust recipe's)")
    ap.add_argument("--out", default="benchmarks/results/frontend_error.json")
    args = ap.parse_args()

    splits = make_splits(load_recordings(Path(args.data), (0,)), SplitSpec(n_train=args.windows, n_val=10, n_test=args.windows), seed=0)
    rng = np.random.default_rng(0)
    train = add_awgn(splits.train.x, -6.0, rng)
    prep = Preprocessing.fit(train, scale=args.feature_scale, features=args.features)
    tests = {"-6 dB": add_awgn(splits.test.x, -6.0, rng), "noise-free": splits.test.x}
    lsb16 = frontend.full_scale_lsb(float(np.abs(train).max()), 16)
    result: dict = {"data": args.data, "features": args.features, "feature_scale": args.feature_scale, "windows_per_class": args.windows, "input_scale_exp": INPUT_SCALE_EXP,
                    "versions": versions(), "variants": {}}
    blocks = dict(zip(("spectrum", "envelope") if args.features != "fft" else ("spectrum",), feature_blocks(args.features, WINDOW // 2)))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, v in variants().items():
        lsb = lsb16 * 2.0 ** (16 - v["sample_bits"])  # the same full scale at every width
        fe = frontend.fit(prep.mean, prep.std, INPUT_SCALE_EXP, (-128, 127), v["sample_bits"], lsb, WINDOW, WINDOW // 2, v["shifts"], 16,
                          args.features)
        rows = {}
        for cond, windows in tests.items():
            samples = frontend.quantize_samples(fe, windows)
            err = (frontend.feature_values(fe, samples) - raw_features(windows, args.features)) / prep.std
            ref = np.clip(np.round(prep(windows) / 2.0**INPUT_SCALE_EXP), -128, 127)
            diff = np.abs(frontend.inputs(fe, samples) - ref)
            rows[cond] = {"magnitude_error_std": {"mean_abs": float(np.abs(err).mean()), "p99_abs": float(np.percentile(np.abs(err), 99)),
                                                  "max_abs": float(np.abs(err).max()), "mean_signed": float(err.mean())},
                          "inputs_lsb": {"mean_abs": float(diff.mean()), "max": int(diff.max()), "fraction_differing": float((diff > 0).mean())},
                          "blocks": {b: {"mean_abs": float(np.abs(err[:, sl]).mean()), "p99_abs": float(np.percentile(np.abs(err[:, sl]), 99))}
                                     for b, sl in blocks.items()}}
            if cond == "-6 dB" and "default" in name:
                x = np.arange(WINDOW // 2, 0, -1) * 12000 / WINDOW if args.features == "fft" else np.arange(WINDOW // 2)
                ax.plot(x, np.abs(err).mean(0), lw=0.8, label=f"{v['sample_bits']}-bit samples")
        result["variants"][name] = {"sample_bits": v["sample_bits"], "shifts": list(v["shifts"]), "sample_lsb": lsb,
                                    "widths": list(fe.widths), "results": rows}
        r = rows["-6 dB"]
        per_block = "; ".join(f"{b} {e['mean_abs']:.4f} / {e['p99_abs']:.4f}" for b, e in r["blocks"].items())
        print(f"{name}: -6 dB |error| mean {r['magnitude_error_std']['mean_abs']:.4f} std, p99 {r['magnitude_error_std']['p99_abs']:.4f} "
              f"({per_block}); inputs differ by <= {r['inputs_lsb']['max']} LSB on {100 * r['inputs_lsb']['fraction_differing']:.1f} %")
    ax.set_xlabel("bin frequency (Hz)" if args.features == "fft" else "feature (spectrum pairs 0-511, envelope 512-1023)")
    ax.set_ylabel("mean |error| (training std)")
    ax.set_title(f"integer front end vs float {args.features} features, CWRU 0 hp, -6 dB, default FFT schedule")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    out = Path(args.out)
    save_figure(fig, out.with_suffix(".png"))
    write_json(out, result)
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
