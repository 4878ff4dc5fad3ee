"""Resource monitoring: CPU and memory of the process, reported as scalars of its task.

A daemon thread samples every `report_frequency_sec` seconds (default 30) and reports under
the title `:monitor:machine`, with the seconds since the task started as the iteration. It
reads /proc where there is one (Linux) and falls back to `resource` elsewhere; no extra
dependency. `Task.init(auto_resource_monitoring=False)` switches it off.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

from ductwork.core.errors import ValidationError

# Reports one point: (title, series, value, iteration), as `Logger.report_scalar` does.
ReportScalar = Callable[[str, str, float, int], None]

TITLE = ":monitor:machine"
DEFAULT_FREQUENCY = 30.0
_GB = 1024.0**3


class ResourceMonitor:
    def __init__(
        self,
        task_id: str,
        report: ReportScalar,
        *,
        frequency: float = DEFAULT_FREQUENCY,
        start: float | None = None,
    ) -> None:
        self._report = report
        self._frequency = frequency
        self._start = frequency if start is None else start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ductwork-monitor-{task_id[:8]}", daemon=True)
        self._began = time.monotonic()
        self._last_cpu = _cpu_seconds()
        self._last_wall = self._began

    def start(self) -> ResourceMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def sample(self) -> dict[str, float]:
        """One reading: process CPU % since the last one, process and free memory in GB."""
        now, cpu = time.monotonic(), _cpu_seconds()
        wall = max(now - self._last_wall, 1e-6)
        values = {"cpu_usage": 100.0 * (cpu - self._last_cpu) / wall, "process_memory_gb": _rss_bytes() / _GB}
        free = _available_bytes()
        if free is not None:
            values["memory_free_gb"] = free / _GB
        self._last_cpu, self._last_wall = cpu, now
        return values

    def _run(self) -> None:
        if self._stop.wait(self._start):
            return
        while True:
            iteration = int(time.monotonic() - self._began)
            for series, value in self.sample().items():
                self._report(TITLE, series, value, iteration)
            if self._stop.wait(self._frequency):
                return


def check(setting: object) -> tuple[float, float] | None:
    """(frequency, start) in seconds for a `Task.init(auto_resource_monitoring=...)` value, None: off."""
    if setting is False:
        return None
    if setting is True:
        return DEFAULT_FREQUENCY, DEFAULT_FREQUENCY
    if not isinstance(setting, Mapping):
        raise ValidationError(
            f"auto_resource_monitoring must be a bool or a dict, got {type(setting).__name__}"
        )
    frequency = _seconds(setting, "report_frequency_sec", DEFAULT_FREQUENCY)
    return frequency, _seconds(setting, "report_start_sec", frequency)


def start_for(
    task_id: str, report: ReportScalar, setting: bool | Mapping[str, object]
) -> ResourceMonitor | None:
    """Start monitoring task `task_id` as `Task.init(auto_resource_monitoring=...)` asks (None: off)."""
    timing = check(setting)
    if timing is None:
        return None
    return ResourceMonitor(task_id, report, frequency=timing[0], start=timing[1]).start()


def _seconds(setting: Mapping[str, object], key: str, default: float) -> float:
    value = setting.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValidationError(f"auto_resource_monitoring[{key!r}] must be a positive number, got {value!r}")
    return float(value)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # peak only: KB on Linux, bytes on macOS
        return float(peak if os.uname().sysname == "Darwin" else peak * 1024)


def _available_bytes() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        return None
    return None
