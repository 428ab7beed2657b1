r"""Predict labels for lines of standard input, or rows of a file, with an export.

    printf 'a gorgeous, witty film\n' | python -m app.predict \
        --model_dir=output/demo/export

prints `label<TAB>probability_0<TAB>probability_1`, then a row per line.

A line is a text, or `text_a<TAB>text_b` for a model of sentence pairs. Each
gets one row, in input order: the predicted label and each label's
probability (a score model: its `score`; a multi-label model: the labels at
or above its threshold, joined by its label delimiter, both from the export).
Lines are predicted in batches as they arrive, so a terminal or a pipe gets
each answer at once. `--precision=bfloat16` multiplies matrices in bfloat16
(for CPUs with AMX; probabilities then differ slightly from float32).

`--input_file` reads a TSV, CSV or JSON-lines file with the csv task's column
flags; rows keep their ids (`--id_column`, else their 0-based row number)
and order. `--output_file` writes `.tsv` or `.jsonl` (default: TSV on
standard output). Only the export is needed: TensorFlow and TensorFlow Text
run it, and `assets/export_metadata.json` in it gives the labels. With
`--model_dir=OUTPUT_DIR/model.onnx` ONNX Runtime runs the model and the
project's tokenizer packs the texts (app/predict_onnx.py).
"""

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterator

from absl import flags

BATCH_SIZE = 64
PRECISIONS = ("float32", "bfloat16")
METADATA_PATH = os.path.join("assets", "export_metadata.json")
OUTPUT_FORMATS = {".tsv": "tsv", ".jsonl": "jsonl"}
OUTPUT_KINDS = ("classes", "score", "labels")  # tasks.OutputKind's values
# Bytes read from a pipe at a time: every complete line in them is predicted
# before the next read, so answers never wait for more input than arrived.
READ_SIZE = 1 << 16
# Texts counted in one call of the export's `serve_lengths`.
COUNT_SIZE = 1024


@dataclasses.dataclass(frozen=True)
class ExportMetadata:
    """What predicting needs from `export_metadata.json`.

    Args:
        labels: label names in class id order; empty for a score model.
        is_pair: the model takes `text_a` and `text_b`.
        output_kind: `"classes"` (probabilities), `"labels"` (a sigmoid
            probability per label) or `"score"`.
    """

    labels: tuple[str, ...]
    is_pair: bool
    output_kind: str

    @property
    def text_names(self) -> tuple[str, ...]:
        return ("text_a", "text_b") if self.is_pair else ("text_a",)

    @property
    def columns(self) -> list[str]:
        """The output's prediction columns, after the id column if any."""
        if self.output_kind == "score":
            return ["score"]
        return ["label"] + [f"probability_{label}" for label in self.labels]


def define_flags() -> flags.FlagValues:
    """This tool's flags, in a registry of their own (main.py has the same)."""
    values = flags.FlagValues()
    define_model_dir_flag(
        values,
        SAVED_MODEL_HELP[:-1]
        + ", or its OUTPUT_DIR/model.onnx (--export_formats=onnx).",
    )
    flags.DEFINE_string(
        "input_file",
        None,
        "A .tsv, .csv or .jsonl file to predict instead of standard input.",
        flag_values=values,
    )
    flags.DEFINE_string(
        "output_file",
        None,
        "Where to write the predictions: .tsv or .jsonl (default: TSV on "
        "standard output).",
        flag_values=values,
    )
    define_column_flags(values, "--input_file", "the row number")
    flags.DEFINE_integer(
        "batch_size", BATCH_SIZE, "Texts per call of the model.", 1, flag_values=values
    )
    define_precision_flag(values)
    return values


SAVED_MODEL_HELP = (
    "The export of a training run (OUTPUT_DIR/export, or its --export_dir)."
)


def define_model_dir_flag(
    values: flags.FlagValues, help_text: str = SAVED_MODEL_HELP
) -> None:
    flags.DEFINE_string("model_dir", None, help_text, flag_values=values)


def define_precision_flag(values: flags.FlagValues) -> None:
    flags.DEFINE_enum(
        "precision",
        "float32",
        PRECISIONS,
        "What a SavedModel's matrix products compute in; probabilities stay "
        "float32. bfloat16: TensorFlow's oneDNN rewrite of the export's float32 "
        "graph, for CPUs with AMX (elsewhere it may run slower); probabilities "
        "then differ slightly from float32 (docs/usage.md).",
        flag_values=values,
    )


def define_column_flags(values: flags.FlagValues, files: str, default_id: str):
    """The csv task's column flags, for the files that the flag `files` names."""
    flags.DEFINE_string(
        "text_a_column",
        "text",
        f"{files}: name or 0-based index of the first text.",
        flag_values=values,
    )
    flags.DEFINE_string(
        "text_b_column",
        None,
        f"{files}: name or index of the second text, for pair models.",
        flag_values=values,
    )
    flags.DEFINE_string(
        "id_column",
        None,
        f"{files}: name or index of the row id (default: {default_id}).",
        flag_values=values,
    )


def parse_flags(argv: list[str]) -> flags.FlagValues:
    """Parsed flags, or flags.Error with a message that says what to pass."""
    values = define_flags()
    values(argv)
    if not values.model_dir:
        raise flags.Error("Pass --model_dir=EXPORT_DIR, the export of a training run")
    output_format(values.output_file)
    return values


def output_format(path: str | None) -> str:
    """ "tsv" or "jsonl", from the output file's extension (TSV on stdout)."""
    if path is None:
        return "tsv"
    extension = os.path.splitext(path)[1].lower()
    if extension not in OUTPUT_FORMATS:
        raise flags.Error(
            f"--output_file={path}: cannot tell the format from the extension."
            f" Use {' or '.join(OUTPUT_FORMATS)}. Received: output_file={path}"
        )
    return OUTPUT_FORMATS[extension]


def read_metadata(model_dir: str) -> ExportMetadata:
    """The export's labels, pairing and output kind, or a UsageError."""
    from app import predict_onnx
    from app.errors import UsageError

    onnx_file = predict_onnx.model_file(model_dir)
    if onnx_file:
        text = predict_onnx.read_metadata_text(onnx_file)
        fix = "the model.onnx a run wrote with --export_formats=onnx"
        return parse_metadata(text, onnx_file, model_dir, fix)
    if not os.path.isdir(model_dir):
        raise UsageError(
            f"--model_dir={model_dir}: no such folder. Pass the export of a"
            " training run (OUTPUT_DIR/export). Received:"
            f" model_dir={model_dir}"
        )
    path = os.path.join(model_dir, METADATA_PATH)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        text = None
    return parse_metadata(text, path, model_dir)


def parse_metadata(
    text: str | None,
    path: str,
    model_dir: str,
    fix: str = "the export folder a run wrote (OUTPUT_DIR/export)",
) -> ExportMetadata:
    """export_metadata.json's text (None: the file is missing), or a UsageError."""
    from app.errors import UsageError

    if text is None:
        problem = f"{path} does not exist: this is not an export of a training run"
    else:
        try:
            metadata = json.loads(text)
            if metadata["output_kind"] in OUTPUT_KINDS:
                return ExportMetadata(
                    labels=tuple(metadata["labels"]),
                    is_pair=bool(metadata["is_pair"]),
                    output_kind=metadata["output_kind"],
                )
            problem = (
                f"{path} names output_kind {metadata['output_kind']!r}, which this"
                f" command cannot read (it reads {', '.join(OUTPUT_KINDS)})"
            )
        except (ValueError, KeyError, TypeError) as error:
            problem = f"{path} is not the metadata of an export ({error!r})"
    raise UsageError(
        f"--model_dir={model_dir}: {problem}. Pass {fix}, or export again with a"
        f" training run of this version. Received: model_dir={model_dir}"
    )


def check_columns(
    values: flags.FlagValues, metadata: ExportMetadata, files: str = "input_file"
) -> None:
    """A pair model needs --text_b_column with files to read; a single one none."""
    from app.errors import UsageError

    pattern = values[files].value
    if not pattern or metadata.is_pair == (values.text_b_column is not None):
        return
    if metadata.is_pair:
        fix = "This model takes sentence pairs: pass --text_b_column=COLUMN too."
    else:
        fix = "This model takes one text: drop --text_b_column."
    raise UsageError(
        f"--{files}={pattern}: {fix} Received: text_b_column={values.text_b_column}"
    )


def load_tensorflow(quiet: bool) -> None:
    """Loads TensorFlow and its Text ops (which the export's tokenizer needs)
    as main.py loads TensorFlow: library chatter hidden, oneDNN on."""
    from app import console, lean_imports

    if quiet:
        console.quiet_console()
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    with console.native_stderr_hidden(quiet), lean_imports.sklearn_deferred():
        import tensorflow  # noqa: F401
        import tensorflow_text  # noqa: F401


def load_serving_function(model_dir: str, metadata: ExportMetadata):
    """The export's `serving_default` signature, checked to take texts (or,
    for an ONNX file, a function of texts that gives the same outputs)."""
    import tensorflow as tf

    from app import predict_onnx
    from app.errors import UsageError

    onnx_file = predict_onnx.model_file(model_dir)
    if onnx_file:
        return predict_onnx.OnnxServe(onnx_file)
    loaded = tf.saved_model.load(model_dir)
    serve = loaded.signatures["serving_default"]
    _, inputs = serve.structured_input_signature  # {name: TensorSpec}
    if set(inputs) == set(metadata.text_names):
        return SavedModelServe(serve, getattr(loaded, "count_tokens", None))
    raise UsageError(
        f"--model_dir={model_dir}: its serving_default takes"
        f" {', '.join(sorted(inputs))}, not {', '.join(metadata.text_names)}. The"
        " token_ids folder inside an export serves servers without TensorFlow"
        " Text; pass the export folder itself (OUTPUT_DIR/export). Received:"
        f" model_dir={model_dir}"
    )


class SavedModelServe:
    """A SavedModel export's `serving_default`, and its `count_tokens`
    (exports from before it have none) to order texts by their tokens."""

    def __init__(self, serve, count=None):
        self.serve = serve
        self.count = count

    def __call__(self, **texts) -> dict:
        return self.serve(**texts)

    @property
    def count_tokens(self):
        """`count_tokens(**texts)` -> {"length": (batch,)}, or None."""
        if self.count is None:
            return None
        return lambda **texts: self.count(texts)


def call_export(function, metadata: ExportMetadata, texts: list[tuple]) -> dict:
    """`function`'s outputs for the texts (or pairs): a text the export
    cannot pack is a DataError."""
    import tensorflow as tf

    inputs = {
        name: tf.constant([text[column] for text in texts])
        for column, name in enumerate(metadata.text_names)
    }
    try:
        return function(**inputs)
    except tf.errors.InvalidArgumentError as error:
        if "--long_text=chunks" not in error.message:
            raise
        from tasks import DataError

        raise DataError(
            "This export windows text_b and keeps text_a whole in every window "
            "(--long_text=chunks), and a text_a of this batch leaves text_b no "
            "more than its doc_stride tokens. Shorten that text_a, or export a "
            "model trained with --long_text=head_tail or truncate."
        ) from None


def text_lengths(serve, metadata: ExportMetadata, texts: list[tuple]) -> list[int]:
    """Each text's (or pair's) packed length in tokens, as the export counts
    them; its characters where the export cannot count (older exports)."""
    count_tokens = getattr(serve, "count_tokens", None)
    if count_tokens is None:
        return [sum(len(text or "") for text in pair) for pair in texts]
    lengths = []
    for start in range(0, len(texts), COUNT_SIZE):
        outputs = call_export(count_tokens, metadata, texts[start : start + COUNT_SIZE])
        lengths += outputs["length"].numpy().tolist()
    return lengths


def predict_batch(serve, metadata: ExportMetadata, texts: list[tuple]) -> list[list]:
    """The prediction columns' values for each text (or pair) of a batch."""
    outputs = call_export(serve, metadata, texts)
    if metadata.output_kind == "score":
        return [[score] for score in outputs["score"].numpy()[:, 0]]
    probabilities = outputs["probabilities"].numpy()  # (batch, num_labels)
    labels = [label.decode("utf-8") for label in outputs["label"].numpy()]
    return [[label, *row] for label, row in zip(labels, probabilities)]


# === Standard input ===
def read_line_groups(stdin) -> Iterator[list[tuple[int, bytes]]]:
    """The numbered lines each read brought, as soon as they arrived.

    `read1` returns what the pipe or terminal holds, waiting only when it
    holds nothing, so a group never waits for lines not yet written.
    """
    line_number, pending = 0, b""
    while data := stdin.read1(READ_SIZE):
        lines = (pending + data).split(b"\n")
        pending = lines.pop()  # The part after the last newline.
        if lines:
            first = line_number + 1
            line_number += len(lines)
            yield list(zip(range(first, line_number + 1), lines))
    if pending:
        yield [(line_number + 1, pending)]


def split_line(raw_line: bytes, line_number: int, metadata: ExportMetadata) -> tuple:
    """One line's texts: `text`, or `text_a<TAB>text_b` for a pair model."""
    from tasks import DataError
    from tasks.tsv import decode_line

    fields = decode_line(raw_line, "<stdin>", line_number).rstrip("\r").split("\t")
    if len(fields) == len(metadata.text_names):
        return tuple(fields)
    expected = "text_a<TAB>text_b" if metadata.is_pair else "one text without tabs"
    raise DataError(
        f"<stdin>, line {line_number}: has {len(fields)} tab-separated"
        f" field{'s' if len(fields) > 1 else ''}, expected {expected} for this"
        f" model. Fix that line. Received: line={raw_line[:200]!r}"
    )


def predict_stdin(values, metadata: ExportMetadata, serve, stdin, stdout) -> None:
    """Writes a header, then one TSV row per line of `stdin`, flushed per read.

    The lines one read brought are predicted together, as a file's rows are
    (`predict_texts`: batches of similar length, side by side), and written
    in input order before the next read; a malformed line stops the run once
    the lines before it are written.
    """
    stdout.write("\t".join(metadata.columns) + "\n")
    stdout.flush()
    from tasks import DataError

    calls = calls_at_once(serve)
    for lines in read_line_groups(stdin):
        texts, bad_line = [], None
        for number, line in lines:
            try:
                texts.append(split_line(line, number, metadata))
            except DataError as error:
                bad_line = error  # reported once the lines before it are written
                break
        for row in predict_texts(texts, metadata, serve, values.batch_size, calls):
            stdout.write(format_tsv_row(row))
        stdout.flush()
        if bad_line is not None:
            raise bad_line


# === Files ===
def read_input_file(values, metadata: ExportMetadata) -> list:
    """The file's examples, read by the csv task's reader (its errors name the
    file, line and column flag)."""
    import tensorflow as tf

    from app.errors import UsageError
    from tasks import CsvProcessor, TaskOptions

    paths = sorted(tf.io.gfile.glob(values.input_file))
    if not paths:
        raise UsageError(
            f"--input_file={values.input_file}: no such file. Check the path."
            f" Received: input_file={values.input_file}"
        )
    if not any(map(has_data_rows, paths)):
        return []
    options = TaskOptions(
        test_file=values.input_file,
        text_a_column=values.text_a_column,
        text_b_column=values.text_b_column,
        label_column=None,  # Labels, if the file has them, are not read.
        id_column=values.id_column,
    )
    return CsvProcessor(options).get_examples("", "test")


def has_data_rows(path: str) -> bool:
    """Whether a TSV, CSV or JSON-lines file holds a record after its header."""
    from tasks.tables import read_records, table_format

    records = read_records(path)
    if table_format(path) != "jsonl":
        next(records, None)  # The header.
    return next(records, None) is not None


def predict_examples(
    examples, metadata, serve, batch_size, progress, calls: int = 1
) -> list[list]:
    """Each example's prediction columns, in input order (`predict_texts`)."""
    texts = [
        (example.text_a, example.text_b)[: len(metadata.text_names)]
        for example in examples
    ]
    return predict_texts(texts, metadata, serve, batch_size, calls, progress)


def predict_texts(
    texts: list[tuple], metadata, serve, batch_size, calls: int = 1, progress=None
) -> list[list]:
    """Each text's (or pair's) prediction columns, in input order.

    Batches hold texts of similar length in tokens (sorted by
    `text_lengths`), so an export that pads each batch to its longest text
    wastes little on padding. `calls` batches
    run at once from as many threads: a graph runs without Python's lock, so
    on a CPU one batch's small ops leave the cores to the other's products.
    """
    lengths = text_lengths(serve, metadata, texts)
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def predict(indices: list[int]) -> list[list]:
        return predict_batch(serve, metadata, [texts[i] for i in indices])

    rows, done = [None] * len(texts), 0
    pool = concurrent.futures.ThreadPoolExecutor(calls, "predict")
    try:  # a failed batch stops the run without the batches queued after it
        for indices, batch_rows in zip(batches, pool.map(predict, batches)):
            for i, row in zip(indices, batch_rows):
                rows[i] = row
            done += len(indices)
            if progress:
                progress.update(done)
    finally:
        pool.shutdown(cancel_futures=True)
    if progress:
        progress.finish()
    return rows


def write_predictions(path: str | None, columns, examples, rows, stdout) -> None:
    """TSV or JSON lines with an id column first; a file appears whole or not."""
    from app.results import example_id

    ids = [example_id(example, number) for number, example in enumerate(examples)]
    columns = ["id", *columns]
    if output_format(path) == "jsonl":
        lines = (format_jsonl_row(columns, [i, *row]) for i, row in zip(ids, rows))
    else:
        header = "\t".join(columns) + "\n"
        lines = [header, *(format_tsv_row([i, *row]) for i, row in zip(ids, rows))]
    if path is None:
        stdout.writelines(lines)
        return
    write_file_atomically(path, lines)


def write_file_atomically(path: str, lines) -> None:
    import tensorflow as tf

    temporary_path = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(temporary_path, "w") as file:
        for line in lines:
            file.write(line)
    tf.io.gfile.rename(temporary_path, path, overwrite=True)


def check_output_folder(path: str | None) -> None:
    """The output file's folder exists: found before any prediction runs."""
    import tensorflow as tf

    from app.errors import UsageError

    folder = os.path.dirname(path or "")
    if folder and not tf.io.gfile.isdir(folder):
        raise UsageError(
            f"--output_file={path}: the folder {folder} does not exist. Create it"
            f" or choose another path. Received: output_file={path}"
        )


def predict_file(values, metadata: ExportMetadata, serve, examples, stdout, stderr):
    progress = Progress(len(examples), stderr)
    rows = predict_examples(
        examples, metadata, serve, values.batch_size, progress, calls_at_once(serve)
    )
    write_predictions(values.output_file, metadata.columns, examples, rows, stdout)


def check_precision(name: str, model_dir: str) -> None:
    """`--precision=bfloat16` needs a SavedModel: ONNX Runtime runs float32."""
    from app import predict_onnx
    from app.errors import UsageError

    onnx = predict_onnx.model_file(model_dir)
    if name == "bfloat16" and onnx:
        raise UsageError(
            f"--precision=bfloat16: ONNX Runtime runs {onnx} in float32. Drop the "
            "flag, or pass the SavedModel export. Received: precision=bfloat16"
        )


def warn_without_bfloat16_units(name: str, stderr) -> None:
    """A line on `stderr` where `--precision=bfloat16` runs on a CPU without
    AMX: the rewrite is for AMX, and may run slower elsewhere."""
    from app import strategy

    if name == "bfloat16" and not strategy.read_cpu_info().has_amx:
        print(
            "WARNING: --precision=bfloat16: this CPU has no AMX bfloat16 tiles, "
            "where bfloat16 products may run slower than float32. Drop the flag "
            "if they do.",
            file=stderr,
        )


BFLOAT16_REWRITE = "auto_mixed_precision_onednn_bfloat16"


def set_graph_precision(name: str) -> None:
    """Graphs run for the first time from now on compute their matrix products
    in bfloat16 where `name` is "bfloat16" (TensorFlow's oneDNN rewrite), in
    float32 otherwise. The setting is the whole process's."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({BFLOAT16_REWRITE: name == "bfloat16"})


@contextlib.contextmanager
def graph_precision(name: str):
    """`set_graph_precision(name)` inside the block, put back after."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get(BFLOAT16_REWRITE)
    set_graph_precision(name)
    try:
        yield
    finally:
        set_graph_precision("bfloat16" if before else "float32")


def calls_at_once(serve) -> int:
    """Batches to run at once: two through a SavedModel on a CPU-only process;
    one on an accelerator, and through ONNX Runtime, which has threads of its own."""
    from app import predict_onnx, strategy

    if isinstance(serve, predict_onnx.OnnxServe) or not strategy.runs_on_cpu_only():
        return 1
    return strategy.CPU_PREDICT_CALLS_AT_ONCE


# === Formats ===
def format_tsv_row(values: list) -> str:
    """Probabilities and scores as float32 prints them, as test_results.tsv."""
    return "\t".join(str(value) for value in values) + "\n"


def format_jsonl_row(columns: list[str], values: list) -> str:
    def plain(value):
        # float(str(...)): the float32's short decimal, not its float64 digits.
        return value if isinstance(value, str | int) else float(str(value))

    row = {column: plain(value) for column, value in zip(columns, values)}
    return json.dumps(row, ensure_ascii=False) + "\n"


class Progress:
    """A one-line progress bar of rows predicted, redrawn on `stream`."""

    def __init__(self, total: int, stream, width: int = 30):
        self.total, self.stream, self.width = total, stream, width

    def update(self, done: int) -> None:
        filled = self.width * done // max(self.total, 1)
        bar = "=" * filled + " " * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} rows")
        self.stream.flush()

    def finish(self) -> None:
        if self.total:
            self.stream.write("\n")


def main(argv: list[str], stdin=None, stdout=None, quiet: bool = False) -> int:
    """Predicts stdin (bytes) or --input_file; a mistake prints one line,
    returns 1. `quiet` hides library chatter, as `python -m app.predict` does."""
    stdin, stdout = stdin or sys.stdin.buffer, stdout or sys.stdout
    if "--help" in argv[1:] or "-h" in argv[1:]:
        print(__doc__ + "\n" + define_flags().get_help(), file=stdout)
        return 0
    from app.errors import UsageError

    try:
        values = parse_flags(argv)
        metadata = read_metadata(values.model_dir)
        check_columns(values, metadata)
        check_precision(values.precision, values.model_dir)
    except (flags.Error, UsageError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    load_tensorflow(quiet)
    from tasks import DataError

    warn_without_bfloat16_units(values.precision, sys.stderr)
    try:
        with graph_precision(values.precision):
            if values.input_file:  # Its mistakes show before the model loads.
                check_output_folder(values.output_file)
                examples = read_input_file(values, metadata)
                serve = load_serving_function(values.model_dir, metadata)
                predict_file(values, metadata, serve, examples, stdout, sys.stderr)
            else:
                serve = load_serving_function(values.model_dir, metadata)
                predict_stdin(values, metadata, serve, stdin, stdout)
    except (DataError, UsageError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


def run_as_command() -> int:
    """`main` for a shell: Ctrl-C and a closed pipe (`| head`) end it quietly."""
    try:
        return main(sys.argv, quiet=True)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Python would report the failed flush of stdout again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    from app import console

    console.exit_without_teardown(run_as_command())
