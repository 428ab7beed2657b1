"""The whole-process benchmark's data, comparison and report (runs need two venvs)."""

import pytest

from bench import whole


def args(**overrides):
    return whole.build_parser().parse_args(
        [f"--{name}={value}" for name, value in overrides.items()]
    )


def record(part, side, seconds, round_index=0, **extra):
    return {
        "part": part,
        "side": side,
        "round": round_index,
        "seconds": seconds,
        "peak_rss_mib": 1000.0,
        "other_cpu": 0.0,
        "time_line": None,
        **extra,
    }


def test_ratios_are_their_seconds_over_ours_against_the_targets():
    records = [
        record("job", "ours", 60.0),
        record("job", "theirs", 150.0),
        record("predict", "ours", 50.0),
        record("predict", "ours_export", 40.0),
        record("predict", "onnxruntime", 54.0),
    ]
    lines = whole.format_ratios(records).splitlines()
    assert lines[1] == (
        "job: ours (main.py) is 2.50x as fast as HF+torch (target >= 2.0x: ok)"
    )
    assert lines[2].endswith("1.08x as fast as ONNX Runtime (target >= 1.2x: MISS)")
    assert lines[3].endswith("1.35x as fast as ONNX Runtime (target >= 1.2x: ok)")


def test_the_job_table_gives_medians_and_the_median_runs_phase_times():
    records = [
        record("job", "ours", seconds, i, eval_accuracy=0.8, time_line=f"Time: {i}")
        for i, seconds in enumerate((70.0, 50.0, 60.0))
    ]
    table = whole.format_job(records, args(train_examples=2048))
    assert "| ours (main.py) | 60.0 (50.0-70.0) | 1000 (1000-1000) | 0.8000 (" in table
    assert table.endswith("the median run's Time: 2")


def test_probabilities_of_each_side_are_compared_with_ours(tmp_path):
    ours = tmp_path / "ours.tsv"
    ours.write_text("0.25\t0.75\n0.5\t0.5\n")
    export = tmp_path / "export.tsv"
    export.write_text(
        "id\tlabel\tprobability_0\tprobability_1\n0\t1\t0.25\t0.75\n1\t0\t0.5\t0.5\n"
    )
    onnx = tmp_path / "onnx.tsv"
    onnx.write_text("0.25001\t0.74999\n0.5\t0.5\n")
    records = [
        record("predict", "ours", 1.0, output_file=str(ours)),
        record("predict", "ours_export", 1.0, output_file=str(export)),
        record("predict", "onnxruntime", 1.0, output_file=str(onnx)),
    ]
    whole.compare_probabilities(records)
    differences = [r["max_abs_difference"] for r in records]
    assert differences[:2] == [0.0, 0.0]
    assert differences[2] == pytest.approx(1e-5, abs=1e-6)


def test_the_data_of_the_job_and_of_prediction(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    rows = "".join(f"sentence {i}\t{i % 2}\n" for i in range(100))
    for name in ("train.tsv", "dev.tsv"):
        (source / name).write_text("sentence\tlabel\n" + rows)
    (source / "test.tsv").write_text(
        "index\tsentence\n" + "".join(f"{i}\ttest {i}\n" for i in range(10))
    )
    chosen = args(data_dir=source, train_examples=40, predict_examples=50)
    whole.write_job_data(chosen, str(tmp_path / "job"))
    header, train = whole.read_rows(str(tmp_path / "job" / "train.tsv"))
    assert header == ["sentence", "label"] and len(train) == 40
    assert len(whole.read_rows(str(tmp_path / "job" / "dev.tsv"))[1]) == 100
    whole.write_predict_data(chosen, str(tmp_path / "predict"))
    header, test = whole.read_rows(str(tmp_path / "predict" / "test.tsv"))
    assert header == ["index", "sentence"]
    assert test[49] == ["49", "sentence 49"] and len(test) == 50


def test_an_unknown_part_is_refused_by_name(tmp_path):
    existing = {
        "model_dir": tmp_path,
        "data_dir": tmp_path,
        "ours_python": tmp_path,
        "theirs_python": tmp_path,
    }
    with pytest.raises(SystemExit, match="--parts=job,train: unknown train"):
        whole.check_args(args(**existing, parts="job,train"))
    whole.check_args(args(**existing, parts="predict"))
