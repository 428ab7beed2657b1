"""`python -m app.batch_predict`: an export's predictions on Apache Beam.

One DirectRunner run predicts a few hundred rows of three files (TSV, CSV,
JSON lines) with bad rows among them, with the export of the shared MRPC
training run, and agrees with `python -m app.predict`. The row reader's
dead letters and the command's flag errors are checked without a pipeline.
"""

import glob
import json
import random

import numpy as np
import pytest
from absl import flags

from app import batch_predict, beam_pipeline, predict
from tasks import CsvProcessor, DataError, TaskOptions
from tasks.row_reader import BadRow, Row, read_rows

WORDS = "the dog cat film movie is was not very good bad happy sad hairy .".split()
PAIR_COLUMNS = ["--text_a_column=sentence1", "--text_b_column=sentence2"]
# A bad line in each file after its 20th row: (file, its bad lines' text).
BAD_LINES = {
    "part-0.tsv": [b"1\tonly two fields", b"2\tnot utf-8 caf\xe9\tcaf\xe9"],
    "part-1.csv": [b'3,"",the text_a is empty'],
    "part-2.jsonl": [b'{"id": "4", "sentence1": "no end"', b'["a list"]'],
}


def random_rows(count, seed):
    generator = random.Random(seed)

    def sentence():
        return " ".join(generator.choices(WORDS, k=generator.randint(1, 12)))

    return [(f"r{seed}-{i}", sentence(), sentence()) for i in range(count)]


def write_inputs(folder, rows_per_file, with_bad_lines):
    """part-0.tsv, part-1.csv and part-2.jsonl with id, sentence1, sentence2;
    bad lines (if asked) after each file's 20th row. Returns {id: texts}."""
    folder.mkdir()
    texts = {}
    for number, name in enumerate(BAD_LINES):
        rows = random_rows(rows_per_file, number)
        texts.update({row[0]: row[1:] for row in rows})
        if name.endswith(".jsonl"):
            keys = ["id", "sentence1", "sentence2"]
            lines = [json.dumps(dict(zip(keys, row))).encode() for row in rows]
        else:
            separator = "\t" if name.endswith(".tsv") else ","
            lines = [separator.join(["id", "sentence1", "sentence2"]).encode()]
            lines += [separator.join(row).encode() for row in rows]
        if with_bad_lines:
            lines[21:21] = BAD_LINES[name]
        (folder / name).write_bytes(b"\n".join(lines) + b"\n")
    return texts


def read_shards(pattern):
    """Every line of the files that match, headers included."""
    lines = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as file:
            lines += file.read().splitlines()
    return lines


def run_batch(argv, tmp_path, *extra) -> int:
    """app.batch_predict on TMP/input/part-*, writing TMP/out/predictions-*."""
    return batch_predict.main(
        ["batch_predict", *argv, f"--input_pattern={tmp_path}/input/part-*",
         f"--output_prefix={tmp_path}/out/predictions", *extra,
         "--direct_num_workers=1"]
    )  # fmt: skip


def test_bfloat16_workers_predict_as_app_predict_and_leave_the_setting(
    trained_mrpc, tmp_path, capsys
):
    import tensorflow as tf

    export = f"{trained_mrpc[1]}/export"
    write_inputs(tmp_path / "input", 10, with_bad_lines=False)
    argv = [f"--model_dir={export}", *PAIR_COLUMNS, "--id_column=id"]
    code = run_batch(argv, tmp_path, "--precision=bfloat16")
    assert code == 0, capsys.readouterr().err
    options = tf.config.optimizer.get_experimental_options()
    assert not options.get(predict.BFLOAT16_REWRITE, False)
    expected_file = tmp_path / "expected.tsv"
    assert predict.main(
        ["predict", *argv, f"--input_file={tmp_path}/input/part-*",
         f"--output_file={expected_file}", "--precision=bfloat16"]
    ) == 0  # fmt: skip
    header = "id\tlabel\tprobability_0\tprobability_1"
    lines = read_shards(f"{tmp_path}/out/predictions-*-of-*.tsv")
    got = sorted(line.split("\t") for line in lines if line != header)
    lines = read_shards(str(expected_file))
    expected = sorted(line.split("\t") for line in lines if line != header)
    # Beam's batches are not app.predict's: other paddings, other roundings.
    assert [row[0] for row in got] == [row[0] for row in expected]
    np.testing.assert_allclose(
        [[float(p) for p in row[2:]] for row in got],
        [[float(p) for p in row[2:]] for row in expected],
        atol=1e-2,
    )


def test_a_direct_runner_run_agrees_with_app_predict(
    trained_mrpc, tmp_path, capsys, monkeypatch
):
    from apache_beam.runners.portability import prism_runner

    prism_runs = []  # the DirectRunner would first try Prism, downloading it
    monkeypatch.setattr(
        prism_runner.PrismRunner, "run_pipeline", lambda *args: prism_runs.append(1)
    )
    export = f"{trained_mrpc[1]}/export"
    texts = write_inputs(tmp_path / "clean", 100, with_bad_lines=False)
    write_inputs(tmp_path / "input", 100, with_bad_lines=True)
    (tmp_path / "input" / "part-3.tsv").mkdir()  # A file that cannot be read.
    expected_file = tmp_path / "expected.jsonl"
    argv = [f"--model_dir={export}", *PAIR_COLUMNS, "--id_column=id"]
    assert predict.main(
        ["predict", *argv, f"--input_file={tmp_path}/clean/part-*",
         f"--output_file={expected_file}"]
    ) == 0  # fmt: skip
    expected = {
        row["id"]: row for row in map(json.loads, read_shards(str(expected_file)))
    }

    code = run_batch(argv, tmp_path, "--batch_size=16")
    assert code == 0, capsys.readouterr().err
    assert prism_runs == []
    header = "id\tlabel\tprobability_0\tprobability_1"
    lines = read_shards(f"{tmp_path}/out/predictions-*-of-*.tsv")
    rows = [line.split("\t") for line in lines if line != header]
    assert sorted(row[0] for row in rows) == sorted(texts) == sorted(expected)
    for identifier, label, *probabilities in rows:
        assert label == expected[identifier]["label"]
        np.testing.assert_allclose(
            [float(p) for p in probabilities],
            [expected[identifier][f"probability_{i}"] for i in range(2)],
            atol=1e-5,
        )

    dead_letters = read_shards(f"{tmp_path}/out/predictions_dead_letters-*.tsv")
    assert dead_letters[0] == "file\tline\treason"  # Each shard's header.
    bad = sorted(line.split("\t")[:2] for line in dead_letters if line[0] == "/")
    assert bad == [
        [f"{tmp_path}/input/part-0.tsv", "22"],
        [f"{tmp_path}/input/part-0.tsv", "23"],
        [f"{tmp_path}/input/part-1.csv", "22"],
        [f"{tmp_path}/input/part-2.jsonl", "22"],
        [f"{tmp_path}/input/part-2.jsonl", "23"],
        [f"{tmp_path}/input/part-3.tsv", "0"],
    ]
    rows_in = len(texts) + sum(map(len, BAD_LINES.values()))
    assert rows_in + 1 == len(rows) + len(bad)  # + the unreadable file
    assert capsys.readouterr().err.endswith(
        f"Predicted 300 rows of 4 files: {tmp_path}/out/predictions-*.tsv. Rows"
        f" that could not be read: 6, in {tmp_path}/out/predictions_dead_letters-*"
        ".tsv.\n"
    )


def pair_processor(id_column="id"):
    options = TaskOptions(
        text_a_column="a", text_b_column="b", label_column=None, id_column=id_column
    )
    return CsvProcessor(options)


def rows_of(path, data, processor=None):
    lines = data.splitlines(keepends=True)
    return list(read_rows(path, lines, processor or pair_processor(), is_pair=True))


def test_bad_rows_are_named_and_reading_goes_on():
    rows = rows_of(
        "in.tsv",
        b"\xef\xbb\xbfid\ta\tb\r\n1\tx\ty\r\n\n2\tonly a\n"
        b'3\tx\xe9\ty\n4\t \ty\n5\tx\t"y\n',
    )
    assert rows[0] == Row("in.tsv", 2, ("x", "y"), "1")
    assert rows[-1] == Row("in.tsv", 7, ("x", '"y'), "5")
    assert [(row.line_number, row.reason.split(". ")[0]) for row in rows[1:-1]] == [
        (4, "in.tsv, line 4: too few columns: found 2, but the header has 3"),
        (5, "in.tsv, line 5: the line is not valid UTF-8 (invalid continuation"
            " byte at byte 3 of the line)"),
        (6, "in.tsv, line 6: text_a is empty or not a string"),
    ]  # fmt: skip


def test_a_bad_row_reads_as_the_csv_task_reads_it(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b'id,a,b\n1,"x, y",z\n2,"two\nlines",z\n3,x\n')
    processor = CsvProcessor(
        TaskOptions(test_file=str(path), text_a_column="a", text_b_column="b")
    )
    with pytest.raises(DataError) as error:
        processor.get_examples("", "test")
    rows = rows_of(str(path), path.read_bytes(), pair_processor())
    assert rows == [
        Row(str(path), 2, ("x, y", "z"), "1"),
        Row(str(path), 3, ("two\nlines", "z"), "2"),
        BadRow(str(path), 5, str(error.value)),
    ]


def test_json_lines_each_object_or_its_reason():
    rows = rows_of(
        "in.jsonl",
        b'{"a": "x", "b": "y"}\n\n{"a": "x"\n[1]\n{}\n{"a": "x", "b": "y", "id": 7}\n',
        pair_processor(id_column=None),
    )
    assert rows[0] == Row("in.jsonl", 1, ("x", "y"), None)
    assert rows[-1] == Row("in.jsonl", 6, ("x", "y"), None)
    assert [row.reason.split(" (")[0].split(";")[0] for row in rows[1:-1]] == [
        "in.jsonl, line 3: not a JSON object",
        'in.jsonl, line 4: expected a JSON object such as {"text": "...",'
        ' "label": "..."}',
        "in.jsonl, line 5: the object has no 'a' field. Every line needs the"
        " same fields. Received: keys=[]",
    ]
    assert beam_pipeline.row_id(rows[0]) == "in.jsonl:1"


def test_a_column_the_file_lacks_makes_every_row_a_dead_letter():
    rows = rows_of("in.tsv", b"id\ta\tother\n1\tx\ty\n2\tx\ty\n")
    assert [row.line_number for row in rows] == [2, 3]
    assert {row.reason for row in rows} == {
        "in.tsv: no column 'b' for --text_b_column. The file's header's columns"
        " are: ['id', 'a', 'other']. Pass a column name or a 0-based index."
        " Received: text_b_column=b"
    }


@pytest.mark.parametrize(
    "flags, files",
    [
        (["--output_prefix=out/p"], ("out/p", ".tsv")),
        (["--output_prefix=out/p.JSONL"], ("out/p", ".jsonl")),
        (["--output_prefix=out/p.v2", "--output_format=jsonl"], ("out/p.v2", ".jsonl")),
        (["--output_prefix=out/p.tsv", "--output_format=jsonl"], ("out/p", ".jsonl")),
    ],
)
def test_the_output_format_comes_from_the_flag_or_the_prefix(flags, files):
    values, pipeline_args = batch_predict.parse_flags(
        ["batch_predict", "--model_dir=m", "--input_pattern=i", *flags, "--runner=X"]
    )
    assert (batch_predict.output_files(values), pipeline_args) == (
        files,
        ["--runner=X"],
    )


@pytest.mark.parametrize(
    "typo, meant", [("batchsize", "batch_size"), ("id_colum", "id_column")]
)
def test_a_mistyped_flag_is_refused_not_passed_to_beam(typo, meant):
    argv = ["batch_predict", "--model_dir=m", f"--{typo}=3", "--runner=X"]
    with pytest.raises(
        flags.Error, match=f"Unknown flag --{typo}: did you mean --{meant}"
    ):
        batch_predict.parse_flags(argv)


def test_dead_letters_in_both_formats():
    bad_row = BadRow("a.tsv", 3, "a.tsv, line 3: why\tand\nhow")
    assert beam_pipeline.format_bad_row(bad_row, ".tsv") == (
        "a.tsv\t3\ta.tsv, line 3: why and how"
    )
    assert json.loads(beam_pipeline.format_bad_row(bad_row, ".jsonl")) == {
        "file": "a.tsv",
        "line": 3,
        "reason": "a.tsv, line 3: why\tand\nhow",
    }


@pytest.mark.parametrize(
    "flags, message",
    [
        ([], "Pass --model_dir=EXPORT_DIR, the export of a training run"),
        (
            [
                "--model_dir={tmp_path}/missing",
                "--input_pattern=x",
                "--output_prefix=o",
            ],
            "--model_dir={tmp_path}/missing: no such folder. Pass the export of a"
            " training run (OUTPUT_DIR/export). Received:"
            " model_dir={tmp_path}/missing",
        ),
        (
            ["--model_dir={export}", "--output_prefix=o", *PAIR_COLUMNS],
            "Pass --input_pattern=PATH_OR_GLOB, the files to predict",
        ),
        (
            [
                "--model_dir={export}",
                "--input_pattern={tmp_path}/*.csv",
                "--output_prefix=o",
                *PAIR_COLUMNS,
            ],
            "--input_pattern={tmp_path}/*.csv: no file matches. Check the path"
            " (quote a glob so that the shell leaves it alone). Received:"
            " input_pattern={tmp_path}/*.csv",
        ),
        (
            [
                "--model_dir={export}",
                "--input_pattern={tmp_path}/*",
                "--output_prefix=o",
                *PAIR_COLUMNS,
            ],
            "{tmp_path}/notes.txt: cannot tell the file's format from its"
            " extension. Use .tsv, .csv, .jsonl, .ndjson, .json (.json files hold"
            " one JSON object per line). Received: extension='.txt'",
        ),
        (
            ["--model_dir={export}", "--input_pattern=x", "--output_prefix=o"],
            "--input_pattern=x: This model takes sentence pairs: pass"
            " --text_b_column=COLUMN too. Received: text_b_column=None",
        ),
    ],  # fmt: skip
)
def test_bad_flags_exit_1_with_one_line(flags, message, trained_mrpc, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("text\nhello\n")
    fill = {"tmp_path": tmp_path, "export": f"{trained_mrpc[1]}/export"}
    argv = ["batch_predict", *(flag.format(**fill) for flag in flags)]
    assert batch_predict.main(argv) == 1
    assert capsys.readouterr().err == f"ERROR: {message.format(**fill)}\n"


def test_a_worker_loading_the_model_sets_the_precision(trained_mrpc):
    import tensorflow as tf

    export = f"{trained_mrpc[1]}/export"
    metadata = predict.read_metadata(export)
    handler = beam_pipeline.ExportModelHandler(export, metadata, 4, "bfloat16")
    try:
        handler.load_model()
        options = tf.config.optimizer.get_experimental_options()
        assert options.get(predict.BFLOAT16_REWRITE)
    finally:
        predict.set_graph_precision("float32")


def test_without_a_runner_the_local_batch_runner_runs_with_nothing_downloaded():
    assert beam_pipeline.with_runner(["--direct_num_workers=2"]) == [
        "--direct_num_workers=2",
        "--runner=FnApiRunner",
    ]
    for named in (["--runner=DataflowRunner"], ["--runner", "DirectRunner"]):
        assert beam_pipeline.with_runner(named) == named


def test_a_run_of_rows_is_predicted_in_batches_of_equal_token_counts(monkeypatch):
    from tests.test_predict_cli import CountingServe

    monkeypatch.setattr(predict, "calls_at_once", lambda serve: 1)
    texts = [("a b c d",), ("wordy",), ("e f g h",), ("lengthy",)]
    metadata = predict.ExportMetadata((), False, "score")
    handler = beam_pipeline.ExportModelHandler("unused", metadata, 2)
    assert (
        handler.batch_elements_kwargs()["max_batch_size"]
        == 2 * beam_pipeline.BATCHES_PER_RUN
    )
    serve = CountingServe()
    results = handler.run_inference(texts, serve)
    assert [r.example for r in results] == texts  # the run's own order
    assert [r.inference for r in results] == [[7.0], [5.0], [7.0], [7.0]]
    assert serve.batches == [["wordy", "lengthy"], ["a b c d", "e f g h"]]
