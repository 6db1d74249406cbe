"""caption ablate: rows per design, one run per distinct configuration, shared earlier stages, resumable JSON + Markdown."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from wifisense import cli
from wifisense.caption import ablate
from wifisense.caption.train import CaptionTrainSettings
from wifisense.errors import ConfigError

# The tiny preset shrunk further so a whole design trains in seconds on two shared cores.
SHRINK = {
    "embed_dim": 16, "student.resnet_width": 4, "teacher.cnn_width": 4, "teacher.cnn_dim": 16,
    "teacher.temporal_dim": 16, "teacher.frame_size": 32, "prefix_lm.hidden_dim": 32,
    "prefix_lm.max_caption_tokens": 24, "offline_lm.n_layer": 1, "offline_lm.n_embd": 32, "offline_lm.n_head": 2,
    "offline_lm.vocab_size": 300, "offline_lm.n_positions": 32, "offline_lm.steps": 20,
}
CLASSES = ("standing:left_arm:raise_forward", "standing:head:nod")      # + the mirror partner of the first
TRAIN = {"epochs": 1, "max_steps": 1, "batch_size": 8, "device": "cpu", "overrides": SHRINK}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    cfg = dataclasses.replace(ActionConfig.quick(), clips_per_class=3, classes=CLASSES, clip_seconds=0.5,
                              packet_rate_hz=32.0, num_frames=2, image_size=32, split_ratios=(0.6, 0.0, 0.4))
    path = tmp_path_factory.mktemp("ablate") / "actions.h5"
    write_caption_store(path, simulate_actions(cfg, seed=0, progress=False), overwrite=True)
    return path


def _base(**changes) -> CaptionTrainSettings:
    return dataclasses.replace(CaptionTrainSettings(data="x.h5", run="", overrides=dict(SHRINK)), **changes)


def _plan(designs, lms=(), texts=(), **changes):
    return ablate.plan_runs(designs, _base(**changes), "x.h5", list(lms), list(texts))


# --------------------------------------------------------------------------- planning (fast)


def test_designs_parse_and_rows_follow_the_paper():
    assert ablate.parse_designs("all") == ablate.DESIGNS
    assert ablate.parse_designs("text, main") == ("main", "text")
    with pytest.raises(ConfigError, match="unknown design.*colour"):
        ablate.parse_designs("main,colour")
    assert [r.name for r in ablate.design_rows("main")] == ["full", "baseline", "mirror-none", "mirror-teacher"]
    assert [r.name for r in ablate.design_rows("stages")] == ["s2-2+s3", "s1+s2-1+s3", "all"]
    assert [r.name for r in ablate.design_rows("mirror")] == ["none", "teacher", "full"]
    assert [r.name for r in ablate.design_rows("lm", lms=["gpt2", "offline"])] == ["offline", "gpt2"]
    assert [r.name for r in ablate.design_rows("text", text_encoders=["openai/clip-vit-base-patch32"])] == \
        ["minilm", "openai/clip-vit-base-patch32"]


def test_identical_configurations_share_one_run():
    by_design, runs = _plan(("main", "stages", "mirror", "lm"), lms=["Qwen/Qwen2-0.5B"])
    names = [r.name for r in runs]
    assert names[0] == "full" and len(names) == len(set(names))
    assert set(names) == {"full", "baseline", "mirror-none", "mirror-teacher", "s2-2+s3", "s1+s2-1+s3",
                          "lm-Qwen-Qwen2-0.5B"}
    run_of = {(d, row.name): planned.name for d, rows in by_design.items() for row, planned in rows}
    assert run_of["stages", "all"] == run_of["mirror", "full"] == run_of["lm", "offline"] == "full"
    assert run_of["mirror", "none"] == "mirror-none" and run_of["mirror", "teacher"] == "mirror-teacher"
    full = next(r for r in runs if r.name == "full")
    assert set(full.rows) == {("main", "full"), ("stages", "all"), ("mirror", "full"), ("lm", "offline")}
    baseline = next(r for r in runs if r.name == "baseline")
    assert baseline.settings.stages == ("csi-lm",) and baseline.model["loss"]["mirror_mode"] == "none"


def test_stage_keys_say_which_earlier_stages_runs_can_share():
    _, runs = _plan(("main", "stages", "lm", "text"), lms=["gpt2"], texts=["openai/clip-vit-base-patch32"])
    keys = {r.name: r.stage_keys for r in runs}
    full = keys["full"]
    # mirror teacher vs full: the teacher hinge is the same, only S2-2's student hinge differs
    assert keys["mirror-teacher"]["s1"] == full["s1"] and keys["mirror-teacher"]["s2-1"] == full["s2-1"]
    assert keys["mirror-teacher"]["s2-2"] != full["s2-2"]
    # no mirror loss changes the teacher, so everything after it too
    assert all(keys["mirror-none"][s] != full[s] for s in ablate.ALL_STAGES)
    # S1+S2-1+S3 trains the same S1 and S2-1 as the full pipeline; its S3 follows another student
    assert keys["s1+s2-1+s3"]["s1"] == full["s1"] and keys["s1+s2-1+s3"]["s2-1"] == full["s2-1"]
    assert keys["s1+s2-1+s3"]["s3"] != full["s3"]
    # S2-2 without a teacher is another stage than S2-2 after S1 and S2-1
    assert keys["s2-2+s3"]["s2-2"] != full["s2-2"]
    # another LM changes only S3; another text encoder changes the teacher
    lm = keys["lm-gpt2"]
    assert [lm[s] == full[s] for s in ablate.ALL_STAGES] == [True, True, True, False]
    assert keys["text-openai-clip-vit-base-patch32"]["s1"] != full["s1"]
    # the offline LM is shared only between runs that train it the same way
    lm_keys = {r.name: r.lm_key for r in runs}
    assert lm_keys["baseline"] == lm_keys["full"] and lm_keys["lm-gpt2"] is None
    _, other_seed = _plan(("main",), seed=1)
    assert other_seed[0].stage_keys["s1"] != full["s1"] and other_seed[0].lm_key != lm_keys["full"]


def test_run_names_follow_the_preset_defaults():
    _, runs = _plan(("text", "lm"), texts=["minilm"], lms=["offline"], preset="paper")
    # the paper preset uses CLIP's text tower and GPT-2: MiniLM and the offline LM are the variants there
    assert {r.name for r in runs} == {"text-minilm", "lm-offline"}


def test_metrics_not_computed_carry_their_reason():
    split_metrics = {
        "split": "test",
        "captions": {"BLEU-4": 0.25, "METEOR": None, "ROUGE-L": 0.5, "CIDEr": 1.5, "SPICE": None,
                     "not_computed": {"METEOR": "java not found", "SPICE": "needs CoreNLP"}},
        "direction": {"accuracy": None},
        "similarity": {"computed": False, "reason": "the csi-lm baseline has no text embedding space"},
    }
    values, reasons = ablate.row_metrics(split_metrics)
    assert tuple(values) == ablate.METRIC_KEYS
    assert values["BLEU-4"] == 0.25 and values["CIDEr"] == 1.5
    assert {k for k, v in values.items() if v is None} == set(reasons)
    assert reasons["METEOR"] == "java not found" and "direction word" in reasons["direction_accuracy"]
    assert reasons["R@5"] == "the csi-lm baseline has no text embedding space"


def test_examples_pick_a_correct_and_a_wrong_side_caption():
    predictions = [
        {"index": 0, "class": "a", "references": ["a person nods the head", "someone nods"],
         "prediction": "a person waves"},
        {"index": 1, "class": "b", "references": ["a person raises the left arm"],
         "prediction": "a person raises the right arm"},
        {"index": 2, "class": "c", "references": ["a person sits down"], "prediction": "A person sits down."},
        {"index": 3, "class": "d", "references": ["a person kicks with the right leg"], "prediction": "zzz"},
    ]
    examples = ablate.pick_examples(predictions)
    assert examples["correct"]["index"] == 2 and examples["correct"]["note"] == "correct"
    assert examples["partly_wrong"]["index"] == 1 and "wrong side" in examples["partly_wrong"]["note"]
    assert set(examples["correct"]) >= {"class", "references", "prediction"}


# --------------------------------------------------------------------------- end to end


def _stamps(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in (out / "runs").rglob("*")
            if p.name in ("model.safetensors", "metrics.json", "state.pt", "predictions_test.json")}


@pytest.mark.slow
def test_main_design_end_to_end_then_resumes_without_retraining(store, tmp_path, monkeypatch, capsys):
    # Without Java, METEOR is reported as not computed (and METEOR's JVM start-up is not paid).
    monkeypatch.setenv("PATH", str(tmp_path / "no-java"))
    out = tmp_path / "ablation"
    result = ablate.run_ablation(store, out, designs=("main",), quiet=True, **TRAIN)

    on_disk = json.loads((out / "ablation.json").read_text())
    assert on_disk == json.loads(json.dumps(result))
    assert {"store", "preset", "seed", "split", "wall_s", "designs", "figures", "examples"} <= set(on_disk)
    rows = on_disk["designs"]["main"]["rows"]
    assert [r["name"] for r in rows] == ["full", "baseline", "mirror-none", "mirror-teacher"]
    for row in rows:
        assert {"name", "stages", "mirror", "baseline", "lm", "text_encoder", "run", "train_s", "metrics",
                "not_computed"} <= set(row)
        assert tuple(row["metrics"]) == ablate.METRIC_KEYS
        for name, value in row["metrics"].items():
            if value is None:
                assert row["not_computed"][name], (row["name"], name)
            else:
                assert math.isfinite(value) and value >= 0, (row["name"], name)
        assert "java" in row["not_computed"]["METEOR"]
        assert row["train_s"] is not None and row["train_s"] > 0
        assert (out / row["run"] / "metrics.json").is_file()
    full, baseline, none, teacher = rows
    assert full["stages"] == "s1,s2-1,s2-2,s3" and full["mirror"] == "full" and full["lm"] == "offline"
    assert baseline["baseline"] == "csi-lm" and baseline["stages"] == "csi-lm" and baseline["mirror"] == "none"
    assert baseline["metrics"]["class_top1"] is None and "baseline" in baseline["not_computed"]["class_top1"]
    assert full["metrics"]["class_top1"] is not None and 0 <= full["metrics"]["R@1"] <= full["metrics"]["R@5"] <= 1
    assert (none["mirror"], teacher["mirror"]) == ("none", "teacher")
    # the mirror-teacher run shares (hard-links or copies) the full run's S1 and S2-1 instead of training them
    assert teacher["shared_stages"]["s1"] == "full" and teacher["shared_stages"]["s2-1"] == "full"
    for stage in ("s1", "s2-1"):      # the same training record (its timing too): not trained again
        assert (out / "runs/mirror-teacher" / stage / "metrics.json").read_text() == \
            (out / "runs/full" / stage / "metrics.json").read_text()
    assert "s2-2" not in teacher["shared_stages"] and "s1" not in none["shared_stages"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["baseline", "full", "mirror-none", "mirror-teacher"]
    figure = out / on_disk["figures"]["similarity"]
    assert figure.is_file() and figure.read_bytes()[:4] == b"\x89PNG"
    assert on_disk["examples"]["correct"]["prediction"] is not None
    assert set(on_disk["examples"]["correct"]) >= {"class", "references", "prediction"}

    markdown = (out / "ablation.md").read_text()
    assert "| Design | BLEU-4 | METEOR | ROUGE-L | CIDEr | SPICE | Direction acc. | Top-1 |" in markdown
    for name in ("**full**", "| baseline |", "| mirror-none |", "| mirror-teacher |"):
        assert name in markdown
    assert "METEOR not computed: java" in markdown and "—[^" in markdown

    # a second call (through the CLI, same settings) trains and evaluates nothing
    stamps = _stamps(out)
    sets = [arg for key, value in SHRINK.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    code = cli.main(["caption", "ablate", "--data", str(store), "--out", str(out), "--designs", "main",
                     "--epochs", "1", "--max-steps", "1", "--batch-size", "8", "--device", "cpu", *sets])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.count("skipped") == 4 and "training" not in captured.err
    assert "| mirror-teacher |" in captured.out
    assert _stamps(out) == stamps
    again = json.loads((out / "ablation.json").read_text())
    assert again["designs"] == on_disk["designs"]

    # other settings in the same directory are refused rather than mixed in
    with pytest.raises(ConfigError, match="other settings"):
        ablate.run_ablation(store, out, designs=("main",), quiet=True, **{**TRAIN, "max_steps": 2})


def test_cli_rejects_bad_designs_and_missing_splits(store, tmp_path, capsys):
    code = cli.main(["caption", "ablate", "--data", str(store), "--out", str(tmp_path), "--designs", "main,bogus"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bogus" in err
    code = cli.main(["caption", "ablate", "--data", str(store), "--out", str(tmp_path), "--split", "holdout"])
    err = capsys.readouterr().err
    assert code == 2 and "/splits/holdout" in err and not (tmp_path / "runs").exists()
    code = cli.main(["caption", "ablate", "--data", str(tmp_path / "none.h5"), "--out", str(tmp_path)])
    assert code == 2 and "no such file" in capsys.readouterr().err
