"""Direction words (left/right, clockwise/counterclockwise) and their mirror swap.

One lexicon for the whole package: the simulator writes mirrored captions with it, the
caption task's mirror-consistency loss swaps captions with it, and the caption metrics
score direction accuracy with it, so the three can never disagree on what a direction
word is.
"""

from __future__ import annotations

import re

# Direction categories and their two sides.
DIRECTION_SIDES = {"lateral": ("left", "right"), "rotation": ("clockwise", "counterclockwise")}

# Stem -> (category, side). Spelling variants of counterclockwise all name one side.
STEM_SIDE = {
    "left": ("lateral", "left"),
    "right": ("lateral", "right"),
    "clockwise": ("rotation", "clockwise"),
    "counterclockwise": ("rotation", "counterclockwise"),
    "counter-clockwise": ("rotation", "counterclockwise"),
    "anticlockwise": ("rotation", "counterclockwise"),
    "anti-clockwise": ("rotation", "counterclockwise"),
}

# Stem -> its mirror image. Every counterclockwise variant mirrors to "clockwise", and
# "clockwise" mirrors to the canonical "counterclockwise": the swap is its own inverse
# exactly on texts that use the canonical spelling (the simulator's captions do).
# "left"/"right" are always treated as directions ("that's right" would be swapped too);
# captions are written with explicit direction words, so this is safe.
STEM_MIRROR = {
    "left": "right",
    "right": "left",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "counter-clockwise": "clockwise",
    "anticlockwise": "clockwise",
    "anti-clockwise": "clockwise",
}

# A stem, then an optional suffix kept as is (leftward(s), rightmost, lefthand(ed));
# hyphenated forms ("left-hand", "right-handed") and possessives ("left's") keep the rest
# of the word because the hyphen/apostrophe ends the match. "leftover" and "righteous" do
# not match (the \b after the suffix).
DIRECTION_WORD = re.compile(
    r"\b(?P<stem>counter-?clockwise|anti-?clockwise|clockwise|left|right)"
    r"(?P<suffix>wards?|most|handed|hand)?\b",
    re.IGNORECASE,
)


def _match_case(template: str, word: str) -> str:
    """``word`` written in the case style of ``template`` (lower, Title or UPPER)."""
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _mirror_match(match: re.Match) -> str:
    stem = match.group("stem")
    return _match_case(stem, STEM_MIRROR[stem.lower()]) + (match.group("suffix") or "")


def swap_directions(text: str) -> str:
    """``text`` with left<->right and clockwise<->counterclockwise swapped, case and punctuation kept.

    >>> swap_directions("He turns LEFT, then raises his Right-hand; the left's arm rotates clockwise.")
    "He turns RIGHT, then raises his Left-hand; the right's arm rotates counterclockwise."
    """
    return DIRECTION_WORD.sub(_mirror_match, text)


def has_direction(text: str) -> bool:
    """Whether ``text`` contains a direction word (otherwise its mirror is itself)."""
    return DIRECTION_WORD.search(text) is not None


def direction_sides(text: str) -> dict[str, tuple[str, ...]]:
    """Direction category -> the distinct sides ``text`` names, in order of first mention.

    >>> direction_sides("points rightward with the left hand, then circles it clockwise")
    {'lateral': ('right', 'left'), 'rotation': ('clockwise',)}
    """
    found: dict[str, list[str]] = {}
    for match in DIRECTION_WORD.finditer(text):
        category, side = STEM_SIDE[match.group("stem").lower()]
        sides = found.setdefault(category, [])
        if side not in sides:
            sides.append(side)
    return {cat: tuple(sides) for cat, sides in found.items()}
