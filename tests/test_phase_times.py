"""The `Time:` line at the end of a run: each phase counted once, adding up."""

import re
import time

import pytest

from app import phase_times


class FakeClock:
    """time.perf_counter for phase_times, moved by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def parse_time_line(text: str) -> tuple[dict, float]:
    """The phases and the total of the last `Time:` line in `text`."""
    line = [line for line in text.splitlines() if "Time: " in line][-1]
    match = re.search(r"Time: (.*); total ([0-9.]+) s$", line)
    assert match, line
    phases = {}
    for part in match.group(1).split(", "):
        name, seconds = re.fullmatch(r"(.+) ([0-9.]+) s", part).groups()
        phases[name] = float(seconds)
    return phases, float(match.group(2))


def test_a_phase_inside_another_counts_in_its_own_name_only(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(time, "perf_counter", clock)
    times = phase_times.PhaseTimes(started=clock())
    clock.now += 2.0  # before any phase: other
    times.add("imports", 1.5)
    with times.phase("training"):
        clock.now += 3.0
        times.add("first step", 1.0)  # measured by the caller, inside training
        with times.phase("checkpoints"):
            clock.now += 0.5
        clock.now += 4.0
    with times.phase("training"):  # a second call adds to the first
        clock.now += 1.0
    phases, total = parse_time_line(times.summary())
    assert list(phases) == ["imports", "training", "first step", "checkpoints", "other"]
    assert phases == {
        "imports": 1.5,
        "training": 7.0,  # 3 + 4 + 1, less the first step inside it
        "first step": 1.0,
        "checkpoints": 0.5,
        "other": 0.5,  # 2 before the phases, less the 1.5 of imports
    }
    assert total == 10.5


def test_a_decorated_function_counts_in_the_current_run(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(time, "perf_counter", clock)

    @phase_times.timed("read")
    def read():
        clock.now += 0.4
        return "rows"

    times = phase_times.start_run()
    assert read() == "rows"
    assert times.seconds == {"read": pytest.approx(0.4)}
    assert phase_times.start_run(started=50.0).started == 50.0  # a fresh record


def test_the_process_started_before_now():
    started = phase_times.process_start()
    assert started <= time.perf_counter()


def test_a_run_of_main_ends_with_its_phase_times(trained_mrpc):
    process, _ = trained_mrpc
    assert process.returncode == 0, process.stderr
    phases, total = parse_time_line(process.stderr)
    for name in ("imports", "read", "load", "report", "first step", "training"):
        assert name in phases, phases
    for name in ("checkpoints", "evaluation", "prediction", "export", "other"):
        assert name in phases, phases
    assert phases["imports"] > 0
    # Rounded to 0.1 s each, the phases add up to the total.
    assert abs(sum(phases.values()) - total) <= 0.05 * len(phases) + 1e-9
