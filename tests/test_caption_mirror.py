"""Mirror consistency: direction-word swapping, frame flipping and the hinge losses."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wifisense.caption.mirror import (MirrorConsistencyLoss, flip_frames, has_direction, mirror_hinge,
                                      swap_directions)

SENTENCES = [
    "A person raises the left arm.",
    "The person raises the RIGHT arm, then the Left leg!",
    "Someone waves the right hand; the left's movement is slower.",
    "He turns clockwise, then counterclockwise.",
    "Right-handed wave followed by a left-hand swipe (leftward, then rightwards).",
    "She steps to her right and glances left -- quickly.",
    "LEFT KICK, RIGHT PUNCH",
    "Rotating Clockwise while moving rightward: leftmost to rightmost.",
    "a person nods the head",
]


def test_swap_is_its_own_inverse_with_case_punctuation_and_possessives():
    for sentence in SENTENCES:
        assert swap_directions(swap_directions(sentence)) == sentence


def test_swap_changes_exactly_the_direction_words():
    assert swap_directions("The person raises the RIGHT arm, then the Left leg!") == \
        "The person raises the LEFT arm, then the Right leg!"
    assert swap_directions("the left's movement") == "the right's movement"
    assert swap_directions("Right-handed wave, left-hand swipe, leftward, rightwards") == \
        "Left-handed wave, right-hand swipe, rightward, leftwards"
    assert swap_directions("Clockwise then counterclockwise") == "Counterclockwise then clockwise"
    # Words that merely contain a stem stay as they are.
    assert swap_directions("leftover bright rights") == "leftover bright rights"


def test_counterclockwise_spelling_variants_map_to_clockwise():
    for variant in ("counter-clockwise", "anticlockwise", "anti-clockwise"):
        assert swap_directions(f"turns {variant}") == "turns clockwise"


def test_has_direction():
    assert has_direction("raise the Left arm")
    assert not has_direction("a person nods the head")


def test_flip_frames_mirrors_the_width_axis_for_numpy_and_torch():
    frames = np.arange(2 * 3 * 4 * 5 * 3, dtype=np.uint8).reshape(2, 3, 4, 5, 3)   # [N, L, H, W, C]
    flipped = flip_frames(frames)
    assert flipped.shape == frames.shape
    np.testing.assert_array_equal(flipped[..., 0, :], frames[..., -1, :])
    np.testing.assert_array_equal(flip_frames(flipped), frames)
    tensor = torch.from_numpy(frames).permute(0, 1, 4, 2, 3)                    # [N, L, C, H, W]
    assert torch.equal(flip_frames(tensor, width_axis=-1), torch.from_numpy(flipped).permute(0, 1, 4, 2, 3))


def _unit(*values):
    return F.normalize(torch.tensor([values], dtype=torch.float32), dim=-1)


def test_hinge_is_zero_when_margin_holds_and_positive_when_violated():
    anchor, positive, negative = _unit(1.0, 0.0), _unit(1.0, 0.0), _unit(0.0, 1.0)
    # cos(anchor, positive) - cos(anchor, negative) = 1 >= margin 0.5: no loss.
    assert mirror_hinge(anchor, positive, negative, margin=0.5).item() == 0.0
    # Swap roles: the negative is the closer one, loss = 0.5 - 0 + 1.
    assert mirror_hinge(anchor, negative, positive, margin=0.5).item() == pytest.approx(1.5)
    # Margin larger than the gap: 1.2 - 1 + 0.
    assert mirror_hinge(anchor, positive, negative, margin=1.2).item() == pytest.approx(0.2)


def test_hinge_mask_skips_rows_without_direction_words():
    anchor = torch.cat([_unit(1.0, 0.0), _unit(1.0, 0.0)])
    positive = torch.cat([_unit(0.0, 1.0), _unit(1.0, 0.0)])
    negative = torch.cat([_unit(1.0, 0.0), _unit(1.0, 0.0)])
    assert mirror_hinge(anchor, positive, negative, 0.1, mask=torch.tensor([True, False])).item() == \
        pytest.approx(1.1)
    assert mirror_hinge(anchor, positive, negative, 0.1, mask=torch.tensor([False, False])).item() == 0.0


def test_teacher_loss_has_both_terms_and_student_loss_only_in_full_mode():
    video, text = _unit(1.0, 0.0), _unit(1.0, 0.0)
    flipped_video, mirrored_text = _unit(0.0, 1.0), _unit(0.0, 1.0)
    good = MirrorConsistencyLoss("full", margin=0.2, weight=2.0)
    assert good.teacher_loss(video, text, flipped_video, mirrored_text).item() == 0.0
    # The flipped video matches the ORIGINAL caption: only the second term fires, 0.2 - 0 + 1.
    second_only = good.teacher_loss(video, text, flipped_video=_unit(1.0, 0.0), mirrored_text=mirrored_text)
    assert second_only.item() == pytest.approx(2.0 * 1.2)
    # The video matches the mirrored caption: only the first term fires.
    first_only = good.teacher_loss(_unit(0.0, 1.0), text, flipped_video, mirrored_text)
    assert first_only.item() == pytest.approx(2.0 * 1.2)
    csi = _unit(0.0, 1.0)
    assert good.student_loss(csi, text, mirrored_text).item() == pytest.approx(2.0 * 1.2)
    assert MirrorConsistencyLoss("teacher").student_loss(csi, text, mirrored_text).item() == 0.0
    assert MirrorConsistencyLoss("teacher").teacher_loss(_unit(0.0, 1.0), text, flipped_video,
                                                         mirrored_text).item() > 0
    assert MirrorConsistencyLoss("none").teacher_loss(_unit(0.0, 1.0), text, flipped_video,
                                                      mirrored_text).item() == 0.0
    with pytest.raises(ValueError, match="mirror mode"):
        MirrorConsistencyLoss("half")


def test_hinge_gradient_pushes_anchor_towards_positive():
    anchor = torch.tensor([[0.6, 0.8]], requires_grad=True)
    positive, negative = _unit(1.0, 0.0), _unit(0.0, 1.0)
    mirror_hinge(anchor, positive, negative, margin=0.5).backward()
    # Descending the gradient increases x (towards the positive) and decreases y.
    assert anchor.grad[0, 0] < 0 < anchor.grad[0, 1]


# --------------------------------------------------------------------- mirror images as training augmentation


@pytest.fixture(scope="module")
def symmetric_store(tmp_path_factory):
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    path = tmp_path_factory.mktemp("mirror") / "symmetric.h5"
    cfg = ActionConfig.quick()
    cfg.layout = "symmetric"
    write_caption_store(path, simulate_actions(cfg, seed=3, progress=False))
    return path


def test_mirrored_clips_follow_the_clips_with_their_mirror_images(symmetric_store):
    from wifisense.caption.data import caption_dataset, mirrored_dataset, store_mirror_receivers
    from wifisense.caption.mirror import mirror_csi, swap_directions
    from wifisense.io.validate import validate_store

    assert validate_store(symmetric_store) == []
    assert store_mirror_receivers(symmetric_store) == (1, 0, 2)
    source = caption_dataset(symmetric_store, "train", csi=True, frames=True)
    data = mirrored_dataset(symmetric_store, source)
    n = len(source)
    assert len(data) == 2 * n
    for k in range(n):
        clip, image = data[k], data[n + k]
        assert image["index"] == clip["index"] + data.index_offset and image["index"] >= data.index_offset
        assert image["captions"] == [swap_directions(c) for c in clip["captions"]]
        assert int(image["class_id"]) == int(data.mirror_of[int(clip["class_id"])])
        torch.testing.assert_close(image["csi"], mirror_csi(clip["csi"], (1, 0, 2)))
        torch.testing.assert_close(image["frames"], flip_frames(clip["frames"]))
    lateral = [k for k in range(n) if has_direction(" ".join(data[k]["captions"]))]
    assert lateral and all(data[n + k]["captions"] != data[k]["captions"] for k in lateral)


def test_training_with_mirror_images_needs_a_mirror_symmetric_store(symmetric_store, tmp_path, caplog):
    import json
    import logging

    from test_caption_cli import SHRINK
    from wifisense.cli import main
    from wifisense.io.store import write_caption_store
    from wifisense.sim.actions import ActionConfig, simulate_actions

    sets = [a for key, value in {**SHRINK, "student.mirror_augment": True}.items()
            for a in ("--set", f"{key}={json.dumps(value)}")]
    args = ["caption", "train", "--stages", "s2-2", "--max-steps", "1", "--batch-size", "4", "--device", "cpu", *sets]
    with caplog.at_level(logging.INFO):
        assert main([*args, "--data", str(symmetric_store), "--run", str(tmp_path / "run")]) == 0
    assert "with their mirror images" in caplog.text
    plain = tmp_path / "asymmetric.h5"
    write_caption_store(plain, simulate_actions(ActionConfig.quick(), seed=3, progress=False))
    assert main([*args, "--data", str(plain), "--run", str(tmp_path / "run2")]) == 2
