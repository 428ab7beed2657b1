"""--max_train_samples, --max_eval_samples, --max_predict_samples: the first N rows."""

import logging
import pathlib

import pytest

from app.config import RunConfig, validate
from app.errors import ConfigError
from app.runner import read_task_data

SMS_DIR = pathlib.Path(__file__).parent / "data" / "sms_spam"


def config(tmp_path, **overrides) -> RunConfig:
    values = dict(
        task_name="csv",
        data_dir=str(SMS_DIR),
        output_dir=str(tmp_path / "out"),
        init_checkpoint="unused",
        do_train=True,
        do_eval=True,
        do_predict=True,
        train_file="train.csv",
        dev_file="dev.csv",
        test_file="test.csv",
        label_column="spam",
    )
    return validate(RunConfig(**(values | overrides)))


def test_each_split_keeps_its_first_rows_and_says_so(tmp_path, caplog):
    whole = read_task_data(config(tmp_path))
    with caplog.at_level(logging.INFO, logger="app.runner"):
        data = read_task_data(
            config(
                tmp_path,
                max_train_samples=50,
                max_eval_samples=7,
                max_predict_samples=3,
            )
        )
    assert data.train == whole.train[:50]
    assert data.dev == whole.dev[:7]
    assert data.test == whole.test[:3]
    assert "Keeping the first 7 of 60 dev examples (--max_eval_samples=7)." in (
        caplog.text
    )


def test_a_limit_above_the_split_size_keeps_everything(tmp_path):
    data = read_task_data(config(tmp_path, max_eval_samples=10_000))
    assert len(data.dev) == 60


def test_a_negative_limit_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="max_train_samples=-1"):
        config(tmp_path, max_train_samples=-1)
