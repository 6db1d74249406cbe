"""Sub-command of the live room: ``replay`` (send a capture at its recorded timing). ``wifisense live``
itself is in ``wifisense.live_command`` (it loads task models, which a shared room may not import)."""

from __future__ import annotations

import sys


def register(sub) -> None:
    r = sub.add_parser(
        "replay", help="send a capture at its recorded timing (Nexmon pcap as UDP, ESP32 CSV as lines)",
        description="Replay a capture for `wifisense live` without the hardware: the UDP payloads of a Nexmon "
        "pcap to udp://HOST:PORT, or the CSI_DATA lines of an ESP32-CSI-Tool CSV to standard output, at the "
        "recorded spacing divided by --speed. It sends only to the address given.")
    r.add_argument("capture", metavar="CAPTURE", help="a Nexmon .pcap or an ESP32-CSI-Tool .csv")
    r.add_argument("--to", default=None, metavar="TARGET",
                   help="udp://HOST:PORT (Nexmon) or - (ESP32 lines) (default: udp://127.0.0.1:5500 for a "
                   "pcap, - for a CSV)")
    r.add_argument("--speed", type=float, default=1.0, help="timing speed-up; 0 = as fast as possible "
                   "(default: %(default)s)")
    r.add_argument("--loop", type=int, default=1, help="send the capture this many times (default: %(default)s)")
    r.set_defaults(func=run_replay)


def run_replay(args) -> int:
    from wifisense.live.replay import capture_messages, replay

    to = args.to
    if to is None:
        to = "udp://127.0.0.1:5500" if capture_messages(args.capture)[0] == "nexmon" else "-"
    done = replay(args.capture, to=to, speed=args.speed, loop=args.loop)
    print(f"[replay] sent {done['sent']} {done['format']} packets to {done['to']} in {done['seconds']:.2f} s",
          file=sys.stderr, flush=True)
    return 0
