"""caption ablate: rows per design, one run per distinct configuration, shared earlier stages, resumable JSON + Markdown."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from wifisense import cli
from wifisense.caption import ablate
from wifisense.caption.settings import STAGES, CaptionTrainSettings
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
    """(rows, distinct runs in order of first use)."""
    rows = ablate.caption_rows(designs, _base(**changes), "x.h5", list(lms), list(texts))
    return rows, list({r.run.name: r.run for r in rows}.values())


def _keys(run) -> dict[str, str]:
    return {part.name: part.key for part in run.parts}


# --------------------------------------------------------------------------- planning (fast)


def test_designs_parse_and_rows_follow_the_paper():
    assert ablate.parse_designs("all") == ablate.DESIGNS
    assert ablate.parse_designs("text, main") == ("main", "text")
    with pytest.raises(ConfigError, match="unknown design.*colour"):
        ablate.parse_designs("main,colour")
    assert [r.name for r in ablate.design_rows("main")] == ["full", "baseline", "mirror-none", "mirror-teacher"]
    assert [r.name for r in ablate.design_rows("main", reference=True)][-2:] == ["no CSI", "probe"]
    assert [r.name for r in ablate.design_rows("stages")] == ["s2-2+s3", "s1+s2-1+s3", "all"]
    assert [r.name for r in ablate.design_rows("mirror")] == ["none", "teacher", "full"]
    assert [r.name for r in ablate.design_rows("lm", lms=["gpt2", "offline"])] == ["offline", "gpt2"]
    assert [r.name for r in ablate.design_rows("text", text_encoders=["openai/clip-vit-base-patch32"])] == \
        ["minilm", "openai/clip-vit-base-patch32"]


def test_identical_configurations_share_one_run():
    rows, runs = _plan(("main", "stages", "mirror", "lm"), lms=["Qwen/Qwen2-0.5B"])
    names = [r.name for r in runs]
    assert names[0] == "full" and len(names) == len(set(names))
    assert set(names) == {"full", "baseline", "mirror-none", "mirror-teacher", "s2-2+s3", "s1+s2-1+s3",
                          "lm-Qwen-Qwen2-0.5B", "no-csi", "probe"}
    run_of = {(row.study, row.name): row.run.name for row in rows}
    assert run_of["stages", "all"] == run_of["mirror", "full"] == run_of["lm", "offline"] == "full"
    assert run_of["mirror", "none"] == "mirror-none" and run_of["mirror", "teacher"] == "mirror-teacher"
    # every table has the reference row, and all of them are one run
    assert {run_of[d, "no CSI"] for d in ("main", "stages", "mirror", "lm")} == {"no-csi"}
    assert {run_of[d, "probe"] for d in ("main", "stages", "mirror", "lm")} == {"probe"}
    assert {(row.study, row.name) for row in rows if row.run.name == "full"} == \
        {("main", "full"), ("stages", "all"), ("mirror", "full"), ("lm", "offline")}
    baseline = next(r for r in runs if r.name == "baseline")
    assert baseline.config["stages"] == ["csi-lm"] and baseline.config["model"]["loss"]["mirror_mode"] == "none"
    reference = next(r for r in runs if r.name == "no-csi")
    assert reference.config["stages"] == ["no-csi"] and reference.config["baseline"] == "no-csi"
    assert [p.name for p in reference.parts] == ["preprocess.json", "no-csi", "lm"]
    probe = next(r for r in runs if r.name == "probe")
    assert probe.config["baseline"] == "probe" and probe.config["stages"] == [] and [p.name for p in probe.parts] == ["preprocess.json"]


def test_a_store_without_frames_gets_the_teacher_free_rows():
    rows = ablate.caption_rows(("main", "stages"), _base(), "x.h5", frames=False)
    named = [(row.study, row.name, row.run.name) for row in rows]
    assert ("main", "full", "s2-2+s3") in named and ("main", "baseline", "baseline") in named
    assert ("main", "mirror-none", "s2-2+s3_mirror-none") in named
    assert not any(name == "mirror-teacher" or name == "s1+s2-1+s3" for _, name, _ in named)
    assert ("stages", "all", "s2-2+s3") in named          # the same run as the teacher-free full row
    assert all(row.run.config["stages"] in (["s2-2", "s3"], ["csi-lm"], ["no-csi"], []) for row in rows)
    assert {r.name for r in ablate.caption_rows(("core",), _base(), "x.h5", frames=True)} >= {"full", "baseline"}


def test_stage_keys_say_which_earlier_stages_runs_can_share():
    _, runs = _plan(("main", "stages", "lm", "text"), lms=["gpt2"], texts=["openai/clip-vit-base-patch32"])
    keys = {r.name: _keys(r) for r in runs}
    full = keys["full"]
    # mirror teacher vs full: the teacher hinge is the same, only S2-2's student hinge differs
    assert keys["mirror-teacher"]["s1"] == full["s1"] and keys["mirror-teacher"]["s2-1"] == full["s2-1"]
    assert keys["mirror-teacher"]["s2-2"] != full["s2-2"]
    # no mirror loss changes the teacher, so everything after it too
    assert all(keys["mirror-none"][s] != full[s] for s in STAGES)
    # S1+S2-1+S3 trains the same S1 and S2-1 as the full pipeline; its S3 follows another student
    assert keys["s1+s2-1+s3"]["s1"] == full["s1"] and keys["s1+s2-1+s3"]["s2-1"] == full["s2-1"]
    assert keys["s1+s2-1+s3"]["s3"] != full["s3"]
    # S2-2 without a teacher is another stage than S2-2 after S1 and S2-1
    assert keys["s2-2+s3"]["s2-2"] != full["s2-2"]
    # another LM changes only S3; another text encoder changes the teacher
    lm = keys["lm-gpt2"]
    assert [lm[s] == full[s] for s in STAGES] == [True, True, True, False]
    assert keys["text-openai-clip-vit-base-patch32"]["s1"] != full["s1"]
    # the offline LM is shared only between runs that train it the same way
    assert keys["baseline"]["lm"] == keys["no-csi"]["lm"] == full["lm"] and "lm" not in lm
    # the study adds the seed to a part's key: the declared keys do not depend on it
    _, other_seed = _plan(("main",), seed=1)
    assert _keys(other_seed[0]) == full
    # chain parts (stages) carry the fitted input normalisation along; the LM is shared on its own
    parts = {p.name: p for p in runs[0].parts}
    assert parts["s1"].chain and parts["s1"].files == ("preprocess.json",) and not parts["lm"].chain
    # the input normalisation is a part of its own, the same in every run of the store (the probe's too),
    # so runs that share no stage (the baselines, the probe) still fit it once per seed
    spec_keys = {r.name: {p.name: p.key for p in r.parts}.get("preprocess.json") for r in runs}
    assert len(set(spec_keys.values())) == 1 and None not in spec_keys.values()
    assert not parts["preprocess.json"].chain


def test_run_names_follow_the_preset_defaults():
    _, runs = _plan(("text", "lm"), texts=["minilm"], lms=["offline"], preset="paper")
    # the paper preset uses CLIP's text tower and GPT-2: MiniLM and the offline LM are the variants there
    assert {r.name for r in runs} == {"text-minilm", "lm-offline", "no-csi", "probe"}


def test_measurements_carry_intervals_or_the_reason_there_is_none():
    from wifisense.caption.evaluate import METRICS, caption_measurements
    from wifisense.metrics.captions import caption_scores, direction_accuracy
    from wifisense.metrics.intervals import wilson_interval

    refs = {"0": ["a person raises the left arm"], "1": ["a person nods the head"],
            "2": ["a person kicks with the right leg"], "3": ["a person raises the right arm"]}
    preds = {"0": "a person raises the left arm", "1": "a person nods", "2": "a person kicks with the left leg",
             "3": "a person raises the right arm"}
    captions = caption_scores(refs, preds, spice=False, meteor=False, per_sample=True)
    direction = direction_accuracy(refs, preds, per_sample=True)
    metrics = {"split": "test", "num_clips": 4, "captions": captions, "direction": direction,
               "similarity": {"computed": False, "reason": "the csi-lm baseline has no text embedding space"},
               "per_sample": {"captions": captions.pop("per_sample"), "direction": direction.pop("correct")}}
    by_name = {m.metric: m for m in caption_measurements(metrics, seed=3)}
    assert tuple(by_name) == METRICS
    bleu = by_name["BLEU-4"]
    assert bleu.value == captions["BLEU-4"] and bleu.ci == "bootstrap-items" and bleu.n == 4
    assert bleu.low <= bleu.value <= bleu.high and bleu.low < bleu.high
    # 3 clips have a side in their references (not the nod); 2 of them are named right (clip 2 says left
    # for right): a Wilson interval of 2 / 3
    d = by_name["direction_accuracy"]
    assert (d.value, d.n, d.ci) == (2 / 3, 3, "wilson") and (d.low, d.high) == wilson_interval(2, 3)
    assert by_name["METEOR"].value is None and "not requested" in by_name["METEOR"].note
    assert by_name["R@5"].value is None and "baseline" in by_name["R@5"].note
    # the same inputs and seed give the same interval
    again = {m.metric: m for m in caption_measurements(metrics, seed=3)}
    assert again["BLEU-4"] == bleu


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
def test_main_design_over_two_seeds_end_to_end_then_resumes_without_retraining(store, tmp_path, capsys):
    from wifisense.runs import read_results, select

    out = tmp_path / "ablation"
    results = ablate.run_ablation(store, out, designs=("main",), quiet=True, seeds="0,1", **TRAIN)
    assert results == read_results(out)
    rows = ["full", "baseline", "mirror-none", "mirror-teacher", "no CSI", "probe"]
    assert list(dict.fromkeys(r.row for r in results)) == rows
    for seed in (0, 1, "all"):
        lines = select(results, seed=seed, metric="BLEU-4")
        assert [r.row for r in lines] == rows, seed
    for r in results:
        assert r.task == "caption" and r.study == "main" and r.split == "test"
        if r.value is None:
            assert r.note, r
        elif r.metric != "train_s":
            assert math.isfinite(r.value) and r.value >= 0, r
    for r in select(results, seed="all"):
        if r.value is not None and r.metric != "train_s":
            assert r.ci == "t-seeds" and r.seeds == 2 and r.low <= r.value <= r.high, r
    for r in select(results, seed=0, metric="BLEU-4"):
        if r.row != "probe":          # the probe writes no caption
            assert r.ci == "bootstrap-items" and r.low <= r.value <= r.high
    assert select(results, seed=0, row="baseline", metric="class_top1")[0].value is None
    assert select(results, seed=0, row="full", metric="class_top1")[0].ci == "wilson"
    reference = select(results, seed=0, row="no CSI")
    assert {r.metric for r in reference if r.value is not None} >= {"BLEU-4", "ROUGE-L", "CIDEr"}
    # the probe row: top-1 with Wilson intervals and side accuracy; no caption metrics, with the reason
    probe = {r.metric: r for r in select(results, seed=0, row="probe")}
    assert probe["class_top1"].ci == "wilson" and 0 <= probe["class_top1"].value <= 1
    assert probe["clip_top1"].n == probe["BLEU-4"].n > probe["class_top1"].n
    assert probe["BLEU-4"].value is None and "no caption" in probe["BLEU-4"].note
    assert (out / "runs/probe/seed0/probe.npz").is_file()
    # one input normalisation per seed: the runs that share no stage with the full pipeline link its file
    for seed in (0, 1):
        spec = (out / f"runs/full/seed{seed}/preprocess.json").read_text()
        for name in ("baseline", "no-csi", "probe"):
            run = out / f"runs/{name}/seed{seed}"
            assert (run / "preprocess.json").read_text() == spec
            assert json.loads((run / "run.json").read_text())["shared"]["preprocess.json"] == f"full/seed{seed}"
    # the constant embedding gives every clip the same caption
    predictions = json.loads((out / "runs/no-csi/seed0/predictions_test.json").read_text())
    assert len({p["prediction"] for p in predictions}) == 1
    # the mirror-teacher run shares (hard-links or copies) the full run's S1 and S2-1 of the same seed
    for seed in (0, 1):
        for stage in ("s1", "s2-1"):      # the same training record (its timing too): not trained again
            assert (out / f"runs/mirror-teacher/seed{seed}" / stage / "metrics.json").read_text() == \
                (out / f"runs/full/seed{seed}" / stage / "metrics.json").read_text()
    assert (out / "runs/full/seed0/s1/metrics.json").read_text() != (out / "runs/full/seed1/s1/metrics.json").read_text()
    assert sorted(p.name for p in (out / "runs").iterdir()) == \
        ["baseline", "full", "mirror-none", "mirror-teacher", "no-csi", "probe"]
    figures = json.loads((out / "figures.json").read_text())
    assert (out / figures["similarity"]).read_bytes()[:4] == b"\x89PNG"
    examples = json.loads((out / "examples.json").read_text())
    assert examples["run"] == "runs/full/seed0" and set(examples["correct"]) >= {"class", "references", "prediction"}

    markdown = (out / "ablation.md").read_text()
    assert "| Design | BLEU-4 | METEOR | ROUGE-L | CIDEr | SPICE | Direction acc. | Top-1 |" in markdown
    for name in ("full", "baseline", "mirror-none", "mirror-teacher", "no CSI", "probe"):
        assert f"| {name} |" in markdown or f"| **{name}** |" in markdown
    assert "mean over 2 seeds" in markdown and "SPICE" in markdown and "— (" in markdown

    # a second call (through the CLI, same settings) trains and evaluates nothing
    stamps = _stamps(out)
    sets = [arg for key, value in SHRINK.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    code = cli.main(["caption", "ablate", "--data", str(store), "--out", str(out), "--designs", "main",
                     "--seeds", "0,1", "--epochs", "1", "--max-steps", "1", "--batch-size", "8", "--device", "cpu",
                     *sets])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.count("skipped") == 12 and "training" not in captured.err
    assert "| mirror-teacher |" in captured.out or "| **mirror-teacher** |" in captured.out
    assert _stamps(out) == stamps
    assert read_results(out) == results

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


def test_a_training_split_leaving_one_clip_over_still_trains_the_csi_lm_baseline(tmp_path):
    """9 training clips in batches of 8 left a batch of one, which BatchNorm refuses in training mode."""
    from wifisense.caption.train import train_caption
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    cfg = dataclasses.replace(ActionConfig.quick(), clips_per_class=5, classes=CLASSES, clip_seconds=0.5,
                              packet_rate_hz=32.0, num_frames=2, image_size=32, split_ratios=(0.6, 0.0, 0.4))
    store = tmp_path / "nine.h5"
    write_caption_store(store, simulate_actions(cfg, seed=0, progress=False), overwrite=True)
    from wifisense.caption.data import store_split_sizes
    assert store_split_sizes(store)["train"] % 8 == 1
    settings = dataclasses.replace(_base(data=str(store), run=str(tmp_path / "run"), stages=("csi-lm",),
                                         baseline="csi-lm", epochs={"csi-lm": 1}, batch_size=8, device="cpu",
                                         quiet=True))
    result = train_caption(settings)["csi-lm"]
    assert result["steps"] == 1 and result["stop_reason"]


def test_the_direction_chance_level_reaches_the_table_and_the_headline():
    from wifisense.caption.report import caption_headline, design_table
    from wifisense.runs.results import Result

    def line(row, metric, value, note=""):
        return Result("caption", "core", row, "", "all", "test", metric, value, 40, value - 0.1, value + 0.1,
                      "wilson", 1, note)

    note = "clips whose references name a side; chance (side guessed) 0.475"
    results = [line("full", "direction_accuracy", 0.8, note), line("full", "BLEU-4", 0.85),
               line("baseline", "direction_accuracy", 0.52, note), line("baseline", "BLEU-4", 0.79)]
    table = design_table(results, "core")
    assert any("chance level" in n and "0.475" in n for n in table.notes)
    headline = dict(caption_headline(results))
    assert "chance (side guessed) 0.475" in headline["Full: direction accuracy (left/right named correctly)"]
    assert "Full (mirror: full): BLEU-4" in headline
