"""Teacher-free dynamic distillation (seed 004), adapted from detection to classifying spectra.

No teacher is pre-trained. A dynamic teacher is trained in the same stage as the student:

- label encoder: the class one-hot -> K label embeddings (the paper's label descriptors of N objects;
  one label per window here, so K learnt tokens per class give the attention something to choose from);
- appearance encoder: a linear map of the student's token features (the paper's 1×1 F_proj; one
  "virtual object", the whole window, so no mask pooling), gradients stopped at the student;
- interaction encoder: multi-head attention, appearance as queries, label embeddings as keys and
  values (Eq. 3-4);
- feature adaptor: token mixing + channel mixing, summed and projected back to the student's
  channels (Eq. 5, Vision Permutator's scheme in one dimension), giving the teacher's token features;
- the student's head, shared: it classifies the teacher's features too.

    L = CE(student) + CE(teacher) + λ·[KL_τ(teacher logits ‖ student logits)
                                       + μ·KL_τ(teacher features ‖ f_adapt(student features))]

The KL terms are τ²-scaled (faultedge.train.losses.kd_loss) and the teacher is detached in them; the
feature term is Eq. 7 on the feature maps (per channel, a distribution over the tokens), f_adapt a
training-only linear map (Eq. 6). Only the student is saved. The SNR and load are not encoded: the
robust recipe draws each window's SNR inside faultedge.data.augment without returning it, and
training uses one load.

The data are the robust recipe's (faultedge.train.pipeline.Session: its noise range, speed jitter,
cached epochs) and the stage trains with the run's DKD-student schedule (`TrainConfig.student`),
so it compares fairly with the DKD chain.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faultedge.data.classes import NUM_CLASSES
from faultedge.errors import RunDirError
from faultedge.models.axial_mlp import AxialMLP, AxialMLPConfig
from faultedge.models.student import Student
from faultedge.runs import RunDir, read_json, write_json
from faultedge.train.loop import fit
from faultedge.train.losses import kd_loss
from faultedge.train.pipeline import Session, TrainConfig, prepare_run

STUDENTS = ("axmlp", "cnn")  # the axial-shift MLP, or the 2,830-parameter CNN student
DISTILL = ("dynamic", "none")  # the dynamic teacher, or the student alone on the labels
WEIGHTS = {"axmlp": "axmlp.pt", "cnn": "student_sdd.pt"}
CONFIG = "sdd_config.json"


@dataclass(frozen=True)
class SDDConfig:
    """The student, whether it is distilled, and the dynamic teacher's size and loss weights."""

    student: str = "axmlp"
    distill: str = "dynamic"
    lam: float = 1.0  # λ of Eq. 8 (the paper's value)
    temperature: float = 4.0  # τ of Eq. 7
    feature_weight: float = 1.0  # μ: the feature-map KL beside the logit KL
    label_tokens: int = 4  # K label embeddings per class
    embed_dim: int = 16  # the teacher's embedding width
    heads: int = 2
    mlp: AxialMLPConfig = field(default_factory=AxialMLPConfig)

    def __post_init__(self) -> None:
        if self.student not in STUDENTS:
            raise RunDirError(f"sdd: student must be one of {', '.join(STUDENTS)}, got {self.student!r}")
        if self.distill not in DISTILL:
            raise RunDirError(f"sdd: distill must be one of {', '.join(DISTILL)}, got {self.distill!r}")
        if self.temperature <= 0 or self.lam < 0 or self.feature_weight < 0:
            raise RunDirError("sdd: the temperature must be positive and λ, μ non-negative")
        if self.label_tokens < 1 or self.embed_dim % self.heads:
            raise RunDirError(f"sdd: need at least one label token and heads ({self.heads}) dividing embed_dim ({self.embed_dim})")

    @property
    def stage(self) -> str:
        """The metrics entry: student and distillation, e.g. axmlp_dynamic."""
        return f"{self.student}_{self.distill}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mlp": self.mlp.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SDDConfig":
        try:
            return cls(**{**d, "mlp": AxialMLPConfig.from_dict(d["mlp"])})
        except (KeyError, TypeError) as exc:
            raise RunDirError(f"{CONFIG}: missing or malformed field ({exc})") from None


@dataclass(frozen=True)
class SDDSpec:
    """One dynamic-distillation run: the data and schedule (`train`, as the DKD chain's config.json) and the SDD settings."""

    train: TrainConfig
    sdd: SDDConfig = field(default_factory=SDDConfig)
    threads: int = 1


class CNNParts(nn.Module):
    """The CNN student split as the distillation needs it: (batch, 64 positions, 4 channels) after the
    pool, and its fc as the head (flattened channel-major, as Student does)."""

    def __init__(self, net: Student) -> None:
        super().__init__()
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        return n.pool(n.relu(n.conv(x.unsqueeze(1)))).transpose(1, 2)

    def head(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.net.fc(torch.flatten(tokens.transpose(1, 2), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_student(cfg: SDDConfig, n_features: int) -> nn.Module:
    """The student with `features` and `head`; for the CNN, CNNParts around a plain Student."""
    if cfg.student == "axmlp":
        return AxialMLP(replace(cfg.mlp, n_features=n_features, n_classes=NUM_CLASSES))
    return CNNParts(Student(n_features, NUM_CLASSES))


def exported(student: nn.Module) -> nn.Module:
    """What is saved: the plain network."""
    return student.net if isinstance(student, CNNParts) else student


class DynamicTeacher(nn.Module):
    """Label encoder, appearance encoder, interaction encoder and feature adaptor: (student tokens, labels) ->
    teacher tokens in the student's feature space."""

    def __init__(self, tokens: int, channels: int, cfg: SDDConfig) -> None:
        super().__init__()
        d, self.k = cfg.embed_dim, cfg.label_tokens
        self.label = nn.Linear(NUM_CLASSES, self.k * d)
        self.label_norm = nn.LayerNorm(d)
        self.appearance = nn.Linear(channels, d)
        self.interaction = nn.MultiheadAttention(d, cfg.heads, batch_first=True)
        self.mix_tokens = nn.Linear(tokens, tokens)
        self.mix_channels = nn.Linear(d, d)
        self.out = nn.Linear(d, channels)

    def forward(self, student_tokens: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        labels = self.label_norm(self.label(F.one_hot(y, NUM_CLASSES).float()).view(len(y), self.k, -1))
        query = self.appearance(student_tokens.detach())
        e, _ = self.interaction(query, labels, labels, need_weights=False)
        return self.out(self.mix_tokens(e.transpose(1, 2)).transpose(1, 2) + self.mix_channels(e))


def feature_kl(teacher: torch.Tensor, student: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. 7 on (batch, tokens, channels) maps: per channel, KL of the distributions over the tokens at τ, × τ²,
    averaged over the channels (channel-wise distillation's form)."""
    t, s = teacher.transpose(1, 2).flatten(0, 1), student.transpose(1, 2).flatten(0, 1)
    return kd_loss(s, t, temperature)


class DynamicDistillation(nn.Module):
    """Student + dynamic teacher + student adaptor, trained as one module; calling it runs the student
    alone (validation, early stopping and the saved weights see the student)."""

    def __init__(self, student: nn.Module, tokens: int, channels: int, cfg: SDDConfig) -> None:
        super().__init__()
        self.student, self.cfg = student, cfg
        self.teacher = DynamicTeacher(tokens, channels, cfg)
        self.adapt = nn.Linear(channels, channels)  # f_adapt of Eq. 6, training only

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each term's logits and values: student and teacher logits, the two KL terms."""
        tokens = self.student.features(x)
        teacher_tokens = self.teacher(tokens, y)
        s_logits, t_logits = self.student.head(tokens), self.student.head(teacher_tokens)
        tau = self.cfg.temperature
        return {"student": s_logits, "teacher": t_logits, "kl": kd_loss(s_logits, t_logits.detach(), tau),
                "feature_kl": feature_kl(teacher_tokens.detach(), self.adapt(tokens), tau)}


def _objective(s: Session, cfg: SDDConfig):
    """Eq. 8 with the run's classification loss for both CE terms (a fresh instance each, as every stage)."""
    student_ce, teacher_ce = s.label_loss(), s.label_loss()

    def loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        if cfg.distill == "none":
            return student_ce(m(x), y, epoch)
        t = m.losses(x, y)
        return (student_ce(t["student"], y, epoch) + teacher_ce(t["teacher"], y, epoch)
                + cfg.lam * (t["kl"] + cfg.feature_weight * t["feature_kl"]))

    return loss


def _prepare(run: RunDir, spec: SDDSpec) -> None:
    """config.json (the data, as the DKD chain writes it) and sdd_config.json; an existing run must agree."""
    prepare_run(run, spec.train)
    path = run / CONFIG
    if path.exists():
        if SDDConfig.from_dict(read_json(path)) != spec.sdd:
            raise RunDirError(f"{path} holds different dynamic-distillation settings; use a new run directory")
    else:
        write_json(path, spec.sdd.to_dict())


def load_student(run: RunDir) -> tuple[nn.Module, str]:
    """The run's trained student (eval mode) and its weights file."""
    cfg = SDDConfig.from_dict(read_json(run.require(CONFIG)))
    n_features = int(read_json(run.require("preprocessing.json"))["window"]) // 2
    return run.load_model(WEIGHTS[cfg.student], exported(build_student(cfg, n_features))), WEIGHTS[cfg.student]


def train_sdd(run: RunDir, spec: SDDSpec, progress: bool = True) -> dict[str, Any]:
    """Train the student (with its dynamic teacher, or alone) in one stage on the run's data; save the student only."""
    torch.set_num_threads(spec.threads)
    _prepare(run, spec)
    s, cfg = Session(run, spec.train, progress), spec.sdd
    torch.manual_seed(spec.train.seed + 1)
    student = build_student(cfg, s.prep.n_features)
    model: nn.Module = student
    if cfg.distill == "dynamic":
        probe = student.features(torch.zeros(1, s.prep.n_features))
        model = DynamicDistillation(student, probe.shape[1], probe.shape[2], cfg)
    desc = f"{cfg.student} ({'dynamic distillation' if cfg.distill == 'dynamic' else 'labels only'})"
    t0 = time.perf_counter()
    res = fit(model, s.epochs, s.val, _objective(s, cfg), spec.train.student, spec.train.seed + 1, desc, s.progress)
    seconds = time.perf_counter() - t0
    net = exported(student)
    run.save_model(WEIGHTS[cfg.student], net)
    info = {"best_epoch": res.best_epoch, "epochs_run": res.epochs_run, "val_accuracy": res.best_val_accuracy,
            "train_seconds": round(seconds, 2), "training_params": sum(p.numel() for p in model.parameters())}
    return {cfg.stage: s.record(cfg.stage, net, info, {"student": cfg.student, "distill": cfg.distill})}
