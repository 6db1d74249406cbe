"""Caption metrics and localisation metrics.

- ``captions``: coco-caption scores (``caption_scores``: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D,
  SPICE when installed, never estimated), ``MeteorScorer`` (a reusable, closable METEOR
  process), ``locate_spice``, and ``direction_accuracy`` (left/right, clockwise/counterclockwise).
- ``retrieval``: ``similarity_matrix`` (cosine) and ``retrieval_metrics`` (top-1 accuracy,
  Recall@K both ways, paired or class-label ground truth).
- ``localization``: ``localization_errors`` (metres), ``error_summary``, ``error_cdf``,
  ``window_error_parts`` (a window's error as centroid and shape).

Figures for these live in ``wifisense.report.figures``.
"""

from wifisense.metrics.captions import (
    DIRECTION_SIDES,
    METRIC_NAMES,
    MeteorScorer,
    SpiceSetup,
    caption_scores,
    direction_accuracy,
    direction_sides,
    find_java,
    locate_spice,
    ptb_tokenize,
    regex_tokenize,
)
from wifisense.metrics.localization import error_cdf, error_summary, localization_errors, window_error_parts
from wifisense.metrics.retrieval import retrieval_metrics, similarity_matrix

__all__ = [
    "DIRECTION_SIDES",
    "METRIC_NAMES",
    "MeteorScorer",
    "SpiceSetup",
    "caption_scores",
    "direction_accuracy",
    "direction_sides",
    "error_cdf",
    "error_summary",
    "find_java",
    "localization_errors",
    "locate_spice",
    "ptb_tokenize",
    "regex_tokenize",
    "retrieval_metrics",
    "similarity_matrix",
    "window_error_parts",
]
