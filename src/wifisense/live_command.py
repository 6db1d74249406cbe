"""``wifisense live``: CSI from a running capture tool, windowed, with a trained model's prediction every hop.

Lives outside the ``live`` room because it loads task models (a shared room imports no task).
"""

from __future__ import annotations

import sys

from wifisense.options import add_device_option


def register(sub) -> None:
    p = sub.add_parser(
        "live", help="read CSI (Nexmon UDP, ESP32 lines, Intel logs) and beam SNR as they arrive; caption or track "
        "them with a trained model",
        description="Read CSI from a running capture tool and print one line per --hop (JSON to pipes and "
        "files, short text on a terminal): per source the packets in the last --window seconds, their rate and "
        "the received / rejected / overwritten counters, and with --model a caption of the newest clip or the "
        "new trajectory points, and the latency. Sources: udp://HOST:PORT (Nexmon CSI UDP packets; needs "
        "--chip and --bw), - (ESP32-CSI-Tool lines on standard input), serial:DEVICE or a growing .csv "
        "(ESP32 lines), a .dat or .csi log that the Intel 5300, Atheros or PicoScenes tool is still writing (format from its first records, or intel5300:, atheros:, picoscenes: PATH), snr:PATH or snr:- (60 GHz "
        "beam-SNR CSV lines t,beam_0,... for a track model; a file that already starts with such a header is "
        "recognised without the prefix). For captions give --source once per receiver, in the model's receiver "
        "order; for a two-band track model one CSI and one beam-SNR source, on one clock. Memory stays bounded (ring buffers); Ctrl-C stops with a "
        "summary. See docs/live.md.")
    p.add_argument("--source", action="append", default=None, metavar="SPEC",
                   help="udp://HOST:PORT, -, serial:DEVICE, an ESP32 .csv, an Intel 5300 / Atheros .dat or PicoScenes "
                   ".csi being written, or snr:PATH (beam SNR); repeat for several receivers or bands (default: udp://0.0.0.0:5500)")
    p.add_argument("--model", default=None, metavar="DIR",
                   help="a caption or track run folder or an exported model (`wifisense export`): every hop, the "
                   "caption of the newest clip, or the new trajectory points (a track model on CSI, beam SNR or both)")
    p.add_argument("--chip", default=None, help="Nexmon chip: 4358, 4366c0, 43455c0 or 4339")
    p.add_argument("--bw", type=int, default=None, help="Nexmon bandwidth in MHz: 20, 40 or 80")
    p.add_argument("--window", type=float, default=1.0, metavar="SECONDS",
                   help="window length; with --model at least the model's clip (default: %(default)s)")
    p.add_argument("--hop", type=float, default=1.0, metavar="SECONDS", help="time between reports (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until Ctrl-C "
                   "or the end of the inputs)")
    p.add_argument("--quiet-after", type=float, default=3.0, metavar="SECONDS",
                   help="warn when a source sent no packet for this long (default: %(default)s)")
    add_device_option(p)
    p.add_argument("--out", default=None, metavar="JSONL", help="append the JSON lines to this file instead of "
                   "standard output")
    p.set_defaults(func=run)


def load_predictor(model: str, source_bands: list[str], device: str):
    """The task predictor of a model folder for sources of these bands ("csi", "snr"): a caption
    run or export captions, a track run or export tracks."""
    import json
    from pathlib import Path

    import torch

    from wifisense.errors import ConfigError

    # One torch thread: a live model is small and runs once per hop, and a second OpenMP
    # thread spinning beside the capture tool made captions ~10x slower on a busy 2-core
    # machine (about 500 ms against 25-50 ms per caption here).
    torch.set_num_threads(1)
    config = Path(model) / "config.json"
    if not config.is_file():
        raise ConfigError(f"--model {model}: no config.json; give a finished run folder or an exported model")
    payload = json.loads(config.read_text())
    from wifisense.caption.run import RUN_KIND as CAPTION_KIND
    from wifisense.track.pretrained import EXPORT_KIND as TRACK_EXPORT

    if payload.get("kind") == CAPTION_KIND:
        from wifisense.caption.captioner import Captioner
        from wifisense.caption.live import LiveCaptioner

        return LiveCaptioner(Captioner.from_pretrained(model, device=device), source_bands)
    if payload.get("kind") == TRACK_EXPORT or (payload.get("task") or {}).get("kind") == "track":
        from wifisense.track.live import LiveTracker
        from wifisense.track.pretrained import Tracker

        return LiveTracker(Tracker.from_pretrained(model, device=device), source_bands)
    raise ConfigError(f"--model {model}: not a caption or track model (config kind "
                      f"{payload.get('kind') or (payload.get('task') or {}).get('kind')!r})")


def run(args) -> int:
    from wifisense.live.monitor import monitor
    from wifisense.live.sources import open_source

    specs = args.source or ["udp://0.0.0.0:5500"]
    sources = []
    try:
        # sources first: a UDP socket then holds what arrives while the model loads
        for spec in specs:
            sources.append(open_source(spec, chip=args.chip, bw=args.bw))
        predictor = (load_predictor(args.model, [getattr(s, 'band', 'csi') for s in sources], args.device)
                     if args.model else None)
    except BaseException:
        for source in sources:
            source.close()
        raise
    print(f"[live] reading {', '.join(s.name for s in sources)}"
          + (f"; predicting on {predictor.window_s:.3g}-s windows" if predictor else ""), file=sys.stderr, flush=True)
    out = open(args.out, "a", buffering=1, encoding="utf-8") if args.out else None
    try:
        totals = monitor(sources, window=args.window, hop=args.hop, seconds=args.seconds,
                         quiet_after=args.quiet_after, out=out, predictor=predictor)
    finally:
        if out is not None:
            out.close()
    print(f"[live] {totals['received']} packets received, {totals['rejected']} rejected in "
          f"{totals['seconds']:.1f} s", file=sys.stderr, flush=True)
    return 0
