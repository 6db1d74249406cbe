"""Sub-command of the live room: ``replay`` (send a capture at its recorded timing). ``wifisense live``
itself is in ``wifisense.live_command`` (it loads task models, which a shared room may not import)."""

from __future__ import annotations

import sys


def register(sub) -> None:
    r = sub.add_parser(
        "replay", help="send a capture at its recorded timing (Nexmon pcap as UDP, ESP32 or beam-SNR lines, Intel 5300, "
        "Atheros or PicoScenes records)",
        description="Replay a capture for `wifisense live` without the hardware: the UDP payloads of a Nexmon "
        "pcap to udp://HOST:PORT; the CSI_DATA lines of an ESP32-CSI-Tool CSV, the lines of a beam-SNR CSV "
        "(header first) or the records of an Intel 5300, Atheros or PicoScenes log to standard output or appended to a file (as the capture tool writes its log), at the recorded "
        "spacing divided by --speed. A looped replay moves the device clock on. It sends only where told.")
    r.add_argument("capture", metavar="CAPTURE", help="a Nexmon .pcap, an ESP32-CSI-Tool .csv, a beam-SNR .csv, an "
                   "Intel 5300 or Atheros .dat, or a PicoScenes .csi")
    r.add_argument("--to", default=None, metavar="TARGET",
                   help="udp://HOST:PORT (Nexmon), - or a file to append to (the other formats) (default: "
                   "udp://127.0.0.1:5500 for a pcap, - otherwise)")
    r.add_argument("--speed", type=float, default=1.0, help="timing speed-up; 0 = as fast as possible "
                   "(default: %(default)s)")
    r.add_argument("--loop", type=int, default=1, help="send the capture this many times (default: %(default)s)")
    r.set_defaults(func=run_replay)


def run_replay(args) -> int:
    from wifisense.io.logs import sniff_log_kind
    from wifisense.io.readers.registry import detect_format
    from wifisense.live.replay import replay

    to = args.to
    if to is None:
        # the format alone decides (detect_format reads the file's start; replay then reads it once)
        nexmon = sniff_log_kind(args.capture) != "beam_snr_csv" and detect_format(args.capture) == "nexmon"
        to = "udp://127.0.0.1:5500" if nexmon else "-"
    done = replay(args.capture, to=to, speed=args.speed, loop=args.loop)
    print(f"[replay] sent {done['sent']} {done['format']} packets to {done['to']} in {done['seconds']:.2f} s",
          file=sys.stderr, flush=True)
    return 0
