"""Synthetic drive currents of a six-axis industrial robot: the 7 states of seed 000 Table 1.

Seed 000's robot data is not public, so this generator stands in for it. Each axis is a servo
motor driving its joint through a reducer. The robot repeats a pick-and-place cycle (period
and swing drift slowly, the payload changes from cycle to cycle), and the controller logs the
torque current of every axis at 1,024 Hz. A current is the sum of:

- the load: gravity (pose- and payload-dependent), inertia x acceleration, friction;
- healthy ripple: the reducer's gear mesh (`mesh_teeth` events per motor turn) and the
  motor's 6th electrical harmonic, both growing with the transmitted torque;
- a reducer fault: a damaged tooth on the first-stage gear (one turn per `stage1_ratio` motor
  turns) gives a torque pulse once per gear turn and modulates the mesh at the gear's speed;
- a motor fault (eccentricity, partial demagnetisation): ripple at 1x and 2x the motor speed;
- coupling: a fault's torque ripple shakes the arm, so the neighbouring axes see a fraction;
- sensor noise. Components above 0.45 fs are removed, as the drive's anti-alias filter does.

Fault ripple scales with the transmitted torque (0.3 + |load current|), so the payload changes
the fault signatures' amplitude. Currents are in units of the motors' rated current.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from faultedge.data.recording import Recording

FS_HZ: Final[float] = 1024.0
N_AXES: Final[int] = 6


@dataclass(frozen=True)
class Joint:
    """One axis: reducer, load model and the swing of the joint in the task."""

    ratio: float  # motor turns per joint turn
    gravity: float  # current holding the unloaded arm horizontal
    payload_gain: float  # extra gravity current at full payload
    inertia: float  # current per rad/s^2 of joint acceleration
    friction: float  # Coulomb friction current
    mesh_teeth: int  # gear-mesh events per motor turn (first reducer stage)
    stage1_ratio: float  # motor turns per turn of the first-stage gear
    swing: float  # amplitude of the joint's motion in the task (rad)


JOINTS: Final[tuple[Joint, ...]] = (
    Joint(147, 0.05, 0.05, 0.12, 0.06, 10, 3.2, 1.0),
    Joint(153, 0.55, 0.35, 0.15, 0.07, 12, 2.9, 0.6),
    Joint(153, 0.35, 0.25, 0.10, 0.06, 12, 2.9, 0.7),
    Joint(100, 0.04, 0.05, 0.05, 0.05, 15, 4.0, 1.1),
    Joint(100, 0.12, 0.12, 0.05, 0.05, 15, 4.0, 1.0),
    Joint(60, 0.02, 0.02, 0.03, 0.04, 18, 3.0, 1.4),
)
POLE_PAIRS: Final[int] = 3

# Seed 000 Table 1: (reducer-fault axes, motor-fault axes) per class, axes numbered from 1.
ROBOT_STATES: Final[tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]] = (
    ((1,), (2,)),
    ((1,), (3,)),
    ((3,), (4,)),
    ((3,), ()),
    ((), (2,)),
    ((4,), ()),
    ((), ()),
)


def _state_name(reducers: tuple[int, ...], motors: tuple[int, ...]) -> str:
    parts = [f"R{a}" for a in reducers] + [f"M{a}" for a in motors]
    return "+".join(parts) if parts else "normal"


ROBOT_CLASS_NAMES: Final[tuple[str, ...]] = tuple(_state_name(r, m) for r, m in ROBOT_STATES)
COUPLING: Final[float] = 0.15  # share of an axis's fault ripple seen by each neighbouring axis


def _smooth_noise(n: int, rng: np.random.Generator, sigma_samples: float) -> np.ndarray:
    """Zero-mean, unit-std noise that varies over about `sigma_samples` samples (Gaussian low-pass via FFT)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum *= np.exp(-0.5 * (2 * np.pi * np.fft.rfftfreq(n) * sigma_samples) ** 2)
    x = np.fft.irfft(spectrum, n)
    return (x - x.mean()) / x.std()


def _tone(order: float, angle: np.ndarray, speed_hz: np.ndarray, phase: float, fs: float) -> np.ndarray:
    """sin(order * angle + phase), silenced where its frequency passes the anti-alias limit."""
    passband = np.clip((0.45 * fs - order * speed_hz) / (0.05 * fs), 0.0, 1.0)
    return np.sin(order * angle + phase) * passband


def _task(n: int, fs: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cycle phase (rad) of the pick-and-place task and the payload (0..1) of each sample."""
    period_s = 4.2 + 0.5 * _smooth_noise(n, rng, 8 * fs)
    phase = 2 * np.pi * np.cumsum(1.0 / period_s) / fs + rng.uniform(0, 2 * np.pi)
    cycle = np.floor(phase / (2 * np.pi)).astype(np.int64)
    payloads = rng.uniform(0.0, 1.0, cycle.max() - cycle.min() + 1)
    return phase, payloads[cycle - cycle.min()]


def synthesize_robot_record(label: int, n_samples: int, rng: np.random.Generator, fs: float = FS_HZ, severity: float = 1.0) -> np.ndarray:
    """Torque currents (N_AXES, n_samples) of the robot in state `label` (index into ROBOT_STATES)."""
    reducers, motors = ROBOT_STATES[label]
    phase, payload = _task(n_samples, fs, rng)
    swing_drift = 1 + 0.12 * _smooth_noise(n_samples, rng, 6 * fs)
    currents, ripple = np.zeros((N_AXES, n_samples)), np.zeros((N_AXES, n_samples))
    for axis, j in enumerate(JOINTS, start=1):
        q = rng.uniform(-0.5, 0.5) + j.swing * swing_drift * np.sin(phase + rng.uniform(0, 2 * np.pi))
        qd = np.gradient(q) * fs
        qdd = np.gradient(qd) * fs
        load = (j.gravity + j.payload_gain * payload) * np.cos(q) + j.inertia * (1 + 0.5 * payload) * qdd
        load += j.friction * np.tanh(qd / 0.02) + 0.02 * qd
        torque = 0.3 + np.abs(load)
        motor_angle = j.ratio * q
        speed_hz = np.abs(j.ratio * qd) / (2 * np.pi)
        gear_angle = motor_angle / j.stage1_ratio
        mesh = (0.008 * _tone(j.mesh_teeth, motor_angle, speed_hz, rng.uniform(0, 2 * np.pi), fs) + 0.003 * _tone(2 * j.mesh_teeth, motor_angle, speed_hz, rng.uniform(0, 2 * np.pi), fs))
        harmonic = 0.01 * _tone(6 * POLE_PAIRS, motor_angle, speed_hz, rng.uniform(0, 2 * np.pi), fs)
        fault = np.zeros(n_samples)
        if axis in reducers:
            s = severity * rng.lognormal(0.0, 0.2)
            tooth = rng.uniform(0, 2 * np.pi)
            mesh = mesh * (1 + 0.6 * s * np.cos(gear_angle - tooth))
            # A von Mises bump, once per gear turn at the damaged tooth, seen through the 0.45 fs filter.
            pulse = np.exp(25.0 * (np.cos(gear_angle - tooth) - 1.0))
            fault += 0.05 * s * (pulse - pulse.mean())
        if axis in motors:
            s = severity * rng.lognormal(0.0, 0.2)
            fault += 0.025 * s * _tone(1, motor_angle, speed_hz, rng.uniform(0, 2 * np.pi), fs)
            fault += 0.012 * s * _tone(2, motor_angle, speed_hz, rng.uniform(0, 2 * np.pi), fs)
            harmonic = harmonic * (1 + s)
        ripple[axis - 1] = torque * fault
        currents[axis - 1] = load + torque * (mesh + harmonic)
    coupled = ripple.copy()
    coupled[1:] += COUPLING * ripple[:-1]
    coupled[:-1] += COUPLING * ripple[1:]
    noise = 0.012 * rng.standard_normal((N_AXES, n_samples)) + 0.005 * np.stack([_smooth_noise(n_samples, rng, fs) for _ in range(N_AXES)])
    return currents + coupled + noise


def synthesize_robot_recordings(seed: int = 0, duration_s: float = 200.0, fs: float = FS_HZ, severity: float = 1.0) -> list[Recording]:
    """One seeded multi-axis record (N_AXES, n) per state of seed 000 Table 1, in class order.

    `Recording.load_hp` is 0: the payload changes within each record, cycle by cycle.
    """
    rng = np.random.default_rng([seed, 0x20B07])
    n = int(round(duration_s * fs))
    return [
        Recording(f"robot:{ROBOT_CLASS_NAMES[label]}", label, 0, 0.0, fs, synthesize_robot_record(label, n, rng, fs, severity))
        for label in range(len(ROBOT_STATES))
    ]
