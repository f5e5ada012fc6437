"""Where a training run's time goes: one epoch's data preparation against one epoch's compute per stage.

Per epoch of the default recipe on CWRU 0 hp (5,000 training windows): the augmented windows and
their features (speed resampling, noise, FFT, normalisation; `Session.epoch_data`, which the epoch
store runs on a worker thread), then one epoch of teacher training and of DKD student training
(the teacher's forward pass included) at batch 64, 128 and 256, on one torch thread. The ratios
say what larger batches would buy and how much of an epoch the worker thread hides.

    python benchmarks/train_profile.py --data ../shared/data/cwru
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from faultedge.data.dataset import DataSpec
from faultedge.ir.provenance import versions
from faultedge.models.student import Student
from faultedge.models.teacher import Teacher
from faultedge.runs import RunDir, write_json
from faultedge.train.pipeline import Session, TrainConfig, prepare_run

BATCHES = (64, 128, 256)


def epoch_seconds(x: torch.Tensor, y: torch.Tensor, batch: int, teacher: Teacher, student: Student | None) -> float:
    """One epoch of Adam steps: the teacher's own (student None) or the student's against the teacher's logits."""
    model = teacher if student is None else student
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    t0 = time.perf_counter()
    for i in range(0, len(x), batch):
        xb, yb = x[i : i + batch], y[i : i + batch]
        if student is not None:
            with torch.no_grad():
                teacher(xb)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/cwru")
    ap.add_argument("--out", default="benchmarks/results/train_profile.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp))
        session = Session(run, prepare_run(run, TrainConfig(data=DataSpec(source=args.data))), progress=False)
        t0 = time.perf_counter()
        x, y = session.epoch_data(1)
        prepare_s = time.perf_counter() - t0
    teacher, student = Teacher(x.shape[1], 10), Student(x.shape[1], 10)
    rows = []
    for batch in BATCHES:
        rows.append({"batch": batch, "teacher_epoch_s": round(epoch_seconds(x, y, batch, teacher, None), 3),
                     "student_epoch_s": round(epoch_seconds(x, y, batch, teacher.eval(), student), 3)})
        teacher.train()
        print(f"batch {batch}: teacher epoch {rows[-1]['teacher_epoch_s']:.2f} s, DKD student epoch {rows[-1]['student_epoch_s']:.2f} s")
    print(f"one epoch's data ({len(x)} windows): {prepare_s:.2f} s")
    write_json(Path(args.out), {"windows": len(x), "epoch_data_s": round(prepare_s, 3), "epochs": rows, "threads": 1, "versions": versions()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
