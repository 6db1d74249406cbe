"""Physically grounded simulators that write the same store real captures are ingested into.

``simulate_actions(ActionConfig(...), seed)`` gives a caption data set and
``simulate_trajectories(TrajectoryConfig(...), seed)`` a multi-band one; write them with
``wifisense.io.store``. Names are imported on first use, so ``import wifisense.sim`` is light.
"""

_ACTIONS = ("ActionConfig", "ACTION_PRESETS", "simulate_actions", "grid_positions")
_TRAJECTORIES = ("TrajectoryConfig", "simulate_trajectories")
__all__ = [*_ACTIONS, *_TRAJECTORIES]


def __getattr__(name: str):
    if name in _ACTIONS:
        import wifisense.sim.actions as module
    elif name in _TRAJECTORIES:
        import wifisense.sim.trajectories as module
    else:
        raise AttributeError(f"module 'wifisense.sim' has no attribute {name!r}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
