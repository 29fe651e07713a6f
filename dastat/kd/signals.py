"""Stopping cleanly and resuming exactly: the stop flag the signals set, and the RNG states.

SIGINT (Ctrl-C) or SIGTERM (a scheduler's pre-emption notice) set a flag that the
training loop polls between steps; the loop then saves a checkpoint where it stands
and stops. A second SIGINT aborts at once. The RNG states go into every checkpoint so
that a resumed run draws the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import torch


class StopFlag:
    """A context manager that turns SIGINT/SIGTERM into ``self.set = True`` while it is active."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.set = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():  # signals can only be caught there
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame) -> None:
        if self.set and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.set = True
        print("\ndastat: stopping after this step and saving a checkpoint (Ctrl-C again to abort)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> bool:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False


def rng_states(device: torch.device) -> dict[str, Any]:
    """The global RNG states a checkpoint stores (CPU, and the device's on CUDA)."""
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_states` saved."""
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)
