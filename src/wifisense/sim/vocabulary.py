"""The action classes of the caption simulator, their mirror pairs and paraphrased captions.

Classes are postures x limbs x motions (:func:`action_classes`): 106 by default, every
lateral one paired with its reflection across the body's sagittal plane (left arm <->
right arm, leftward <-> rightward, clockwise <-> counterclockwise). Captions are written
from templates per (limb group, motion) with the side and direction filled in, so the
captions of a mirrored class are *exactly* the direction-word swap of the original
(:func:`swap_direction_words`), and symmetric classes carry no direction word at all.
Direction words always mean the person's own left and right; circle senses are as seen
by an observer facing the person.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wifisense.directions import has_direction, swap_directions
from wifisense.sim.skeleton import ActionSpec

NUM_PARAPHRASES = 4

# ----------------------------------------------------------------------------- classes

_ARM_CLASSES = (  # (motion, direction) for one arm; both arms add clap
    ("raise_forward", None), ("raise_sideways", None), ("wave", None),
    ("circle", "clockwise"), ("circle", "counterclockwise"), ("swing", None), ("punch", None),
    ("push", None), ("point", "left"), ("point", "right"),
)
_LEG_CLASSES = {
    "standing": ("kick_forward", "kick_sideways", "raise_knee", "swing", "tap_foot"),
    "sitting": ("kick_forward", "raise_knee", "swing", "tap_foot"),
}
_HEAD_CLASSES = (("nod", None), ("shake", None), ("tilt", "left"), ("tilt", "right"),
                 ("turn", "left"), ("turn", "right"))
_TORSO_CLASSES = {
    "standing": (("bend_forward", None), ("lean_back", None), ("bend_sideways", "left"),
                 ("bend_sideways", "right"), ("turn", "left"), ("turn", "right"), ("sway", None),
                 ("squat", None)),
    "sitting": (("bend_forward", None), ("lean_back", None), ("bend_sideways", "left"),
                ("bend_sideways", "right"), ("turn", "left"), ("turn", "right")),
}


def action_classes() -> list[ActionSpec]:
    """All action classes in a fixed order (class id = index)."""
    specs: list[ActionSpec] = []
    for posture in ("standing", "sitting"):
        for limb in ("left_arm", "right_arm", "both_arms"):
            for motion, direction in _ARM_CLASSES:
                specs.append(ActionSpec(posture, limb, motion, direction))
            if limb == "both_arms":
                specs.append(ActionSpec(posture, limb, "clap"))
        for limb in ("left_leg", "right_leg"):
            specs += [ActionSpec(posture, limb, motion) for motion in _LEG_CLASSES[posture]]
        specs += [ActionSpec(posture, "head", m, d) for m, d in _HEAD_CLASSES]
        specs += [ActionSpec(posture, "torso", m, d) for m, d in _TORSO_CLASSES[posture]]
    return specs


def mirror_table(specs: Sequence[ActionSpec]) -> np.ndarray:
    """``int32 [C]``: the class id of each class's mirror image (itself when symmetric)."""
    index = {s: i for i, s in enumerate(specs)}
    missing = [s.name for s in specs if s.mirrored() not in index]
    if missing:
        raise ValueError(f"classes without their mirrored partner: {missing}")
    return np.array([index[s.mirrored()] for s in specs], dtype=np.int32)


def select_classes(specs: Sequence[ActionSpec], wanted: Sequence[str] | None) -> list[ActionSpec]:
    """The classes named in ``wanted`` (full names, or a prefix such as ``standing:left_arm``),
    in canonical order, with every selected class's mirror partner added so pairs stay whole.
    Empty ``wanted`` or the name ``"all"`` selects every class."""
    if not wanted or "all" in wanted:
        return list(specs)
    chosen = set()
    for w in wanted:
        hits = [s for s in specs if s.name == w or s.name.startswith(w.rstrip(":") + ":")]
        if not hits:
            raise KeyError(w)
        chosen.update(hits)
    chosen |= {s.mirrored() for s in chosen}
    return [s for s in specs if s in chosen]


# ----------------------------------------------------------------------------- captions

_SUBJECTS = {
    "standing": ("a person standing", "someone standing up", "a standing person",
                 "the person on their feet"),
    "sitting": ("a person sitting on a chair", "someone seated", "a seated person",
                "the person sitting down"),
}

# Verb phrases, NUM_PARAPHRASES per (limb group, motion). {side} is the moving limb's side
# ("left"/"right"), {dir} the motion's direction word; phrases of symmetric actions use
# neither (nor any other direction word).
_ONE_ARM = {
    "raise_forward": ("raises the {side} arm up in front of the body",
                      "lifts their {side} arm forward and up above the head",
                      "raises the {side} hand forward over the head",
                      "moves the {side} arm up in front and lowers it again"),
    "raise_sideways": ("raises the {side} arm out to the side",
                       "lifts their {side} arm sideways and up",
                       "raises the {side} hand up sideways",
                       "spreads the {side} arm out to the side and lowers it"),
    "wave": ("waves the {side} hand", "waves with their {side} hand raised",
             "waves hello with the {side} arm", "lifts the {side} hand and waves it"),
    "circle": ("circles the {side} arm {dir}", "draws a {dir} circle with the {side} hand",
               "rotates their {side} arm in a {dir} circle",
               "moves the {side} hand around in {dir} circles"),
    "swing": ("swings the {side} arm back and forth", "swings their {side} arm forward and backward",
              "lets the {side} arm swing like a pendulum", "moves the {side} arm to and fro"),
    "punch": ("punches forward with the {side} fist", "throws a punch with the {side} hand",
              "jabs forward with their {side} arm", "punches straight ahead using the {side} arm"),
    "push": ("pushes forward with the {side} hand", "pushes the {side} palm out in front",
             "extends the {side} arm forward in a slow push", "presses forward with their {side} arm"),
    "point": ("points {dir}ward with the {side} hand", "points to the {dir} using their {side} arm",
              "extends the {side} arm to point {dir}ward",
              "uses the {side} index finger to point to the {dir}"),
}
_BOTH_ARMS = {
    "raise_forward": ("raises both arms up in front of the body",
                      "lifts both arms forward and up above the head",
                      "raises both hands forward over the head",
                      "moves both arms up in front and lowers them again"),
    "raise_sideways": ("raises both arms out to the sides", "lifts both arms sideways and up",
                       "raises both hands up sideways",
                       "spreads both arms out to the sides and lowers them"),
    "wave": ("waves both hands", "waves with both hands raised", "waves hello with both arms",
             "lifts both hands and waves them"),
    "circle": ("circles both arms {dir}", "draws {dir} circles with both hands",
               "rotates both arms in {dir} circles", "moves both hands around in {dir} circles"),
    "swing": ("swings both arms back and forth", "swings both arms forward and backward",
              "lets both arms swing like pendulums", "moves both arms to and fro"),
    "punch": ("punches forward with both fists", "throws punches with both hands",
              "jabs forward with both arms", "punches straight ahead using both arms"),
    "push": ("pushes forward with both hands", "pushes both palms out in front",
             "extends both arms forward in a slow push", "presses forward with both arms"),
    "point": ("points {dir}ward with both hands", "points to the {dir} using both arms",
              "extends both arms to point {dir}ward", "uses both hands to point to the {dir}"),
    "clap": ("claps both hands in front of the chest", "claps their hands",
             "brings both hands together in a clap", "claps repeatedly"),
}
_LEG = {
    "kick_forward": ("kicks forward with the {side} leg", "kicks the {side} foot out in front",
                     "does a front kick with their {side} leg",
                     "swings the {side} leg up in a forward kick"),
    "kick_sideways": ("kicks the {side} leg out to the side", "kicks sideways with the {side} leg",
                      "does a side kick with their {side} leg",
                      "lifts the {side} leg out sideways in a kick"),
    "raise_knee": ("raises the {side} knee", "lifts their {side} knee up",
                   "brings the {side} knee up high", "raises the {side} leg with a bent knee"),
    "swing": ("swings the {side} leg back and forth", "swings their {side} leg forward and backward",
              "lets the {side} leg swing like a pendulum", "moves the {side} leg to and fro"),
    "tap_foot": ("taps the {side} foot", "taps their {side} foot on the floor",
                 "taps the floor with the {side} toes", "keeps tapping the {side} foot"),
}
_HEAD = {
    "nod": ("nods the head", "nods yes", "moves the head up and down", "bobs their head in a nod"),
    "shake": ("shakes the head", "shakes their head no", "turns the head from side to side",
              "shakes the head repeatedly"),
    "tilt": ("tilts the head to the {dir}", "leans their head {dir}ward",
             "tilts the head toward the {dir} shoulder", "bends the neck to the {dir}"),
    "turn": ("turns the head to the {dir}", "looks to the {dir}", "turns their head {dir}ward",
             "glances over to the {dir}"),
}
_TORSO = {
    "bend_forward": ("bends forward at the waist", "leans the upper body forward", "bows forward",
                     "bends over forward"),
    "lean_back": ("leans back", "leans the torso backward", "arches backward",
                  "tilts the upper body back"),
    "bend_sideways": ("bends the torso to the {dir}", "leans {dir}ward at the waist",
                      "bends sideways to the {dir}", "tilts the upper body to the {dir}"),
    "turn": ("turns the torso to the {dir}", "twists the upper body to the {dir}",
             "rotates {dir}ward at the waist", "twists their waist toward the {dir}"),
    "sway": ("sways the upper body from side to side", "rocks the torso sideways",
             "sways sideways at the waist", "leans from side to side"),
    "squat": ("squats down and stands up", "does squats", "bends the knees into a squat",
              "crouches down and rises"),
}


def _phrases(spec: ActionSpec) -> tuple[str, ...]:
    if spec.limb in ("left_arm", "right_arm"):
        return _ONE_ARM[spec.motion]
    if spec.limb == "both_arms":
        return _BOTH_ARMS[spec.motion]
    if spec.limb in ("left_leg", "right_leg"):
        return _LEG[spec.motion]
    return (_HEAD if spec.limb == "head" else _TORSO)[spec.motion]


def class_captions(spec: ActionSpec) -> list[str]:
    """The ``NUM_PARAPHRASES`` paraphrased captions of one class, in a fixed order."""
    side = spec.limb.split("_")[0] if spec.limb.startswith(("left_", "right_")) else ""
    words = {"side": side, "dir": spec.direction or ""}
    return [f"{subject} {phrase.format(**words)}"
            for subject, phrase in zip(_SUBJECTS[spec.posture], _phrases(spec), strict=True)]


# ----------------------------------------------------------------------------- direction words

# The simulator writes mirrored captions with the package-wide lexicon, the same one the
# caption task's mirror loss and the direction-accuracy metric use.
swap_direction_words = swap_directions
has_direction_word = has_direction
