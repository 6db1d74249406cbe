"""RGB frames of the skeleton from a fixed camera facing the person, so a horizontal flip is the mirror action.

The camera stands ``camera_distance_m`` in front of the person on the person's nominal
facing axis (think of a camera on the wall the person faces, panned to the person and
zoomed to a fixed framing), at ``camera_height_m``, looking horizontally back at them.
The person's left therefore appears on the right of the frame. Because the camera axis
lies in the body's sagittal plane, pixel columns are placed symmetrically about the
image centre, and left and right body parts share colours, the frame of a mirrored
pose is *exactly* the horizontally flipped frame of the original.

Rasterisation is vectorised NumPy: every body segment is a capsule (distance from each
pixel centre to the projected segment, with a one-pixel anti-aliased edge), joints are
discs, drawn far to near (painter's algorithm) with a little depth shading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wifisense.sim.skeleton import BODY_SEGMENTS, JOINT

# Colours (RGB in [0, 1]) per segment kind; left and right parts share them so that a
# flipped frame equals the mirrored action's frame.
KIND_COLOURS = {
    "torso": (0.20, 0.35, 0.75),
    "head": (0.95, 0.78, 0.62),
    "skin": (0.90, 0.72, 0.56),
    "arm": (0.85, 0.30, 0.25),
    "leg": (0.25, 0.55, 0.30),
    "foot": (0.20, 0.20, 0.20),
    "joint": (0.98, 0.90, 0.30),
    "face": (0.45, 0.20, 0.15),
}
WALL_COLOUR = np.array([0.80, 0.80, 0.76])
FLOOR_COLOUR = np.array([0.55, 0.50, 0.45])
# Joints drawn as discs on top of the limbs: (joint, radius as a fraction of height, colour).
DISCS = tuple((j, 0.022, "joint") for j in ("r_elbow", "l_elbow", "r_wrist", "l_wrist", "r_knee",
                                             "l_knee", "r_ankle", "l_ankle", "r_shoulder",
                                             "l_shoulder")) + (("nose", 0.02, "face"),)


@dataclass(frozen=True)
class Camera:
    """Pinhole camera on the person's facing axis; the frame spans ``view_height_m`` at the person."""

    distance_m: float = 3.5
    height_m: float = 0.95
    view_height_m: float = 2.1
    image_size: int = 64

    @property
    def focal_px(self) -> float:
        return self.image_size * self.distance_m / self.view_height_m


def _items(joints: np.ndarray, height_m: float):
    """Endpoints ``[T, I, 2, 3]``, radii ``[I]`` (metres) and colours ``[I, 3]`` of all drawn items."""
    a = [s.joint_a for s in BODY_SEGMENTS] + [JOINT[d[0]] for d in DISCS]
    b = [s.joint_b for s in BODY_SEGMENTS] + [JOINT[d[0]] for d in DISCS]
    radii = np.array([s.radius for s in BODY_SEGMENTS] + [d[1] for d in DISCS])
    colours = np.array([KIND_COLOURS[s.kind] for s in BODY_SEGMENTS]
                       + [KIND_COLOURS[d[2]] for d in DISCS])
    ends = np.stack([joints[:, a], joints[:, b]], axis=2)
    return ends, radii * height_m, colours


def _background(camera: Camera) -> np.ndarray:
    """``[H, W, 3]`` wall above the floor line (where z = 0 is at the person's depth)."""
    size = camera.image_size
    rows = np.arange(size) + 0.5
    horizon = size / 2 + camera.focal_px * camera.height_m / camera.distance_m
    shade = 1.0 - 0.15 * rows / size           # a gentle vertical gradient
    colour = np.where((rows >= horizon)[:, None], FLOOR_COLOUR, WALL_COLOUR) * shade[:, None]
    return np.broadcast_to(colour[:, None, :], (size, size, 3))


def render_frames(joints: np.ndarray, height_m: float, camera: Camera = Camera()) -> np.ndarray:
    """Render poses ``joints [L, J, 3]`` (body frame: x right, y forward, z up) to ``uint8 [L, H, W, 3]``."""
    joints = np.asarray(joints, dtype=np.float64)
    size = camera.image_size
    ends, radii, colours = _items(joints, height_m)              # [L, I, 2, 3]
    depth = camera.distance_m - ends[..., 1]                      # along the camera axis
    depth = np.maximum(depth, 0.1)
    f = camera.focal_px
    # Image coordinates measured from the image centre: u to the right (the person's
    # left, -x), v downwards. Pixel centres are symmetric about 0, so x -> -x maps
    # column c to column W-1-c exactly.
    u = f * (-ends[..., 0]) / depth                               # [L, I, 2]
    v = f * (camera.height_m - ends[..., 2]) / depth
    r_px = f * radii[None, :] / depth.mean(axis=-1)               # [L, I]
    centres = (np.arange(size) - (size - 1) / 2.0).astype(np.float32)
    u, v, r_px = u.astype(np.float32), v.astype(np.float32), r_px.astype(np.float32)

    # distance from every pixel centre to every projected segment: [L, I, H, W]
    pu, pv = centres[None, None, None, :], centres[None, None, :, None]
    au, av = u[..., 0][..., None, None], v[..., 0][..., None, None]
    du, dv = (u[..., 1] - u[..., 0])[..., None, None], (v[..., 1] - v[..., 0])[..., None, None]
    seg_len2 = du * du + dv * dv
    s = np.clip(((pu - au) * du + (pv - av) * dv) / np.where(seg_len2 > 0, seg_len2, 1.0), 0.0, 1.0)
    dist = np.hypot(pu - (au + s * du), pv - (av + s * dv))
    coverage = np.clip(r_px[..., None, None] - dist + 0.5, 0.0, 1.0)

    # nearer items are brighter, and drawn later (discs sit just in front of their limb)
    item_depth = depth.mean(axis=-1)                              # [L, I]
    is_disc = np.arange(item_depth.shape[1]) >= len(BODY_SEGMENTS)
    item_depth = item_depth - 0.02 * is_disc
    shade = np.clip(1.0 + 0.6 * (camera.distance_m - item_depth), 0.6, 1.4)
    item_colour = np.clip(colours[None] * shade[..., None], 0.0, 1.0)   # [L, I, 3]
    order = np.argsort(-item_depth, axis=1, kind="stable")

    frames = np.array(np.broadcast_to(_background(camera), (joints.shape[0], size, size, 3)),
                      dtype=np.float32)
    item_colour = item_colour.astype(np.float32)
    rows = np.arange(joints.shape[0])
    for k in range(order.shape[1]):          # a loop over ~30 items, each vectorised over frames x pixels
        idx = order[:, k]
        alpha = coverage[rows, idx][..., None]                    # [L, H, W, 1]
        frames += alpha * (item_colour[rows, idx][:, None, None, :] - frames)
    return np.round(frames * 255.0).astype(np.uint8)
