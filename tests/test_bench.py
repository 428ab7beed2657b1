"""The benchmark's pairing and report logic (the measurements need two venvs)."""

import pytest

from bench import run


def args(**overrides):
    return run.build_parser().parse_args(
        [f"--{name}={value}" for name, value in overrides.items()]
    )


def test_bucketed_is_ours_against_their_dynamic_padding_except_tokenizing():
    chosen = args(precisions="float32", paddings="bucketed,static")
    assert run.selected_pairs(chosen, "predict") == [
        (run.ours("bucketed"), run.theirs("dynamic")),
        (run.ours("static"), run.theirs("static")),
    ]
    assert run.selected_pairs(chosen, "tokenize") == [
        (run.ours("static"), run.theirs("static"))
    ]


def record(setting, phase, **result):
    """A worker's record: every key of its phase, 1.0 unless given."""
    keys = [key for _, column_phase, key, _ in run.COLUMNS if column_phase == phase]
    return {
        "phase": phase,
        "side": setting.side,
        "padding": setting.padding,
        "precision": setting.precision,
        "result": dict.fromkeys(keys, 1.0) | result,
    }


def test_ratios_are_ours_over_theirs_against_the_targets():
    records = [
        record(run.ours("bucketed"), "predict", predict_examples_per_second=210.0),
        record(run.theirs("dynamic"), "predict", predict_examples_per_second=100.0),
        record(run.ours("bucketed"), "train", peak_rss_mib=1200.0),
        record(run.theirs("dynamic"), "train", peak_rss_mib=1000.0),
    ]
    row = run.format_ratios(records).splitlines()[2]
    assert row.startswith("| ours bucketed fp32 / HF+torch dynamic fp32 | >= 2.0x")
    cells = [cell.strip() for cell in row.split("|")[3:-1]]
    columns = [column[0] for column in run.COLUMNS]
    assert cells[columns.index("predict ex/s")] == "2.10 ok"
    assert cells[columns.index("train peak MiB")] == "1.20 MISS"
    assert cells[columns.index("train ex/s")] == "1.00 MISS"


def test_an_unknown_precision_padding_or_phase_is_refused_by_name(tmp_path):
    existing = {
        "model_dir": tmp_path,
        "data_file": tmp_path,
        "ours_python": tmp_path,
        "theirs_python": tmp_path,
    }
    for flag, value in (
        ("precisions", "float32,mixed_bfloat16"),
        ("paddings", "trimmed"),
        ("phases", "predict,eval"),
    ):
        with pytest.raises(SystemExit, match=f"--{flag}=.*unknown"):
            run.check_args(args(**existing, **{flag: value}))
    run.check_args(args(**existing, precisions="bfloat16", phases="train"))
