"""Caption metrics: BLEU-1..4, METEOR, ROUGE-L, CIDEr-D (and SPICE when installed) via pycocoevalcap, and direction accuracy.

``caption_scores`` follows coco-caption's ``COCOEvalCap`` exactly: every reference and
prediction is lower-cased and tokenised by the Stanford PTB tokenizer that ships with
pycocoevalcap (Java), punctuation tokens are dropped, and the tokenised texts go to
pycocoevalcap's ``Bleu(4)`` (``closest`` reference length), ``Meteor`` (METEOR 1.5,
``-l en -norm``), ``Rouge`` (ROUGE-L, beta 1.2), ``Cider`` (which is CIDEr-D: Gaussian
length penalty sigma 6, clipped n-gram counts, x10, document frequencies from the
evaluated references) and ``Spice``. Corpus scores are what coco-caption reports: BLEU
pools n-gram counts over the corpus, the others average the per-clip scores.

The result is one flat, JSON-serialisable dict::

    {"BLEU-1": 0.71, "BLEU-2": 0.55, "BLEU-3": 0.42, "BLEU-4": 0.31,
     "METEOR": 0.27, "ROUGE-L": 0.58, "CIDEr": 1.12, "SPICE": None,
     "not_computed": {"SPICE": "needs lib/stanford-corenlp-3.6.0.jar ... (how to install)"},
     "n": 120,                 # clips scored
     "tokenizer": "ptb",       # "ptb" (official) or "regex" (fallback when Java is missing)
     "per_sample": {           # only with per_sample=True; lists follow "keys"
         "keys": [...], "BLEU-1": [...], ..., "CIDEr": [...], "METEOR": [...], "SPICE": [...]}}

Every name in ``METRIC_NAMES`` is always present: a float when computed, ``None`` when not,
and then ``not_computed[name]`` says why. Nothing is ever estimated.

- METEOR needs Java: without ``java`` on the PATH it is not computed (reason given) while
  the others still are; the tokenizer then falls back to ``regex_tokenize`` (reported as
  ``"tokenizer": "regex"``), which matches PTB on plain English captions but is not the
  official tokenizer. ``MeteorScorer`` is one METEOR Java process: pass one to several
  ``caption_scores`` calls to pay its start-up (several seconds: it loads the paraphrase
  table) once, and close it (it is a context manager).
- SPICE needs the official ``spice-1.0.jar`` *and* the Stanford CoreNLP 3.6.0 jars it lists
  on its class path. pycocoevalcap's ``Spice`` downloads CoreNLP at run time when they are
  missing; that never happens here: ``locate_spice`` only looks for the files (in
  ``$WIFISENSE_SPICE_DIR`` or pycocoevalcap's ``spice`` folder) and SPICE runs only when
  all are present; otherwise it is not computed, with the missing files and how to
  install them. A SPICE run that fails (e.g. a Java version it does not support) is also
  reported as not computed with Java's error.

Direction accuracy (``direction_accuracy``) checks left/right and clockwise/counterclockwise
words with a small lexicon kept here, because shared rooms must not import a task package:
``wifisense.caption.mirror.swap_directions`` (the mirror-consistency swapper) must agree
with it, and ``tests/test_metrics_captions.py`` checks that they do.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from wifisense.directions import DIRECTION_SIDES, direction_sides
from wifisense.errors import ConfigError

METRIC_NAMES = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "SPICE")
SPICE_DIR_ENV = "WIFISENSE_SPICE_DIR"
SPICE_JAR = "spice-1.0.jar"
CORENLP_JARS = ("lib/stanford-corenlp-3.6.0.jar", "lib/stanford-corenlp-3.6.0-models.jar")
SPICE_INSTALL_HINT = (
    "download stanford-corenlp-full-2015-12-09.zip from https://nlp.stanford.edu/software/ "
    "(CoreNLP 3.6.0), copy stanford-corenlp-3.6.0.jar and stanford-corenlp-3.6.0-models.jar "
    "from it into {lib}, or set {env} to a folder holding {jar} and a lib/ folder with every jar "
    "it needs (SPICE 1.0 is tested by its authors with Java 8)")
_JAVA_HINT = "install a Java runtime (e.g. apt-get install default-jre-headless) and put `java` on the PATH"


def _pycocoevalcap_dir() -> Path:
    # pycocoevalcap is a namespace package (no __init__): locate it through a plain module
    from pycocoevalcap.bleu import bleu

    return Path(bleu.__file__).resolve().parent.parent


def find_java() -> str | None:
    """The ``java`` executable on the PATH, or None (METEOR, the PTB tokenizer and SPICE need it)."""
    return shutil.which("java")


# ----------------------------------------------------------------------------- tokenisation

def _ptb_punctuation() -> frozenset[str]:
    from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS

    return frozenset(PUNCTUATIONS)


def ptb_tokenize(texts: Sequence[str], java: str | None = None, timeout: float = 300.0) -> list[str]:
    """``texts`` lower-cased and PTB-tokenised, punctuation tokens dropped, as coco-caption does.

    Runs the same jar, class and flags as pycocoevalcap's ``PTBTokenizer``; it is called
    directly because that wrapper writes its temporary file into site-packages, lets
    Java's log through to the terminal and does not check that every line came back.
    Empty texts give empty strings.
    """
    java = java or find_java()
    if java is None:
        raise ConfigError(f"the PTB tokenizer needs Java: {_JAVA_HINT}")
    jar = _pycocoevalcap_dir() / "tokenizer" / "stanford-corenlp-3.4.1.jar"
    lines = [text.replace("\r", " ").replace("\n", " ") for text in texts]
    with tempfile.TemporaryDirectory(prefix="wifisense-ptb-") as tmp:
        path = Path(tmp) / "sentences.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # -Dfile.encoding: read and print UTF-8 whatever the locale (only matters for non-ASCII text)
        cmd = [java, "-Dfile.encoding=UTF-8", "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer",
               "-preserveLines", "-lowerCase", str(path)]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"PTB tokenizer failed (exit {done.returncode}): "
                           f"{done.stderr.decode(errors='replace').strip()[-500:]}")
    out = done.stdout.decode("utf-8", errors="replace").split("\n")
    if len(out) < len(lines):
        raise RuntimeError(f"PTB tokenizer returned {len(out)} lines for {len(lines)} texts")
    punctuation = _ptb_punctuation()
    return [" ".join(w for w in line.rstrip().split(" ") if w and w not in punctuation) for line in out[:len(lines)]]


_CONTRACTION = re.compile(r"(?<=\w)(n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)
# Punctuation PTB splits off and coco-caption then drops: quote marks (an apostrophe that
# does not start a split-off contraction), sentence marks, stand-alone dashes, and periods
# except inside numbers. Brackets are kept as PTB's lower-cased escapes ("-lrb-"):
# coco-caption's punctuation list holds "-LRB-" in capitals, so after -lowerCase they stay.
_BRACKETS = {"(": " -lrb- ", ")": " -rrb- ", "[": " -lsb- ", "]": " -rsb- ", "{": " -lcb- ", "}": " -rcb- "}
_BRACKET = re.compile(r"[()\[\]{}]")
_PUNCTUATION = re.compile(r"[,!?;:\"`]|(?<!\d)\.|\.(?!\d)|(?<!\S)-+(?!\S)|--+"
                          r"|(?<=\S)'(?!\w)|(?<!\w)'(?!(?:s|re|ve|ll|d|m)\b)")


def regex_tokenize(text: str) -> str:
    """A pure-Python stand-in for ``ptb_tokenize`` when Java is missing.

    Lower-cases, splits contractions the PTB way ("doesn't" -> "does n't"), writes brackets
    as PTB does ("-lrb-") and drops the punctuation coco-caption drops, keeping hyphenated
    words ("right-hand") whole. It equals PTB on plain captions; results computed with it say ``"tokenizer": "regex"``.
    """
    text = _CONTRACTION.sub(r" \1", text.lower())
    text = _BRACKET.sub(lambda m: _BRACKETS[m.group()], text)
    return " ".join(_PUNCTUATION.sub(" ", text).split())


# ----------------------------------------------------------------------------- METEOR

class MeteorScorer:
    """One METEOR 1.5 Java process (pycocoevalcap's jar, ``-stdio -l en -norm``), reusable and closable.

    ``score(references, hypotheses)`` takes tokenised texts (``list[list[str]]``, ``list[str]``)
    and returns ``(corpus_score, per_sample_scores)`` exactly as pycocoevalcap's
    ``Meteor.compute_score`` does, but: the whole call holds one lock (pycocoevalcap's
    ``_stat`` writes outside its lock, so concurrent calls interleave lines); ``|||`` and line
    breaks are removed from *references* too (they would shift the protocol); Java's log goes
    to a file instead of an unread pipe (which can fill and stall Java); a watchdog kills a
    stalled process after ``timeout`` seconds; and ``close()`` (or ``with``) ends the process
    instead of waiting for garbage collection. Empty hypotheses score 0.
    """

    def __init__(self, java: str | None = None, timeout: float = 600.0):
        java = java or find_java()
        if java is None:
            raise ConfigError(f"METEOR needs Java: {_JAVA_HINT}")
        meteor_dir = _pycocoevalcap_dir() / "meteor"
        self.timeout = float(timeout)
        self._lock = threading.Lock()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - Java writes to it for the process's lifetime
        self._process = subprocess.Popen(
            [java, "-Dfile.encoding=UTF-8", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio",
             "-l", "en", "-norm"],
            cwd=meteor_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def closed(self) -> bool:
        return self._process.poll() is not None

    def score(self, references: Sequence[Sequence[str]], hypotheses: Sequence[str]) -> tuple[float, np.ndarray]:
        if len(references) != len(hypotheses):
            raise ValueError(f"{len(references)} reference lists for {len(hypotheses)} hypotheses")
        if not hypotheses:
            raise ValueError("METEOR needs at least one hypothesis")
        with self._lock:
            if self.closed:
                raise RuntimeError(f"the METEOR process has ended{self._log_tail()}")
            watchdog = threading.Timer(self.timeout, self._process.kill)
            watchdog.start()
            try:
                # One SCORE line answered before the next is sent (as pycocoevalcap does): the
                # pipes never fill, whatever the corpus size.
                stats = [self._ask(_meteor_line(["SCORE", *refs, hyp])) for refs, hyp in zip(references, hypotheses)]
                self._send(" ||| ".join(["EVAL", *stats]))
                per_sample = np.array([float(self._read()) for _ in stats])
                corpus = float(self._read())
            finally:
                watchdog.cancel()
        return corpus, per_sample

    def close(self) -> None:
        """End the Java process (idempotent)."""
        process = getattr(self, "_process", None)
        if process is None:
            return
        if process.poll() is None:
            # METEOR keeps no state worth flushing, so it is killed rather than waited for: a
            # process still loading its paraphrase table would only read end-of-input seconds later.
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        self.close()

    def _send(self, line: str) -> None:
        try:
            self._process.stdin.write((line + "\n").encode("utf-8"))
            self._process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise RuntimeError(f"the METEOR process has ended{self._log_tail()}") from error

    def _read(self) -> str:
        line = self._process.stdout.readline().decode("utf-8", errors="replace").strip()
        if not line:
            raise RuntimeError(f"the METEOR process stopped answering (killed after {self.timeout:g} s "
                               f"or crashed){self._log_tail()}")
        return line

    def _ask(self, line: str) -> str:
        self._send(line)
        return self._read()

    def _log_tail(self) -> str:
        try:
            self._log.seek(0)
            tail = self._log.read().decode(errors="replace").strip()[-500:]
        except (OSError, ValueError):
            return ""
        return f": {tail}" if tail else ""


def _meteor_line(fields: Sequence[str]) -> str:
    clean = [" ".join(f.replace("|||", " ").split()) for f in fields]
    return " ||| ".join(clean)


# ----------------------------------------------------------------------------- SPICE

@dataclass(frozen=True)
class SpiceSetup:
    """Where SPICE would run from, and which of its files are missing there."""

    directory: Path
    missing: tuple[str, ...]

    @property
    def available(self) -> bool:
        return not self.missing

    @property
    def reason(self) -> str:
        """Why SPICE cannot run and how to install it ('' when it can)."""
        if self.available:
            return ""
        hint = SPICE_INSTALL_HINT.format(lib=self.directory / "lib", env=SPICE_DIR_ENV, jar=SPICE_JAR)
        return f"SPICE needs {', '.join(self.missing)} in {self.directory}: {hint}"


def locate_spice(spice_dir: str | os.PathLike | None = None) -> SpiceSetup:
    """Check (never download) the files SPICE needs: ``spice-1.0.jar`` and every jar on its class path.

    The folder is ``spice_dir``, else ``$WIFISENSE_SPICE_DIR``, else pycocoevalcap's ``spice``
    folder. The class path is read from the jar's manifest (it names the two Stanford
    CoreNLP 3.6.0 jars that pycocoevalcap does not ship); if the manifest cannot be read,
    the CoreNLP jars are the ones checked.
    """
    directory = Path(spice_dir or os.environ.get(SPICE_DIR_ENV) or _pycocoevalcap_dir() / "spice")
    jar = directory / SPICE_JAR
    if not jar.is_file():
        return SpiceSetup(directory, (SPICE_JAR, *(p for p in CORENLP_JARS if not (directory / p).is_file())))
    needed = _manifest_class_path(jar) or list(CORENLP_JARS)
    return SpiceSetup(directory, tuple(p for p in needed if not (directory / p).is_file()))


def _manifest_class_path(jar: Path) -> list[str]:
    try:
        with zipfile.ZipFile(jar) as archive:
            manifest = archive.read("META-INF/MANIFEST.MF").decode("utf-8", errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return []
    manifest = manifest.replace("\r\n", "\n").replace("\n ", "")  # manifest lines continue after "\n "
    for line in manifest.split("\n"):
        if line.startswith("Class-Path:"):
            return line.split(":", 1)[1].split()
    return []


def run_spice(setup: SpiceSetup, references: Sequence[Sequence[str]], hypotheses: Sequence[str],
              java: str | None = None, timeout: float = 3600.0) -> tuple[float, np.ndarray]:
    """SPICE F-scores ``(corpus mean, per sample)`` from the official jar, run as pycocoevalcap runs it.

    Unlike pycocoevalcap's ``Spice`` it never downloads anything (``setup`` must be
    available), keeps its temporary files out of site-packages and runs without the LMDB
    parse cache.
    """
    if not setup.available:
        raise ConfigError(setup.reason)
    java = java or find_java()
    if java is None:
        raise ConfigError(f"SPICE needs Java: {_JAVA_HINT}")
    items = [{"image_id": i, "test": hyp, "refs": list(refs)} for i, (refs, hyp) in enumerate(zip(references, hypotheses))]
    with tempfile.TemporaryDirectory(prefix="wifisense-spice-") as tmp:
        in_file, out_file = Path(tmp) / "input.json", Path(tmp) / "output.json"
        in_file.write_text(json.dumps(items), encoding="utf-8")
        cmd = [java, "-jar", "-Xmx8G", SPICE_JAR, str(in_file), "-out", str(out_file), "-subset", "-silent"]
        done = subprocess.run(cmd, cwd=setup.directory, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False)
        if done.returncode != 0 or not out_file.is_file():
            raise RuntimeError(f"SPICE failed (exit {done.returncode}): "
                               f"{done.stderr.decode(errors='replace').strip()[-500:]}")
        results = json.loads(out_file.read_text(encoding="utf-8"))
    by_id = {item["image_id"]: _float_or_nan(item["scores"]["All"]["f"]) for item in results}
    per_sample = np.array([by_id.get(i, np.nan) for i in range(len(items))])
    return float(np.mean(per_sample)), per_sample  # np.mean, not nanmean: as pycocoevalcap reports


def _float_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# ----------------------------------------------------------------------------- caption_scores

def _checked_pairs(references: Mapping[Hashable, Sequence[str]], predictions: Mapping[Hashable, str]
                   ) -> tuple[list[Hashable], list[list[str]], list[str]]:
    missing = [k for k in references if k not in predictions]
    extra = [k for k in predictions if k not in references]
    if missing or extra:
        raise ValueError(f"references and predictions must have the same keys: {len(missing)} without a "
                         f"prediction (e.g. {missing[:3]}), {len(extra)} without references (e.g. {extra[:3]})")
    if not references:
        raise ValueError("no clips to score")
    keys = list(references)
    refs, preds = [], []
    for key in keys:
        ref, pred = references[key], predictions[key]
        if isinstance(ref, str) or not ref or not all(isinstance(r, str) for r in ref):
            raise TypeError(f"references[{key!r}] must be a non-empty list of strings, got {ref!r}")
        if not isinstance(pred, str):
            raise TypeError(f"predictions[{key!r}] must be a string, got {type(pred).__name__}")
        refs.append(list(ref))
        preds.append(pred)
    return keys, refs, preds


def _tokenize_all(refs: list[list[str]], preds: list[str], java: str | None) -> tuple[list[list[str]], list[str], str]:
    flat = [r for rs in refs for r in rs] + preds
    tokens = ptb_tokenize(flat, java) if java else [regex_tokenize(t) for t in flat]
    out, start = [], 0
    for rs in refs:
        out.append(tokens[start:start + len(rs)])
        start += len(rs)
    return out, tokens[start:], "ptb" if java else "regex"


def _want(option: Any, name: str) -> bool:
    if option not in ("auto", True, False):
        raise ConfigError(f"{name} must be 'auto', True or False, got {option!r}")
    return option is not False


def caption_scores(references: Mapping[Hashable, Sequence[str]], predictions: Mapping[Hashable, str],
                   spice: str | bool = "auto", meteor: str | bool | MeteorScorer = "auto", *,
                   per_sample: bool = False, spice_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """coco-caption scores of ``predictions[key]`` against ``references[key]`` (see the module docstring).

    Args:
        references: clip key -> list of reference captions (at least one).
        predictions: clip key -> the generated caption ("" is allowed and scores 0).
        spice: ``"auto"`` (compute when ``locate_spice`` finds every file), ``True`` (must
            compute: ConfigError when it cannot) or ``False`` (not computed: "not requested").
        meteor: ``"auto"`` (compute when Java is on the PATH), ``True`` (must), ``False``, or an
            open ``MeteorScorer`` to reuse (left open).
        per_sample: also return ``per_sample`` scores, in the order of ``references``' keys.
        spice_dir: a SPICE folder instead of ``$WIFISENSE_SPICE_DIR`` / pycocoevalcap's.

    Returns the flat dict described in the module docstring. Raises ValueError / TypeError
    for mismatched keys or malformed captions, ConfigError for bad options.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    keys, refs, preds = _checked_pairs(references, predictions)
    want_meteor = isinstance(meteor, MeteorScorer) or _want(meteor, "meteor")
    want_spice = _want(spice, "spice")
    java = find_java()
    tok_refs, tok_preds, tokenizer = _tokenize_all(refs, preds, java)
    gts = {i: r for i, r in enumerate(tok_refs)}
    res = {i: [p] for i, p in enumerate(tok_preds)}

    result: dict[str, Any] = {name: None for name in METRIC_NAMES}
    samples: dict[str, list[float]] = {}
    not_computed: dict[str, str] = {}

    bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        result[f"BLEU-{n + 1}"] = float(bleu[n])
        samples[f"BLEU-{n + 1}"] = [float(s) for s in bleu_each[n]]
    for name, scorer in (("ROUGE-L", Rouge()), ("CIDEr", Cider())):
        corpus, each = scorer.compute_score(gts, res)
        result[name] = float(corpus)
        samples[name] = [float(s) for s in each]

    if isinstance(meteor, MeteorScorer):
        corpus, each = meteor.score(tok_refs, tok_preds)
        result["METEOR"], samples["METEOR"] = corpus, each.tolist()
    elif not want_meteor:
        not_computed["METEOR"] = "not requested (meteor=False)"
    elif java is None:
        if meteor is True:
            raise ConfigError(f"METEOR needs Java: {_JAVA_HINT}")
        not_computed["METEOR"] = f"java not found on the PATH: {_JAVA_HINT}"
    else:
        with MeteorScorer(java) as scorer:
            corpus, each = scorer.score(tok_refs, tok_preds)
        result["METEOR"], samples["METEOR"] = corpus, each.tolist()

    if not want_spice:
        not_computed["SPICE"] = "not requested (spice=False)"
    else:
        setup = locate_spice(spice_dir)
        reason = setup.reason or ("" if java else f"java not found on the PATH: {_JAVA_HINT}")
        if reason and spice is True:
            raise ConfigError(reason)
        if reason:
            not_computed["SPICE"] = reason
        else:
            try:
                corpus, each = run_spice(setup, tok_refs, tok_preds, java)
                result["SPICE"], samples["SPICE"] = corpus, each.tolist()
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                if spice is True:
                    raise
                not_computed["SPICE"] = f"the SPICE run failed: {error}"

    result.update(not_computed=not_computed, n=len(keys), tokenizer=tokenizer)
    if per_sample:
        result["per_sample"] = {"keys": keys, **samples,
                                "bleu_statistics": bleu_statistics(tok_refs, tok_preds).tolist()}
    return result


# ----------------------------------------------------------------------------- corpus BLEU over a subset of clips

# Corpus BLEU is not a mean of per-clip scores (n-gram counts are pooled over clips), so a
# bootstrap over clips needs BLEU recomputed on each resample. pycocoevalcap computes it only
# inside BleuScorer over whole lists; pooling its per-clip counts (its own cook_refs /
# cook_test, "closest" reference length as Bleu(4) uses) and applying its corpus formula
# below gives the same number without re-tokenising and re-counting 1,000 times.
BLEU_SMALL, BLEU_TINY = 1e-9, 1e-15     # pycocoevalcap's guards against division by zero


def bleu_statistics(tok_refs: Sequence[Sequence[str]], tok_preds: Sequence[str], n: int = 4) -> np.ndarray:
    """Per clip ``[testlen, reflen, guess_1..n, correct_1..n]`` as pycocoevalcap's Bleu counts them ``[N, 2 + 2n]``."""
    from pycocoevalcap.bleu.bleu_scorer import cook_refs, cook_test

    rows = []
    for refs, pred in zip(tok_refs, tok_preds, strict=True):
        comps = cook_test(pred, cook_refs(list(refs), n=n), n=n)
        testlen = comps["testlen"]
        reflen = min((abs(length - testlen), length) for length in comps["reflen"])[1]    # "closest"
        rows.append([testlen, reflen, *comps["guess"], *comps["correct"]])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), 2 + 2 * n)


def corpus_bleu(statistics: np.ndarray, n: int = 4) -> float:
    """BLEU-n of the clips whose rows ``statistics`` holds (rows may repeat), by pycocoevalcap's corpus formula."""
    total = np.asarray(statistics, dtype=np.float64).sum(axis=0)
    testlen, reflen = total[0], total[1]
    guess, correct = total[2:2 + n], total[2 + n:2 + 2 * n]
    score = 1.0
    for k in range(n):          # the same order of operations as BleuScorer.compute_score
        score *= (correct[k] + BLEU_TINY) / (guess[k] + BLEU_SMALL)
    score **= 1.0 / n
    ratio = (testlen + BLEU_TINY) / (reflen + BLEU_SMALL)
    if ratio < 1:
        score *= math.exp(1 - 1 / ratio)
    return float(score)


# ----------------------------------------------------------------------------- direction accuracy

# The direction lexicon is shared with the simulator and the mirror swapper.
SIDE_LABELS = {cat: (*sides, "none", "both") for cat, sides in DIRECTION_SIDES.items()}


def _side_label(sides: set[str]) -> str:
    if not sides:
        return "none"
    if len(sides) > 1:
        return "both"
    return next(iter(sides))


def _clip_correct(ref_sides: list[dict[str, tuple[str, ...]]], pred_sides: dict[str, tuple[str, ...]]) -> bool:
    categories = {cat for sides in ref_sides for cat in sides}
    return all(any(pred_sides.get(cat, ()) == sides[cat] for sides in ref_sides if cat in sides)
               for cat in categories)


def direction_accuracy(references: Mapping[Hashable, Sequence[str]], predictions: Mapping[Hashable, str],
                       per_sample: bool = False) -> dict[str, Any]:
    """How often generated captions name the correct side (left/right, clockwise/counterclockwise).

    A clip is *considered* when one of its references has a direction word. For each
    direction category its references use, the prediction must name exactly the sides a
    reference names in that category, in the same order of first mention, for at least one
    reference: with "raises the left arm" the prediction must say left and never right;
    with "points rightward with the left hand" it must say right and left in that order
    (its mirror, "points leftward with the right hand", names the same set of sides, so
    the order is what tells them apart; paraphrases in the other order count when some
    reference uses that order). A missing direction word is wrong; direction words of a
    category the references do not use are not judged here (the n-gram metrics see them).

    Returns ``{"accuracy": n_correct / n_considered (None when no clip is considered),
    "n_correct", "n_considered", "n_total", "chance", "lateral_confusion", "rotation_confusion"}``.
    ``chance`` is the accuracy of a captioner that knows each action but guesses its side:
    one in two per direction category a clip's references use (one in four for an arm
    circling clockwise, which needs the side and the rotation), averaged over the clips
    considered.
    Each confusion is ``{"labels": [left, right, none, both], "matrix": counts}`` over *all*
    clips: row = the sides the references name (union over references), column = the sides
    the prediction names. With ``per_sample=True`` also ``"correct": {key: bool}`` for the
    considered clips.
    """
    keys, refs, preds = _checked_pairs(references, predictions)
    confusions = {cat: np.zeros((4, 4), dtype=np.int64) for cat in DIRECTION_SIDES}
    correct: dict[Hashable, bool] = {}
    chances: list[float] = []
    for key, ref_list, pred in zip(keys, refs, preds):
        ref_sides = [direction_sides(r) for r in ref_list]
        pred_sides = direction_sides(pred)
        for cat, matrix in confusions.items():
            labels = SIDE_LABELS[cat]
            ref_label = _side_label({s for sides in ref_sides for s in sides.get(cat, ())})
            pred_label = _side_label(set(pred_sides.get(cat, ())))
            matrix[labels.index(ref_label), labels.index(pred_label)] += 1
        if any(ref_sides):
            correct[key] = _clip_correct([s for s in ref_sides if s], pred_sides)
            chances.append(0.5 ** len({cat for sides in ref_sides for cat in sides}))
    n_correct = sum(correct.values())
    result: dict[str, Any] = {
        "accuracy": n_correct / len(correct) if correct else None,
        "n_correct": n_correct,
        "n_considered": len(correct),
        "n_total": len(keys),
        "chance": float(np.mean(chances)) if chances else None,
    }
    for cat, matrix in confusions.items():
        result[f"{cat}_confusion"] = {"labels": list(SIDE_LABELS[cat]), "matrix": matrix.tolist()}
    if per_sample:
        result["correct"] = correct
    return result
