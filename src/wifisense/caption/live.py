"""Captions of live CSI: each hop, the newest clip of every receiver's window through a Captioner."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wifisense.errors import ConfigError


class LiveCaptioner:
    """A ``wifisense.live.monitor.Predictor``: one live source per receiver, in the model's order.

    Each prediction takes the last ``spec.num_steps / spec.sample_rate_hz`` seconds of every
    source (``window_s``), resamples them onto the trained grid as ``caption predict`` does
    with capture files (``caption.data.clip_from_recordings``), and captions the clip; a
    receiver with no packets in its window is passed as missing.
    """

    one_clock = False       # every receiver keeps its own clock: each window ends at its newest packet

    def __init__(self, captioner, source_bands: Sequence[str] = ("csi",)):
        spec = captioner.spec
        if any(band != "csi" for band in source_bands):
            raise ConfigError("a caption model takes CSI sources only (one per receiver); a beam-SNR source "
                              "feeds a track model")
        num_sources = len(source_bands)
        if num_sources > spec.num_receivers:
            raise ConfigError(f"{num_sources} sources, but the model was trained on {spec.num_receivers} "
                              "receivers: give at most one --source per receiver")
        self.captioner, self.spec = captioner, spec
        self.clip_s = spec.num_steps / spec.sample_rate_hz
        # a little more than the clip, so that its first grid step has a packet before it
        self.window_s = self.clip_s + 1.0 / spec.sample_rate_hz
        # one caption of silence first: torch's first call pays set-up costs (about 0.7 s
        # here) that would otherwise land on the first live caption's latency
        captioner.caption(np.zeros(spec.clip_shape, np.complex64))

    def predict(self, windows: Sequence) -> dict:
        from wifisense.caption.data import clip_from_recordings
        from wifisense.io.recording import CSIRecording

        recordings, names = [None] * self.spec.num_receivers, ["-"] * self.spec.num_receivers
        for r, window in enumerate(windows[: self.spec.num_receivers]):
            t = np.asarray(window.t)
            if t.size < 2:
                continue
            recordings[r] = CSIRecording(csi=window.x, timestamps=t, subcarriers=window.subcarriers,
                                         source={"format": "live", "path": window.name})
            names[r] = window.name
        used = [name for name in names if name != "-"]
        if not used:
            return {"caption": None, "receivers": []}
        # every receiver's clip ends at its newest packet
        start = [0.0 if rec is None else max(0.0, float(rec.timestamps[-1] - rec.timestamps[0]) - self.clip_s
                                             + 0.5 / self.spec.sample_rate_hz) for rec in recordings]
        csi = np.zeros(self.spec.clip_shape, np.complex64)
        valid = np.zeros(self.spec.num_receivers, bool)
        for r, rec in enumerate(recordings):
            if rec is None:
                continue
            one = [None] * self.spec.num_receivers
            one[r] = rec
            clip, ok = clip_from_recordings(one, names, self.spec, start_s=start[r])
            csi[r], valid[r] = clip[r], ok[r]
        return {"caption": self.captioner.caption(csi, rx_valid=valid), "receivers": used}
