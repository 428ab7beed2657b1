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
are: Beam's local batch runner runs here by default, and e.g.
`--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp`
runs the same pipeline on Dataflow (docs/usage.md says what its workers need).
"""

import difflib
import logging
import os
import sys

from absl import flags

from app import predict


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
    predict.define_precision_flag(values)
    return values


def parse_flags(argv: list[str]) -> tuple[flags.FlagValues, list[str]]:
    """This command's flags and the rest (Beam's pipeline options), or
    flags.Error with a message that says what to pass."""
    values = define_flags()
    pipeline_args = values(argv, known_only=True)[1:]
    check_no_mistyped_flags(pipeline_args, values)
    for name, what in [
        ("model_dir", "=EXPORT_DIR, the export of a training run"),
        ("input_pattern", "=PATH_OR_GLOB, the files to predict"),
        ("output_prefix", "=PATH, where the predictions go"),
    ]:
        if not values[name].value:
            raise flags.Error(f"Pass --{name}{what}")
    return values, pipeline_args


def check_no_mistyped_flags(pipeline_args: list[str], values) -> None:
    """flags.Error for a flag this command does not know that is close to one
    it knows (`--batchsize`): Beam would drop it with only a warning. Other
    unknown flags go to Beam, whose runners may define options of their own."""
    own = [name for name in values if len(name) > 1]  # not the -h alias
    for arg in pipeline_args:
        if not arg.startswith("-"):
            continue
        name = arg.lstrip("-").split("=", 1)[0]
        close = difflib.get_close_matches(name, own, n=1, cutoff=0.8)
        if close:
            raise flags.Error(
                f"Unknown flag --{name}: did you mean --{close[0]}? (Flags this"
                " command does not know are passed to Beam as pipeline options.)"
            )


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


def main(argv: list[str], quiet: bool = False) -> int:
    """Runs the pipeline; a mistake in flags or files prints one line and
    returns 1. `quiet` hides library chatter, as `python -m` does."""
    if "--help" in argv[1:] or "-h" in argv[1:]:
        print(__doc__ + "\n" + define_flags().get_help())
        return 0
    from app.errors import UsageError

    try:
        values, pipeline_args = parse_flags(argv)
        metadata = predict.read_metadata(values.model_dir)
        predict.check_columns(values, metadata, "input_pattern")
        predict.check_precision(values.precision, values.model_dir)
    except (flags.Error, UsageError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    predict.load_tensorflow(quiet)
    from tasks import DataError  # tasks/ loads TensorFlow.

    predict.warn_without_bfloat16_units(values.precision, sys.stderr)

    try:
        paths = find_input_files(values.input_pattern)
    except (UsageError, DataError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    beam_pipeline = load_beam(quiet)
    prefix, extension = outputs = output_files(values)
    # Workers set the precision where they load the model; a runner working
    # in this process leaves it as it found it.
    with predict.graph_precision(values.precision):
        counts = beam_pipeline.run(values, pipeline_args, metadata, paths, outputs)
    dead_letters = beam_pipeline.DEAD_LETTERS
    print(
        f"Predicted {counts.get('rows', 0)} rows of {len(paths)} files:"
        f" {prefix}-*{extension}. Rows that could not be read:"
        f" {counts.get(dead_letters, 0)}, in {prefix}_{dead_letters}-*{extension}.",
        file=sys.stderr,
    )
    return 0


def load_beam(quiet: bool):
    """app.beam_pipeline; `quiet` hides what Beam logs while it loads (which
    of its optional cloud libraries are missing)."""
    from app import console

    logging.disable(logging.WARNING if quiet else logging.NOTSET)
    try:
        with console.native_stderr_hidden(quiet):
            from app import beam_pipeline
    finally:
        logging.disable(logging.NOTSET)
    return beam_pipeline


if __name__ == "__main__":
    sys.exit(main(sys.argv, quiet=True))
