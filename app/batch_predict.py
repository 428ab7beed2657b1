r"""Predict the rows of many files with an export, as an Apache Beam pipeline.

    python -m app.batch_predict --model_dir=output/demo/export \
        --input_pattern='data/reviews/*.tsv' --output_prefix=output/reviews

reads every file the pattern matches (TSV, CSV or JSON lines, with the csv
task's column flags) and writes sharded files `PREFIX-SSSSS-of-NNNNN.tsv`
(or `.jsonl`, from --output_format or the prefix's extension) with the
columns of `python -m app.predict`: id, label and each label's probability
(a score model: its score). Rows come out in no particular order; without
--id_column a row's id is `FILE:LINE`. A row that cannot be read (not UTF-8,
malformed JSON, a wrong number of columns, an empty text) is not predicted:
`PREFIX_dead_letters-*` lists its file, line and reason, and the pipeline
goes on. Every row is in exactly one of the two outputs.

The model runs in batches of --batch_size rows through Beam's RunInference.
Flags after this command's own are Beam pipeline options, passed on as they
are: the DirectRunner runs here by default, and e.g.
`--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp`
runs the same pipeline on Dataflow (docs/usage.md says what its workers need).
"""

import os
import sys

import apache_beam as beam
from absl import flags
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import (
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)
from apache_beam.options.pipeline_options import PipelineOptions

from app import predict

# Rows are handed to the model in runs of this many batches, each run sorted
# by length: a batch then pads to a length close to its own texts', as
# app.predict's do, while a worker holds only one run of a file.
BATCHES_PER_SORTED_RUN = 16
DEAD_LETTERS = "dead_letters"
DEAD_LETTER_COLUMNS = ["file", "line", "reason"]
METRICS_NAMESPACE = "batch_predict"


def define_flags() -> flags.FlagValues:
    """This command's flags, in a registry of their own."""
    values = flags.FlagValues()
    predict.define_model_dir_flag(values)
    flags.DEFINE_string(
        "input_pattern",
        None,
        "The .tsv, .csv or .jsonl files to predict: a path or a glob.",
        flag_values=values,
    )
    flags.DEFINE_string(
        "output_prefix",
        None,
        "Where to write: PREFIX-SSSSS-of-NNNNN.tsv (or .jsonl) and"
        " PREFIX_dead_letters-SSSSS-of-NNNNN.tsv (or .jsonl).",
        flag_values=values,
    )
    flags.DEFINE_enum(
        "output_format",
        None,
        sorted(predict.OUTPUT_FORMATS.values()),
        "The output's format (default: from --output_prefix's extension, else tsv).",
        flag_values=values,
    )
    predict.define_column_flags(values, "--input_pattern", "FILE:LINE")
    flags.DEFINE_integer(
        "batch_size", predict.BATCH_SIZE, "Rows per model call.", 1, flag_values=values
    )
    return values


def parse_flags(argv: list[str]) -> tuple[flags.FlagValues, list[str]]:
    """This command's flags and the rest (Beam's pipeline options), or
    flags.Error with a message that says what to pass."""
    values = define_flags()
    pipeline_args = values(argv, known_only=True)[1:]
    for name, what in [
        ("model_dir", "=EXPORT_DIR, the export of a training run"),
        ("input_pattern", "=PATH_OR_GLOB, the files to predict"),
        ("output_prefix", "=PATH, where the predictions go"),
    ]:
        if not values[name].value:
            raise flags.Error(f"Pass --{name}{what}")
    return values, pipeline_args


def output_files(values: flags.FlagValues) -> tuple[str, str]:
    """The output's path prefix and extension, e.g. ("out/reviews", ".tsv")."""
    prefix, extension = os.path.splitext(values.output_prefix)
    if extension.lower() not in predict.OUTPUT_FORMATS:
        prefix, extension = values.output_prefix, ""
    if values.output_format:
        return prefix, f".{values.output_format}"
    return prefix, extension.lower() or ".tsv"


def find_input_files(pattern: str) -> list[str]:
    """The files the pattern matches, each of a format the csv task reads."""
    import tensorflow as tf

    from app.errors import UsageError
    from tasks.tables import table_format

    paths = sorted(tf.io.gfile.glob(pattern))
    if not paths:
        raise UsageError(
            f"--input_pattern={pattern}: no file matches. Check the path (quote a"
            f" glob so that the shell leaves it alone). Received:"
            f" input_pattern={pattern}"
        )
    for path in paths:
        table_format(path)  # A DataError names a file of unknown format.
    return paths


# === The pipeline ===
def build_pipeline(pipeline, values, metadata, paths: list[str]) -> None:
    """Files -> rows (bad ones to the dead letters) -> batched predictions."""
    prefix, extension = output_files(values)
    rows = (
        pipeline
        | "Files" >> beam.Create(paths)
        | "Spread files" >> beam.Reshuffle()
        | "Read rows"
        >> beam.ParDo(
            ReadRows(csv_task(values), metadata.is_pair, values.batch_size)
        ).with_outputs(DEAD_LETTERS, main="rows")
    )
    handler = KeyedModelHandler(
        ExportModelHandler(values.model_dir, metadata, values.batch_size)
    )
    _ = (
        rows.rows
        | "Key by id" >> beam.Map(lambda row: (row_id(row), row.texts))
        | "Predict" >> RunInference(handler)
        | "Format" >> beam.Map(format_prediction, extension, metadata.columns)
        | "Write" >> write_text(prefix, extension, ["id", *metadata.columns])
    )
    _ = (
        rows[DEAD_LETTERS]
        | "Format bad rows" >> beam.Map(format_bad_row, extension)
        | "Write bad rows"
        >> write_text(f"{prefix}_{DEAD_LETTERS}", extension, DEAD_LETTER_COLUMNS)
    )


def row_id(row) -> str:
    return (
        row.example_id
        if row.example_id is not None
        else f"{row.path}:{row.line_number}"
    )


def write_text(prefix: str, extension: str, columns: list[str]):
    """Sharded text files; TSV shards each start with the header."""
    header = "\t".join(columns) if extension == ".tsv" else None
    return beam.io.WriteToText(prefix, file_name_suffix=extension, header=header)


def format_prediction(keyed_result, extension: str, columns: list[str]) -> str:
    key, result = keyed_result
    return format_row(extension, ["id", *columns], [key, *result.inference])


def format_bad_row(bad_row, extension: str) -> str:
    # A TSV field holds no tab or line break.
    reason = " ".join(bad_row.reason.split()) if extension == ".tsv" else bad_row.reason
    values = [bad_row.path, bad_row.line_number, reason]
    return format_row(extension, DEAD_LETTER_COLUMNS, values)


def format_row(extension: str, columns: list[str], values: list) -> str:
    """One output line, as app.predict writes it, without its line break
    (WriteToText adds it)."""
    if extension == ".jsonl":
        return predict.format_jsonl_row(columns, values).rstrip("\n")
    return predict.format_tsv_row(values).rstrip("\n")


def csv_task(values: flags.FlagValues):
    """The csv task's reader of the input files, with the column flags."""
    from tasks import CsvProcessor, TaskOptions

    return CsvProcessor(
        TaskOptions(
            test_file=values.input_pattern,
            text_a_column=values.text_a_column,
            text_b_column=values.text_b_column,
            label_column=None,  # Labels, if the files have them, are not read.
            id_column=values.id_column,
        )
    )


class ReadRows(beam.DoFn):
    """A file -> its rows, in runs sorted by length; bad rows to the
    `dead_letters` output. Counts both."""

    def __init__(self, processor, is_pair: bool, batch_size: int):
        self.processor, self.is_pair = processor, is_pair
        self.run_size = batch_size * BATCHES_PER_SORTED_RUN

    def setup(self):
        self.rows = Metrics.counter(METRICS_NAMESPACE, "rows")
        self.bad_rows = Metrics.counter(METRICS_NAMESPACE, DEAD_LETTERS)

    def process(self, path: str):
        """The file's rows; a file that cannot be read is one dead letter, at
        line 0, after the rows read before the failure."""
        from tasks import DataError
        from tasks.row_reader import BadRow, read_rows
        from tasks.tsv import read_raw_lines

        rows = read_rows(path, read_raw_lines(path), self.processor, self.is_pair)
        run = []
        try:
            for row in rows:
                if isinstance(row, BadRow):
                    self.bad_rows.inc()
                    yield beam.pvalue.TaggedOutput(DEAD_LETTERS, row)
                    continue
                self.rows.inc()
                run.append(row)
                if len(run) == self.run_size:
                    yield from sorted_by_length(run)
                    run = []
        except DataError as error:
            self.bad_rows.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, BadRow(path, 0, str(error)))
        yield from sorted_by_length(run)


def sorted_by_length(rows: list) -> list:
    return sorted(rows, key=lambda row: sum(map(len, row.texts)))


class ExportModelHandler(ModelHandler):
    """RunInference's view of an export: texts in, prediction columns out."""

    def __init__(self, model_dir: str, metadata, batch_size: int):
        super().__init__(min_batch_size=batch_size, max_batch_size=batch_size)
        self.model_dir, self.metadata = model_dir, metadata

    def load_model(self):
        predict.load_tensorflow(quiet=True)
        return predict.load_serving_function(self.model_dir, self.metadata)

    def run_inference(self, batch, model, inference_args=None):
        rows = predict.predict_batch(model, self.metadata, list(batch))
        return [PredictionResult(texts, row) for texts, row in zip(batch, rows)]

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


# === The command ===
def run(values, pipeline_args: list[str], metadata, paths: list[str]) -> dict:
    """Runs the pipeline to its end; the rows and dead letters it counted."""
    pipeline = beam.Pipeline(options=PipelineOptions(pipeline_args))
    build_pipeline(pipeline, values, metadata, paths)
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    return {
        counter.key.metric.name: counter.committed or 0
        for counter in counters["counters"]
        if counter.key.metric.name in ("rows", DEAD_LETTERS)
    }


def main(argv: list[str], quiet: bool = False) -> int:
    """Runs the pipeline; a mistake in flags or files prints one line and
    returns 1. `quiet` hides library chatter, as `python -m` does."""
    if "--help" in argv[1:] or "-h" in argv[1:]:
        print(__doc__ + "\n" + define_flags().get_help())
        return 0
    from app.errors import UsageError
    from tasks import DataError

    try:
        values, pipeline_args = parse_flags(argv)
        metadata = predict.read_metadata(values.model_dir)
        predict.check_columns(values, metadata, "input_pattern")
        predict.load_tensorflow(quiet)
        paths = find_input_files(values.input_pattern)
    except (flags.Error, UsageError, DataError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    counts = run(values, pipeline_args, metadata, paths)
    prefix, extension = output_files(values)
    print(
        f"Predicted {counts.get('rows', 0)} rows of {len(paths)} files:"
        f" {prefix}-*{extension}. Rows that could not be read:"
        f" {counts.get(DEAD_LETTERS, 0)}, in {prefix}_{DEAD_LETTERS}-*{extension}.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, quiet=True))
