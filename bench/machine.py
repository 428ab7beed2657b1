"""What the machine is, and how much of it other processes are using.

On a shared 2-core machine another process halves a measurement, and torch's
OpenMP threads suffer more from that than TensorFlow's pool; so every
measurement records the share of the CPUs that others took while it ran.
"""

import datetime
import os
import platform
import resource
import sys
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def describe_machine() -> dict:
    cpu, flags = platform.processor(), ""
    with open("/proc/cpuinfo", encoding="utf-8") as file:
        for line in file:
            if line.startswith("model name") and cpu in ("", platform.machine()):
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "avx512_bf16": " avx512_bf16" in flags,
        "date": datetime.datetime.now().isoformat(timespec="minutes"),
        "load_average": os.getloadavg(),
    }


def format_machine(machine: dict) -> str:
    """One line of `describe_machine()`'s answer, for a report's header."""
    load = ", ".join(f"{value:.2f}" for value in machine["load_average"])
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, AVX512_BF16: "
        f"{'yes' if machine['avx512_bf16'] else 'no'}; {machine['date']}; "
        f"load average at the start {load}"
    )


def busy_cpu_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot, steal included (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as file:
        # cpu user nice system idle iowait irq softirq steal guest guest_nice
        fields = [int(value) for value in file.readline().split()[1:9]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / CLOCK_TICKS


def children_cpu_seconds() -> float:
    """CPU seconds used by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class OtherLoad:
    """Measures the share of all CPUs that processes other than ours used.

    Use around one child process: `start()`, run it to the end, `share()`.
    """

    def start(self) -> None:
        self._wall = time.perf_counter()
        self._busy = busy_cpu_seconds()
        self._ours = children_cpu_seconds()

    def share(self) -> float:
        wall = time.perf_counter() - self._wall
        busy = busy_cpu_seconds() - self._busy
        ours = children_cpu_seconds() - self._ours
        return max(0.0, busy - ours) / (wall * os.cpu_count())


def wait_until_quiet(max_share: float, timeout: float, sample: float = 3.0) -> float:
    """Waits until others use at most `max_share` of the CPUs, or `timeout` s.

    Returns the last share seen; says on stderr when it gave up waiting.
    """
    deadline = time.monotonic() + timeout
    while True:
        load = OtherLoad()
        load.start()
        time.sleep(sample)
        share = load.share()
        if share <= max_share:
            return share
        if time.monotonic() > deadline:
            print(
                f"Other processes still use {share:.0%} of the CPUs after "
                f"waiting {timeout:.0f} s; measuring anyway.",
                file=sys.stderr,
            )
            return share
        time.sleep(sample)
