"""--data_in_memory and --feature_cache: the csv task's splits streamed
through an on-disk feature cache give the in-memory run's files."""

import json
import logging
import pathlib
import shutil
import signal

import numpy as np
import pytest
import tensorflow as tf

from app import feature_cache, streaming
from app.config import RunConfig, validate
from app.errors import ConfigError
from app.feature_cache import (
    build_cache_dataset,
    build_cache_train_dataset,
    build_feature_cache,
    parse_rows,
)
from app.input_pipeline import pack_examples
from app.reporting import build_data_report
from app.run_record import hash_examples
from app.runner import build_preprocessor, read_task_data
from tasks import CsvProcessor, DataError, InputExample, OutputKind, TaskOptions
from tasks.dataset import build_dataset, build_targets
from tests.test_faults import run_killed_after_checkpoint
from tests.test_main import run_main
from tests.test_multi_label import ASPECTS_DIR

pytestmark = pytest.mark.xdist_group("test_streaming")

WORDS = "the dog cat is was hairy happy sad not good bad film movie very".split()


def sentence(index: int, length: int) -> str:
    return " ".join(WORDS[(index * 7 + k) % len(WORDS)] for k in range(length))


def write_data(folder: pathlib.Path) -> pathlib.Path:
    """train.csv (16 rows), dev.csv (9 rows, lengths 2 to 34 words), test.csv
    (11 rows, ids, lengths 1 to 40 words)."""
    folder.mkdir(parents=True, exist_ok=True)
    train = ["id,text,label"] + [
        f"t{i},{sentence(i, 3 + i % 5)},{'pos' if i % 2 else 'neg'}" for i in range(16)
    ]
    dev = ["id,text,label"] + [
        f"d{i},{sentence(i + 3, 2 + 4 * i)},{'pos' if i % 3 else 'neg'}"
        for i in range(9)
    ]
    test = ["id,text"] + [f"row{i},{sentence(i, 1 + 4 * i)}" for i in range(11)]
    (folder / "train.csv").write_text("\n".join(train) + "\n")
    (folder / "dev.csv").write_text("\n".join(dev) + "\n")
    (folder / "test.csv").write_text("\n".join(test) + "\n")
    return folder


def flags(data_dir, output_dir, huggingface_dir, *extra) -> list[str]:
    return [
        "--task_name=csv",
        f"--data_dir={data_dir}",
        "--train_file=train.csv",
        "--dev_file=dev.csv",
        "--test_file=test.csv",
        "--id_column=id",
        f"--init_checkpoint={huggingface_dir}",
        "--max_seq_length=16",
        "--eval_batch_size=4",
        "--predict_batch_size=4",
        "--export_formats=none",
        f"--output_dir={output_dir}",
        *extra,
    ]


def train(data_dir, output_dir, huggingface_dir, data_in_memory, *extra):
    """One epoch of 4 steps on train.csv."""
    return run_main(
        *flags(data_dir, output_dir, huggingface_dir, "--do_train", *extra),
        "--train_batch_size=4",
        "--num_train_epochs=1",
        f"--data_in_memory={data_in_memory}",
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, huggingface_dir):
    """A csv model trained once, with test results predicted in memory."""
    folder = tmp_path_factory.mktemp("streaming")
    data_dir = write_data(folder / "data")
    output_dir = folder / "out"
    result = train(data_dir, output_dir, huggingface_dir, "true", "--do_predict")
    assert result.returncode == 0, result.stderr
    return data_dir, output_dir


def predict_again(trained, tmp_path, huggingface_dir, *extra, step="--do_predict"):
    """A predict-only (or `step`) run in a copy of the trained run's output_dir."""
    data_dir, output_dir = trained
    copy = tmp_path / "out"
    shutil.copytree(output_dir, copy)
    result = run_main(*flags(data_dir, copy, huggingface_dir, step), *extra)
    assert result.returncode == 0, result.stderr
    return result, copy


def read_table(path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def assert_same_predictions(streamed_dir, memory_dir):
    streamed = np.loadtxt(streamed_dir / "test_results.tsv", ndmin=2)
    in_memory = np.loadtxt(memory_dir / "test_results.tsv", ndmin=2)
    np.testing.assert_allclose(streamed, in_memory, atol=1e-5)
    streamed_rows = read_table(streamed_dir / "predictions.tsv")
    memory_rows = read_table(memory_dir / "predictions.tsv")
    # ids and predicted labels equal; probabilities as above
    assert [row[:2] for row in streamed_rows] == [row[:2] for row in memory_rows]
    assert [row[0] for row in streamed_rows[1:]] == [f"row{i}" for i in range(11)]


def test_streamed_prediction_equals_the_in_memory_one(
    trained, tmp_path, huggingface_dir
):
    result, out = predict_again(
        trained, tmp_path, huggingface_dir, "--data_in_memory=false"
    )
    assert "Reading test as a stream" in result.stderr
    assert "Building the feature cache" in result.stderr
    assert_same_predictions(out, trained[1])
    streamed = json.loads((out / "data_report.json").read_text())["splits"]["test"]
    in_memory = json.loads((trained[1] / "data_report.json").read_text())
    assert streamed == in_memory["splits"]["test"]
    assert len(list((out / "feature_cache").iterdir())) == 1
    # A rerun reuses the cache; a changed test file makes a new one.
    again = run_main(
        *flags(trained[0], out, huggingface_dir, "--do_predict"),
        "--data_in_memory=false",
    )
    assert "Reusing the feature cache" in again.stderr
    assert "Building" not in again.stderr
    data_dir = tmp_path / "changed"
    shutil.copytree(trained[0], data_dir)
    with open(data_dir / "test.csv", "a") as file:
        file.write("row11,the cat is happy\n")
    changed = run_main(
        *flags(data_dir, out, huggingface_dir, "--do_predict"),
        "--data_in_memory=false",
    )
    assert "Building the feature cache" in changed.stderr
    assert len(list((out / "feature_cache").iterdir())) == 2
    assert len((out / "predictions.tsv").read_text().splitlines()) == 13
    # Another output_dir shares the caches through --feature_cache_dir.
    other = tmp_path / "other"
    shutil.copytree(trained[1], other)
    shared = run_main(
        *flags(trained[0], other, huggingface_dir, "--do_predict"),
        "--data_in_memory=false",
        f"--feature_cache_dir={out / 'feature_cache'}",
    )
    assert "Reusing the feature cache" in shared.stderr
    assert not (other / "feature_cache").exists()
    assert_same_predictions(other, trained[1])


def test_a_feature_cache_dir_that_is_a_file_is_refused(
    trained, tmp_path, huggingface_dir
):
    a_file = tmp_path / "caches"
    a_file.write_text("not a folder")
    out = tmp_path / "out"
    shutil.copytree(trained[1], out)
    result = run_main(
        *flags(trained[0], out, huggingface_dir, "--do_predict"),
        "--data_in_memory=false",
        f"--feature_cache_dir={a_file}",
    )
    assert result.returncode == 1
    assert f"--feature_cache_dir is a file, not a folder: {a_file}" in result.stderr
    assert "Traceback" not in result.stderr
    assert a_file.read_text() == "not a folder"
    before = (trained[1] / "test_results.tsv").read_bytes()
    assert (out / "test_results.tsv").read_bytes() == before


def test_without_a_kept_cache_nothing_is_left_in_output_dir(
    trained, tmp_path, huggingface_dir
):
    _, out = predict_again(
        trained,
        tmp_path,
        huggingface_dir,
        "--data_in_memory=false",
        "--feature_cache=false",
    )
    assert not (out / "feature_cache").exists()
    assert_same_predictions(out, trained[1])


def test_windows_of_long_texts_pool_as_in_memory(trained, tmp_path, huggingface_dir):
    chunks = ("--long_text=chunks", "--doc_stride=4")
    _, streamed = predict_again(
        trained, tmp_path / "a", huggingface_dir, *chunks, "--data_in_memory=false"
    )
    _, in_memory = predict_again(
        trained, tmp_path / "b", huggingface_dir, *chunks, "--data_in_memory=true"
    )
    assert_same_predictions(streamed, in_memory)
    report = json.loads((streamed / "data_report.json").read_text())
    expected = json.loads((in_memory / "data_report.json").read_text())
    assert report["splits"]["test"]["long_text"]["windows"] > 11
    assert report["splits"]["test"] == expected["splits"]["test"]


@pytest.mark.parametrize(
    "file_name, row, step, problem",
    [
        ("test.csv", "row11,the cat,is happy", "--do_predict", "line 13: too many"),
        ("dev.csv", "d9,the cat,maybe", "--do_eval", "line 11: label 'maybe' is not"),
    ],
)
def test_a_bad_row_stops_the_run_before_output_dir_changes(
    trained, tmp_path, huggingface_dir, file_name, row, step, problem
):
    data_dir = tmp_path / "bad"
    shutil.copytree(trained[0], data_dir)
    with open(data_dir / file_name, "a") as file:
        file.write(row + "\n")
    out = tmp_path / "out"
    shutil.copytree(trained[1], out)
    before = sorted(str(path) for path in out.rglob("*"))
    result = run_main(
        *flags(data_dir, out, huggingface_dir, step), "--data_in_memory=false"
    )
    assert result.returncode == 1
    assert f"ERROR: {data_dir / file_name}, {problem}" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(str(path) for path in out.rglob("*")) == before
    fresh = run_main(
        *flags(data_dir, tmp_path / "new", huggingface_dir, step),
        "--data_in_memory=false",
        "--labels=neg,pos",
    )
    assert fresh.returncode == 1
    assert not (tmp_path / "new").exists()


# === Pieces ===


def config(data_dir, tmp_path, **overrides) -> RunConfig:
    values = dict(
        task_name="csv",
        data_dir=str(data_dir),
        test_file="test.csv",
        id_column="id",
        labels="neg,pos",
        do_predict=True,
        init_checkpoint="unused",
        output_dir=str(tmp_path / "out"),
    )
    return validate(RunConfig(**(values | overrides)))


def test_auto_streams_above_the_size_threshold_and_says_so(
    tmp_path, monkeypatch, caplog
):
    data_dir = write_data(tmp_path / "data")
    with caplog.at_level(logging.INFO, logger="app.streaming"):
        small = read_task_data(config(data_dir, tmp_path))
        monkeypatch.setattr(streaming, "STREAM_BYTES", 100)
        big = read_task_data(config(data_dir, tmp_path))
    assert (small.streamed, len(small.test)) == ((), 11)
    assert (big.streamed, big.test) == (("test",), None)
    assert "Reading test in memory: 0.0 MB in 1 file(s)" in caplog.text
    assert "Reading test as a stream: 0.0 MB in 1 file(s)" in caplog.text


def test_other_tasks_cannot_stream(tmp_path):
    with pytest.raises(ConfigError, match="data_in_memory=false"):
        validate(
            RunConfig(
                task_name="mrpc",
                data_dir=str(tmp_path),
                do_predict=True,
                init_checkpoint="unused",
                output_dir=str(tmp_path),
                data_in_memory="false",
            )
        )


def tiny_preprocessor(huggingface_dir, **overrides):
    from checkpoints import read_pretrained

    pretrained = read_pretrained(huggingface_dir, None)
    values = dict(init_checkpoint=huggingface_dir, max_seq_length=16) | overrides
    return build_preprocessor(config(".", pathlib.Path("."), **values), pretrained)


def in_one_file(examples):
    """`(file_index, example)` pairs, as `CsvProcessor.iter_examples_by_file`
    gives them, of examples read from one file."""
    return ((0, example) for example in examples)


def test_the_cache_keeps_the_split_hash_rows_and_ids(tmp_path, huggingface_dir):
    data_dir = write_data(tmp_path / "data")
    processor = CsvProcessor(TaskOptions(test_file="test.csv", id_column="id"))
    examples = processor.get_examples(str(data_dir), "test")
    preprocessor = tiny_preprocessor(huggingface_dir)
    cache = build_feature_cache(
        str(tmp_path / "cache"), "test", in_one_file(examples), preprocessor, False
    )
    assert cache.data_sha256 == hash_examples(examples)
    assert (cache.num_examples, cache.num_rows) == (11, 11)
    assert list(cache.read_ids()) == [f"row{i}" for i in range(11)]
    # 1 + 4i words, [CLS] and [SEP], cut at 16
    expected = np.minimum(np.arange(11) * 4 + 3, 16)
    dataset = build_cache_dataset(cache.records_paths, 11, preprocessor, 4)
    masks = [batch["padding_mask"].numpy() for batch in dataset]
    np.testing.assert_array_equal(
        np.concatenate([m.sum(axis=1) for m in masks]), expected
    )
    assert cache.read_array("document_ids") is None
    assert not list(tmp_path.glob("cache.tmp-*"))


def test_a_failed_build_leaves_no_cache(tmp_path, huggingface_dir):
    def examples():
        yield InputExample("test-0", "the dog")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        build_feature_cache(
            str(tmp_path / "cache"),
            "test",
            in_one_file(examples()),
            tiny_preprocessor(huggingface_dir),
            False,
        )
    assert list(tmp_path.iterdir()) == []


def test_whole_batches_are_filled_with_empty_rows(tmp_path, huggingface_dir):
    preprocessor = tiny_preprocessor(huggingface_dir)
    examples = [InputExample(f"test-{i}", sentence(i, 2)) for i in range(5)]
    cache = build_feature_cache(
        str(tmp_path / "cache"), "test", in_one_file(examples), preprocessor, False
    )
    dataset = build_cache_dataset(
        cache.records_paths, 5, preprocessor, 4, pad_to_whole_batches=True
    )
    batches = list(dataset)
    assert [int(b["token_ids"].shape[0]) for b in batches] == [4, 4]
    last = batches[1]["padding_mask"].numpy()
    assert last.sum(axis=1).tolist() == [4, 2, 2, 2]  # one row, then [CLS] [SEP]


def test_windows_of_rows_run_shortest_first_and_length_order_undoes_it(
    tmp_path, huggingface_dir
):
    preprocessor = tiny_preprocessor(huggingface_dir)
    words = [5, 1, 9, 3, 3, 12, 2, 7, 1, 4]  # rows of 2 + words tokens
    examples = [InputExample(f"test-{i}", sentence(i, n)) for i, n in enumerate(words)]
    cache = build_feature_cache(
        str(tmp_path / "cache"), "test", in_one_file(examples), preprocessor, False
    )
    dataset = build_cache_dataset(
        cache.records_paths, 10, preprocessor, 2, sort_window=4
    )
    masks = [batch["padding_mask"].numpy() for batch in dataset]
    lengths = np.concatenate([mask.sum(axis=1) for mask in masks])
    # Windows [0:4], [4:8], [8:10], each sorted; ties keep input order.
    order = feature_cache.length_order(cache.records_paths, 4)
    assert order.tolist() == [1, 3, 0, 2, 6, 4, 7, 5, 8, 9]
    np.testing.assert_array_equal(lengths, np.asarray(words)[order] + 2)
    padded = sum(mask.size for mask in masks)
    in_input_order = build_cache_dataset(cache.records_paths, 10, preprocessor, 2)
    assert padded < sum(int(tf_size(b["padding_mask"])) for b in in_input_order)


# === Training from the cache ===


def test_a_streamed_training_split_reads_as_the_in_memory_one(tmp_path):
    data_dir = write_data(tmp_path / "data")
    settings = dict(do_train=True, train_file="train.csv", labels="")
    settings.update(class_weights="balanced", max_train_samples=15)
    in_memory = read_task_data(config(data_dir, tmp_path, **settings))
    streamed = read_task_data(
        config(data_dir, tmp_path, data_in_memory="false", **settings)
    )
    assert streamed.train is None and streamed.streamed == ("train", "test")
    assert streamed.labels == in_memory.labels == ["neg", "pos"]
    assert streamed.class_weights == in_memory.class_weights
    assert streamed.class_weights == {"neg": 15 / 16, "pos": 15 / 14}
    summary = streamed.train_summary
    assert summary.num_examples == 15
    assert summary.data_sha256 == hash_examples(in_memory.train)


def test_a_bad_training_row_stops_the_read_naming_its_line(tmp_path):
    data_dir = write_data(tmp_path / "data")
    with open(data_dir / "train.csv", "a") as file:
        file.write("t16,the dog\n")
    with pytest.raises(DataError, match=r"train\.csv, line 18: too few columns"):
        read_task_data(
            config(
                data_dir,
                tmp_path,
                do_train=True,
                train_file="train.csv",
                data_in_memory="false",
            )
        )


def labelled_cache(tmp_path, huggingface_dir, num_examples=40):
    examples = [
        InputExample(f"train-{i}", sentence(i, 1 + i % 9), label=("neg", "pos")[i % 2])
        for i in range(num_examples)
    ]
    return build_feature_cache(
        str(tmp_path / "cache"),
        "train",
        in_one_file(examples),
        tiny_preprocessor(huggingface_dir),
        False,
        ["neg", "pos"],
    )


def unpadded(batch: list) -> list:
    """The rows of a batch of token ids, without their padding ([PAD] is 0)."""
    return [tuple(token for token in row if token) for row in batch]


def batches_of(dataset) -> list:
    return [
        (inputs["token_ids"].numpy().tolist(), labels.numpy().tolist())
        for inputs, labels in dataset
    ]


@pytest.mark.parametrize("bucket_by_length", [False, True])
def test_a_resumed_run_gets_the_rest_of_the_same_batches(
    tmp_path, huggingface_dir, bucket_by_length
):
    cache = labelled_cache(tmp_path, huggingface_dir)
    preprocessor = tiny_preprocessor(huggingface_dir)

    def batches(start_step):
        dataset = build_cache_train_dataset(
            cache, preprocessor, 4, 25, seed=3, start_step=start_step,
            bucket_by_length=bucket_by_length,
        )  # fmt: skip
        return batches_of(dataset)

    unbroken = batches(0)
    assert len(unbroken) == 25
    assert batches(7) == unbroken[7:]
    if not bucket_by_length:  # an epoch is every row once, reshuffled after
        epochs = [unbroken[:10], unbroken[10:20]]
        rows = [sorted(r for ids, _ in e for r in unpadded(ids)) for e in epochs]
        assert rows[0] == rows[1] and len(rows[0]) == 40
        assert epochs[0] != epochs[1]


def test_length_buckets_pad_less_than_random_batches(tmp_path, huggingface_dir):
    cache = labelled_cache(tmp_path, huggingface_dir, num_examples=600)
    preprocessor = tiny_preprocessor(huggingface_dir)

    def padded_tokens(bucket_by_length):
        dataset = build_cache_train_dataset(
            cache, preprocessor, 4, 60, seed=0, bucket_by_length=bucket_by_length
        )
        return sum(int(tf_size(inputs["token_ids"])) for inputs, _ in dataset)

    assert padded_tokens(True) < padded_tokens(False)


def tf_size(tensor) -> int:
    return int(np.prod(tensor.shape))


def test_training_streams_from_the_cache_with_the_same_identity(
    trained, tmp_path, huggingface_dir
):
    data_dir, memory_dir = trained
    out = tmp_path / "out"
    result = train(data_dir, out, huggingface_dir, "false", "--do_predict")
    assert result.returncode == 0, result.stderr
    assert "Reading train as a stream" in result.stderr
    assert "Num examples = 16 (16 rows)" in result.stderr
    record = json.loads((out / "run_config.json").read_text())
    expected = json.loads((memory_dir / "run_config.json").read_text())
    # The same run but for the order of its batches; its data hashes equal.
    assert record["identity"].pop("training_order") == "feature_cache"
    assert expected["identity"].pop("training_order") == "in_memory"
    assert record["identity"] == expected["identity"]
    assert record["data_sha256"] == expected["data_sha256"]
    report = json.loads((out / "data_report.json").read_text())["splits"]
    expected_report = json.loads((memory_dir / "data_report.json").read_text())
    assert report == expected_report["splits"]
    assert (out / "model.ckpt-4.index").exists()
    assert len(list((out / "feature_cache").iterdir())) == 2
    again = train(data_dir, out, huggingface_dir, "false")
    assert again.returncode == 0, again.stderr
    assert "Reusing the feature cache" in again.stderr
    # An in-memory run would train in another order: it does not resume.
    in_memory = train(data_dir, out, huggingface_dir, "true")
    assert in_memory.returncode == 1
    assert "training_order: 'feature_cache' -> 'in_memory'" in in_memory.stderr


def test_a_killed_streamed_run_resumes_to_the_same_results(
    trained, tmp_path, huggingface_dir
):
    """Kill -9 right after checkpoint 3 of 8, resume: the whole run's results."""
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"

    def flags_of_run(output_dir):
        return [
            *flags(trained[0], output_dir, huggingface_dir, "--do_train"),
            "--do_predict",
            "--train_batch_size=4",
            "--num_train_epochs=2",  # 8 steps
            "--save_checkpoints_steps=1",
            "--deterministic",
            "--data_in_memory=false",
        ]

    result = run_main(*flags_of_run(whole))
    assert result.returncode == 0, result.stderr[-3000:]
    killed = run_killed_after_checkpoint(flags_of_run(resumed), resumed, step=3)
    assert killed == -signal.SIGKILL
    assert not (resumed / "model.ckpt-4.index").exists()
    result = run_main(*flags_of_run(resumed))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Reusing the feature cache" in result.stderr
    assert "from 3)" in result.stderr
    test_results = [(out / "test_results.tsv").read_text() for out in (whole, resumed)]
    assert test_results[0] == test_results[1]


def test_multi_label_rows_keep_their_label_sets_and_report(tmp_path, huggingface_dir):
    labels = ["news", "sport", "tech"]
    examples = [
        InputExample(
            f"train-{i}",
            sentence(i, 1 + i),  # each row its own length
            label=(labels[i % 3],) + ((labels[(i + 1) % 3],) if i % 2 else ()),
        )
        for i in range(8)
    ]
    preprocessor = tiny_preprocessor(huggingface_dir)
    cache = build_feature_cache(
        str(tmp_path / "cache"),
        "train",
        in_one_file(examples),
        preprocessor,
        False,
        labels,
        OutputKind.LABELS,
    )
    dataset = build_cache_train_dataset(cache, preprocessor, 8, 1, seed=0)
    ((inputs, targets),) = list(dataset)
    lengths = inputs["padding_mask"].numpy().sum(axis=1)
    by_example = targets.numpy()[np.argsort(lengths)]  # row i has i + 3 tokens
    expected = build_targets(examples, labels, OutputKind.LABELS)
    np.testing.assert_array_equal(by_example, expected)
    np.testing.assert_array_equal(cache.read_labels(), expected)  # evaluation's
    packed = pack_examples(
        build_dataset(examples, labels, False, True, OutputKind.LABELS), preprocessor
    )
    settings = dict(is_pair=False, max_seq_length=16, output_kind=OutputKind.LABELS)
    in_memory = build_data_report({"train": examples}, {"train": packed}, **settings)
    streamed = build_data_report({}, {}, cached={"train": cache}, **settings)
    assert streamed == in_memory
    assert streamed["splits"]["train"]["labels_per_example"] == 1.5


def test_windows_of_a_training_row_carry_its_label(tmp_path, huggingface_dir):
    examples = [
        InputExample(f"train-{i}", sentence(i, 4 + 6 * i), label=("neg", "pos")[i % 2])
        for i in range(6)
    ]
    preprocessor = tiny_preprocessor(huggingface_dir, long_text="chunks", doc_stride=4)
    cache = build_feature_cache(
        str(tmp_path / "cache"),
        "train",
        in_one_file(examples),
        preprocessor,
        False,
        ["neg", "pos"],
    )
    document_ids = cache.read_array("document_ids")
    assert cache.num_rows == len(document_ids) > cache.num_examples == 6
    rows = tf.data.TFRecordDataset(cache.records_paths).batch(100)
    ((_, labels),) = [parse_rows(b, preprocessor, None, cache.label_spec) for b in rows]
    np.testing.assert_array_equal(labels.numpy(), document_ids % 2)
    assert cache.label_counts == {"neg": 3, "pos": 3}
    np.testing.assert_array_equal(cache.read_labels(), [0, 1] * 3)  # per example


# === Evaluation from the cache ===


def assert_same_eval_results(streamed_dir, memory_dir):
    """eval_results.json equal: counts exactly, losses and scores to 1e-5."""
    streamed = json.loads((streamed_dir / "eval_results.json").read_text())
    in_memory = json.loads((memory_dir / "eval_results.json").read_text())
    assert streamed.keys() == in_memory.keys()
    for key, value in in_memory.items():
        if isinstance(value, float):
            assert streamed[key] == pytest.approx(value, abs=1e-5), key
        else:
            assert streamed[key] == value, key
    streamed_text = (streamed_dir / "eval_results.txt").read_text().splitlines()
    memory_text = (memory_dir / "eval_results.txt").read_text().splitlines()
    assert [line.split(" = ")[0] for line in streamed_text] == [
        line.split(" = ")[0] for line in memory_text
    ]


def test_streamed_evaluation_equals_the_in_memory_one(
    trained, tmp_path, huggingface_dir
):
    evaluate = dict(step="--do_eval")
    result, streamed = predict_again(
        trained, tmp_path / "a", huggingface_dir, "--data_in_memory=false", **evaluate
    )
    _, in_memory = predict_again(
        trained, tmp_path / "b", huggingface_dir, "--data_in_memory=true", **evaluate
    )
    assert "Reading dev as a stream" in result.stderr
    assert "Cached 9 dev examples (9 rows)" in result.stderr
    assert "Num examples = 9 (9 rows)" in result.stderr
    assert_same_eval_results(streamed, in_memory)
    metrics = json.loads((streamed / "eval_results.json").read_text())
    assert sum(map(sum, metrics["eval_confusion_matrix"])) == 9
    report = json.loads((streamed / "data_report.json").read_text())["splits"]
    expected = json.loads((in_memory / "data_report.json").read_text())["splits"]
    assert report == expected and report["dev"]["labels"] == {"neg": 3, "pos": 6}


def test_streamed_multi_label_windows_and_tuned_threshold_evaluate_as_in_memory(
    tmp_path, huggingface_dir
):
    """Long dev reviews in windows pooled per review, each review's label set
    from the cache, the threshold tuned on those outputs."""
    labels = "acting,humor,negative,positive,story,visuals"

    def evaluate(output_dir, data_in_memory):
        result = run_main(
            "--task_name=csv",
            f"--data_dir={ASPECTS_DIR}",
            "--dev_file=dev.csv",
            "--label_column=labels",
            f"--labels={labels}",
            "--multi_label",
            "--multi_label_threshold=tuned",
            "--long_text=chunks",
            "--doc_stride=8",
            "--do_eval",
            f"--init_checkpoint={huggingface_dir}",
            "--max_seq_length=16",
            "--eval_batch_size=8",
            "--export_formats=none",
            f"--data_in_memory={data_in_memory}",
            f"--output_dir={output_dir}",
        )
        assert result.returncode == 0, result.stderr
        return result

    streamed = evaluate(tmp_path / "a", "false")
    evaluate(tmp_path / "b", "true")
    assert "Reading dev as a stream" in streamed.stderr
    assert "--multi_label_threshold=tuned:" in streamed.stderr
    assert_same_eval_results(tmp_path / "a", tmp_path / "b")
    report = json.loads((tmp_path / "a" / "data_report.json").read_text())
    assert report["splits"]["dev"]["long_text"]["windows"] > 16


def test_evaluation_during_training_reads_the_dev_cache(
    trained, tmp_path, huggingface_dir
):
    out = tmp_path / "out"
    result = train(
        trained[0], out, huggingface_dir, "false", "--do_eval", "--eval_every_steps=2"
    )
    assert result.returncode == 0, result.stderr
    assert "Reading dev as a stream" in result.stderr
    # Built once, read by the evaluations at steps 2 and 4 and the final one.
    assert result.stderr.count("Building the feature cache") == 2  # train, dev
    assert result.stderr.count("***** Running evaluation *****") == 3
    best = json.loads((out / "best" / "best_checkpoint.json").read_text())
    assert best["metric_key"] == "eval_accuracy"
    final = json.loads((out / "eval_results.json").read_text())
    assert final["eval_accuracy"] == pytest.approx(best["best_value"])
    record = json.loads((out / "run_config.json").read_text())
    in_memory = json.loads((trained[1] / "run_config.json").read_text())
    assert record["data_sha256"]["dev"] == hash_examples(
        CsvProcessor(TaskOptions(dev_file="dev.csv", id_column="id"))
        .resolve_labels(None, str(trained[1] / "labels.txt"))
        .get_examples(str(trained[0]), "dev")
    )
    assert record["data_sha256"]["train"] == in_memory["data_sha256"]["train"]


def test_a_streamed_dev_split_holds_no_examples_and_keeps_its_labels(
    tmp_path, huggingface_dir
):
    data_dir = write_data(tmp_path / "data")
    settings = dict(do_predict=False, do_eval=True, dev_file="dev.csv")
    streamed = read_task_data(
        config(data_dir, tmp_path, data_in_memory="false", **settings)
    )
    in_memory = read_task_data(config(data_dir, tmp_path, **settings))
    assert (streamed.dev, streamed.streamed) == (None, ("dev",))
    preprocessor = tiny_preprocessor(huggingface_dir)
    cached = streaming.cache_streamed_splits(
        config(data_dir, tmp_path, data_in_memory="false", **settings),
        streamed,
        preprocessor,
        str(tmp_path / "caches"),
    )
    cache = cached.cached["dev"]
    expected = build_targets(in_memory.dev, ["neg", "pos"])
    np.testing.assert_array_equal(cache.read_labels(), expected)
    assert cache.read_labels().dtype == np.int64
    assert cache.data_sha256 == hash_examples(in_memory.dev)
