"""An articulated 3-D human skeleton performing parameterised actions, and its body-part scatterers.

Body frame (metres): ``x`` = the person's right, ``y`` = forward (where the person faces),
``z`` = up, origin on the floor below the pelvis. A pose over time is ``joints [T, J, 3]``.

Kinematics run root to leaves: the pelvis carries the upper-body frame ``U = waist(t)``
(bend, lean, twist), which carries the shoulders, neck and the head frame
``U @ neck(t)``; limbs hang from their root joint as chains of segments whose directions
(in the parent frame) are the action's parameters. Every lateral parameter is written
as ``side * value`` (side = +1 right, -1 left) or ``toward * value`` (toward = +1 the
person's right), and every rotation about the forward or up axis flips sign with it, so
the action of the mirrored class is *exactly* the reflection ``x -> -x`` of the original
(with left and right joints swapped) for the same per-clip variation; see
:func:`mirror_joints` and :func:`mirror_variation`.

Circle senses are as seen by an observer facing the person (the camera of
``wifisense.sim.render``): "clockwise" turns clockwise in the rendered frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

# ----------------------------------------------------------------------------- skeleton

JOINT_NAMES = (
    "pelvis", "chest", "neck", "head",
    "r_shoulder", "r_elbow", "r_wrist", "r_hand",
    "l_shoulder", "l_elbow", "l_wrist", "l_hand",
    "r_hip", "r_knee", "r_ankle", "r_toe",
    "l_hip", "l_knee", "l_ankle", "l_toe",
    "nose",     # a marker on the face, so head turns show in rendered frames
)
JOINT = {name: i for i, name in enumerate(JOINT_NAMES)}
NUM_JOINTS = len(JOINT_NAMES)


def _mirror_permutation() -> np.ndarray:
    """Index of each joint's left/right partner (itself for midline joints)."""
    swap = {"r_": "l_", "l_": "r_"}
    return np.array([JOINT[swap[n[:2]] + n[2:]] if n[:2] in swap else i
                     for i, n in enumerate(JOINT_NAMES)], dtype=np.int64)


MIRROR_JOINT = _mirror_permutation()

# Segment lengths and offsets as fractions of body height (Drillis & Contini style
# anthropometric ratios), so one height parameter scales the whole body.
UPPER_ARM, FOREARM, HAND = 0.186, 0.146, 0.09
THIGH, SHIN, FOOT = 0.245, 0.246, 0.11
ANKLE_HEIGHT = 0.039
SHOULDER_HALF_WIDTH, HIP_HALF_WIDTH = 0.115, 0.055
CHEST_UP, NECK_UP, SHOULDER_UP = 0.17, 0.31, 0.285
HEAD_UP, HEAD_FORWARD = 0.075, 0.01
NOSE_FORWARD = 0.065


@dataclass(frozen=True)
class Segment:
    """A body part between two joints: a capsule of ``radius`` (fraction of height)."""

    name: str
    joint_a: int
    joint_b: int
    radius: float
    kind: str   # colour group for rendering: torso, head, arm, leg, joint


def _seg(name: str, a: str, b: str, radius: float, kind: str) -> Segment:
    return Segment(name, JOINT[a], JOINT[b], radius, kind)


# Mirrored segments sit next to each other, right first, so any ordering that depends on
# the list index treats a part and its mirror image alike.
BODY_SEGMENTS = (
    _seg("lower_torso", "pelvis", "chest", 0.085, "torso"),
    _seg("upper_torso", "chest", "neck", 0.095, "torso"),
    _seg("hips", "r_hip", "l_hip", 0.06, "torso"),
    _seg("r_clavicle", "neck", "r_shoulder", 0.035, "torso"),
    _seg("l_clavicle", "neck", "l_shoulder", 0.035, "torso"),
    _seg("neck", "neck", "head", 0.03, "skin"),
    _seg("head", "head", "head", 0.065, "head"),
    _seg("r_upper_arm", "r_shoulder", "r_elbow", 0.028, "arm"),
    _seg("l_upper_arm", "l_shoulder", "l_elbow", 0.028, "arm"),
    _seg("r_forearm", "r_elbow", "r_wrist", 0.022, "arm"),
    _seg("l_forearm", "l_elbow", "l_wrist", 0.022, "arm"),
    _seg("r_hand", "r_wrist", "r_hand", 0.018, "skin"),
    _seg("l_hand", "l_wrist", "l_hand", 0.018, "skin"),
    _seg("r_thigh", "r_hip", "r_knee", 0.045, "leg"),
    _seg("l_thigh", "l_hip", "l_knee", 0.045, "leg"),
    _seg("r_shin", "r_knee", "r_ankle", 0.032, "leg"),
    _seg("l_shin", "l_knee", "l_ankle", 0.032, "leg"),
    _seg("r_foot", "r_ankle", "r_toe", 0.022, "foot"),
    _seg("l_foot", "l_ankle", "l_toe", 0.022, "foot"),
)

# ----------------------------------------------------------------------------- actions

POSTURES = ("standing", "sitting")
LIMBS = ("left_arm", "right_arm", "both_arms", "left_leg", "right_leg", "head", "torso")
ARM_MOTIONS = ("raise_forward", "raise_sideways", "wave", "circle", "swing", "punch", "push",
               "point", "clap")
LEG_MOTIONS = ("kick_forward", "kick_sideways", "raise_knee", "swing", "tap_foot")
HEAD_MOTIONS = ("nod", "shake", "tilt", "turn")
TORSO_MOTIONS = ("bend_forward", "lean_back", "bend_sideways", "turn", "sway", "squat")
# Directions: which way a lateral motion goes. Circle senses are as the observer sees them.
TOWARD = {"left": -1.0, "right": 1.0}
CIRCLE_SENSE = {"clockwise": -1.0, "counterclockwise": 1.0}
MIRROR_WORD = {"left": "right", "right": "left", "clockwise": "counterclockwise",
               "counterclockwise": "clockwise", "left_arm": "right_arm", "right_arm": "left_arm",
               "left_leg": "right_leg", "right_leg": "left_leg"}

# Base repetition rate of each motion in Hz (scaled per clip by the variation's speed).
MOTION_RATE_HZ = {
    "raise_forward": 0.4, "raise_sideways": 0.4, "wave": 2.0, "circle": 0.6, "swing": 0.8,
    "punch": 0.8, "push": 0.45, "point": 0.3, "clap": 1.2, "kick_forward": 0.5,
    "kick_sideways": 0.5, "raise_knee": 0.5, "tap_foot": 2.0, "nod": 1.2, "shake": 1.2,
    "tilt": 0.35, "turn": 0.35, "bend_forward": 0.3, "lean_back": 0.3, "bend_sideways": 0.35,
    "sway": 0.5, "squat": 0.35,
}


@dataclass(frozen=True)
class ActionSpec:
    """One action class: a posture, the limb that moves, the motion, and its direction.

    ``direction`` is ``None`` for motions without one, ``"left"``/``"right"`` (toward the
    person's own side) for point / tilt / turn / bend_sideways, and ``"clockwise"`` /
    ``"counterclockwise"`` (as seen by an observer facing the person) for circle.
    """

    posture: str
    limb: str
    motion: str
    direction: str | None = None

    @property
    def name(self) -> str:
        parts = [self.posture, self.limb, self.motion] + ([self.direction] if self.direction else [])
        return ":".join(parts)

    def mirrored(self) -> ActionSpec:
        """The same action reflected across the body's sagittal plane."""
        return ActionSpec(self.posture, MIRROR_WORD.get(self.limb, self.limb), self.motion,
                          MIRROR_WORD.get(self.direction, self.direction))

    @property
    def is_symmetric(self) -> bool:
        return self.mirrored() == self


@dataclass(frozen=True)
class ActionVariation:
    """Per-clip randomness of one performance (drawn from the clip's seed).

    ``facing_rad`` turns the whole body about the vertical axis (positive = to the
    person's left, counter-clockwise seen from above), so the mirrored performance has
    ``-facing_rad``.
    """

    speed: float = 1.0          # repetition-rate multiplier
    amplitude: float = 1.0      # range-of-motion multiplier
    phase: float = 0.0          # radians, where in its cycle the motion starts
    height_m: float = 1.70      # body size
    facing_rad: float = 0.0     # yaw jitter around the nominal facing


def sample_variation(rng: np.random.Generator, speed: tuple[float, float] = (0.8, 1.25),
                     amplitude: tuple[float, float] = (0.8, 1.1),
                     height_m: tuple[float, float] = (1.55, 1.90),
                     facing_jitter_deg: float = 15.0) -> ActionVariation:
    """A random :class:`ActionVariation` with each parameter uniform in its range."""
    return ActionVariation(
        speed=float(rng.uniform(*speed)), amplitude=float(rng.uniform(*amplitude)),
        phase=float(rng.uniform(0.0, 2 * np.pi)), height_m=float(rng.uniform(*height_m)),
        facing_rad=float(np.radians(rng.uniform(-facing_jitter_deg, facing_jitter_deg))))


# Symmetric classes whose motion swings to one side and then the other: their mirror
# image is the same motion half a cycle later.
SIDE_TO_SIDE = {("head", "shake"), ("torso", "sway")}


def mirror_variation(v: ActionVariation, spec: ActionSpec | None = None) -> ActionVariation:
    """The variation under which ``spec.mirrored()`` performs the reflection of ``spec`` under ``v``.

    The facing yaw flips sign; for side-to-side motions (head shake, torso sway) the
    phase also moves by half a cycle.
    """
    phase = v.phase + np.pi if spec is not None and (spec.limb, spec.motion) in SIDE_TO_SIDE else v.phase
    return replace(v, facing_rad=-v.facing_rad, phase=phase)


# ----------------------------------------------------------------------------- helpers


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _vec(x, y, z, n: int) -> np.ndarray:
    """``[n, 3]`` direction from scalar-or-``[n]`` components, normalised."""
    return _unit(np.stack(np.broadcast_arrays(x, y, z, np.zeros(n))[:3], axis=-1).astype(float))


def _nlerp(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Normalised blend of directions ``a -> b`` by weight ``w [T]`` (mirror-equivariant)."""
    return _unit(a * (1 - w)[:, None] + b * w[:, None])


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """``[T, 3, 3]`` right-handed rotations by ``angle [T]`` about a body axis (0=x, 1=y, 2=z)."""
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[..., axis, axis] = 1.0
    r[..., i, i], r[..., j, j] = c, c
    r[..., i, j], r[..., j, i] = -s, s
    return r


def _pitch(d: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate directions ``d [T, 3]`` about the lateral x axis (positive lifts forward-pointing ends)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([d[:, 0], c * d[:, 1] - s * d[:, 2], s * d[:, 1] + c * d[:, 2]], axis=-1)


def _lift(phi: np.ndarray) -> np.ndarray:
    """A smooth 0 -> 1 -> 0 cycle."""
    return 0.5 - 0.5 * np.cos(phi)


# ----------------------------------------------------------------------------- limbs


def _arm_rest(side: float, posture: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    if posture == "sitting":  # hands resting on the thighs
        return _vec(side * 0.1, 0.3, -1.0, n), _vec(side * 0.05, 1.0, -0.3, n)
    return _vec(side * 0.12, 0.02, -1.0, n), _vec(side * 0.08, 0.15, -1.0, n)


def _arm_motion(motion: str, side: float, phi: np.ndarray, t_phase: np.ndarray, amp: float,
                direction: str | None, posture: str) -> tuple[np.ndarray, np.ndarray]:
    """Upper-arm and forearm directions ``[T, 3]`` in the upper-body frame."""
    n = phi.shape[0]
    lift = _lift(phi)
    rest_upper, rest_fore = _arm_rest(side, posture, n)
    if motion == "raise_forward":
        e = np.radians(165.0) * min(amp, 1.05) * lift
        d = _vec(side * 0.08, np.sin(e), -np.cos(e), n)
        return d, _vec(side * 0.06, np.sin(e + 0.15 * lift), -np.cos(e + 0.15 * lift), n)
    if motion == "raise_sideways":
        e = np.radians(150.0) * min(amp, 1.1) * lift
        d = _vec(side * np.sin(e), 0.1, -np.cos(e), n)
        return d, d
    if motion == "wave":
        upper = _vec(side * 0.9, 0.15, 0.2, n)
        return upper, _vec(side * (0.15 + 0.45 * amp * np.sin(phi)), 0.1, 1.0, n)
    if motion == "circle":
        # kappa: the sense in (outward, up) coordinates, the same for a class and its mirror
        kappa = -side * CIRCLE_SENSE[direction]
        psi = kappa * t_phase + (phi - t_phase)   # phi - t_phase is the clip's start phase
        r = 0.6 * amp
        d = _vec(side * (0.3 + r * np.cos(psi)), 1.0, 0.15 + r * np.sin(psi), n)
        return d, d
    if motion == "swing":
        e = np.radians(50.0) * amp * np.sin(phi)
        return (_vec(side * 0.08, np.sin(e), -np.cos(e), n),
                _vec(side * 0.06, np.sin(e + 0.35), -np.cos(e + 0.35), n))
    if motion == "punch":
        w = lift ** 3   # a fast extension, a slow return
        guard_u, guard_f = _vec(side * 0.35, 0.25, -0.9, n), _vec(-side * 0.25, 0.85, 0.45, n)
        strike = _vec(-side * 0.1, 1.0, 0.12, n)
        return _nlerp(guard_u, strike, w), _nlerp(guard_f, strike, w)
    if motion == "push":
        guard_u, guard_f = _vec(side * 0.3, 0.1, -0.95, n), _vec(0.0, 0.8, 0.6, n)
        reach = _vec(0.0, 1.0, 0.05, n)
        return _nlerp(guard_u, reach, lift * amp), _nlerp(guard_f, reach, lift * amp)
    if motion == "point":
        toward = TOWARD[direction]
        across = float(toward != side)   # pointing across the body reaches further forward
        target = _vec(toward * 1.0, 0.35 + 0.6 * across, 0.08, n)
        w = np.clip(1.6 * lift - 0.3, 0.0, 1.0)   # hold the pointing pose for a while
        return _nlerp(rest_upper, target, w), _nlerp(rest_fore, target, w)
    if motion == "clap":
        g = 0.1 + 0.6 * lift
        return _vec(side * 0.15, 0.8, -0.5, n), _vec(-side * g, 0.7, 0.2, n)
    raise ValueError(f"unknown arm motion {motion!r}")


def _leg_rest(side: float, posture: str, n: int):
    if posture == "sitting":  # thighs forward on the seat, shins down
        return _vec(side * 0.1, 1.0, -0.05, n), _vec(side * 0.02, 0.05, -1.0, n)
    return _vec(side * 0.03, 0.0, -1.0, n), _vec(0.0, 0.0, -1.0, n)


def _foot_from_shin(shin: np.ndarray) -> np.ndarray:
    """Foot at a right angle to the shin, in the sagittal plane (toes forward)."""
    return np.stack([shin[:, 0], -shin[:, 2], shin[:, 1]], axis=-1)


def _leg_motion(motion: str | None, side: float, phi: np.ndarray, amp: float,
                posture: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thigh, shin and foot directions ``[T, 3]`` in the pelvis frame."""
    n = phi.shape[0]
    lift = _lift(phi)
    thigh, shin = _leg_rest(side, posture, n)
    toe_up = np.zeros(n)
    sitting = posture == "sitting"
    if motion == "kick_forward" and sitting:          # straighten the knee
        a = np.radians(85.0) * min(amp, 1.05) * lift
        shin = _vec(side * 0.02, np.sin(a), -np.cos(a), n)
    elif motion == "kick_forward":
        e = np.radians(80.0) * amp * lift ** 2
        knee = np.radians(70.0) * np.sin(np.pi * lift) * (1 - lift)
        thigh = _vec(side * 0.03, np.sin(e), -np.cos(e), n)
        shin = _pitch(thigh, -knee)
    elif motion == "kick_sideways":
        e = np.radians(45.0) * amp * lift ** 2
        thigh = shin = _vec(side * np.sin(e), 0.05, -np.cos(e), n)
    elif motion == "raise_knee" and sitting:
        e = np.radians(35.0) * amp * lift
        thigh = _vec(side * 0.1, np.cos(e), np.sin(e), n)
    elif motion == "raise_knee":
        e = np.radians(85.0) * amp * lift
        thigh = _vec(side * 0.03, np.sin(e), -np.cos(e), n)
        shin = _pitch(thigh, -e)
    elif motion == "swing" and sitting:               # dangle the lower leg
        a = np.radians(25.0) * amp * np.sin(phi)
        shin = _vec(side * 0.02, np.sin(a), -np.cos(a), n)
    elif motion == "swing":
        e = np.radians(35.0) * amp * np.sin(phi)
        thigh = _vec(side * 0.03, np.sin(e), -np.cos(e), n)
        shin = _pitch(thigh, -np.radians(15.0) * lift)
    elif motion == "tap_foot":
        toe_up = np.radians(25.0) * amp * lift
    elif motion is not None:
        raise ValueError(f"unknown leg motion {motion!r}")
    return thigh, shin, _pitch(_foot_from_shin(shin), toe_up)


def _squat_legs(side: float, depth: np.ndarray, n: int):
    """Thigh and shin directions of a squat of ``depth`` in [0, 1]."""
    e = np.radians(75.0) * depth       # thigh angle from vertical
    b = 0.5 * e                         # shin leans forward, knee over the toes
    thigh = _vec(side * 0.08, np.sin(e), -np.cos(e), n)
    shin = _vec(side * 0.02, -np.sin(b), -np.cos(b), n)
    return thigh, shin


# ----------------------------------------------------------------------------- pose


def action_joints(spec: ActionSpec, t: np.ndarray, variation: ActionVariation = ActionVariation()
                  ) -> np.ndarray:
    """Joint positions ``float64 [T, J, 3]`` in the body frame at times ``t [T]`` (seconds).

    Vectorised over time; ``t`` may be irregular (packet times) or a frame grid.
    """
    t = np.asarray(t, dtype=np.float64)
    n = t.shape[0]
    h = variation.height_m
    amp = variation.amplitude
    t_phase = 2 * np.pi * MOTION_RATE_HZ[spec.motion] * variation.speed * t
    phi = t_phase + variation.phase
    lift = _lift(phi)
    sitting = spec.posture == "sitting"
    zero = np.zeros(n)

    # -- torso and head rotations
    waist, neck_rot = _rot(0, zero), _rot(0, zero)
    toward = TOWARD.get(spec.direction, 0.0)
    if spec.limb == "torso":
        m = spec.motion
        if m == "bend_forward":
            waist = _rot(0, -np.radians(40.0 if sitting else 60.0) * amp * lift)
        elif m == "lean_back":
            waist = _rot(0, np.radians(20.0 if sitting else 25.0) * amp * lift)
        elif m == "bend_sideways":
            waist = _rot(1, toward * np.radians(30.0) * amp * lift)
        elif m == "turn":
            waist = _rot(2, -toward * np.radians(45.0) * amp * lift)
        elif m == "sway":
            waist = _rot(1, np.radians(15.0) * amp * np.sin(phi))
        elif m == "squat":
            waist = _rot(0, -np.radians(25.0) * amp * lift)
        else:
            raise ValueError(f"unknown torso motion {m!r}")
    elif spec.limb == "head":
        m = spec.motion
        if m == "nod":
            neck_rot = _rot(0, -np.radians(25.0) * amp * lift)
        elif m == "shake":
            neck_rot = _rot(2, np.radians(35.0) * amp * np.sin(phi))
        elif m == "tilt":
            neck_rot = _rot(1, toward * np.radians(30.0) * amp * lift)
        elif m == "turn":
            neck_rot = _rot(2, -toward * np.radians(60.0) * amp * lift)
        else:
            raise ValueError(f"unknown head motion {m!r}")

    # -- legs (pelvis frame) and the pelvis height they imply
    legs = {}
    for side in (1.0, -1.0):
        name = "right_leg" if side > 0 else "left_leg"
        if spec.limb == "torso" and spec.motion == "squat":
            thigh, shin = _squat_legs(side, min(amp, 1.0) * lift, n)
            foot = _pitch(_foot_from_shin(_vec(0.0, 0.0, -1.0, n)), zero)
        else:
            thigh, shin, foot = _leg_motion(spec.motion if spec.limb == name else None, side, phi,
                                            amp, spec.posture)
        legs[side] = (thigh, shin, foot)
    # The support leg (the left one when the right moves, else the right) stands on the
    # floor; seated, the pelvis rests at seat height set by the resting leg.
    support = -1.0 if spec.limb == "right_leg" else 1.0
    if sitting:
        rest_thigh, rest_shin = _leg_rest(1.0, "sitting", 1)
        pelvis_z = np.full(n, ANKLE_HEIGHT * h - (THIGH * rest_thigh[0, 2] + SHIN * rest_shin[0, 2]) * h)
        pelvis_y = np.full(n, -THIGH * h * rest_thigh[0, 1])   # feet under the knees at y ~ 0
    else:
        thigh, shin, _ = legs[support]
        pelvis_z = ANKLE_HEIGHT * h - (THIGH * thigh[:, 2] + SHIN * shin[:, 2]) * h
        pelvis_y = -(THIGH * thigh[:, 1] + SHIN * shin[:, 1]) * h if spec.motion == "squat" else zero
    pelvis = np.stack([zero, pelvis_y, pelvis_z], axis=-1)

    joints = np.zeros((n, NUM_JOINTS, 3))
    joints[:, JOINT["pelvis"]] = pelvis

    def up(offset):  # a point fixed in the upper-body frame
        return pelvis + np.einsum("tij,j->ti", waist, np.asarray(offset) * h)

    joints[:, JOINT["chest"]] = up([0.0, 0.0, CHEST_UP])
    neck = up([0.0, 0.0, NECK_UP])
    joints[:, JOINT["neck"]] = neck
    head_frame = waist @ neck_rot
    joints[:, JOINT["head"]] = neck + np.einsum("tij,j->ti", head_frame,
                                                np.array([0.0, HEAD_FORWARD, HEAD_UP]) * h)
    joints[:, JOINT["nose"]] = neck + np.einsum(
        "tij,j->ti", head_frame, np.array([0.0, HEAD_FORWARD + NOSE_FORWARD, HEAD_UP]) * h)

    for side, prefix, limb in ((1.0, "r_", "right_arm"), (-1.0, "l_", "left_arm")):
        shoulder = up([side * SHOULDER_HALF_WIDTH, 0.0, SHOULDER_UP])
        moving = spec.limb in (limb, "both_arms")
        if moving:
            d_upper, d_fore = _arm_motion(spec.motion, side, phi, t_phase, amp, spec.direction,
                                          spec.posture)
        else:
            d_upper, d_fore = _arm_rest(side, spec.posture, n)
        d_upper = np.einsum("tij,tj->ti", waist, d_upper)
        d_fore = np.einsum("tij,tj->ti", waist, d_fore)
        elbow = shoulder + UPPER_ARM * h * d_upper
        wrist = elbow + FOREARM * h * d_fore
        joints[:, JOINT[prefix + "shoulder"]] = shoulder
        joints[:, JOINT[prefix + "elbow"]] = elbow
        joints[:, JOINT[prefix + "wrist"]] = wrist
        joints[:, JOINT[prefix + "hand"]] = wrist + HAND * h * d_fore

    for side, prefix in ((1.0, "r_"), (-1.0, "l_")):
        thigh, shin, foot = legs[side]
        hip = pelvis + np.array([side * HIP_HALF_WIDTH * h, 0.0, 0.0])
        knee = hip + THIGH * h * thigh
        ankle = knee + SHIN * h * shin
        joints[:, JOINT[prefix + "hip"]] = hip
        joints[:, JOINT[prefix + "knee"]] = knee
        joints[:, JOINT[prefix + "ankle"]] = ankle
        joints[:, JOINT[prefix + "toe"]] = ankle + FOOT * h * foot

    return _yaw(joints, variation.facing_rad)


def _yaw(joints: np.ndarray, angle: float) -> np.ndarray:
    """Turn the whole body by ``angle`` about the vertical axis through the origin."""
    if angle == 0.0:
        return joints
    return joints @ _rot(2, np.array(angle)).T


def mirror_joints(joints: np.ndarray) -> np.ndarray:
    """Reflect a pose ``[..., J, 3]`` across the sagittal plane (``x -> -x``, left <-> right)."""
    out = joints[..., MIRROR_JOINT, :].copy()
    out[..., 0] = -out[..., 0]
    return out


def body_to_world(joints: np.ndarray, position_xy: np.ndarray, facing_rad: float) -> np.ndarray:
    """Body-frame points ``[..., 3]`` placed in the room at ``position_xy`` facing ``facing_rad``.

    ``facing_rad`` is the world yaw of the person's forward axis (counter-clockwise from +x).
    """
    forward = np.array([np.cos(facing_rad), np.sin(facing_rad), 0.0])
    right = np.array([np.sin(facing_rad), -np.cos(facing_rad), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    basis = np.stack([right, forward, up])       # rows: where body x, y, z go
    origin = np.array([position_xy[0], position_xy[1], 0.0])
    return origin + joints @ basis


# ----------------------------------------------------------------------------- scatterers


def segment_scatterers(joints: np.ndarray, height_m: float, spacing_m: float = 0.08,
                       rcs_per_m2: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Body parts as moving point scatterers.

    Each segment becomes ``max(2, length / spacing_m)`` points spread along it (the head one
    point); a segment's radar cross-section is its projected area ``2 r L`` (``pi r^2`` for
    the head) times ``rcs_per_m2``, shared equally by its points so that their incoherent
    power sums to it. The torso, being the largest, dominates as in real measurements.

    Args:
        joints: ``[T, J, 3]`` joint positions (any frame).
        height_m: body height that the segment radii are fractions of.

    Returns:
        positions ``[T, K, 3]`` and amplitudes ``sqrt(RCS)`` ``[K]`` (metres), the form that
        ``wifisense.sim.channel.Scatterers`` takes.
    """
    # Segment lengths from the first frame: bones do not stretch.
    points, amplitudes = [], []
    for seg in BODY_SEGMENTS:
        a, b = joints[:, seg.joint_a], joints[:, seg.joint_b]
        radius = seg.radius * height_m
        length = float(np.linalg.norm(b[0] - a[0]))
        if seg.joint_a == seg.joint_b:
            count, area = 1, np.pi * radius ** 2
        else:
            count, area = max(2, int(round(length / spacing_m))), 2 * radius * length
        frac = (np.arange(count) + 0.5) / count
        points.append(a[:, None] + frac[None, :, None] * (b - a)[:, None])
        amplitudes.append(np.full(count, np.sqrt(rcs_per_m2 * area / count)))
    return np.concatenate(points, axis=1), np.concatenate(amplitudes)
