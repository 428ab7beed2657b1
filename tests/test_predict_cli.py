"""`python -m app.predict`: an export's predictions for stdin lines and files.

Most tests run small stand-in exports with the export's interface whose
outputs are known exactly (they count bytes); one runs the export of the
shared MRPC training run and gets that run's test_results.tsv back.
"""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from app import predict

# Its module and session fixtures are built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_predict_cli")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The stand-in pair model's labels: which text is longer.
LABELS = ["longer_a", "longer_b", "empty"]
PAIR_HEADER = "label\tprobability_longer_a\tprobability_longer_b\tprobability_empty\n"


def save_stand_in_export(export_dir, serve, metadata):
    """A SavedModel with `serve` as serving_default and the export's metadata."""
    import tensorflow as tf

    tf.saved_model.save(tf.Module(), export_dir, signatures={"serving_default": serve})
    os.makedirs(os.path.join(export_dir, "assets"), exist_ok=True)
    with open(os.path.join(export_dir, predict.METADATA_PATH), "w") as file:
        json.dump(metadata, file)
    return export_dir


def byte_counts(*texts):
    """(batch, 3) float32: bytes of text_a, bytes of text_b, and 1."""
    import tensorflow as tf

    counts = [tf.cast(tf.strings.length(text), tf.float32) for text in texts]
    return tf.stack([*counts, tf.ones_like(counts[0])], axis=-1)


def expected_pair_row(text_a, text_b):
    """The stand-in pair model's row for one pair, as it prints."""
    counts = np.array([len(text_a.encode()), len(text_b.encode()), 1], np.float32)
    probabilities = counts / counts.sum()
    return [LABELS[probabilities.argmax()], *map(str, probabilities)]


@pytest.fixture(scope="session")
def pair_export(tmp_path_factory):
    """Classes over LABELS for pairs: probabilities proportional to the byte
    counts of text_a, text_b and 1."""
    import tensorflow as tf

    string = tf.TensorSpec((None,), tf.string)

    @tf.function(input_signature=[string, string])
    def serve(text_a, text_b):
        counts = byte_counts(text_a, text_b)
        probabilities = counts / tf.reduce_sum(counts, axis=-1, keepdims=True)
        label = tf.gather(tf.constant(LABELS), tf.argmax(probabilities, axis=-1))
        return {"probabilities": probabilities, "label": label}

    metadata = {"labels": LABELS, "is_pair": True, "output_kind": "classes"}
    folder = str(tmp_path_factory.mktemp("predict") / "pair")
    return save_stand_in_export(folder, serve, metadata)


@pytest.fixture(scope="session")
def score_export(tmp_path_factory):
    """A score of single texts: the text's length in bytes."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def serve(text_a):
        return {"score": byte_counts(text_a)[:, :1]}  # (batch, 1)

    metadata = {"labels": [], "is_pair": False, "output_kind": "score"}
    folder = str(tmp_path_factory.mktemp("predict") / "score")
    return save_stand_in_export(folder, serve, metadata)


def run(argv, stdin=b""):
    stdout = io.StringIO()
    code = predict.main(["predict", *argv], io.BytesIO(stdin), stdout)
    return code, stdout.getvalue()


def parse_tsv(text):
    return [line.split("\t") for line in text.splitlines()]


def test_stdin_pairs_print_labels_and_probabilities(pair_export):
    pairs = [("the dog", "a cat"), ("a", "hairy dog"), ("", ""), ("naïve", "no")]
    lines = "".join(f"{a}\t{b}\r\n" for a, b in pairs).encode()
    code, output = run([f"--model_dir={pair_export}", "--batch_size=3"], lines)
    assert code == 0
    assert output.startswith(PAIR_HEADER)
    assert parse_tsv(output)[1:] == [expected_pair_row(a, b) for a, b in pairs]
    assert [row[0] for row in parse_tsv(output)[1:]] == [*LABELS, "longer_a"]


def test_a_score_model_prints_scores_and_keeps_empty_lines(score_export):
    code, output = run([f"--model_dir={score_export}"], b"the dog\n\nna\xc3\xafve")
    assert (code, output) == (0, "score\n7.0\n0.0\n6.0\n")


class Pipe:
    """A stream whose reads return the chunks a writer sent, one a call."""

    def __init__(self, chunks):
        self.chunks, self.reads = list(chunks), 0

    def read1(self, size):
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""


def test_lines_are_predicted_as_they_arrive_in_groups_of_what_each_read_brought():
    pipe = Pipe([b"a\nb\nc", b"d\ne\n", b"f"])
    groups = predict.read_line_groups(pipe)
    # The first read's complete lines come out before a second read.
    assert next(groups) == [(1, b"a"), (2, b"b")]
    assert pipe.reads == 1
    assert list(groups) == [[(3, b"cd"), (4, b"e")], [(5, b"f")]]


def test_standard_input_rows_keep_input_order_across_sorted_batches():
    lengths = [i * 7 % 23 for i in range(1, 41)]  # out of order, none empty
    pipe = Pipe([b"".join(b"x" * n + b"\n" for n in lengths[:30]),
                 b"".join(b"x" * n + b"\n" for n in lengths[30:])])  # fmt: skip
    values = predict.parse_flags(["predict", "--model_dir=.", "--batch_size=3"])
    metadata = predict.ExportMetadata((), False, "score")
    stdout = io.StringIO()
    predict.predict_stdin(values, metadata, byte_count_scores, pipe, stdout)
    assert stdout.getvalue() == "score\n" + "".join(f"{float(n)}\n" for n in lengths)


def byte_count_scores(text_a):
    """A stand-in score model's outputs: each text's byte count."""
    import tensorflow as tf

    return {"score": tf.cast(tf.strings.length(text_a), tf.float32)[:, None]}


@pytest.mark.parametrize("calls", [1, 2])
def test_batches_run_side_by_side_keep_input_order(calls):
    from tasks import InputExample

    texts = [f"{'x' * (i * 7 % 23)}" for i in range(40)]  # lengths out of order
    examples = [InputExample(str(i), t, None, None) for i, t in enumerate(texts)]
    metadata = predict.ExportMetadata((), False, "score")
    progress = predict.Progress(len(examples), io.StringIO())
    rows = predict.predict_examples(
        examples, metadata, byte_count_scores, 3, progress, calls
    )
    assert rows == [[float(len(t))] for t in texts]


def test_a_failed_batch_side_by_side_reports_its_error():
    from tasks import DataError, InputExample

    def serve(text_a):
        if b"bad" in text_a.numpy():
            raise DataError("a bad text")
        return byte_count_scores(text_a)

    examples = [InputExample(str(i), "ok", None, None) for i in range(10)]
    examples[5] = InputExample("5", "bad", None, None)
    metadata = predict.ExportMetadata((), False, "score")
    progress = predict.Progress(len(examples), io.StringIO())
    with pytest.raises(DataError, match="a bad text"):
        predict.predict_examples(examples, metadata, serve, 2, progress, calls=2)


class CountingServe:
    """A score model whose export counts tokens as one per word; it records
    each batch it is called with."""

    def __init__(self):
        self.batches = []

    def count_tokens(self, text_a):
        import tensorflow as tf

        words = tf.strings.split(text_a).row_lengths()
        return {"length": tf.cast(words, tf.int32)}

    def __call__(self, text_a):
        self.batches.append([text.decode() for text in text_a.numpy()])
        return byte_count_scores(text_a)


def test_batches_hold_texts_of_equal_token_counts_where_the_export_counts_them():
    # Long words, few tokens: by characters these two would share no batch.
    texts = ["a b c d", "e f g h", "wordy", "lengthy", "x y z w", "overlong"]
    serve = CountingServe()
    metadata = predict.ExportMetadata((), False, "score")
    rows = predict.predict_texts([(t,) for t in texts], metadata, serve, 3)
    assert rows == [[float(len(t))] for t in texts]  # in input order
    assert serve.batches == [["wordy", "lengthy", "overlong"], texts[:2] + texts[4:5]]
    # An export from before count_tokens: batches by characters.
    assert predict.text_lengths(byte_count_scores, metadata, [("ab",), ("",)]) == [
        2,
        0,
    ]


def test_the_export_counts_each_texts_tokens(tmp_path):
    from app.export import export_saved_model
    from app.model import build_classifier
    from app.preprocessing import ClassifierPreprocessor
    from tasks import OutputKind
    from tests.bert_weights import TINY_VOCABULARY, build_tiny_backbone

    texts = {"text_a": ["the dog is hairy .", "", "a very good film !"]}
    # [CLS], the words, [SEP]; with chunks of 6, the longest window (not the
    # sum of a text's windows).
    cases = (("truncate", 16, [7, 2, 7]), ("chunks", 6, [6, 2, 6]))
    for long_text, sequence_length, expected in cases:
        model = build_classifier(build_tiny_backbone(), num_labels=2)
        preprocessor = ClassifierPreprocessor(
            TINY_VOCABULARY, sequence_length, long_text=long_text, doc_stride=2
        )
        folder = str(tmp_path / long_text)
        export_saved_model(
            model, preprocessor, folder, False, ["0", "1"], OutputKind.CLASSES
        )
        metadata = predict.ExportMetadata(("0", "1"), False, "classes")
        serve = predict.load_serving_function(folder, metadata)
        lengths = predict.text_lengths(serve, metadata, [(t,) for t in texts["text_a"]])
        assert lengths == expected, long_text


def test_calls_at_once_two_on_a_cpu_through_a_saved_model_one_through_onnx():
    from app import predict_onnx

    assert predict.calls_at_once(byte_count_scores) == 2  # tests see no GPU
    onnx_serve = predict_onnx.OnnxServe.__new__(predict_onnx.OnnxServe)
    assert predict.calls_at_once(onnx_serve) == 1


def test_a_file_keeps_ids_and_order_and_writes_json_lines(pair_export, tmp_path):
    pairs = [("a", "the cat"), ('He said "no', "it"), ("the dog, a cat", "x")]
    input_path = tmp_path / "pairs.csv"
    input_path.write_text(
        "key,first,second,label\n"
        + "".join(f'k{i},"{a.replace(chr(34), 2 * chr(34))}",{b},x\n'
                  for i, (a, b) in enumerate(pairs))
    )  # fmt: skip
    output_path = tmp_path / "predictions.jsonl"
    argv = [
        f"--model_dir={pair_export}",
        f"--input_file={input_path}",
        "--text_a_column=first",
        "--text_b_column=2",
        "--id_column=key",
        f"--output_file={output_path}",
        "--batch_size=2",
    ]
    assert run(argv) == (0, "")
    rows = [json.loads(line) for line in output_path.read_text().splitlines()]
    columns = ["id", *PAIR_HEADER.split()]
    expected = [
        dict(zip(columns, [f"k{i}", row[0], *map(float, row[1:])]))
        for i, row in enumerate(expected_pair_row(a, b) for a, b in pairs)
    ]
    assert rows == expected
    assert list(rows[0]) == columns


def test_a_file_without_ids_numbers_its_rows_and_shows_progress(
    score_export, tmp_path, capsys
):
    input_path = tmp_path / "texts.jsonl"
    texts = ["a hairy dog", "a cat", "the film"]
    input_path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    argv = [f"--model_dir={score_export}", f"--input_file={input_path}"]
    code, output = run([*argv, "--batch_size=2"])
    assert (code, output) == (0, "id\tscore\n0\t11.0\n1\t5.0\n2\t8.0\n")
    bar = "=" * 20 + " " * 10
    assert capsys.readouterr().err == f"\r[{bar}] 2/3 rows\r[{'=' * 30}] 3/3 rows\n"


def test_an_empty_file_gives_a_header_only(score_export, tmp_path):
    input_path = tmp_path / "empty.tsv"
    input_path.write_text("text\n")
    argv = [f"--model_dir={score_export}", f"--input_file={input_path}"]
    assert run(argv) == (0, "id\tscore\n")


def bad_inputs(tmp_path):
    """(argv after --model_dir, stdin, expected error) per kind of mistake."""
    texts = tmp_path / "texts.tsv"
    texts.write_text("sentence\tother\nthe dog\tthe cat\n")
    return {
        "pair line with one field": (
            [],
            b"the dog\tthe cat\nthe dog\n",
            "ERROR: <stdin>, line 2: has 1 tab-separated field, expected"
            " text_a<TAB>text_b for this model. Fix that line. Received:"
            " line=b'the dog'\n",
        ),
        "not UTF-8": (
            [],
            b"the dog\tthe caf\xe9\n",
            "ERROR: <stdin>, line 1: the line is not valid UTF-8 (unexpected"
            " end of data at byte 15 of the line). Data files must be UTF-8"
            " encoded; convert the file, e.g. with `iconv -f latin1 -t utf-8`."
            " Received: bytes=b'the dog\\tthe caf\\xe9'\n",
        ),
        "unknown column": (
            [f"--input_file={texts}", "--text_a_column=text", "--text_b_column=other"],
            b"",
            f"ERROR: {texts}: no column 'text' for --text_a_column. The file's"
            " header's columns are: ['sentence', 'other']. Pass a column name or"
            " a 0-based index. Received: text_a_column=text\n",
        ),
        "no text_b_column for a pair model": (
            [f"--input_file={texts}", "--text_a_column=sentence"],
            b"",
            f"ERROR: --input_file={texts}: This model takes sentence pairs: pass"
            " --text_b_column=COLUMN too. Received: text_b_column=None\n",
        ),
        "missing input file": (
            [f"--input_file={tmp_path}/missing.csv", "--text_b_column=b"],
            b"",
            f"ERROR: --input_file={tmp_path}/missing.csv: no such file. Check the"
            f" path. Received: input_file={tmp_path}/missing.csv\n",
        ),
        "unknown output extension": (
            ["--output_file=out.txt"],
            b"",
            "ERROR: --output_file=out.txt: cannot tell the format from the"
            " extension. Use .tsv or .jsonl. Received: output_file=out.txt\n",
        ),
        "missing output folder": (
            [f"--input_file={texts}", "--text_a_column=0", "--text_b_column=1",
             f"--output_file={tmp_path}/no/out.tsv"],
            b"",
            f"ERROR: --output_file={tmp_path}/no/out.tsv: the folder {tmp_path}/no"
            " does not exist. Create it or choose another path. Received:"
            f" output_file={tmp_path}/no/out.tsv\n",
        ),
    }  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        "pair line with one field",
        "not UTF-8",
        "unknown column",
        "no text_b_column for a pair model",
        "missing input file",
        "unknown output extension",
        "missing output folder",
    ],
)
def test_bad_input_exits_1_with_one_line(case, pair_export, tmp_path, capsys):
    argv, stdin, message = bad_inputs(tmp_path)[case]
    code, output = run([f"--model_dir={pair_export}", *argv], stdin)
    # stdin's rows before the bad line are printed; files print nothing.
    good_lines = stdin.split(b"\n")[:1] if case == "pair line with one field" else []
    rows = [expected_pair_row(*line.decode().split("\t")) for line in good_lines]
    expected = PAIR_HEADER + "".join("\t".join(row) + "\n" for row in rows)
    assert (code, output) == (1, expected if stdin else "")
    assert capsys.readouterr().err == message


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "Pass --model_dir=EXPORT_DIR, the export of a training run"),
        (
            ["--model_dir=.", "--batch_size=0"],
            "flag --batch_size=0: 0 is not a positive integer",
        ),
        (
            ["--model_dir=missing"],
            "--model_dir=missing: no such folder. Pass the export of a training"
            " run (OUTPUT_DIR/export). Received: model_dir=missing",
        ),
        (
            ["--model_dir=."],
            "--model_dir=.: ./assets/export_metadata.json does not exist: this is"
            " not an export of a training run. Pass the export folder a run wrote"
            " (OUTPUT_DIR/export), or export again with a training run of this"
            " version. Received: model_dir=.",
        ),
    ],
)
def test_a_folder_that_is_not_an_export_exits_1(
    argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets").mkdir()
    assert run(argv) == (1, "")
    assert capsys.readouterr().err == f"ERROR: {message}\n"


@pytest.mark.parametrize(
    "metadata, problem",
    [
        ("{", "is not the metadata of an export (JSONDecodeError("),
        ('{"labels": []}', "is not the metadata of an export (KeyError('output_kind')"),
        (
            '{"labels": [], "is_pair": false, "output_kind": "ranking"}',
            "names output_kind 'ranking', which this command cannot read (it reads"
            " classes, score, labels)",
        ),
    ],
)
def test_metadata_it_cannot_read_exits_1(metadata, problem, tmp_path, capsys):
    (tmp_path / "assets").mkdir()
    (tmp_path / predict.METADATA_PATH).write_text(metadata)
    assert run([f"--model_dir={tmp_path}"]) == (1, "")
    error = capsys.readouterr().err
    assert error.startswith(f"ERROR: --model_dir={tmp_path}: {tmp_path}/assets/")
    assert problem in error and error.count("\n") == 1


def test_the_token_id_model_inside_an_export_is_refused(tmp_path, capsys):
    import tensorflow as tf

    ids = tf.TensorSpec((None, None), tf.int32)

    @tf.function(input_signature=[ids, ids, ids])
    def serve(token_ids, segment_ids, padding_mask):
        return {"score": tf.cast(token_ids[:, :1], tf.float32)}

    metadata = {"labels": [], "is_pair": False, "output_kind": "score"}
    folder = save_stand_in_export(str(tmp_path / "token_ids"), serve, metadata)
    assert run([f"--model_dir={folder}"], b"the dog\n") == (1, "")
    assert capsys.readouterr().err == (
        f"ERROR: --model_dir={folder}: its serving_default takes padding_mask,"
        " segment_ids, token_ids, not text_a. The token_ids folder inside an"
        " export serves servers without TensorFlow Text; pass the export folder"
        f" itself (OUTPUT_DIR/export). Received: model_dir={folder}\n"
    )


def test_a_single_text_model_refuses_text_b(score_export, tmp_path, capsys):
    argv = [f"--model_dir={score_export}"]
    assert run(argv, b"the dog\tthe cat\n") == (1, "score\n")
    assert "<stdin>, line 1: has 2 tab-separated fields, expected one text" in (
        capsys.readouterr().err
    )
    texts = tmp_path / "texts.tsv"
    texts.write_text("text\tother\nthe dog\tthe cat\n")
    argv += [f"--input_file={texts}", "--text_b_column=other"]
    assert run(argv) == (1, "")
    assert "This model takes one text: drop --text_b_column." in (
        capsys.readouterr().err
    )


def test_the_export_of_a_run_predicts_its_test_results(trained_mrpc, shared_mrpc_dir):
    output_dir = trained_mrpc[1]
    assert_predicts_test_results(output_dir / "export", output_dir, shared_mrpc_dir)


def assert_predicts_test_results(
    model_dir, output_dir, shared_mrpc_dir, atol=1e-5, precision="float32"
):
    """The predict command on MRPC's test.tsv gives the run's test_results.tsv."""
    expected = np.loadtxt(output_dir / "test_results.tsv", delimiter="\t")
    argv = [
        f"--model_dir={model_dir}",
        f"--input_file={shared_mrpc_dir}/test.tsv",
        "--text_a_column=#1 String",
        "--text_b_column=#2 String",
        "--id_column=index",
        f"--precision={precision}",
    ]
    code, output = run(argv)
    header, *rows = parse_tsv(output)
    assert (code, header) == (0, ["id", "label", "probability_0", "probability_1"])
    assert [row[0] for row in rows] == ["0", "1", "2", "3", "4"]
    probabilities = np.array([[float(value) for value in row[2:]] for row in rows])
    np.testing.assert_allclose(probabilities, expected, atol=atol)
    # Labels as the run's, where its two probabilities are further apart than
    # the tolerance (a tie within it may go either way).
    clear = np.abs(expected[:, 0] - expected[:, 1]) > 2 * atol
    labels = np.array([row[1] for row in rows])
    assert (labels[clear] == expected.argmax(-1).astype(str)[clear]).all()


def test_as_a_module_predicts_then_names_a_bad_line(score_export):
    """Also: the command imports no model code (keras-hub, app.model)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [sys.executable, "-X", "importtime", "-m", "app.predict"]
    result = subprocess.run(
        [*command, f"--model_dir={score_export}", "--batch_size=1"],
        input="the dog\nthe\tdog\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,  # as a user's shell has it
        timeout=120,
    )
    assert (result.returncode, result.stdout) == (1, "score\n7.0\n")
    lines = result.stderr.splitlines()
    imported = {line.split("|")[-1].strip() for line in lines if "import time:" in line}
    # (TensorFlow's own import lines are hidden with its start-up chatter.)
    assert {"app.console", "tasks.custom"} <= imported
    assert not {"keras_hub", "app.model", "app.preprocessing"} & imported
    assert [line for line in lines if "import time:" not in line] == [
        "ERROR: <stdin>, line 2: has 2 tab-separated fields, expected one text"
        " without tabs for this model. Fix that line. Received:"
        " line=b'the\\tdog'"
    ]


def test_bfloat16_predicts_the_run_test_results_to_two_decimals(
    trained_mrpc, shared_mrpc_dir
):
    import tensorflow as tf

    output_dir = trained_mrpc[1]
    assert_predicts_test_results(
        output_dir / "export", output_dir, shared_mrpc_dir, 1e-2, "bfloat16"
    )
    # The rewrite is the process's setting while predicting only.
    options = tf.config.optimizer.get_experimental_options()
    assert not options.get("auto_mixed_precision_onednn_bfloat16", False)


@pytest.mark.parametrize("before", [False, True])
def test_graph_precision_is_on_inside_the_block_and_put_back_after(before):
    import tensorflow as tf

    def rewrite_on():
        options = tf.config.optimizer.get_experimental_options()
        return options.get(predict.BFLOAT16_REWRITE, False)

    predict.set_graph_precision("bfloat16" if before else "float32")
    try:
        with predict.graph_precision("bfloat16"):
            assert rewrite_on()
        assert rewrite_on() == before
        with predict.graph_precision("float32"):
            assert not rewrite_on()
        assert rewrite_on() == before
    finally:
        predict.set_graph_precision("float32")


def test_bfloat16_refuses_an_onnx_file(tmp_path):
    from app.errors import UsageError

    onnx_file = str(tmp_path / "model.onnx")
    with pytest.raises(UsageError, match="ONNX Runtime runs .* in float32"):
        predict.check_precision("bfloat16", onnx_file)
    predict.check_precision("float32", onnx_file)  # nothing to refuse


@pytest.mark.parametrize("cpu, warned", [("INTEL_AMX", False), ("AMD_AVX2", True)])
def test_bfloat16_warns_on_a_cpu_without_amx(cpu, warned, tmp_path, monkeypatch):
    from app import strategy
    from tests import test_strategy

    cpuinfo = test_strategy.write_cpuinfo(tmp_path, getattr(test_strategy, cpu))
    monkeypatch.setattr(strategy, "CPUINFO_PATH", cpuinfo)
    stderr = io.StringIO()
    predict.warn_without_bfloat16_units("bfloat16", stderr)
    assert ("no AMX bfloat16 tiles" in stderr.getvalue()) == warned
    predict.warn_without_bfloat16_units("float32", stderr)  # never for float32
    assert stderr.getvalue().count("WARNING") == int(warned)
