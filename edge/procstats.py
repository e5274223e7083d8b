"""Process and board measurements for the `stats` topic (Linux /proc and /sys)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def rss_mb() -> float:
    """Resident set size of this process in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_temp_c() -> float | None:
    """SoC temperature (Raspberry Pi, Jetson thermal zone 0) or None when not readable."""
    try:
        return round(int(Path("/sys/class/thermal/thermal_zone0/temp").read_text()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU use of this process as a percentage of one core since the last call."""

    def __init__(self) -> None:
        self._cpu = self._cpu_s()
        self._wall = time.monotonic()

    @staticmethod
    def _cpu_s() -> float:
        t = os.times()
        return t.user + t.system

    def percent(self) -> float:
        cpu, wall = self._cpu_s(), time.monotonic()
        d = wall - self._wall
        pct = 100.0 * (cpu - self._cpu) / d if d > 0 else 0.0
        self._cpu, self._wall = cpu, wall
        return round(max(0.0, pct), 1)
