"""The caption pipeline: preprocessing, stage-wise training and resume, baseline, eval, prediction on store and real captures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wifisense import cli
from wifisense.caption import data as cdata
from wifisense.caption import run as crun
from wifisense.caption import settings as csettings
from wifisense.caption import train as ctrain
from wifisense.errors import CaptureError, ConfigError
from wifisense.io.recording import CSIRecording

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
INTEL = REAL / "intel5300_example.dat"      # Intel 5300 3x3, 30 subcarriers, 26 packets over 2.0 s
ESP32 = REAL / "esp32_example_csi.csv"      # ESP32 1x1, 64 subcarriers

# The tiny preset shrunk further so four stages train in seconds on two shared cores.
SHRINK = {
    "embed_dim": 16, "student.resnet_width": 4, "teacher.cnn_width": 4, "teacher.cnn_dim": 16,
    "teacher.temporal_dim": 16, "teacher.frame_size": 32, "prefix_lm.hidden_dim": 32,
    "prefix_lm.max_caption_tokens": 24, "offline_lm.n_layer": 1, "offline_lm.n_embd": 32, "offline_lm.n_head": 2,
    "offline_lm.vocab_size": 300, "offline_lm.n_positions": 32, "offline_lm.steps": 60,
    "offline_lm.learning_rate": 1e-2,
}
CLASSES = ("standing:left_arm:raise_forward", "standing:head:nod", "standing:left_arm:point:left")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    cfg = dataclasses.replace(ActionConfig.quick(), clips_per_class=4, classes=CLASSES, clip_seconds=1.0,
                              packet_rate_hz=32.0, num_frames=4, image_size=32)
    path = tmp_path_factory.mktemp("caption") / "actions.h5"
    write_caption_store(path, simulate_actions(cfg, seed=0, progress=False), overwrite=True)
    return path


def _train_args(store: Path, run: Path, *extra: str) -> list[str]:
    sets = [arg for key, value in SHRINK.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    return ["-q", "caption", "train", "--data", str(store), "--run", str(run), "--preset", "tiny", "--epochs", "1",
            "--batch-size", "8", "--device", "cpu", "--stage-epochs", "s3=4", *sets, *extra]


def _run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained_run(store, tmp_path_factory) -> tuple[Path, str]:
    run = tmp_path_factory.mktemp("runs") / "all"
    code = cli.main(_train_args(store, run, "--lr", "3e-3"))
    assert code == 0
    return run, "all stages"


# --------------------------------------------------------------------------- preprocessing


def test_sanitised_phase_has_no_linear_trend_and_ignores_sto_cfo(store):
    from wifisense.io.store import read_caption_store

    ds = read_caption_store(store, load_frames=False)
    csi = ds.csi[:4]                                    # [B, R, T, A, S]
    k = ds.subcarriers.astype(np.float64)
    amp, phase = cdata.csi_features(csi, ds.subcarriers, "sanitized")
    # least-squares line over subcarriers of every (clip, rx, t, pair): slope and offset vanish
    kc = k - k.mean()
    slope = (phase * kc).sum(-1) / (kc ** 2).sum()
    assert np.abs(slope).max() < 1e-4
    assert np.abs(phase.mean(-1)).max() < 1e-4
    # an extra per-packet timing slope and common phase (STO, CFO) and a receiver gain change nothing
    rng = np.random.default_rng(1)
    ramp = rng.normal(0, 0.1, csi.shape[:-1] + (1,)) * k + rng.uniform(-np.pi, np.pi, csi.shape[:-1] + (1,))
    gain = rng.uniform(0.5, 5.0, csi.shape[:2] + (1, 1, 1))
    amp2, phase2 = cdata.csi_features((csi * gain * np.exp(1j * ramp)).astype(np.complex64), ds.subcarriers,
                                      "sanitized")
    np.testing.assert_allclose(phase2, phase, atol=2e-3)
    np.testing.assert_allclose(amp2, amp, rtol=1e-4, atol=1e-6)


def test_dynamic_features_cancel_impairments_and_the_static_channel(store):
    """Per-packet gain, CFO, STO slope and a fixed per-(antenna, subcarrier) channel change nothing."""
    from wifisense.io.store import read_caption_store

    ds = read_caption_store(store, load_frames=False)
    csi = ds.csi[:4].astype(np.complex128)                          # [B, R, T, A, S]
    k = ds.subcarriers.astype(np.float64)
    amp, phase = cdata.csi_features(csi, ds.subcarriers)
    assert amp.shape == phase.shape == csi.shape
    np.testing.assert_allclose(amp.mean(axis=2), 0.0, atol=1e-9)     # static (time-mean) part removed
    np.testing.assert_allclose(amp.mean(axis=(3, 4)), 0.0, atol=1e-9)  # per-packet gain removed
    rng = np.random.default_rng(2)
    per_packet = csi.shape[:3] + (1, 1)                             # shared by a receiver's antennas
    impaired = csi * rng.uniform(0.5, 2.0, per_packet) * np.exp(
        1j * (rng.normal(0, 0.1, per_packet) * k + rng.uniform(-np.pi, np.pi, per_packet)))
    static = rng.uniform(0.5, 2.0, csi.shape[:2] + (1,) + csi.shape[3:]) * np.exp(
        1j * rng.uniform(-np.pi, np.pi, csi.shape[:2] + (1,) + csi.shape[3:]))
    amp2, phase2 = cdata.csi_features(impaired * static, ds.subcarriers)
    np.testing.assert_allclose(amp2, amp, atol=1e-6)
    # (1e-4 rad: the unit-phasor normalisation's EPS makes the cancellation inexact on the few
    # antenna pairs whose product is tiny; the impairments themselves are O(1) rad)
    np.testing.assert_allclose(np.angle(np.exp(1j * (phase2 - phase))), 0.0, atol=1e-4)
    # the same on torch tensors
    amp_t, phase_t = cdata.csi_features(torch.from_numpy(csi), ds.subcarriers)
    np.testing.assert_allclose(amp_t.numpy(), amp, atol=1e-9)
    np.testing.assert_allclose(phase_t.numpy(), phase, atol=1e-9)
    # but the motion is kept: the features vary over time
    assert phase.std(axis=2).mean() > 1e-3 and amp.std(axis=2).mean() > 1e-3


def test_a_spec_without_feature_mode_means_the_old_sanitized_features(tmp_path, store):
    import json

    spec = cdata.fit_input_spec(store, "train")
    assert spec.feature_mode == "dynamic"
    spec.save(tmp_path / "preprocess.json")
    payload = json.loads((tmp_path / "preprocess.json").read_text())
    del payload["feature_mode"]
    (tmp_path / "old.json").write_text(json.dumps(payload))
    assert cdata.CaptionInputSpec.load(tmp_path / "old.json").feature_mode == "sanitized"


def test_time_shift_augmentation_rolls_each_clip_by_its_own_offset():
    x = torch.arange(2 * 3 * 5 * 2 * 1, dtype=torch.float32).view(2, 3, 5, 2, 1)
    shift = torch.tensor([1, 3])
    rolled = cdata.roll_time(x, shift)
    for b in range(2):
        assert torch.equal(rolled[b], torch.roll(x[b], int(shift[b]), dims=1))


def test_class_aware_info_nce_is_infonce_for_distinct_classes_and_ignores_same_class_negatives():
    from wifisense.nn.contrastive import class_aware_info_nce, info_nce

    gen = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(6, 8, generator=gen), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(6, 8, generator=gen), dim=-1)
    distinct = torch.arange(6)
    assert torch.allclose(class_aware_info_nce(a, b, distinct, 0.1), info_nce(a, b, 0.1), atol=1e-6)
    # rows 0 and 1 are one class: plain InfoNCE prefers their embeddings apart, the class-aware
    # loss prefers them together
    basis = torch.eye(8)
    together = torch.stack([basis[0], basis[0], basis[2], basis[3], basis[4], basis[5]])
    apart = torch.stack([basis[0], basis[1], basis[2], basis[3], basis[4], basis[5]])
    same = torch.tensor([0, 0, 1, 2, 3, 4])
    assert info_nce(apart, apart, 0.1) < info_nce(together, together, 0.1)
    assert class_aware_info_nce(together, together, same, 0.1) < class_aware_info_nce(apart, apart, same, 0.1)


def test_normalisation_statistics_come_from_the_training_split_only(store):
    from wifisense.io.store import read_caption_store

    ds = read_caption_store(store, load_frames=False)
    spec = cdata.fit_input_spec(store, "train")
    assert spec.clip_shape == ds.csi.shape[1:] and spec.fitted_on == "train"

    def amplitude_stats(rows):
        amp, _ = cdata.csi_features(ds.csi[rows], ds.subcarriers)
        amp = amp[ds.rx_valid[rows]].astype(np.float64)
        return amp.mean(axis=(0, 1)), amp.std(axis=(0, 1))       # [A, S] each

    # (the dynamic amplitude has zero mean by construction, so its std tells the splits apart)
    train = ds.splits["train"]
    mean, std = amplitude_stats(train)
    np.testing.assert_allclose(spec.amplitude_mean, mean, atol=1e-6)
    np.testing.assert_allclose(spec.amplitude_std, std, rtol=1e-4)
    everything = np.arange(len(ds.csi))
    assert not np.allclose(spec.amplitude_std, amplitude_stats(everything)[1], rtol=1e-3)

    # normalised training inputs are standardised; invalid receivers are zero
    valid = ds.rx_valid[train].copy()
    valid[0, 1] = False
    amplitude, phase, rx_valid = cdata.prepare_inputs(ds.csi[train], valid, spec)
    assert amplitude.dtype == torch.float32 and amplitude.shape == ds.csi[train].shape
    assert torch.all(amplitude[0, 1] == 0) and torch.all(phase[0, 1] == 0) and not rx_valid[0, 1]
    kept = torch.from_numpy(ds.rx_valid[train])
    assert abs(float(amplitude[kept].mean())) < 0.05
    assert abs(float(phase[torch.from_numpy(valid)].std()) - 1.0) < 0.1


def _recording(nrx: int, ntx: int, subcarriers, seconds: float = 2.0, rate: float = 40.0) -> CSIRecording:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    shape = (t.size, len(subcarriers), nrx, ntx)
    csi = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    return CSIRecording(csi=csi, timestamps=100.0 + t, subcarriers=np.asarray(subcarriers))


def test_capture_matching_rule(store):
    spec = cdata.fit_input_spec(store)
    intel = spec.subcarriers
    rec = _recording(3, 3, intel)
    pairs = cdata.match_capture(rec, "rx.dat", spec)              # 9 pairs -> the first Tx's 3
    np.testing.assert_array_equal(pairs, rec.csi[..., 0].transpose(0, 2, 1))
    rec = _recording(3, 1, intel)
    np.testing.assert_array_equal(cdata.match_capture(rec, "rx.dat", spec), rec.csi[..., 0].transpose(0, 2, 1))
    wide = [k for k in range(-28, 29) if k != 0]                  # Atheros-like 56 tones hold Intel's 30
    rec = _recording(3, 2, wide)
    picked = cdata.match_capture(rec, "rx.dat", spec)
    columns = [wide.index(k) for k in intel]
    np.testing.assert_array_equal(picked, rec.csi[:, columns][..., 0].transpose(0, 2, 1))
    with pytest.raises(CaptureError, match=r"rx\.dat.*\[30, 2, 2\].*A = 3"):
        cdata.match_capture(_recording(2, 2, intel), "rx.dat", spec)
    with pytest.raises(CaptureError, match=r"rx\.dat.*subcarrier indices \[-28"):
        cdata.match_capture(_recording(3, 1, list(range(1, 31))), "rx.dat", spec)


# --------------------------------------------------------------------------- options


def test_stage_selection_and_options():
    assert csettings.parse_stages("all") == csettings.STAGES
    assert csettings.parse_stages("s3,s2-2") == ("s2-2", "s3")
    assert csettings.parse_stages("s1, s2-1, s3") == ("s1", "s2-1", "s3")
    assert csettings.parse_stages("all", baseline="csi-lm") == ("csi-lm",)
    with pytest.raises(ConfigError, match="s4"):
        csettings.parse_stages("s1,s4")
    with pytest.raises(ConfigError, match="baseline"):
        csettings.parse_stages("s1", baseline="csi-lm")
    assert csettings.parse_stage_values("s1=3,s3=5") == {"s1": 3, "s3": 5}
    with pytest.raises(ConfigError, match="--stage-epochs"):
        csettings.parse_stage_values("s9=1")
    assert csettings.parse_overrides(["student.resnet_width=8", "teacher.text_model=minilm"]) == \
        {"student.resnet_width": 8, "teacher.text_model": "minilm"}
    assert csettings.encoder_overrides(text_encoder="openai/clip-vit-large-patch14", frame_encoder="cnn") == {
        "teacher.frame_encoder": "cnn", "teacher.text_encoder": "clip",
        "teacher.clip_model": "openai/clip-vit-large-patch14"}
    with pytest.raises(ConfigError, match="one CLIP checkpoint"):
        csettings.encoder_overrides(text_encoder="openai/clip-vit-large-patch14",
                                    frame_encoder="openai/clip-vit-base-patch32")


# --------------------------------------------------------------------------- training


@pytest.mark.slow
def test_train_writes_every_stage_with_trainable_weights_only(trained_run):
    from safetensors.torch import load_file

    run, _ = trained_run
    config = json.loads((run / "config.json").read_text())
    assert config["stages"] == list(csettings.STAGES) and config["model"]["embed_dim"] == 16
    assert (run / "preprocess.json").is_file() and (run / "lm" / "config.json").is_file()
    expected = {"s1": {"teacher", "loss"}, "s2-1": {"student", "loss"}, "s2-2": {"student", "loss"}, "s3": {"prefix"}}
    for stage, parts in expected.items():
        stage_dir = run / stage
        for name in ("model.safetensors", "config.json", "state.pt", "metrics.csv", "metrics.json"):
            assert (stage_dir / name).is_file(), f"{stage}/{name}"
        tensors = load_file(str(stage_dir / "model.safetensors"))
        assert {k.split(".")[0] for k in tensors} == parts
        # frozen towers (MiniLM text encoder, the LM) are never saved
        assert not any("text_encoder" in k or k.startswith("lm.") for k in tensors)
        summary = json.loads((stage_dir / "metrics.json").read_text())
        assert summary["stop_reason"] == "epochs" and np.isfinite(summary["train"]["train_loss"])
    # stage 2-1 started from nothing but learnt against the stage-1 teacher; stage 2-2 started from 2-1
    s21 = load_file(str(run / "s2-1" / "model.safetensors"))
    s22 = load_file(str(run / "s2-2" / "model.safetensors"))
    assert all(torch.isfinite(v).all() for v in s22.values())
    assert any(not torch.equal(s21[k], s22[k]) for k in s21 if k.startswith("student."))
    # the tiny preset's text head (attention pooling + projection) trains in s1 only: later stages keep it frozen
    s1 = load_file(str(run / "s1" / "model.safetensors"))
    assert {"teacher.text_pooling.score.weight", "teacher.text_projection.weight"} <= set(s1)
    assert s1["teacher.text_pooling.score.weight"].abs().sum() > 0      # it starts at zero
    assert not any(k.startswith("teacher.") for k in (*s21, *s22))


@pytest.mark.slow
def test_rerun_skips_finished_stages(trained_run, store, capsys):
    run, _ = trained_run
    stamps = {s: (run / s / "model.safetensors").stat().st_mtime_ns for s in csettings.STAGES}
    code, out, _ = _run_cli(capsys, _train_args(store, run, "--lr", "3e-3"))
    assert code == 0
    assert out.count("already finished") == 4
    assert stamps == {s: (run / s / "model.safetensors").stat().st_mtime_ns for s in csettings.STAGES}


def test_run_refuses_a_different_model_config(trained_run, store):
    run, _ = trained_run
    args = _train_args(store, run, "--set", "student.resnet_width=8")
    with pytest.raises(ConfigError, match="student.resnet_width"):
        ctrain.CaptionPipeline(csettings.settings_from_args(cli.build_parser().parse_args(args[1:])))


@pytest.mark.slow
def test_baseline_csi_lm_trains_student_and_prefix(store, tmp_path, capsys):
    from safetensors.torch import load_file

    run = tmp_path / "baseline"
    code, out, _ = _run_cli(capsys, _train_args(store, run, "--baseline", "csi-lm", "--max-steps", "2"))
    assert code == 0 and "csi-lm: 2 steps" in out
    assert {k.split(".")[0] for k in load_file(str(run / "csi-lm" / "model.safetensors"))} == {"student", "prefix"}
    assert not (run / "s1").exists()
    loaded = crun.load_caption_run(run, "cpu")
    assert loaded.teacher is None and loaded.config.loss.mirror_mode == "none"


@pytest.mark.slow
def test_ablation_without_teacher_trains_the_text_projection(store, tmp_path, capsys):
    from safetensors.torch import load_file

    run = tmp_path / "s22"
    code, _, _ = _run_cli(capsys, _train_args(store, run, "--stages", "s2-2", "--max-steps", "1"))
    assert code == 0
    keys = load_file(str(run / "s2-2" / "model.safetensors"))
    assert {k for k in keys if k.startswith("teacher.")} == {"teacher.text_projection.weight",
                                                             "teacher.text_projection.bias",
                                                             "teacher.text_pooling.score.weight",
                                                             "teacher.text_pooling.score.bias"}
    # a stage whose input no stage provides fails before anything trains
    code, _, err = _run_cli(capsys, _train_args(store, tmp_path / "no_teacher", "--stages", "s2-1"))
    assert code == 2 and "needs a trained teacher from stage s1" in err
    code, _, err = _run_cli(capsys, _train_args(store, tmp_path / "no_student", "--stages", "s1,s3"))
    assert code == 2 and "needs a trained student" in err and not (tmp_path / "no_student" / "s1").exists()


# --------------------------------------------------------------------------- evaluation and prediction


@pytest.mark.slow
def test_eval_writes_metrics_and_similarity_figure(trained_run, capsys):
    run, _ = trained_run
    code, out, _ = _run_cli(capsys, ["-q", "caption", "eval", "--run", str(run), "--split", "test",
                                     "--device", "cpu", "--beams", "2"])
    assert code == 0 and "BLEU-4" in out
    metrics = json.loads((run / "metrics.json").read_text())["test"]
    scores = metrics["captions"]
    names = ["BLEU-4", "ROUGE-L", "CIDEr"] + (["METEOR"] if scores["METEOR"] is not None else [])
    for name in names:
        assert np.isfinite(scores[name]) and scores[name] >= 0, name
    assert scores["METEOR"] is not None or "METEOR" in scores["not_computed"]
    assert "SPICE" in scores["not_computed"] or scores["SPICE"] is not None
    assert metrics["num_clips"] == len(metrics["examples"]) > 0
    assert metrics["direction"]["n_total"] == metrics["num_clips"]
    sim = metrics["similarity"]
    assert sim["computed"] and 0.0 <= sim["class_top1_accuracy"] <= 1.0
    matrix = np.asarray(sim["matrix"])
    assert matrix.shape == (len(sim["classes"]),) * 2 and np.all(np.abs(matrix) <= 1.0 + 1e-6)
    assert {"csi_to_text_R@1", "csi_to_text_R@5"} <= set(metrics["retrieval"])
    assert metrics["retrieval"]["csi_to_text_R@5"] >= metrics["retrieval"]["csi_to_text_R@1"]
    figure = Path(sim["figure"])
    assert figure.is_file() and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "predictions_test.json").is_file()


@pytest.mark.slow
def test_predict_on_store_clips(trained_run, store, capsys):
    run, _ = trained_run
    code, out, _ = _run_cli(capsys, ["-q", "caption", "predict", "--run", str(run), "--data", str(store),
                                     "--index", "0", "5", "--device", "cpu"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("[0] ") and lines[2].startswith("[5] ") and "truth" in lines[1]
    assert len(lines[0]) > len("[0] ")          # a caption, not an empty string
    code, _, err = _run_cli(capsys, ["-q", "caption", "predict", "--run", str(run), "--data", str(store),
                                     "--index", "999"])
    assert code == 2 and "999" in err and "out of range" in err


@pytest.mark.slow
def test_predict_on_real_captures(trained_run, capsys):
    if not INTEL.is_file() or not ESP32.is_file():
        pytest.skip(f"real captures not found in {REAL} (shared data is not part of this checkout)")
    run, _ = trained_run
    base = ["-q", "caption", "predict", "--run", str(run), "--device", "cpu", "--rx"]
    # an Intel 3x3 capture as all three receivers: the first Tx antenna's 3 pairs feed the A = 3 model
    code, out, err = _run_cli(capsys, base + [str(INTEL)] * 3)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 1 and out.strip()
    # one receiver missing still captions
    code, out, _ = _run_cli(capsys, base + [str(INTEL), "-", str(INTEL)])
    assert code == 0 and out.strip()
    # a 1x1 ESP32 capture cannot feed three antenna pairs: one line naming the file and both shapes
    code, _, err = _run_cli(capsys, base + [str(ESP32), "-", "-"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(ESP32) in err and "[64, 1, 1]" in err and "A = 3" in err and "S = 30" in err
    # the Intel capture lasts 2.0 s: a 1-s clip starting at 1.5 s does not fit
    code, _, err = _run_cli(capsys, base + [str(INTEL), str(INTEL), str(INTEL), "--start", "1.5"])
    assert code == 2 and "too short" in err and str(INTEL) in err
    code, _, err = _run_cli(capsys, base + [str(INTEL), str(INTEL)])
    assert code == 2 and "3 receivers" in err


def test_default_s3_budget_is_thousands_of_steps_on_the_demo_store():
    """s3 learns the side word only after thousands of optimizer steps (see DEFAULT_STAGE_EPOCHS):
    the default must give at least 3,000 steps on the demo store's 230 training clips at batch 32."""
    import math
    settings = csettings.CaptionTrainSettings(data="store.h5", run="run")
    steps_per_epoch = math.ceil(230 / settings.batch_size)
    assert settings.stage_epochs("s3") * steps_per_epoch >= 3000
    assert csettings.CaptionTrainSettings(data="s", run="r", epochs={"s3": 5}).stage_epochs("s3") == 5


def test_both_feature_mode_stacks_dynamic_and_sanitised_channels(store):
    from wifisense.io.store import read_caption_store

    ds = read_caption_store(store, load_frames=False)
    csi = ds.csi[:2]
    amp, phase = cdata.csi_features(csi, ds.subcarriers, "both")
    a = csi.shape[-2]
    assert amp.shape[-2] == phase.shape[-2] == 2 * a
    for part, mode in ((slice(0, a), "dynamic"), (slice(a, 2 * a), "sanitized")):
        single = cdata.csi_features(csi, ds.subcarriers, mode)
        np.testing.assert_allclose(amp[..., part, :], single[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(phase[..., part, :], single[1], rtol=1e-5, atol=1e-6)
    amp_t, _ = cdata.csi_features(torch.from_numpy(csi), ds.subcarriers, "both")
    np.testing.assert_allclose(amp_t.numpy(), amp, rtol=1e-4, atol=1e-5)
    spec = cdata.fit_input_spec(store, "train", feature_mode="both")
    assert spec.feature_channels == 2 * a and np.asarray(spec.amplitude_mean).shape == (2 * a, len(ds.subcarriers))
    inputs = cdata.prepare_inputs(ds.csi[:2], ds.rx_valid[:2], spec)
    assert inputs[0].shape[-2] == 2 * a


def test_the_preset_feature_mode_is_what_training_fits(tmp_path, store, capsys):
    run = tmp_path / "run"
    code = cli.main(_train_args(store, run, "--stages", "s2-2", "--set", 'student.features="both"'))
    assert code == 0
    spec = cdata.CaptionInputSpec.load(run)
    assert spec.feature_mode == "both"
    student = json.loads((run / "config.json").read_text())["model"]["student"]
    assert student["features"] == "both" and student["in_channels"] == 2 * spec.num_antenna_pairs


def test_linear_probe_scores_class_and_side_with_intervals():
    from wifisense.caption.probe import fit_probe, score_probe

    rng = np.random.default_rng(0)
    # classes 0 <-> 1 are mirror partners, 2 is its own mirror; class c lives around centre c
    centres = rng.normal(size=(3, 6)) * 3
    y = np.repeat(np.arange(3), 20)
    x = centres[y] + rng.normal(size=(60, 6))
    model = fit_probe(x, y)
    score = score_probe(model, x, y, mirror_of=np.array([1, 0, 2]))
    assert score.class_top1 > 0.9 and score.class_ci[0] < score.class_top1 < score.class_ci[1] + 1e-12
    assert score.n_side == 40 and score.side_accuracy > 0.9
    # noise only: near chance
    noise = rng.normal(size=(60, 6))
    blind = score_probe(fit_probe(noise[:30], y[::2]), noise[30:], y[1::2], np.array([1, 0, 2]))
    assert blind.class_top1 < 0.7
    # two classes (scikit-learn gives one score column then)
    two = score_probe(fit_probe(x[:40], y[:40]), x[:40], y[:40], mirror_of=np.array([1, 0, 2]))
    assert two.class_top1 > 0.9 and two.n_side == 40 and two.side_accuracy > 0.9


def test_a_saved_probe_scores_as_the_fitted_one(tmp_path):
    """A study's probe row saves arrays only (no pickle); read back, it decides as scikit-learn did."""
    from wifisense.caption.probe import SavedProbe, fit_probe, save_probe

    rng = np.random.default_rng(1)
    for classes in (3, 2):           # scikit-learn's binary case has one score column
        y = np.repeat(np.arange(classes), 10)
        x = rng.normal(size=(y.size, 5)) + y[:, None]
        model = fit_probe(x, y)
        save_probe(model, tmp_path / "probe.npz", "sanitized", 0.5)
        saved = SavedProbe(tmp_path / "probe.npz")
        ours, theirs = saved.decision_function(x), model.decision_function(x)
        theirs = theirs if theirs.ndim == 2 else np.c_[-theirs, theirs]
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8)
        assert (ours.argmax(1) == model.predict(x)).all() and saved.features == "sanitized"


def test_s3_embedding_noise_is_a_pure_function_of_seed_epoch_and_clip(store):
    from wifisense.caption.stages import StageModel

    spec = cdata.fit_input_spec(store, "train")
    items = [{"index": i, "class_id": torch.tensor(0), "captions": ["a person nods"]} for i in (3, 7)]
    collate = cdata.ClipCollate(spec, seed=5, noise_dim=8)
    first = collate(items)["embedding_noise"]
    assert first.shape == (2, 8) and torch.equal(first, collate(items)["embedding_noise"])
    assert torch.equal(collate(items[1:])["embedding_noise"][0], first[1])      # per clip, not per batch
    collate.set_epoch(1)
    assert not torch.allclose(collate(items)["embedding_noise"], first)
    assert "embedding_noise" not in cdata.ClipCollate(spec, seed=5)(items)

    class Prefix(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = None

        def caption_loss(self, embedding, captions):
            self.seen = embedding
            return embedding.sum()

    table = torch.nn.functional.normalize(torch.randn(10, 8, generator=torch.Generator().manual_seed(0)), dim=-1)
    prefix = Prefix()
    model = StageModel("s3", {"prefix": torch.nn.Linear(1, 1)},
                       {"csi_table": table, "prefix_lm": prefix, "device": torch.device("cpu"), "embedding_noise": 0.5})
    batch = {"index": torch.tensor([3, 7]), "captions": [["a"], ["b"]], "caption_draw": [0.0, 0.0],
             "embedding_noise": first}
    model.train()
    model(batch)
    moved = (prefix.seen - table[[3, 7]]).norm(dim=-1)
    assert torch.allclose(moved, 0.5 * first.norm(dim=-1) / 8 ** 0.5, rtol=1e-5)
    model.eval()
    model(batch)
    assert torch.equal(prefix.seen, table[[3, 7]])                              # none at validation


def test_prepared_clips_give_the_batches_streamed_clips_give(store):
    spec = cdata.fit_input_spec(store, "train")
    streamed = cdata.caption_dataset(store, "train")
    prepared = cdata.FeatureClips(store, "train", spec, chunk_clips=3)
    assert len(prepared) == len(streamed) and prepared.class_names == streamed.class_names
    collate = cdata.ClipCollate(spec, time_shift=True, seed=3)
    collate.set_epoch(2)
    rows = [4, 0, 5, 2]
    a, b = collate([streamed[i] for i in rows]), collate([prepared[i] for i in rows])
    for name in ("amplitude", "phase"):
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-5)
    for name in ("rx_valid", "class_id", "index"):
        assert torch.equal(a[name], b[name])
    assert a["captions"] == b["captions"] and a["caption_draw"] == b["caption_draw"]
    assert cdata.feature_bytes(spec, 10) == 10 * 2 * 4 * np.prod(spec.clip_shape)


def test_the_no_csi_reference_trains_as_long_as_s3_unless_told():
    settings = csettings.CaptionTrainSettings(data="d.h5", run="r", epochs={"s3": 70})
    assert settings.stage_epochs("no-csi") == 70
    assert csettings.CaptionTrainSettings(data="d.h5", run="r", epochs={"s3": 70, "no-csi": 5}).stage_epochs("no-csi") == 5
    assert csettings.CaptionTrainSettings(data="d.h5", run="r").stage_epochs("no-csi") == \
        csettings.DEFAULT_STAGE_EPOCHS["no-csi"]


def test_default_budgets_reach_their_steps_on_a_small_store_and_given_epochs_stay():
    settings = csettings.CaptionTrainSettings(data="d.h5", run="r", epochs={"s3": 7})
    steps = csettings.DEFAULT_STAGE_STEPS
    # 50 training clips: 1 contrastive step per epoch -> the stage trains its tuned steps
    assert settings.stage_epochs("s2-2", steps_per_epoch=1) == steps["s2-2"]
    assert settings.stage_epochs("s2-2", steps_per_epoch=3) * 3 >= steps["s2-2"]
    # a large store keeps the default epochs (never fewer than before)
    assert settings.stage_epochs("s2-2", steps_per_epoch=100) == csettings.DEFAULT_STAGE_EPOCHS["s2-2"]
    # given epochs are kept, and the no-CSI reference follows a given s3
    assert settings.stage_epochs("s3", steps_per_epoch=1) == 7 and settings.stage_epochs("no-csi", 1) == 7


def test_default_budgets_stop_on_validation_within_a_cap_and_given_epochs_are_a_fixed_plan():
    settings = csettings.CaptionTrainSettings(data="d.h5", run="r", epochs={"s3": 7})
    steps = csettings.DEFAULT_STAGE_STEPS
    # a student stage without given epochs: four times its planned steps as the cap, validated
    # 40 times over it, stopping after 10 validations without a new best
    b = settings.stage_budget("s2-2", steps_per_epoch=3, has_val=True)
    planned = settings.stage_epochs("s2-2", 3) * 3
    assert b.max_steps == 4 * planned and b.epochs * 3 >= b.max_steps
    assert b.eval_every == b.max_steps // 40 and b.patience == 10 and b.policy == csettings.BUDGET_POLICY
    assert b.lr_drop_after == 5   # the rate drops after 5 validations without a new best, before stopping at 10
    # S3 and no-CSI: a cap in steps however large the store
    big = csettings.CaptionTrainSettings(data="d.h5", run="r").stage_budget("s3", steps_per_epoch=500, has_val=True)
    assert big.max_steps == csettings.MAX_LM_STEPS < csettings.DEFAULT_STAGE_EPOCHS["s3"] * 500
    small = csettings.CaptionTrainSettings(data="d.h5", run="r").stage_budget("no-csi", steps_per_epoch=1, has_val=True)
    assert small.max_steps == steps["no-csi"]
    # given epochs (here s3, which the no-CSI reference follows) and stores without validation: the fixed plan
    for stage in ("s3", "no-csi"):
        fixed = settings.stage_budget(stage, steps_per_epoch=5, has_val=True)
        assert (fixed.epochs, fixed.max_steps, fixed.eval_every, fixed.patience, fixed.lr_drop_after, fixed.policy) == \
            (7, None, None, None, None, "fixed")
    no_val = csettings.CaptionTrainSettings(data="d.h5", run="r").stage_budget("s2-2", steps_per_epoch=3, has_val=False)
    assert (no_val.max_steps, no_val.patience, no_val.epochs) == (None, None, settings.stage_epochs("s2-2", 3))
    # --max-steps and --patience still rule
    told = csettings.CaptionTrainSettings(data="d.h5", run="r", max_steps=50, patience=3)
    assert (told.stage_budget("csi-lm", 3, True).max_steps, told.stage_budget("csi-lm", 3, True).patience) == (50, 3)


def test_export_gives_a_captioner_that_needs_neither_the_run_nor_the_store(trained_run, store, tmp_path, capsys):
    import shutil

    from wifisense import Captioner
    from wifisense.io.store import read_caption_store

    run, _ = trained_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    expected = Captioner.from_pretrained(copy)
    ds = read_caption_store(store, load_frames=False)
    clips = ds.csi[:3]
    want = expected.caption(clips, ds.rx_valid[:3])
    assert cli.main(["-q", "export", str(copy), "--out", str(tmp_path / "model")]) == 0
    shutil.rmtree(copy)
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == ["README.md", "config.json", "lm", "model.safetensors", "preprocess.json"]
    captioner = Captioner.from_pretrained(tmp_path / "model")
    assert captioner.caption(clips, ds.rx_valid[:3]) == want
    assert captioner.caption(clips[0]) == expected.caption(clips[0])
    card = (tmp_path / "model" / "README.md").read_text()
    assert "Captioner.from_pretrained" in card and "Test metrics" in card
    with pytest.raises(ConfigError, match="the model takes"):
        captioner.caption(clips[:, :, :5])
    assert cli.main(["export", str(tmp_path / "model"), "--out", str(tmp_path / "again")]) == 2
    assert "already an exported model" in capsys.readouterr().err


def test_auto_features_pick_the_mode_a_linear_probe_scores_best_on_validation(store, tmp_path):
    from wifisense.caption.probe import AUTO_FEATURE_MODES, choose_feature_mode, probe_store

    mode, scores = choose_feature_mode(store)
    assert set(scores) == set(AUTO_FEATURE_MODES) and mode in AUTO_FEATURE_MODES
    assert scores[mode] == max(scores.values())
    assert scores["dynamic"] == probe_store(store, "dynamic", "train", "val").class_top1
    # a run with features "auto" records the chosen mode, and its model takes it
    run = tmp_path / "run"
    assert cli.main(["-q", "caption", "train", "--data", str(store), "--run", str(run), "--stages", "s2-2",
                     "--epochs", "1", "--max-steps", "1", "--device", "cpu", "--set", "student.features=auto",
                     *[a for k, v in SHRINK.items() for a in ("--set", f"{k}={json.dumps(v)}")]]) == 0
    assert cdata.CaptionInputSpec.load(run).feature_mode == mode
