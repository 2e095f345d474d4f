"""``Clock``: a conversion's log, each line with the seconds since the start,
and the time each stage took."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


class Clock:
    """Logs each stage with the seconds since the start, and keeps the times."""

    def __init__(self, log: Callable[[str], None]):
        self.log, self.start, self.stages = log, time.perf_counter(), {}

    def __call__(self, text):
        self.log(f"[{time.perf_counter() - self.start:6.1f}s] {text}")

    def stage(self, name: str) -> None:
        """Records the end of a stage (seconds since the previous one)."""
        now = time.perf_counter() - self.start
        self.stages[name] = round(now - sum(self.stages.values()), 2)
        if os.environ.get("KERAS_MIXER_MEMORY"):  # development: peak memory per stage
            with open("/proc/self/status") as f:
                status = dict(line.split(":", 1) for line in f)
            self.log(
                f"    {name}: peak {int(status['VmHWM'].split()[0]) // 1024} MB, "
                f"now {int(status['VmRSS'].split()[0]) // 1024} MB"
            )
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
