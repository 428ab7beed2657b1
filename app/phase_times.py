"""Where a run's wall time went, printed as one `Time:` line at its end.

Users time the whole command, and most of a short run is fixed cost:
imports, weight loading, the first training step (tracing), checkpoint and
export writes. The runner's steps are wrapped in `phase(name)` (or decorated
with `timed(name)`); a phase inside another is counted in its own name only,
so the phases and `other` (what no phase names) add up to the total.

Imports neither TensorFlow nor Keras: `main.py` loads this before them.
"""

import contextlib
import functools
import logging
import os
import time

logger = logging.getLogger(__name__)


class PhaseTimes:
    """Seconds per phase, each counted once, from `started` on."""

    def __init__(self, started: float):
        self.started = started  # time.perf_counter() clock
        self.seconds: dict[str, float] = {}  # in order of first appearance
        self._open: list[list] = []  # [start, seconds of phases inside]

    def add(self, name: str, seconds: float) -> None:
        """Counts `seconds` in `name`, and out of the phase now open."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if self._open:
            self._open[-1][1] += seconds

    @contextlib.contextmanager
    def phase(self, name: str):
        """Counts the block's time in `name`, less the phases inside it."""
        frame = [time.perf_counter(), 0.0]
        self.seconds.setdefault(name, 0.0)
        self._open.append(frame)
        try:
            yield
        finally:
            self._open.pop()
            elapsed = time.perf_counter() - frame[0]
            self.seconds[name] += elapsed - frame[1]
            if self._open:  # the whole block counts out of the outer phase
                self._open[-1][1] += elapsed

    def summary(self) -> str:
        """`Time: imports 12.1 s, read 0.4 s, ..., other 0.9 s; total 98.2 s`."""
        total = time.perf_counter() - self.started
        other = total - sum(self.seconds.values())
        parts = [f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items()]
        parts.append(f"other {max(other, 0.0):.1f} s")
        return f"Time: {', '.join(parts)}; total {total:.1f} s"


_current = PhaseTimes(time.perf_counter())


def start_run(started: float | None = None) -> PhaseTimes:
    """A fresh record for one run of main.py; `started` defaults to now."""
    global _current
    _current = PhaseTimes(time.perf_counter() if started is None else started)
    return _current


def current() -> PhaseTimes:
    return _current


def phase(name: str):
    """`with phase("read"): ...` counts the block in the current run's record."""
    return _current.phase(name)


def add(name: str, seconds: float) -> None:
    """Counts `seconds`, measured by the caller, in `name` (see `PhaseTimes.add`)."""
    _current.add(name, seconds)


def timed(name: str):
    """Decorator: every call of the function counts in phase `name`."""

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with _current.phase(name):
                return function(*args, **kwargs)

        return wrapper

    return decorate


def process_start() -> float:
    """When this process started, on the time.perf_counter() clock.

    From /proc (Linux), so interpreter start-up and the imports before
    `main()` count; elsewhere, now.
    """
    now = time.perf_counter()
    try:
        with open("/proc/self/stat", encoding="ascii") as file:
            # The command name (field 2) may hold spaces; it ends with ")".
            fields = file.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime", encoding="ascii") as file:
            uptime = float(file.read().split()[0])
    except (OSError, IndexError, ValueError):
        return now
    started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22
    return now - max(uptime - started_after_boot, 0.0)
