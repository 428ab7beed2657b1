"""Runs both sides in turns and prints throughput, peak memory and ratios.

From the repository root (`make bench` does this, creating `.venv-bench`):

    .venv/bin/python -m bench.run --model_dir=checkpoints/pretrained/all-MiniLM-L6-v2 \\
        --data_file=data/movie_reviews/train.tsv --rounds=3

Every measurement is its own process (`ours.py` in the product's venv,
`theirs.py` in `.venv-bench`), so peak memory is that of one side alone and
startup is never timed. Each round runs every phase for every pair of
settings, ours and theirs back to back, the first side alternating by round;
the table gives the median over rounds, with the range.
"""

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time

from bench import common
from bench.machine import OtherLoad, describe_machine, wait_until_quiet

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRECISION_NAMES = {"float32": "fp32", "bfloat16": "bf16"}
# What `main()` sets before TensorFlow loads (a value already set wins), so
# ours' workers run as the product does: oneDNN kernels on every CPU.
PRODUCT_ENVIRONMENT = {"TF_ENABLE_ONEDNN_OPTS": "1"}


@dataclasses.dataclass(frozen=True)
class Setting:
    side: str  # "ours" or "theirs"
    padding: str  # "dynamic" or "static"
    precision: str  # "float32" or "bfloat16"

    @property
    def label(self) -> str:
        name = "ours" if self.side == "ours" else "HF+torch"
        precision = PRECISION_NAMES[self.precision]
        if self.side == "theirs" and self.precision == "bfloat16":
            precision = "bf16 autocast"
        elif self.side == "ours" and self.precision == "bfloat16":
            precision = "mixed_bfloat16"
        return f"{name} {self.padding} {precision}"


def ours(padding, precision="float32") -> Setting:
    return Setting("ours", padding, precision)


def theirs(padding, precision="float32") -> Setting:
    return Setting("theirs", padding, precision)


# (ours, theirs, what the issue asks of the ratio): speed at least, memory at most 1.
COMPARISONS = (
    (ours("bucketed"), theirs("dynamic"), 2.0),  # the product's default
    (ours("dynamic"), theirs("dynamic"), 2.0),
    (ours("static"), theirs("static"), 1.0),
    (ours("bucketed", "bfloat16"), theirs("dynamic"), 2.0),
    (ours("dynamic", "bfloat16"), theirs("dynamic"), 2.0),
    (ours("dynamic", "bfloat16"), theirs("dynamic", "bfloat16"), None),
    (ours("static", "bfloat16"), theirs("static", "bfloat16"), None),
)
# Table columns: (heading, phase, result key, what the ratio's target is).
# Speed columns take the comparison's target; memory must not be higher.
COLUMNS = (
    ("train ex/s", "train", "train_examples_per_second", "speed"),
    ("predict ex/s", "predict", "predict_examples_per_second", "speed"),
    ("tokenize ex/s", "tokenize", "tokenize_examples_per_second", None),
    ("tokenize pairs/s", "tokenize", "tokenize_pairs_per_second", None),
    ("train peak MiB", "train", "peak_rss_mib", "memory"),
    ("train peak-loaded MiB", "train", "peak_above_loaded_mib", "memory"),
    ("predict peak MiB", "predict", "peak_rss_mib", "memory"),
    ("predict peak-loaded MiB", "predict", "peak_above_loaded_mib", "memory"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_shared_flags(parser, required=False)  # not with --from_json
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--phases", default=",".join(common.PHASES))
    parser.add_argument("--precisions", default=",".join(common.PRECISIONS))
    parser.add_argument("--paddings", default=",".join(common.PADDINGS))
    parser.add_argument("--ours_python", default=".venv/bin/python")
    parser.add_argument("--theirs_python", default=".venv-bench/bin/python")
    parser.add_argument(
        "--max_other_cpu",
        type=float,
        default=0.25,
        help="before each measurement, wait until other processes use at most "
        "this share of the CPUs",
    )
    parser.add_argument("--quiet_timeout", type=float, default=60, help="seconds")
    parser.add_argument("--output_json", help="where to write every measurement")
    parser.add_argument("--from_json", help="print the report of an --output_json")
    return parser


def check_pythons(args) -> None:
    """--ours_python and --theirs_python exist; `make bench` makes .venv-bench."""
    for flag in ("ours_python", "theirs_python"):
        if not os.path.exists(os.path.join(REPOSITORY_ROOT, getattr(args, flag))):
            raise SystemExit(
                f"--{flag}={getattr(args, flag)} does not exist. Run `make bench`, "
                "which creates .venv-bench from bench/requirements.txt."
            )


def check_args(args) -> None:
    check_pythons(args)
    for flag in ("model_dir", "data_file"):
        if not getattr(args, flag) or not os.path.exists(getattr(args, flag)):
            raise SystemExit(f"--{flag}={getattr(args, flag)} does not exist.")
    for flag, known in (
        ("phases", common.PHASES),
        ("paddings", common.PADDINGS),
        ("precisions", common.PRECISIONS),
    ):
        unknown = [name for name in getattr(args, flag).split(",") if name not in known]
        if unknown:
            raise SystemExit(
                f"--{flag}={getattr(args, flag)}: unknown {', '.join(unknown)}. "
                f"Choose from {', '.join(known)}, separated by commas."
            )
    if args.warmup_steps < 1 or args.train_steps < 1 or args.rounds < 1:
        raise SystemExit(
            "--warmup_steps, --train_steps and --rounds must be at least 1. "
            f"Received: warmup_steps={args.warmup_steps}, "
            f"train_steps={args.train_steps}, rounds={args.rounds}"
        )


def selected_pairs(args, phase: str | None = None) -> list[tuple[Setting, Setting]]:
    """The (ours, theirs) pairs to run, in order.

    Tokenizing has no precision and no length buckets; ours "bucketed"
    (training in length buckets, predicting sorted by length) is measured
    against theirs padded to the longest of random batches.
    """
    precisions = args.precisions.split(",")
    if phase == "tokenize":
        precisions = precisions[:1]
    paddings = [
        padding
        for padding in getattr(args, "paddings", ",".join(common.PADDINGS)).split(",")
        if phase != "tokenize" or padding != "bucketed"
    ]
    return [
        (
            ours(padding, precision),
            theirs(padding.replace("bucketed", "dynamic"), precision),
        )
        for precision in common.PRECISIONS
        for padding in paddings
        if precision in precisions
    ]


def run_worker(setting: Setting, phase: str, args) -> dict:
    """Runs one measurement in its own process; returns its result line."""
    python = args.ours_python if setting.side == "ours" else args.theirs_python
    command = [
        os.path.join(REPOSITORY_ROOT, python),
        "-m",
        f"bench.{setting.side}",
        f"--phase={phase}",
        f"--padding={setting.padding}",
        f"--precision={setting.precision}",
    ] + [f"--{name}={getattr(args, name)}" for name in common.SHARED_FLAGS]
    environment = {
        **PRODUCT_ENVIRONMENT,
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    process = subprocess.run(
        command, cwd=REPOSITORY_ROOT, env=environment, capture_output=True, text=True
    )
    for line in process.stdout.splitlines():
        if line.startswith(common.RESULT_PREFIX):
            return json.loads(line[len(common.RESULT_PREFIX) :])
    raise SystemExit(
        f"{setting.label} {phase} failed (exit {process.returncode}):\n"
        f"{' '.join(command)}\n{process.stderr[-3000:]}"
    )


def run_rounds(args) -> list[dict]:
    """All measurements, ours and theirs in turns; one record per process."""
    records = []
    for round_index in range(args.rounds):
        for phase in args.phases.split(","):
            for pair in selected_pairs(args, phase):
                for setting in pair if round_index % 2 == 0 else pair[::-1]:
                    record = measure(setting, phase, args)
                    records.append({"round": round_index} | record)
                    log_progress(records[-1], args.rounds)
    return records


def measure(setting: Setting, phase: str, args) -> dict:
    """One worker run, after waiting for the other processes to quiet down."""
    quiet_share = wait_until_quiet(args.max_other_cpu, args.quiet_timeout)
    other_load, start = OtherLoad(), time.perf_counter()
    other_load.start()
    result = run_worker(setting, phase, args)
    return {
        "phase": phase,
        "result": result,
        "seconds": time.perf_counter() - start,
        "other_cpu_before": quiet_share,
        "other_cpu": other_load.share(),
    } | dataclasses.asdict(setting)


def log_progress(record: dict, rounds: int) -> None:
    result = record["result"]
    rates = ", ".join(
        f"{key.removesuffix('_per_second')} {value:.1f}/s"
        for key, value in result.items()
        if key.endswith("_per_second")
    )
    setting = Setting(record["side"], record["padding"], record["precision"])
    print(
        f"[round {record['round'] + 1}/{rounds}] {record['phase']:8} "
        f"{setting.label:35} {rates}, peak {result['peak_rss_mib']:.0f} MiB "
        f"({record['seconds']:.0f} s; others used {record['other_cpu']:.0%} "
        "of the CPUs)",
        file=sys.stderr,
        flush=True,
    )


def collect(records: list[dict], setting: Setting, phase: str, key: str) -> list:
    return [
        r["result"][key]
        for r in records
        if r["phase"] == phase
        and Setting(r["side"], r["padding"], r["precision"]) == setting
    ]


def median(records, setting, phase, key) -> float | None:
    values = collect(records, setting, phase, key)
    return statistics.median(values) if values else None


def format_cell(values: list, digits: int, count: bool) -> str:
    if not values:
        return "-"
    cell = f"{statistics.median(values):.{digits}f}"
    if len(values) > 1:
        cell += f" ({min(values):.{digits}f}-{max(values):.{digits}f})"
    return f"{cell} n={len(values)}" if count else cell


def format_table(records: list[dict], settings: list[Setting], count=False) -> str:
    """Markdown: one row per setting, the median (min-max) over rounds."""
    lines = [
        "| setting | " + " | ".join(column[0] for column in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for setting in settings:
        cells = [
            format_cell(
                collect(records, setting, phase, key),
                0 if kind == "memory" else 1,
                count,
            )
            for _, phase, key, kind in COLUMNS
        ]
        lines.append(f"| {setting.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_ratio(ours_value, theirs_value, target, higher_is_better=True) -> str:
    if ours_value is None or theirs_value is None:
        return "-"
    ratio = ours_value / theirs_value
    if target is None:
        return f"{ratio:.2f}"
    met = ratio >= target if higher_is_better else ratio <= target
    return f"{ratio:.2f} {'ok' if met else 'MISS'}"


def column_target(kind: str | None, speed_target: float | None) -> float | None:
    if speed_target is None or kind is None:
        return None
    return speed_target if kind == "speed" else 1.0


def format_ratios(records: list[dict]) -> str:
    """Markdown: ours / theirs per comparison, `ok` or `MISS` against the targets."""
    lines = [
        "| ours / HF+torch | target | "
        + " | ".join(column[0] for column in COLUMNS)
        + " |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for our_setting, their_setting, target in COMPARISONS:
        cells = []
        for _, phase, key, kind in COLUMNS:
            cells.append(
                format_ratio(
                    median(records, our_setting, phase, key),
                    median(records, their_setting, phase, key),
                    column_target(kind, target),
                    higher_is_better=kind != "memory",
                )
            )
        target_text = f">= {target:.1f}x, memory <= 1.0x" if target else "-"
        lines.append(
            f"| {our_setting.label} / {their_setting.label} | {target_text} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def format_header(args, machine: dict, records: list[dict]) -> str:
    versions = {}
    for record in records:
        versions.update(record["result"].get("versions", {}))
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, "
        f"AVX512_BF16: {'yes' if machine['avx512_bf16'] else 'no'}; "
        f"{machine['date']}",
        f"Versions: {', '.join(f'{k} {v}' for k, v in versions.items())}",
        f"Model: {args.model_dir}; data: {args.data_file}; batch "
        f"{args.batch_size}, max_seq_length {args.max_seq_length}; train "
        f"{args.train_steps} steps after {args.warmup_steps} warmup; predict "
        f"{args.predict_examples} examples; tokenize {args.tokenize_examples}; "
        f"{args.rounds} round(s), median (min-max)",
    ]
    others = [record["other_cpu"] for record in records if "other_cpu" in record]
    if others:
        lines.append(
            "Share of the CPUs other processes used during a measurement: median "
            f"{statistics.median(others):.0%}, max {max(others):.0%}"
        )
    return "\n".join(lines)


def main() -> None:
    args = build_parser().parse_args()
    if args.from_json:
        print_report(**read_report(args.from_json))
        return
    check_args(args)
    machine = describe_machine()
    records = run_rounds(args)
    report = {"args": vars(args), "machine": machine, "records": records}
    print_report(**report)
    if args.output_json:
        with open(args.output_json, "w", encoding="utf-8") as file:
            json.dump(report, file)


def read_report(path: str) -> dict:
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def print_report(args: dict, machine: dict, records: list[dict]) -> None:
    args = argparse.Namespace(**args)
    pairs = selected_pairs(args)
    settings = list(dict.fromkeys(setting for pair in pairs for setting in pair))
    print(format_header(args, machine, records))
    print("\nAll measurements:\n")
    print(format_table(records, settings))
    print()
    print(format_ratios(records))
    quiet = [r for r in records if r.get("other_cpu", 0.0) <= args.max_other_cpu]
    if len(quiet) < len(records):
        print(
            f"\nOnly the {len(quiet)} of {len(records)} measurements during which "
            f"other processes used at most {args.max_other_cpu:.0%} of the CPUs:\n"
        )
        print(format_table(quiet, settings, count=True))
        print()
        print(format_ratios(quiet))


if __name__ == "__main__":
    main()
