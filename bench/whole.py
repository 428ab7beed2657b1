"""Whole processes, timed as users time them: the whole job, and prediction.

From the repository root (`make bench` runs it after `bench.run`):

    .venv/bin/python -m bench.whole --data_dir=data/movie_reviews \\
        --model_dir=checkpoints/pretrained/all-MiniLM-L6-v2 --rounds=3

- job: fine-tune on the first --train_examples sentences of train.tsv for one
  epoch (batch 32, lr 5e-5, max_seq_length 128), evaluate dev.tsv, predict
  test.tsv, write the outputs. Ours is `python main.py` (which also exports
  its SavedModel), theirs bench/theirs_job.py (transformers + torch) in
  .venv-bench. Both report dev accuracy.
- predict: class probabilities of the first --predict_examples sentences of
  train.tsv in input order. Ours is `main.py --do_predict` in a trained
  output_dir, and `python -m app.predict` on its export; theirs is ONNX
  Runtime (bench/onnx_predict.py) on the same weights, exported by torch
  (bench/onnx_export.py). Each side's probabilities are compared with those
  of ours' main.py.

Each measurement is one process from start to exit: wall seconds, and its
peak resident memory from `wait4`. Rounds alternate which side goes first;
the tables give the median (min-max); the ratios come last.
"""

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.machine import (
    OtherLoad,
    describe_machine,
    format_machine,
    wait_until_quiet,
)
from bench.run import check_pythons

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ("job", "predict")
# The job of both sides; eval and predict batches as training's.
JOB_SETTINGS = {"batch_size": 32, "max_seq_length": 128, "learning_rate": 5e-5}
JOB_SIDES = ("ours", "theirs")
PREDICT_SIDES = ("ours", "ours_export", "onnxruntime")
LABELS = {
    "ours": "ours (main.py)",
    "theirs": "HF+torch",
    "ours_export": "ours (app.predict on the export)",
    "onnxruntime": "ONNX Runtime",
}
# Targets: the whole job at least 2.0x as fast as theirs; prediction 1.2x.
JOB_TARGET, PREDICT_TARGET = 2.0, 1.2
TIME_LINE = re.compile(r"Time: .*$", re.MULTILINE)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", help="Hugging Face folder")
    parser.add_argument("--data_dir", help="SST-2 folder: train, dev, test.tsv")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train_examples", type=int, default=2048)
    parser.add_argument("--eval_examples", type=int, default=0, help="0: all")
    parser.add_argument("--test_examples", type=int, default=0, help="0: all")
    parser.add_argument("--predict_examples", type=int, default=4096)
    parser.add_argument("--predict_batch_size", type=int, default=64)
    parser.add_argument(
        "--predict_precision",
        default="float32",
        help="main.py's --precision when it predicts: float32 compares the "
        "float32 paths; auto is the product's default on this CPU",
    )
    parser.add_argument(
        "--job_precision",
        default="auto",
        choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
        help="main.py's --precision in the whole job (auto: the product's default)",
    )
    parser.add_argument(
        "--export_precision",
        default="float32",
        choices=("float32", "bfloat16"),
        help="app.predict's --precision on the export",
    )
    parser.add_argument("--onnx_threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--ours_python", default=".venv/bin/python")
    parser.add_argument("--theirs_python", default=".venv-bench/bin/python")
    parser.add_argument("--max_other_cpu", type=float, default=0.25)
    parser.add_argument("--quiet_timeout", type=float, default=60, help="seconds")
    parser.add_argument("--work_dir", help="default: a temporary folder, removed")
    parser.add_argument("--output_json", help="where to write every measurement")
    parser.add_argument("--from_json", help="print the report of an --output_json")
    return parser


def check_args(args) -> None:
    check_pythons(args)
    for flag in ("model_dir", "data_dir"):
        if not getattr(args, flag) or not os.path.isdir(getattr(args, flag)):
            raise SystemExit(f"--{flag}={getattr(args, flag)} is not a folder.")
    unknown = [part for part in args.parts.split(",") if part not in PARTS]
    if unknown:
        raise SystemExit(
            f"--parts={args.parts}: unknown {', '.join(unknown)}. Choose from "
            f"{', '.join(PARTS)}, separated by commas."
        )
    if min(args.rounds, args.train_examples, args.predict_examples) < 1:
        raise SystemExit(
            "--rounds, --train_examples and --predict_examples must be at least 1."
        )


# === Data ===
def read_rows(path: str) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[0], rows[1:]


def write_rows(path: str, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as file:
        file.writelines("\t".join(row) + "\n" for row in [header, *rows])


def first_rows(source: str, target: str, count: int) -> None:
    """The header and the first `count` rows of `source` (0: all)."""
    header, rows = read_rows(source)
    write_rows(target, header, rows[:count] if count else rows)


def write_job_data(args, folder: str) -> None:
    os.makedirs(folder)
    for name, count in (
        ("train.tsv", args.train_examples),
        ("dev.tsv", args.eval_examples),
        ("test.tsv", args.test_examples),
    ):
        first_rows(os.path.join(args.data_dir, name), os.path.join(folder, name), count)


def write_predict_data(args, folder: str) -> None:
    """train.tsv: one training batch (to make a model); test.tsv: the sentences."""
    os.makedirs(folder)
    source = os.path.join(args.data_dir, "train.tsv")
    first_rows(source, os.path.join(folder, "train.tsv"), JOB_SETTINGS["batch_size"])
    header, rows = read_rows(source)
    sentences = [row[header.index("sentence")] for row in rows]
    test = [[str(i), s] for i, s in enumerate(sentences[: args.predict_examples])]
    write_rows(os.path.join(folder, "test.tsv"), ["index", "sentence"], test)


# === Processes ===
def environment() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def run_process(command: list[str], log_path: str) -> dict:
    """Runs `command` to its end: wall seconds, peak RSS, the other load."""
    other_load = OtherLoad()
    other_load.start()
    start = time.perf_counter()
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command,
            cwd=REPOSITORY_ROOT,
            env=environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    with open(log_path, encoding="utf-8") as log:
        output = log.read()
    if process.returncode != 0:
        raise SystemExit(
            f"Failed (exit {process.returncode}): {' '.join(command)}\n{output[-3000:]}"
        )
    times = TIME_LINE.findall(output)
    return {
        "seconds": seconds,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "other_cpu": other_load.share(),
        "time_line": times[-1] if times else None,
    }


def python(args, side: str) -> str:
    interpreter = args.theirs_python if side in ("theirs", "onnxruntime") else None
    return os.path.join(REPOSITORY_ROOT, interpreter or args.ours_python)


def main_py_flags(args, data_dir: str, output_dir: str) -> list[str]:
    return [
        os.path.join(REPOSITORY_ROOT, "main.py"),
        "--task_name=sst-2",
        f"--data_dir={data_dir}",
        f"--init_checkpoint={args.model_dir}",
        f"--output_dir={output_dir}",
        f"--max_seq_length={JOB_SETTINGS['max_seq_length']}",
        f"--seed={args.seed}",
    ]


def job_command(args, side: str, data_dir: str, output_dir: str) -> list[str]:
    batch = JOB_SETTINGS["batch_size"]
    if side == "theirs":
        return [
            python(args, side),
            "-m",
            "bench.theirs_job",
            f"--model_dir={args.model_dir}",
            f"--data_dir={data_dir}",
            f"--output_dir={output_dir}",
            f"--batch_size={batch}",
            f"--learning_rate={JOB_SETTINGS['learning_rate']}",
            f"--seed={args.seed}",
        ]
    return [
        python(args, side),
        *main_py_flags(args, data_dir, output_dir),
        "--do_train",
        "--do_eval",
        "--do_predict",
        f"--train_batch_size={batch}",
        f"--eval_batch_size={batch}",
        f"--predict_batch_size={batch}",
        f"--learning_rate={JOB_SETTINGS['learning_rate']}",
        "--num_train_epochs=1",
        f"--precision={args.job_precision}",
    ]


def read_accuracy(output_dir: str) -> float:
    with open(os.path.join(output_dir, "eval_results.txt"), encoding="utf-8") as file:
        return float(re.search(r"eval_accuracy = ([0-9.]+)", file.read()).group(1))


def measure_job(args, side: str, work: str, round_index: int) -> dict:
    output_dir = os.path.join(work, f"job-{side}-{round_index}")
    command = job_command(args, side, os.path.join(work, "job_data"), output_dir)
    record = run_process(command, output_dir + ".log")
    record["eval_accuracy"] = read_accuracy(output_dir)
    shutil.rmtree(output_dir)
    return record


# === Prediction ===
def prepare_predict(args, work: str) -> None:
    """Untimed: a trained output_dir with both exports, and its ONNX model."""
    data_dir = os.path.join(work, "predict_data")
    write_predict_data(args, data_dir)
    trained = os.path.join(work, "trained")
    batch = JOB_SETTINGS["batch_size"]
    run_process(
        [
            python(args, "ours"),
            *main_py_flags(args, data_dir, trained),
            "--do_train",
            f"--train_batch_size={batch}",
            "--num_train_epochs=1",
            "--export_formats=saved_model,huggingface",
        ],
        os.path.join(work, "trained.log"),
    )
    run_process(
        [
            python(args, "onnxruntime"),
            "-m",
            "bench.onnx_export",
            f"--model_dir={os.path.join(trained, 'huggingface')}",
            f"--output_dir={os.path.join(work, 'onnx')}",
        ],
        os.path.join(work, "onnx_export.log"),
    )


def predict_command(args, side: str, work: str, output_file: str) -> list[str]:
    test_file = os.path.join(work, "predict_data", "test.tsv")
    batch = f"--batch_size={args.predict_batch_size}"
    if side == "onnxruntime":
        return [
            python(args, side),
            "-m",
            "bench.onnx_predict",
            f"--onnx_dir={os.path.join(work, 'onnx')}",
            f"--data_file={test_file}",
            f"--output_file={output_file}",
            f"--threads={args.onnx_threads}",
            batch,
        ]
    if side == "ours_export":
        return [
            python(args, side),
            "-m",
            "app.predict",
            f"--model_dir={os.path.join(work, 'trained', 'export')}",
            f"--input_file={test_file}",
            "--text_a_column=sentence",
            "--id_column=index",
            f"--output_file={output_file}",
            f"--precision={args.export_precision}",
            batch,
        ]
    return [
        python(args, side),
        *main_py_flags(args, os.path.dirname(test_file), os.path.join(work, "trained")),
        "--do_predict",
        f"--predict_batch_size={args.predict_batch_size}",
        f"--precision={args.predict_precision}",
    ]


def read_probabilities(path: str, side: str) -> np.ndarray:
    """test_results.tsv's rows, or app.predict's `probability_*` columns."""
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    if side == "ours_export":
        header, rows = rows[0], rows[1:]
        columns = [i for i, name in enumerate(header) if name.startswith("probab")]
        rows = [[row[i] for i in columns] for row in rows]
    return np.array(rows, dtype=np.float32)


def measure_predict(args, side: str, work: str, round_index: int) -> dict:
    output_file = os.path.join(work, f"predict-{side}-{round_index}.tsv")
    record = run_process(
        predict_command(args, side, work, output_file), output_file + ".log"
    )
    if side == "ours":  # main.py writes test_results.tsv in its output_dir
        shutil.copy(os.path.join(work, "trained", "test_results.tsv"), output_file)
    record["output_file"] = output_file
    return record


def compare_probabilities(records: list[dict]) -> None:
    """Max absolute difference of each side's probabilities to ours' main.py."""
    by_round = {}
    for record in records:
        if record["part"] == "predict":
            by_round.setdefault(record["round"], {})[record["side"]] = record
    for sides in by_round.values():
        reference = read_probabilities(sides["ours"]["output_file"], "ours")
        for side, record in sides.items():
            values = read_probabilities(record["output_file"], side)
            record["max_abs_difference"] = float(np.abs(values - reference).max())


# === Rounds ===
def run_rounds(args, work: str) -> list[dict]:
    parts = args.parts.split(",")
    if "job" in parts:
        write_job_data(args, os.path.join(work, "job_data"))
    if "predict" in parts:
        prepare_predict(args, work)
    records = []
    for round_index in range(args.rounds):
        for part in parts:
            sides = JOB_SIDES if part == "job" else PREDICT_SIDES
            for side in sides if round_index % 2 == 0 else sides[::-1]:
                records.append(measure(args, part, side, work, round_index))
                log_progress(records[-1], args.rounds)
    compare_probabilities(records)
    return records


def measure(args, part: str, side: str, work: str, round_index: int) -> dict:
    quiet_share = wait_until_quiet(args.max_other_cpu, args.quiet_timeout)
    measure_part = measure_job if part == "job" else measure_predict
    record = measure_part(args, side, work, round_index)
    return {
        "part": part,
        "side": side,
        "round": round_index,
        "other_cpu_before": quiet_share,
        **record,
    }


def log_progress(record: dict, rounds: int) -> None:
    accuracy = record.get("eval_accuracy")
    print(
        f"[round {record['round'] + 1}/{rounds}] {record['part']:8} "
        f"{LABELS[record['side']]:34} {record['seconds']:.1f} s, peak "
        f"{record['peak_rss_mib']:.0f} MiB"
        + ("" if accuracy is None else f", dev accuracy {accuracy:.4f}")
        + f" (others used {record['other_cpu']:.0%} of the CPUs)",
        file=sys.stderr,
        flush=True,
    )


# === Report ===
def values(records, part, side, key) -> list:
    return [
        r[key]
        for r in records
        if r["part"] == part and r["side"] == side and r.get(key) is not None
    ]


def cell(numbers: list, digits: int) -> str:
    if not numbers:
        return "-"
    text = f"{statistics.median(numbers):.{digits}f}"
    if len(numbers) > 1:
        text += f" ({min(numbers):.{digits}f}-{max(numbers):.{digits}f})"
    return text


def median_time_line(records, part: str, side: str) -> str | None:
    """The `Time:` line of the run whose wall time is the median."""
    runs = sorted(
        (r for r in records if r["part"] == part and r["side"] == side),
        key=lambda r: r["seconds"],
    )
    return runs[(len(runs) - 1) // 2]["time_line"] if runs else None


def format_job(records: list[dict], args) -> str:
    lines = [
        f"Whole job: fine-tune on {args.train_examples} sentences for 1 epoch "
        "(batch 32, lr 5e-5, max_seq_length 128), evaluate dev.tsv, predict "
        f"test.tsv, write outputs; one process each (main.py: --precision="
        f"{args.job_precision}).",
        "",
        "| side | seconds | peak MiB | dev accuracy |",
        "|---|---|---|---|",
    ]
    for side in JOB_SIDES:
        lines.append(
            f"| {LABELS[side]} | {cell(values(records, 'job', side, 'seconds'), 1)} "
            f"| {cell(values(records, 'job', side, 'peak_rss_mib'), 0)} "
            f"| {cell(values(records, 'job', side, 'eval_accuracy'), 4)} |"
        )
    time_line = median_time_line(records, "job", "ours")
    if time_line:
        lines += ["", f"Ours, the median run's {time_line}"]
    return "\n".join(lines)


def format_predict(records: list[dict], args) -> str:
    lines = [
        f"Prediction of {args.predict_examples} sentences, batches of "
        f"{args.predict_batch_size}, one process each (main.py: --precision="
        f"{args.predict_precision}; app.predict: --precision="
        f"{args.export_precision}; ONNX Runtime: {args.onnx_threads} threads, "
        "length-sorted batches):",
        "",
        "| side | seconds | sentences/s | peak MiB | max abs difference to ours |",
        "|---|---|---|---|---|",
    ]
    for side in PREDICT_SIDES:
        seconds = values(records, "predict", side, "seconds")
        rates = [args.predict_examples / s for s in seconds]
        lines.append(
            f"| {LABELS[side]} | {cell(seconds, 1)} | {cell(rates, 1)} "
            f"| {cell(values(records, 'predict', side, 'peak_rss_mib'), 0)} "
            f"| {cell(values(records, 'predict', side, 'max_abs_difference'), 7)} |"
        )
    time_line = median_time_line(records, "predict", "ours")
    if time_line:
        lines += ["", f"Ours (main.py), the median run's {time_line}"]
    return "\n".join(lines)


def ratio_line(records, part, ours_side, their_side, target) -> str | None:
    ours = values(records, part, ours_side, "seconds")
    theirs = values(records, part, their_side, "seconds")
    if not ours or not theirs:
        return None
    ratio = statistics.median(theirs) / statistics.median(ours)
    verdict = "ok" if ratio >= target else "MISS"
    return (
        f"{part}: {LABELS[ours_side]} is {ratio:.2f}x as fast as "
        f"{LABELS[their_side]} (target >= {target:.1f}x: {verdict})"
    )


def format_ratios(records: list[dict]) -> str:
    lines = [
        ratio_line(records, "job", "ours", "theirs", JOB_TARGET),
        ratio_line(records, "predict", "ours", "onnxruntime", PREDICT_TARGET),
        ratio_line(records, "predict", "ours_export", "onnxruntime", PREDICT_TARGET),
    ]
    return "\n".join(
        ["Ratios (median seconds, theirs / ours):"] + list(filter(None, lines))
    )


def format_header(machine: dict, records: list[dict], args) -> str:
    others = [r["other_cpu"] for r in records]
    return (
        f"{format_machine(machine)}\n"
        f"{args.rounds} round(s), median (min-max). Share of the CPUs other "
        f"processes used during a measurement: median "
        f"{statistics.median(others):.0%}, max {max(others):.0%}"
    )


def print_report(args: dict, machine: dict, records: list[dict]) -> None:
    # Reports saved before a flag existed read as its default.
    args = argparse.Namespace(**{**vars(build_parser().parse_args([])), **args})
    print(format_header(machine, records, args))
    parts = args.parts.split(",")
    if "job" in parts:
        print("\n" + format_job(records, args))
    if "predict" in parts:
        print("\n" + format_predict(records, args))
    print("\n" + format_ratios(records))


def main() -> None:
    args = build_parser().parse_args()
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as file:
            print_report(**json.load(file))
        return
    check_args(args)
    machine = describe_machine()
    work = args.work_dir or tempfile.mkdtemp(prefix="bench-whole-")
    os.makedirs(work, exist_ok=True)
    try:
        records = run_rounds(args, work)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    report = {"args": vars(args), "machine": machine, "records": records}
    print_report(**report)
    if args.output_json:
        with open(args.output_json, "w", encoding="utf-8") as file:
            json.dump(report, file)


if __name__ == "__main__":
    main()
