"""The large-data benchmark's rows, model, commands and report (no real runs)."""

import csv
import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bench import large_data

SENTENCES = [('a, "quoted" one', "1"), ("two", "0"), ("three", "1")]


def args(*flags):
    return large_data.build_parser().parse_args(list(flags))


def test_rows_pair_each_sentence_with_another_and_never_repeat():
    rows = [large_data.generate_row(SENTENCES, i) for i in range(9)]
    assert rows[:4] == [
        ("0", 'a, "quoted" one', "1"),
        ("1", "two", "0"),
        ("2", "three", "1"),
        ("3", 'a, "quoted" one two', "1"),
    ]
    assert rows[8] == ("8", "three two", "1")
    assert len({row[1] for row in rows}) == 9


def test_written_rows_read_back_as_csv_and_are_reused(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "train.tsv").write_text('sentence\tlabel\nfine, "really"\t1\n')
    (source / "dev.tsv").write_text("sentence\tlabel\nbad\t0\n")
    options = args(f"--source_dir={source}", f"--scratch_dir={tmp_path}")
    path = large_data.ensure_data(options, 5)
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["id", "sentence", "label"]
    assert rows[1] == ["0", 'fine, "really"', "1"]
    assert rows[4] == ["3", 'bad fine, "really"', "0"]
    assert len(rows) == 6
    with open(path, "w", encoding="utf-8") as file:
        file.write("kept\n")
    assert large_data.ensure_data(options, 5) == path
    assert open(path, encoding="utf-8").read() == "kept\n"


def write_fake_bert(folder, num_layers):
    folder.mkdir()
    tensors = {"embeddings.word_embeddings.weight": np.ones((4, 2), np.float32)}
    for layer in range(num_layers):
        name = f"encoder.layer.{layer}.output.dense.weight"
        tensors[name] = np.full((2, 2), layer, np.float32)
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"num_hidden_layers": num_layers}))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")


def test_the_derived_model_keeps_the_first_layers_and_the_vocabulary(tmp_path):
    write_fake_bert(tmp_path / "full", num_layers=12)
    target = tmp_path / "small"
    large_data.derive_model(str(tmp_path / "full"), str(target), num_layers=2)
    tensors = load_file(str(target / "model.safetensors"))
    assert sorted(tensors) == [
        "embeddings.word_embeddings.weight",
        "encoder.layer.0.output.dense.weight",
        "encoder.layer.1.output.dense.weight",
    ]
    assert tensors["encoder.layer.1.output.dense.weight"][0, 0] == 1
    assert json.loads((target / "config.json").read_text())["num_hidden_layers"] == 2
    assert (target / "vocab.txt").read_text() == "[PAD]\n[UNK]\n"


def test_more_layers_than_the_model_has_is_refused(tmp_path):
    write_fake_bert(tmp_path / "full", num_layers=2)
    with pytest.raises(SystemExit, match="--num_layers=3: .* has only 2 layers"):
        large_data.derive_model(str(tmp_path / "full"), str(tmp_path / "x"), 3)


@pytest.mark.parametrize("num_rows", [3200, 12345, 100_000, 1_000_000, 3_000_000])
def test_the_epochs_give_main_py_exactly_the_steps_asked(num_rows):
    from app.optimization import count_train_steps

    epochs = large_data.train_epochs(num_rows, batch_size=32, num_steps=100)
    assert count_train_steps(num_rows, 32, float(repr(epochs))) == 100


def test_commands_predict_and_train_the_file_with_the_extra_flags():
    options = args("--main_flags=--precision=float32 --max_predict_samples=7")
    predict = large_data.main_command(
        options, "predict", "/s/rows-1000.csv", "/s/model", "/s/out"
    )
    assert "--do_predict" in predict and "--do_train" not in predict
    assert "--test_file=rows-1000.csv" in predict
    assert "--data_dir=/s" in predict and "--init_checkpoint=/s/model" in predict
    assert "--export_formats=none" in predict
    assert predict[-2:] == ["--precision=float32", "--max_predict_samples=7"]
    train = large_data.main_command(
        options, "train", "/s/rows-1000.csv", "/s/model", "/s/out"
    )
    assert "--train_file=rows-1000.csv" in train and "--label_column=label" in train
    assert f"--num_train_epochs={large_data.train_epochs(1000, 32, 100)!r}" in train


@pytest.mark.parametrize(
    "flag, text", [("sizes", "1000,x"), ("sizes", "0"), ("parts", "predict,eval")]
)
def test_bad_sizes_and_parts_name_the_flag(flag, text):
    parse = large_data.parse_sizes if flag == "sizes" else large_data.parse_parts
    with pytest.raises(SystemExit, match=f"--{flag} .*Received: {flag}="):
        parse(text)


def record(part, rows, seconds, peak):
    return {
        "part": part,
        "rows": rows,
        "seconds": seconds,
        "cpu_seconds": seconds * 1.5,
        "peak_rss_mib": peak,
        "load_average_before": (1.0, 0.5, 0.2),
        "load_average_after": (2.0, 1.0, 0.5),
        "other_cpu": 0.25,
    }


def test_the_ratio_is_the_largest_peak_over_the_smallest_against_the_target():
    records = [
        record("predict", 1_000_000, 257.0, 2800.0),
        record("predict", 100_000, 40.0, 1120.0),
        record("train", 100_000, 30.0, 1000.0),
        record("train", 1_000_000, 60.0, 1250.0),
    ]
    assert large_data.ratio_line(records, "predict") == (
        "predict: peak RSS at 1,000,000 rows / at 100,000 rows = 2.50x "
        "(target <= 1.3x: MISS); wall time 6.42x, CPU time 6.42x"
    )
    assert "= 1.25x (target <= 1.3x: ok); wall time 2.00x" in large_data.ratio_line(
        records, "train"
    )
    assert large_data.ratio_line(records[:1], "predict") is None
    table = large_data.format_table(records, "predict").splitlines()
    assert table[4] == "| 100,000 | 40.0 | 60 | 1120 | 1.00 -> 2.00 | 25% |"
