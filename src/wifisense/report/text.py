"""Text helpers for report blocks: number formats, short reasons, word-level differences between captions."""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

from wifisense.report.document import NotRun


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_score(value: Any) -> str:
    """Caption scores (0..1, CIDEr up to 10) with three decimals."""
    return f"{value:.3f}" if finite(value) else "—"


def format_percent(value: Any) -> str:
    return f"{100.0 * value:.1f} %" if finite(value) else "—"


def format_seconds(value: Any) -> str:
    """``75.3`` -> ``1 min 15 s``; under a minute with one decimal."""
    if not finite(value):
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def plain(value: Any, none: str = "—") -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(plain(v) for v in value)
    return none if value is None else str(value)


def short_reason(text: str, limit: int = 140) -> str:
    """A long reason cut at its first clause, pointing to the full text (footnotes stay one or two lines)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cuts = [i for i in (text.find(": "), text.find("; "), text.find(". ")) if 0 < i]
    cut = min(cuts) if cuts else limit
    return text[:cut].rstrip(" .:;") + " (full text in results.csv)"


def interval_note(results, one_seed: str) -> str:
    """How a table's intervals were made: over seeds when any line is an aggregate over seeds, else ``one_seed``."""
    from wifisense.runs.results import CI_SEEDS

    if any(r.ci == CI_SEEDS for r in results):
        seeds = max(r.seeds for r in results)
        return f"mean over {seeds} seeds ± half-width of the 95 % Student t interval over seeds"
    return one_seed


def not_run(what: str, reason: str) -> NotRun:
    return NotRun(what, reason or "no reason was recorded")


def _normalise_word(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


def diff_words(reference: str, prediction: str) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """Word-level difference: each word of both captions with True where it is not shared (case/punctuation ignored)."""
    ref, pred = reference.split(), prediction.split()
    matcher = difflib.SequenceMatcher(a=[_normalise_word(w) for w in ref], b=[_normalise_word(w) for w in pred],
                                      autojunk=False)
    ref_same, pred_same = [False] * len(ref), [False] * len(pred)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            ref_same[block.a + k] = True
            pred_same[block.b + k] = True
    return ([(w, not s) for w, s in zip(ref, ref_same)], [(w, not s) for w, s in zip(pred, pred_same)])


def closest_reference(references: list[str], prediction: str) -> str:
    """The reference sharing the most words in order with the prediction (first one on ties)."""
    pred = [_normalise_word(w) for w in prediction.split()]

    def score(ref: str) -> float:
        return difflib.SequenceMatcher(a=[_normalise_word(w) for w in ref.split()], b=pred, autojunk=False).ratio()

    return max(references, key=score) if references else ""


def read_json_object(path) -> tuple[dict | None, str]:
    """A JSON object from ``path``, or None and why not (missing, unreadable, not an object)."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return None, f"{path.name} was not written"
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path} could not be read ({error})"
    return (payload, "") if isinstance(payload, dict) else (None, f"{path} does not hold a JSON object")


def read_study_results(folder) -> tuple[list | None, str]:
    """The typed results of a study folder (``results.json``), or None and why not."""
    import json
    from pathlib import Path

    from wifisense.runs.results import JSON_FILE, results_from_json

    path = Path(folder) / JSON_FILE
    if not path.is_file():
        return None, f"{path.parent.name}/{JSON_FILE} was not written"
    try:
        lines = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(lines, list):
            raise ValueError("not a list of result lines")
        return results_from_json(lines), ""
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as error:
        return None, f"{path} could not be read ({error})"
