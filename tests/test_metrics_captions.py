"""Tests for wifisense.metrics.captions: coco-caption scores, METEOR process handling, SPICE detection, direction accuracy."""

from __future__ import annotations

import threading
import zipfile

import numpy as np
import pytest

from wifisense.errors import ConfigError
from wifisense.metrics import captions
from wifisense.metrics.captions import (
    METRIC_NAMES,
    MeteorScorer,
    caption_scores,
    direction_accuracy,
    direction_sides,
    locate_spice,
    ptb_tokenize,
    regex_tokenize,
)

HAVE_JAVA = captions.find_java() is not None
needs_java = pytest.mark.skipif(not HAVE_JAVA, reason="java is not on the PATH (METEOR and the PTB tokenizer need it)")

REFERENCES = {
    "wave": ["a person standing waves the right hand above the head",
             "someone standing up waves their right hand high above the head"],
    "kick": ["a seated person kicks the left foot out in front of the chair",
             "someone seated kicks their left leg forward from the chair"],
    "lean": ["the person on their feet leans the upper body slowly forward",
             "a standing person bends the upper body forward at the waist"],
    "squat": ["a person standing squats down and then stands back up again",
              "someone standing up bends both knees to squat and rises again"],
}
PERFECT = {key: refs[0] for key, refs in REFERENCES.items()}


@pytest.fixture(scope="module")
def meteor():
    if not HAVE_JAVA:
        pytest.skip("java is not on the PATH: METEOR cannot run")
    with MeteorScorer() as scorer:
        yield scorer


def test_identical_prediction_scores_one_and_disjoint_scores_zero():
    disjoint = {key: "zebra quantum violin marmalade orbit" for key in REFERENCES}
    both = {**{f"p-{k}": v for k, v in REFERENCES.items()}, **{f"d-{k}": v for k, v in REFERENCES.items()}}
    preds = {**{f"p-{k}": v for k, v in PERFECT.items()}, **{f"d-{k}": v for k, v in disjoint.items()}}
    scores = caption_scores(both, preds, spice=False, meteor=False, per_sample=True)
    per = scores["per_sample"]
    assert per["keys"] == list(both)
    perfect = [i for i, k in enumerate(per["keys"]) if k.startswith("p-")]
    wrong = [i for i, k in enumerate(per["keys"]) if k.startswith("d-")]
    assert np.allclose(np.array(per["BLEU-4"])[perfect], 1.0, atol=1e-6)
    assert np.allclose(np.array(per["ROUGE-L"])[perfect], 1.0)
    assert np.all(np.array(per["BLEU-4"])[wrong] < 1e-6)
    assert np.all(np.array(per["BLEU-1"])[wrong] < 1e-6)
    assert np.all(np.array(per["ROUGE-L"])[wrong] == 0.0)
    assert np.all(np.array(per["CIDEr"])[wrong] == 0.0)
    assert min(np.array(per["CIDEr"])[perfect]) > 1.0


def test_corpus_scores_perfect_beat_wrong_and_have_the_documented_structure():
    perfect = caption_scores(REFERENCES, PERFECT, spice=False, meteor=False)
    # every clip gets another clip's caption: fluent, but wrong
    keys = list(REFERENCES)
    shuffled = {k: PERFECT[keys[(i + 1) % len(keys)]] for i, k in enumerate(keys)}
    wrong = caption_scores(REFERENCES, shuffled, spice=False, meteor=False)
    assert perfect["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["ROUGE-L"] == pytest.approx(1.0)
    assert perfect["CIDEr"] > wrong["CIDEr"] + 1.0
    assert perfect["BLEU-4"] > wrong["BLEU-4"] and perfect["ROUGE-L"] > wrong["ROUGE-L"]
    for result in (perfect, wrong):
        assert set(METRIC_NAMES) <= set(result)
        assert result["METEOR"] is None and result["SPICE"] is None
        assert set(result["not_computed"]) == {"METEOR", "SPICE"}
        assert result["n"] == len(REFERENCES) and "per_sample" not in result
        assert all(isinstance(result[m], float) for m in METRIC_NAMES if m not in result["not_computed"])
    assert perfect["tokenizer"] == ("ptb" if HAVE_JAVA else "regex")


@pytest.mark.slow  # METEOR's start-up (loading its paraphrase table) takes several seconds
@needs_java
def test_meteor_scores_identical_higher_and_threads_do_not_interleave(meteor):
    refs = [["a person waves the right hand"], ["someone kicks the left leg forward"]]
    hyps = ["a person waves the right hand", "a person sits down"]
    corpus, each = meteor.score(refs, hyps)
    assert each[0] == pytest.approx(1.0) and 0.0 <= each[1] < 0.5
    assert 0.0 < corpus < 1.0
    # concurrent calls on one scorer hold its lock for the whole exchange
    results = [None] * 4

    def work(i):
        results[i] = meteor.score(refs[::-1] if i % 2 else refs, hyps[::-1] if i % 2 else hyps)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i, (c, e) in enumerate(results):
        assert c == pytest.approx(corpus)
        assert np.allclose(e, each[::-1] if i % 2 else each)


@pytest.mark.slow
@needs_java
def test_shared_meteor_and_empty_predictions(meteor):
    preds = {**PERFECT, "kick": "", "squat": "   ...  "}
    scores = caption_scores(REFERENCES, preds, spice=False, meteor=meteor, per_sample=True)
    assert not meteor.closed  # a scorer passed in stays open for the next call
    per = scores["per_sample"]
    keys = per["keys"]
    for metric in ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"):
        assert per[metric][keys.index("kick")] == 0.0
        assert per[metric][keys.index("squat")] == 0.0
    assert per["METEOR"][keys.index("wave")] == pytest.approx(1.0)
    assert 0.0 < scores["METEOR"] < 1.0 and "METEOR" not in scores["not_computed"]


@needs_java
def test_meteor_processes_end_after_use(monkeypatch):
    with MeteorScorer() as scorer:
        assert not scorer.closed
    assert scorer.closed and scorer._process.returncode is not None
    scorer.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="ended"):
        scorer.score([["a b"]], ["a b"])

    # caption_scores closes the scorer it starts itself, also when scoring fails
    started = []
    original_init = MeteorScorer.__init__

    def recording_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        started.append(self)

    def failing_score(self, references, hypotheses):
        raise RuntimeError("simulated METEOR crash")

    monkeypatch.setattr(MeteorScorer, "__init__", recording_init)
    monkeypatch.setattr(MeteorScorer, "score", failing_score)
    with pytest.raises(RuntimeError, match="simulated"):
        caption_scores(REFERENCES, PERFECT, spice=False, meteor=True)
    assert len(started) == 1 and started[0].closed


def test_without_java_meteor_is_not_computed_and_the_rest_still_is(monkeypatch):
    monkeypatch.setattr(captions, "find_java", lambda: None)
    scores = caption_scores(REFERENCES, PERFECT, per_sample=True)
    assert scores["METEOR"] is None and "java" in scores["not_computed"]["METEOR"]
    assert scores["SPICE"] is None and "SPICE" in scores["not_computed"]
    assert scores["tokenizer"] == "regex"
    assert scores["BLEU-4"] == pytest.approx(1.0, abs=1e-6) and scores["CIDEr"] > 0
    assert "METEOR" not in scores["per_sample"]
    with pytest.raises(ConfigError, match="Java"):
        caption_scores(REFERENCES, PERFECT, meteor=True, spice=False)


def test_spice_is_not_computed_here_with_a_reason():
    setup = locate_spice()
    if setup.available:
        pytest.skip("SPICE and Stanford CoreNLP are installed on this machine")
    scores = caption_scores(REFERENCES, PERFECT, meteor=False)
    reason = scores["not_computed"]["SPICE"]
    assert scores["SPICE"] is None
    assert "stanford-corenlp-3.6.0.jar" in reason and "stanford-corenlp-3.6.0-models.jar" in reason
    assert captions.SPICE_DIR_ENV in reason  # says how to install
    with pytest.raises(ConfigError, match="stanford-corenlp"):
        caption_scores(REFERENCES, PERFECT, meteor=False, spice=True)
    assert "not requested" in caption_scores(REFERENCES, PERFECT, meteor=False, spice=False)["not_computed"]["SPICE"]


def _fake_spice_jar(path, class_path):
    with zipfile.ZipFile(path, "w") as jar:
        # a real manifest wraps long lines with "\n " continuations
        manifest = "Manifest-Version: 1.0\nClass-Path: " + " ".join(class_path) + "\nMain-Class: X\n"
        wrapped = "\n ".join(manifest[i:i + 70] for i in range(0, len(manifest), 70))
        jar.writestr("META-INF/MANIFEST.MF", wrapped)


def test_locate_spice_finds_every_jar_on_the_class_path(tmp_path, monkeypatch):
    assert locate_spice(tmp_path).missing[0] == "spice-1.0.jar"
    class_path = ["lib/stanford-corenlp-3.6.0.jar", "lib/guava-19.0.jar", "lib/stanford-corenlp-3.6.0-models.jar"]
    _fake_spice_jar(tmp_path / "spice-1.0.jar", class_path)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "guava-19.0.jar").write_bytes(b"x")
    setup = locate_spice(tmp_path)
    assert setup.missing == ("lib/stanford-corenlp-3.6.0.jar", "lib/stanford-corenlp-3.6.0-models.jar")
    assert not setup.available and "stanford-corenlp-3.6.0.jar" in setup.reason
    for name in class_path:
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setenv(captions.SPICE_DIR_ENV, str(tmp_path))
    setup = locate_spice()  # through the environment variable
    assert setup.directory == tmp_path and setup.available and setup.reason == ""
    # a jar without a readable manifest: the CoreNLP jars are still checked
    (tmp_path / "spice-1.0.jar").write_bytes(b"not a zip")
    (tmp_path / "lib" / "stanford-corenlp-3.6.0-models.jar").unlink()
    assert locate_spice(tmp_path).missing == ("lib/stanford-corenlp-3.6.0-models.jar",)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same keys"):
        caption_scores({"a": ["x"], "b": ["y"]}, {"a": "x"}, meteor=False, spice=False)
    with pytest.raises(TypeError, match="list of strings"):
        caption_scores({"a": "a bare string"}, {"a": "x"}, meteor=False, spice=False)
    with pytest.raises(TypeError, match="must be a string"):
        caption_scores({"a": ["x"]}, {"a": ["x"]}, meteor=False, spice=False)
    with pytest.raises(ConfigError, match="spice"):
        caption_scores({"a": ["x"]}, {"a": "x"}, meteor=False, spice="yes")


TOKENIZER_SENTENCES = [
    "A person standing raises the LEFT arm.",
    "Someone seated waves their right-hand, then stops!",
    "The person doesn't turn; he's circling both arms counter-clockwise...",
    "a person kicks (gently) forward with the left leg?",
    "",
    'She says "hello" -- and points to the right: done',
    "the dogs' owner's 3.5 m walk - it's 'quoted' fine",
]


@needs_java
def test_regex_fallback_matches_the_ptb_tokenizer_on_plain_captions():
    assert ptb_tokenize(TOKENIZER_SENTENCES) == [regex_tokenize(s) for s in TOKENIZER_SENTENCES]


# ----------------------------------------------------------------------------- direction accuracy

def test_direction_accuracy_hand_cases():
    refs = {
        "correct": ["a person raises the left arm", "someone lifts their left arm"],
        "wrong_side": ["a person raises the left arm"],
        "missing": ["a person waves the right hand"],
        "both_said": ["a person waves the right hand"],
        "no_direction": ["a person squats down"],
        "rotation": ["someone circles the right arm clockwise"],
        "ordered": ["a person points rightward with the left hand",
                    "someone extends the left arm to point to the right"],
        "mirrored": ["a person points rightward with the left hand"],
    }
    preds = {
        "correct": "the person raises the left arm above the head",
        "wrong_side": "a person raises the right arm",
        "missing": "a person waves a hand",
        "both_said": "a person waves the right hand and the left hand",
        "no_direction": "a person turns to the left",  # not judged: no direction in the reference
        "rotation": "someone circles the right-hand arm counter-clockwise",  # right ok, rotation wrong
        "ordered": "someone extends the left arm to point rightward",  # the second reference's order
        "mirrored": "a person points leftward with the right hand",  # same side set, mirrored order
    }
    out = direction_accuracy(refs, preds, per_sample=True)
    assert out["correct"] == {"correct": True, "wrong_side": False, "missing": False, "both_said": False,
                              "rotation": False, "ordered": True, "mirrored": False}
    assert out["n_considered"] == 7 and out["n_total"] == 8 and out["n_correct"] == 2
    assert out["accuracy"] == pytest.approx(2 / 7)
    # a side guessed per category: 1/2 for six clips, 1/4 for the clockwise right arm
    assert out["chance"] == pytest.approx((6 * 0.5 + 0.25) / 7)
    lateral = out["lateral_confusion"]
    assert lateral["labels"] == ["left", "right", "none", "both"]
    m = np.array(lateral["matrix"])
    assert m.sum() == 8
    L, R, N, B = range(4)
    assert m[L, L] == 1 and m[L, R] == 1            # correct, wrong_side
    assert m[R, N] == 1 and m[R, B] == 1 and m[R, R] == 1  # missing, both_said, rotation
    assert m[N, L] == 1                              # no_direction
    assert m[B, B] == 2                              # ordered, mirrored
    rotation = np.array(out["rotation_confusion"]["matrix"])
    assert rotation[0, 1] == 1 and rotation[2, 2] == 7


def test_direction_accuracy_without_direction_words_is_none():
    out = direction_accuracy({"a": ["a person squats"]}, {"a": "a person sits"})
    assert out["accuracy"] is None and out["n_considered"] == 0 and out["n_total"] == 1 and out["chance"] is None


def test_direction_sides_lexicon():
    assert direction_sides("raises the Left arm, moves leftwards, then right-handed and anti-clockwise") == {
        "lateral": ("left", "right"), "rotation": ("counterclockwise",)}
    assert direction_sides("leftover righteous clockworks") == {}
    assert direction_sides("turns counterclockwise then clockwise") == {"rotation": ("counterclockwise", "clockwise")}


MIRROR_SENTENCES = [
    "a person raises the left arm",
    "someone waves their RIGHT hand",
    "the person steps leftward then rightwards",
    "a person points rightward with the left hand",
    "a seated person circles the right arm clockwise",
    "both arms circle counterclockwise",
    "the arm rotates counter-clockwise, the leftmost hand anticlockwise",
    "a right-handed punch with the left-hand guard up",
    "he turns to his left's side",
    "a person squats down",
    "leftover righteous clockworks",
]


def test_lexicon_agrees_with_the_caption_mirror_swapper():
    # Only the test imports the task package: the metrics room must not depend on it.
    from wifisense.caption.mirror import has_direction, swap_directions
    from wifisense.sim.vocabulary import action_classes, class_captions

    mirror_side = {side: sides[1 - i] for sides in captions.DIRECTION_SIDES.values() for i, side in enumerate(sides)}
    sentences = MIRROR_SENTENCES + [c for spec in action_classes() for c in class_captions(spec)]
    for text in sentences:
        sides = direction_sides(text)
        assert has_direction(text) == bool(sides), text
        mirrored = {cat: tuple(mirror_side[s] for s in seq) for cat, seq in sides.items()}
        assert direction_sides(swap_directions(text)) == mirrored, text


# ----------------------------------------------------------------------------- retrieval

def test_similarity_matrix_is_cosine_for_numpy_and_torch():
    import torch

    from wifisense.metrics import similarity_matrix

    a = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0]])
    expected = np.array([[1.0, -np.sqrt(0.5)], [0.0, -np.sqrt(0.5)], [np.sqrt(0.5), -1.0]])
    assert np.allclose(similarity_matrix(a, b), expected)
    assert np.allclose(similarity_matrix(torch.tensor(a, dtype=torch.float32, requires_grad=True), torch.tensor(b)),
                       expected, atol=1e-6)
    with pytest.raises(ValueError, match="same D"):
        similarity_matrix(a, np.ones((2, 3)))


def test_retrieval_metrics_paired_mode_on_a_hand_made_matrix():
    from wifisense.metrics import retrieval_metrics

    # rows = CSI, columns = text; the right column is the diagonal
    sim = np.array([[0.9, 0.1, 0.0, 0.2],   # right at rank 1
                    [0.8, 0.5, 0.1, 0.0],   # right at rank 2
                    [0.1, 0.2, 0.3, 0.4],   # right at rank 2
                    [0.5, 0.6, 0.7, 0.1]])  # right at rank 4
    out = retrieval_metrics(sim, ks=(1, 2, 5))
    assert out["mode"] == "paired" and out["n_csi"] == 4 and out["n_text"] == 4
    assert out["top1_accuracy"] == out["csi_to_text_R@1"] == pytest.approx(1 / 4)
    assert out["csi_to_text_R@2"] == pytest.approx(3 / 4)
    assert out["csi_to_text_R@5"] == 1.0  # K above the candidates counts every query
    # columns as queries: col0 rank 1; col1 (0.5) under 0.6 -> rank 2; col2 (0.3) under 0.7 -> rank 2;
    # col3 (0.1) under 0.2 and 0.4 -> rank 3
    assert out["text_to_csi_R@1"] == pytest.approx(1 / 4)
    assert out["text_to_csi_R@2"] == pytest.approx(3 / 4)
    # ties count against the query: a constant matrix is never "perfect"
    assert retrieval_metrics(np.ones((3, 3)))["top1_accuracy"] == 0.0
    with pytest.raises(ValueError, match="square"):
        retrieval_metrics(np.ones((2, 3)))


def test_retrieval_metrics_class_mode():
    from wifisense.metrics import retrieval_metrics

    # four clips of classes [0, 0, 1, 2] against one text per class [0, 1, 2]
    sim = np.array([[0.9, 0.1, 0.0],
                    [0.2, 0.8, 0.1],   # class 0 clip retrieves class 1 first
                    [0.1, 0.7, 0.3],
                    [0.0, 0.1, 0.6]])
    out = retrieval_metrics(sim, ks=(1, 2), gt=(np.array([0, 0, 1, 2]), np.array([0, 1, 2])))
    assert out["mode"] == "class"
    assert out["csi_to_text_R@1"] == pytest.approx(3 / 4) and out["csi_to_text_R@2"] == 1.0
    # text 0 -> best clip of class 0 is 0.9 (top); text 1 -> 0.8 (clip 1, class 0) beats 0.7 -> rank 2; text 2 -> 0.6 top
    assert out["text_to_csi_R@1"] == pytest.approx(2 / 3) and out["text_to_csi_R@2"] == 1.0
    # the same labels on both sides of a square matrix: any item of the same class is a hit
    square = np.array([[1.0, 0.9, 0.0], [0.2, 0.1, 0.5], [0.0, 0.3, 1.0]])
    out = retrieval_metrics(square, ks=(1,), gt=np.array([7, 7, 8]))
    assert out["csi_to_text_R@1"] == pytest.approx(2 / 3)  # row 1: class 8 item (0.5) beats both class-7 items
    # a class missing on the other side is a miss, and is counted
    out = retrieval_metrics(sim, ks=(1,), gt=(np.array([0, 0, 1, 3]), np.array([0, 1, 2])))
    assert out["csi_without_match"] == 1 and out["text_without_match"] == 1


def test_run_spice_maps_the_jar_output_back_to_the_clips(tmp_path):
    """The SPICE runner with a stand-in for `java` (SPICE itself is not installed here)."""
    import sys

    from wifisense.metrics.captions import SpiceSetup, run_spice

    fake_java = tmp_path / "java"
    # writes SPICE's output format, in reverse order, with "All" F = number of words in the test caption / 10
    fake_java.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "items = json.load(open(args[args.index('spice-1.0.jar') + 1]))\n"
        "out = [{'image_id': it['image_id'], 'scores': {'All': {'f': len(it['test'].split()) / 10, 'pr': 0, 're': 0}}}"
        " for it in reversed(items)]\n"
        "json.dump(out, open(args[args.index('-out') + 1], 'w'))\n")
    fake_java.chmod(0o755)
    setup = SpiceSetup(tmp_path, ())
    mean, each = run_spice(setup, [["a b"], ["c"], ["d e f"]], ["one", "one two three", ""], java=str(fake_java))
    assert np.allclose(each, [0.1, 0.3, 0.0]) and mean == pytest.approx(np.mean([0.1, 0.3, 0.0]))
    with pytest.raises(ConfigError, match="SPICE needs"):
        run_spice(SpiceSetup(tmp_path, ("lib/stanford-corenlp-3.6.0.jar",)), [["a"]], ["a"], java=str(fake_java))
    fake_java.write_text(f"#!{sys.executable}\nimport sys\nsys.stderr.write('Unsupported major.minor version')\nsys.exit(1)\n")
    with pytest.raises(RuntimeError, match="Unsupported major.minor"):
        run_spice(setup, [["a"]], ["a"], java=str(fake_java))


def test_corpus_bleu_from_pooled_clip_counts_matches_pycocoevalcap_on_any_resample():
    from pycocoevalcap.bleu.bleu import Bleu

    from wifisense.metrics.captions import bleu_statistics, corpus_bleu

    refs = [["a person raises the left arm", "someone lifts the left arm up"],
            ["a person nods the head"],
            ["a person kicks with the right leg", "the right leg kicks", "a kick with the right leg"],
            ["a person sits down slowly"]]
    preds = ["a person raises the right arm", "a person nods", "the right leg kicks forward", "a person"]
    stats = bleu_statistics(refs, preds)
    assert stats.shape == (4, 10)
    for idx in ([0, 1, 2, 3], [2, 2, 0, 3], [1, 1, 1, 1], [3, 0]):
        gts = {i: refs[j] for i, j in enumerate(idx)}
        res = {i: [preds[j]] for i, j in enumerate(idx)}
        expected = Bleu(4).compute_score(gts, res, verbose=0)[0][3]
        assert corpus_bleu(stats[idx]) == pytest.approx(expected, rel=1e-12, abs=1e-15), idx
    # corpus BLEU is not the mean of per-clip BLEU: pooling matters
    per_clip = [Bleu(4).compute_score({0: refs[j]}, {0: [preds[j]]}, verbose=0)[0][3] for j in range(4)]
    assert abs(sum(per_clip) / 4 - corpus_bleu(stats)) > 1e-3
