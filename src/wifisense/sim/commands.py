"""``wifisense simulate actions|trajectories``: write a simulated dataset store."""

from __future__ import annotations


def register(sub) -> None:
    import wifisense.sim.actions as actions
    import wifisense.sim.trajectories as trajectories

    p = sub.add_parser(
        "simulate", help="simulate a dataset (actions for caption, trajectories for track)",
        description="Simulate a dataset with the physically grounded channel model and write it "
        "as a wifisense HDF5 store. A run is fully determined by its seed.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    a = kinds.add_parser(
        "actions", help="a person performing actions seen by 1 Tx and 3 Rx (caption data)",
        description="Simulate clips of an articulated skeleton performing actions, with CSI at "
        "three receivers, rendered RGB frames and paraphrased captions.")
    actions.add_arguments(a)
    a.set_defaults(func=actions.run_from_args)

    t = kinds.add_parser(
        "trajectories", help="a robot driving loops, seen at 5 GHz (CSI) and 60 GHz (beam SNR)",
        description="Simulate a robot driving rectangular loops in a room with a dual-band "
        "access point: 5 GHz CSI, 60 GHz beam SNR and ground-truth positions as asynchronous "
        "streams.")
    trajectories.add_arguments(t)
    t.set_defaults(func=trajectories.run_from_args)
