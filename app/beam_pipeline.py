"""The Beam pipeline of app/batch_predict.py: files -> rows -> RunInference
on the export -> sharded text files, unreadable rows to a dead-letter output.

Imported once TensorFlow is loaded, so that the command's flag mistakes show
without Beam's and TensorFlow's start-up.
"""

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

# The model handler takes rows in runs of this many batches and predicts each
# run as app.predict does a file: batches of texts of equal token counts
# (so a batch pads little), two at once on a CPU.
BATCHES_PER_RUN = 16
DEAD_LETTERS = "dead_letters"
DEAD_LETTER_COLUMNS = ["file", "line", "reason"]
METRICS_NAMESPACE = "batch_predict"  # Of the counters rows and dead_letters.
# Without --runner, Beam's DirectRunner first tries its Prism runner, whose
# binary it downloads on first use (and, offline, leaves a failed attempt
# and an empty temporary folder behind). The runner it then falls back to
# for a batch pipeline, in this process, is this one: it runs here directly.
LOCAL_RUNNER = "FnApiRunner"


def build_pipeline(pipeline, values, metadata, paths: list[str], outputs) -> None:
    """Files -> rows (bad ones to the dead letters) -> batched predictions;
    `outputs` is the (path prefix, extension) of the output files."""
    prefix, extension = outputs
    rows = (
        pipeline
        | "Files" >> beam.Create(paths)
        | "Spread files" >> beam.Reshuffle()
        | "Read rows"
        >> beam.ParDo(ReadRows(csv_task(values), metadata.is_pair)).with_outputs(
            DEAD_LETTERS, main="rows"
        )
    )
    handler = KeyedModelHandler(
        ExportModelHandler(
            values.model_dir, metadata, values.batch_size, values.precision
        )
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
    """A file -> its rows; bad rows to the `dead_letters` output. Counts both."""

    def __init__(self, processor, is_pair: bool):
        self.processor, self.is_pair = processor, is_pair

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
        try:
            for row in rows:
                if isinstance(row, BadRow):
                    self.bad_rows.inc()
                    yield beam.pvalue.TaggedOutput(DEAD_LETTERS, row)
                    continue
                self.rows.inc()
                yield row
        except DataError as error:
            self.bad_rows.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTERS, BadRow(path, 0, str(error)))


class ExportModelHandler(ModelHandler):
    """RunInference's view of an export: texts in, prediction columns out."""

    def __init__(
        self, model_dir: str, metadata, batch_size: int, precision: str = "float32"
    ):
        run = batch_size * BATCHES_PER_RUN
        super().__init__(min_batch_size=run, max_batch_size=run)
        self.model_dir, self.metadata = model_dir, metadata
        self.batch_size, self.precision = batch_size, precision

    def load_model(self):
        predict.load_tensorflow(quiet=True)
        predict.set_graph_precision(self.precision)  # before the first call
        return predict.load_serving_function(self.model_dir, self.metadata)

    def run_inference(self, batch, model, inference_args=None):
        """A run of rows' prediction columns, in the run's order."""
        texts = list(batch)
        calls = predict.calls_at_once(model)
        rows = predict.predict_texts(
            texts, self.metadata, model, self.batch_size, calls
        )
        return [PredictionResult(text, row) for text, row in zip(texts, rows)]

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


def run(values, pipeline_args: list[str], metadata, paths: list[str], outputs) -> dict:
    """Runs the pipeline to its end; the rows and dead letters it counted."""
    options = PipelineOptions(with_runner(pipeline_args))
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, values, metadata, paths, outputs)
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    return {
        counter.key.metric.name: counter.committed or 0
        for counter in counters["counters"]
        if counter.key.metric.name in ("rows", DEAD_LETTERS)
    }


def with_runner(pipeline_args: list[str]) -> list[str]:
    """`pipeline_args`, with `--runner=LOCAL_RUNNER` unless they name one."""
    if any(arg == "--runner" or arg.startswith("--runner=") for arg in pipeline_args):
        return pipeline_args
    return [*pipeline_args, f"--runner={LOCAL_RUNNER}"]
