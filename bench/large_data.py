"""Large data: peak memory and time of whole main.py runs as the rows grow.

From the repository root (`make bench-large` runs it):

    .venv/bin/python -m bench.large_data --sizes=100000,1000000 \\
        --output_json=/tmp/large.json

- data: CSV files of N rows (`id,sentence,label`) made from the real
  movie-review sentences of --source_dir (train.tsv and dev.tsv). The first
  pass over the sentences writes each alone; pass r >= 1 joins sentence i
  with sentence i + r, so no two rows are equal. Written once into
  --scratch_dir and reused.
- model: the first --num_layers layers of --model_dir (the demo's
  all-MiniLM-L6-v2), written as a Hugging Face folder that main.py reads
  with --init_checkpoint. Real weights, fewer layers: the cost of holding
  and tokenizing the rows weighs as much as the model's.
- predict: `main.py --task_name=csv --do_predict` on the N-row file, from
  the derived checkpoint (its classifier head is new: the probabilities do
  not matter, the reading does).
- train: `main.py --task_name=csv --do_train` on the N-row file, with
  --num_train_epochs chosen so that the run takes --train_steps steps.

Each run is one process from start to exit: wall seconds, CPU seconds
(user + system) and the peak resident memory from `wait4`, next to the
machine's load average and the share of the CPUs other processes used
meanwhile. The last lines give each part's peak RSS at the largest N over
that at the smallest, against the target (<= 1.3x). --main_flags passes
further flags to every main.py run, e.g. a streaming mode's, to compare them.
"""

import argparse
import csv
import json
import os
import shlex
import shutil
import sys
import tempfile

from bench.machine import describe_machine, format_machine
from bench.whole import REPOSITORY_ROOT, read_rows, run_process

PARTS = ("predict", "train")
DEFAULT_SIZES = "100000,1000000"
# Peak RSS of the largest N over the smallest, per part (issue 18).
RSS_RATIO_TARGET = 1.3
HEADER = ("id", "sentence", "label")
LABELS = "0,1"
# Files of a Hugging Face folder that the derived model copies unchanged.
TOKENIZER_FILES = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="rows, e.g. +3000000")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--source_dir", default="data/movie_reviews")
    parser.add_argument(
        "--model_dir",
        default="checkpoints/pretrained/all-MiniLM-L6-v2",
        help="Hugging Face folder whose first --num_layers layers are kept",
    )
    parser.add_argument("--num_layers", type=int, default=2)
    parser.add_argument(
        "--scratch_dir",
        default=os.path.join(tempfile.gettempdir(), "bench-large-data"),
        help="the CSV files and the derived model, kept between runs",
    )
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--train_steps", type=int, default=100)
    parser.add_argument("--main_flags", default="", help="more main.py flags")
    parser.add_argument("--python", default=".venv/bin/python")
    parser.add_argument("--output_json", help="every measurement, after each run")
    parser.add_argument("--from_json", help="print the report of an --output_json")
    return parser


def parse_sizes(text: str) -> list[int]:
    """`100000,1000000` -> [100000, 1000000], sorted; each at least 1."""
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < 1:
        raise SystemExit(
            "--sizes takes row counts of at least 1 separated by commas, e.g. "
            f"--sizes={DEFAULT_SIZES}. Received: sizes={text!r}"
        )
    return sizes


def parse_parts(text: str) -> list[str]:
    parts = [part for part in text.split(",") if part]
    unknown = [part for part in parts if part not in PARTS]
    if unknown or not parts:
        raise SystemExit(
            f"--parts chooses from {', '.join(PARTS)}, separated by commas. "
            f"Received: parts={text!r}"
        )
    return parts


# === Data ===
def read_sentences(source_dir: str) -> list[tuple[str, str]]:
    """(sentence, label) of the SST-2 style train.tsv and dev.tsv."""
    sentences = []
    for name in ("train.tsv", "dev.tsv"):
        header, rows = read_rows(os.path.join(source_dir, name))
        text, label = header.index("sentence"), header.index("label")
        sentences += [(row[text], row[label]) for row in rows]
    return sentences


def generate_row(sentences: list[tuple[str, str]], index: int) -> tuple[str, ...]:
    """Row `index`: sentence i alone in pass 0, joined with sentence i + r in pass r.

    Distinct for the first len(sentences)**2 rows; the label is sentence i's.
    """
    count = len(sentences)
    sentence, label = sentences[index % count]
    rotation = index // count
    if rotation % count:
        sentence += " " + sentences[(index + rotation) % count][0]
    return str(index), sentence, label


def write_data(sentences: list[tuple[str, str]], path: str, num_rows: int) -> None:
    """Writes `num_rows` generated rows as CSV; the file appears only when whole."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(generate_row(sentences, i) for i in range(num_rows))
    os.replace(partial, path)


def data_path(scratch_dir: str, num_rows: int) -> str:
    return os.path.join(scratch_dir, f"rows-{num_rows}.csv")


def ensure_data(args, num_rows: int) -> str:
    path = data_path(args.scratch_dir, num_rows)
    if not os.path.exists(path):
        print(f"Writing {path}", file=sys.stderr, flush=True)
        write_data(read_sentences(args.source_dir), path, num_rows)
    return path


# === The 2-layer model ===
def kept_tensor(name: str, num_layers: int) -> bool:
    """Embeddings, pooler and encoder layers below `num_layers`."""
    prefix = "encoder.layer."
    if not name.startswith(prefix):
        return True
    return int(name[len(prefix) :].split(".")[0]) < num_layers


def derive_model(model_dir: str, target_dir: str, num_layers: int) -> None:
    """Writes the first `num_layers` layers of a Hugging Face BERT folder."""
    from safetensors.numpy import load_file, save_file

    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as file:
        config = json.load(file)
    if num_layers > config["num_hidden_layers"]:
        raise SystemExit(
            f"--num_layers={num_layers}: {model_dir} has only "
            f"{config['num_hidden_layers']} layers."
        )
    tensors = load_file(os.path.join(model_dir, "model.safetensors"))
    partial = target_dir + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    save_file(
        {name: v for name, v in tensors.items() if kept_tensor(name, num_layers)},
        os.path.join(partial, "model.safetensors"),
    )
    with open(os.path.join(partial, "config.json"), "w", encoding="utf-8") as file:
        json.dump({**config, "num_hidden_layers": num_layers}, file, indent=2)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(model_dir, name)):
            shutil.copy(os.path.join(model_dir, name), partial)
    os.replace(partial, target_dir)


def ensure_model(args) -> str:
    target = os.path.join(args.scratch_dir, f"bert-{args.num_layers}-layers")
    if not os.path.isdir(target):
        derive_model(args.model_dir, target, args.num_layers)
    return target


# === Commands ===
def train_epochs(num_rows: int, batch_size: int, num_steps: int) -> float:
    """--num_train_epochs for which main.py's int(rows / batch * epochs) is num_steps.

    Half a step more than the count, so that rounding cannot lose one.
    """
    return (num_steps + 0.5) * batch_size / num_rows


def main_command(args, part: str, data_file: str, model_dir: str, output_dir: str):
    command = [
        os.path.join(REPOSITORY_ROOT, args.python),
        os.path.join(REPOSITORY_ROOT, "main.py"),
        "--task_name=csv",
        f"--data_dir={os.path.dirname(data_file)}",
        f"--init_checkpoint={model_dir}",
        f"--output_dir={output_dir}",
        f"--max_seq_length={args.max_seq_length}",
        "--text_a_column=sentence",
        f"--labels={LABELS}",
        "--export_formats=none",
    ]
    name = os.path.basename(data_file)
    if part == "predict":
        command += [
            "--do_predict",
            f"--test_file={name}",
            "--id_column=id",
            f"--predict_batch_size={args.batch_size}",
        ]
    else:
        epochs = train_epochs(count_rows(data_file), args.batch_size, args.train_steps)
        command += [
            "--do_train",
            f"--train_file={name}",
            "--label_column=label",
            f"--train_batch_size={args.batch_size}",
            f"--num_train_epochs={epochs!r}",
        ]
    return command + shlex.split(args.main_flags)


def count_rows(data_file: str) -> int:
    """Rows of a file this benchmark wrote: its name says how many."""
    return int(os.path.basename(data_file)[len("rows-") : -len(".csv")])


# === Runs ===
def measure(args, part: str, num_rows: int, model_dir: str) -> dict:
    data_file = ensure_data(args, num_rows)
    output_dir = os.path.join(args.scratch_dir, f"output-{part}-{num_rows}")
    shutil.rmtree(output_dir, ignore_errors=True)
    load_before = os.getloadavg()
    record = run_process(
        main_command(args, part, data_file, model_dir, output_dir),
        output_dir + ".log",
    )
    shutil.rmtree(output_dir, ignore_errors=True)
    return {
        "part": part,
        "rows": num_rows,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        **record,
    }


def log_progress(record: dict) -> None:
    print(
        f"{record['part']:8} {record['rows']:>9,} rows: {record['seconds']:.1f} s, "
        f"{record['cpu_seconds']:.0f} CPU s, peak {record['peak_rss_mib']:.0f} MiB "
        "(load average "
        f"{record['load_average_before'][0]:.2f} -> "
        f"{record['load_average_after'][0]:.2f}; others used "
        f"{record['other_cpu']:.0%} of the CPUs)",
        file=sys.stderr,
        flush=True,
    )


def write_json(path: str | None, report: dict) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(report, file)


def run_all(args, report: dict) -> None:
    os.makedirs(args.scratch_dir, exist_ok=True)
    model_dir = ensure_model(args)
    for num_rows in parse_sizes(args.sizes):
        for part in parse_parts(args.parts):
            report["records"].append(measure(args, part, num_rows, model_dir))
            log_progress(report["records"][-1])
            write_json(args.output_json, report)


# === Report ===
def format_table(records: list[dict], part: str) -> str:
    lines = [
        f"{part}:",
        "",
        "| rows | seconds | CPU seconds | peak RSS MiB "
        "| load average (1 min, start -> end) | others' CPU share |",
        "|---|---|---|---|---|---|",
    ]
    for record in sorted(records, key=lambda r: r["rows"]):
        if record["part"] == part:
            lines.append(
                f"| {record['rows']:,} | {record['seconds']:.1f} "
                f"| {record['cpu_seconds']:.0f} | {record['peak_rss_mib']:.0f} "
                f"| {record['load_average_before'][0]:.2f} -> "
                f"{record['load_average_after'][0]:.2f} "
                f"| {record['other_cpu']:.0%} |"
            )
    return "\n".join(lines)


def ratio_line(records: list[dict], part: str) -> str | None:
    """Peak RSS at the largest N over the smallest, against the target."""
    runs = sorted((r for r in records if r["part"] == part), key=lambda r: r["rows"])
    if len(runs) < 2:
        return None
    small, large = runs[0], runs[-1]
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    verdict = "ok" if ratio <= RSS_RATIO_TARGET else "MISS"
    return (
        f"{part}: peak RSS at {large['rows']:,} rows / at {small['rows']:,} rows = "
        f"{ratio:.2f}x (target <= {RSS_RATIO_TARGET}x: {verdict}); wall time "
        f"{large['seconds'] / small['seconds']:.2f}x, CPU time "
        f"{large['cpu_seconds'] / small['cpu_seconds']:.2f}x"
    )


def format_header(args: dict, machine: dict) -> str:
    return (
        f"{format_machine(machine)}\n"
        f"Model: the first {args['num_layers']} layers of {args['model_dir']}; "
        f"batch {args['batch_size']}, max_seq_length {args['max_seq_length']}, "
        f"train {args['train_steps']} steps; main.py flags added: "
        f"{args['main_flags'] or 'none'}"
    )


def print_report(args: dict, machine: dict, records: list[dict]) -> None:
    print(format_header(args, machine))
    parts = [part for part in PARTS if any(r["part"] == part for r in records)]
    for part in parts:
        print("\n" + format_table(records, part))
    ratios = [ratio_line(records, part) for part in parts]
    print("\nPeak RSS, largest over smallest:")
    print("\n".join(filter(None, ratios)) or "(one size only)")


def main() -> None:
    args = build_parser().parse_args()
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as file:
            print_report(**json.load(file))
        return
    # Bad flags fail here, before any data is written.
    parse_sizes(args.sizes)
    parse_parts(args.parts)
    report = {"args": vars(args), "machine": describe_machine(), "records": []}
    run_all(args, report)
    print_report(**report)


if __name__ == "__main__":
    main()
