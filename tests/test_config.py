"""The one run configuration: its flags, their validation, and a quiet console."""

import ast
import dataclasses
import importlib.util
import logging
import os
import subprocess
import sys
import warnings

import pytest
from absl import flags

import main
from app import console
from app.config import RunConfig, validate
from app.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# RunConfig fields that deliberately have no flag (none today). A new field
# lands here only with a reason next to its name.
FIELDS_WITHOUT_FLAGS: tuple[str, ...] = ()

# === One definition: RunConfig fields <-> flags ===


@pytest.fixture
def flag_values() -> flags.FlagValues:
    """main.py's flags, defined in a registry of their own."""
    values = flags.FlagValues()
    main.define_flags(values)
    return values


def test_every_field_has_a_flag_and_every_flag_a_field(flag_values):
    fields = {field.name for field in dataclasses.fields(RunConfig)}
    assert fields - set(flag_values) == set(FIELDS_WITHOUT_FLAGS)
    assert set(flag_values) - fields == set()


def test_flags_take_default_help_and_choices_from_the_field(flag_values):
    for field in dataclasses.fields(RunConfig):
        flag = flag_values[field.name]
        assert flag.default == field.default, field.name
        assert flag.help.endswith(field.metadata["help"]) and flag.help, field.name
        choices = field.metadata.get("choices")
        assert getattr(flag.parser, "enum_values", None) == (
            list(choices) if choices else None
        ), field.name


def test_flags_become_the_config(flag_values):
    flag_values(
        [
            "main.py",
            "--task_name=csv",
            "--classifier_dropout=0.25",
            "--nocpu_speedups",
            "--precision=float32",
            "--num_train_epochs=1.5",
        ]
    )
    config = main.config_from_flags(flag_values)
    assert (config.task_name, config.classifier_dropout) == ("csv", 0.25)
    assert (config.cpu_speedups, config.precision) == (False, "float32")
    assert config.num_train_epochs == 1.5
    assert config.learning_rate == RunConfig().learning_rate


def test_task_options_are_run_settings_with_the_same_defaults():
    """tasks/ cannot import app/, so TaskOptions repeats its defaults: checked."""
    from tasks import TaskOptions

    run_defaults = {
        field.name: field.default for field in dataclasses.fields(RunConfig)
    }
    for field in dataclasses.fields(TaskOptions):
        assert field.default == run_defaults[field.name], field.name


def original_flags() -> dict[str, tuple[str, object]]:
    """run_classifier.py's flags (bert-tensorflow): name -> (kind, default)."""
    path = importlib.util.find_spec("bert.run_classifier").origin
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    found = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr.startswith("DEFINE_")
        ):
            name, default = (ast.literal_eval(arg) for arg in node.args[:2])
            found[name] = (node.func.attr.removeprefix("DEFINE_"), default)
    return found


def test_the_original_flags_keep_their_names_kinds_and_defaults(flag_values):
    original = original_flags()
    assert len(original) == 26
    kinds = {"string": str, "bool": bool, "integer": int, "float": float}
    for name, (kind, default) in original.items():
        assert flag_values[name].default == default, name
        if default is not None:
            assert type(flag_values[name].default) is kinds[kind], name


# === Validation before anything is read or written ===


def config(tmp_path, **overrides) -> RunConfig:
    values = dict(
        task_name="mrpc",
        data_dir=str(tmp_path / "data"),
        output_dir=str(tmp_path / "out"),
        init_checkpoint="unused",
        do_train=True,
    )
    return RunConfig(**(values | overrides))


@pytest.mark.parametrize(
    "name, value",
    [
        ("learning_rate", float("nan")),
        ("learning_rate", float("inf")),
        ("learning_rate", -1e-5),
        ("learning_rate", 0.0),
        ("num_train_epochs", float("nan")),
        ("num_train_epochs", -1.0),
        ("warmup_proportion", float("nan")),
        ("warmup_proportion", -0.1),
        ("warmup_proportion", 1.5),
        ("classifier_dropout", float("nan")),
        ("classifier_dropout", -0.1),
        ("classifier_dropout", 1.0),
        ("train_batch_size", 0),
        ("num_tpu_cores", -8),
        ("seed", -1),
        ("seed", 2**32),
        ("eval_every_steps", -1),
        ("pad_to_multiple_of", -1),
        ("precision", "float64"),
        ("strategy", "tpu_pod"),
    ],
)
def test_bad_numbers_and_choices_name_their_flag(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"^--{name} .*Received: {name}={value}"):
        validate(config(tmp_path, **{name: value}))


@pytest.mark.parametrize(
    "name, value", [("classifier_dropout", 0.0), ("warmup_proportion", 1.0)]
)
def test_edge_values_that_work(tmp_path, name, value):
    assert getattr(validate(config(tmp_path, **{name: value})), name) == value


@pytest.fixture
def logger_levels():
    """Restores what quiet_console and absl flags change in logging."""
    loggers = [logging.root, logging.getLogger("absl")]
    levels = [logger.level for logger in loggers]
    verbosity = flags.FLAGS["verbosity"].value
    yield
    flags.FLAGS["verbosity"].value = verbosity
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)
    for name in console.LIBRARY_LOGGERS:
        logging.getLogger(name).removeFilter(console.WARNINGS_AND_ABOVE)


@pytest.fixture
def run_main(capsys, monkeypatch, logger_levels):
    """main.main in-process on a command line; (exit status, stderr)."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)

    def run(*argv):
        with warnings.catch_warnings():
            flags.FLAGS(["main.py", *argv])
            try:
                status = main.main([])
            finally:
                flags.FLAGS.unparse_flags()
        return status, capsys.readouterr().err

    return run


def test_nan_learning_rate_exits_1_before_anything_is_written(tmp_path, run_main):
    output_dir = tmp_path / "out"
    status, stderr = run_main(
        "--task_name=mrpc",
        "--do_train",
        f"--data_dir={tmp_path}",
        f"--output_dir={output_dir}",
        "--init_checkpoint=unused",
        "--learning_rate=nan",
    )
    assert status == 1
    assert stderr.endswith(
        "ERROR: --learning_rate must be a finite number. Received: learning_rate=nan\n"
    )
    assert not output_dir.exists()


# === A quiet console ===


@pytest.fixture
def restored_console(monkeypatch, logger_levels):
    """Undoes quiet_console (environment, loggers, warning filters); root at INFO."""
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    logging.root.setLevel(logging.INFO)  # as absl's app.run sets it
    logging.getLogger("absl").setLevel(logging.NOTSET)
    with warnings.catch_warnings():
        yield


def fit_warnings() -> list[str]:
    """What Keras warns when fit() gets a tf.data.Dataset with its default shuffle."""
    import tensorflow as tf
    from keras.src.trainers.data_adapters import get_data_adapter

    dataset = tf.data.Dataset.from_tensor_slices([1.0, 2.0]).batch(1)
    with warnings.catch_warnings(record=True) as caught:
        # Behind any filter already set, so quiet_console's still applies.
        warnings.filterwarnings("always", append=True)
        get_data_adapter(dataset, shuffle=True)
    return [str(warning.message) for warning in caught]


def test_keras_still_warns_about_shuffle_for_datasets(restored_console):
    """When this fails, Keras no longer warns and SHUFFLE_WARNING can go."""
    assert any(
        message.startswith("`shuffle=True` was passed") for message in fit_warnings()
    )


def test_quiet_console_hides_only_that_warning(restored_console):
    console.quiet_console()
    assert fit_warnings() == []
    with pytest.warns(UserWarning, match="another"):
        warnings.warn("another", UserWarning)


def test_tensorflow_still_logs_checkpoint_timings_through_absl():
    """When this fails, the lines are gone upstream and the absl filter can go."""
    from tensorflow.python.checkpoint import functional_saver

    source = importlib.util.find_spec(functional_saver.__name__).origin
    with open(source, encoding="utf-8") as file:
        assert 'logging.info("Sharding callback duration' in file.read()
    assert functional_saver.logging.__name__ == "absl.logging"


def test_quiet_console_keeps_the_runner_lines_only(restored_console, caplog):
    from absl import logging as absl_logging

    caplog.set_level(logging.INFO)
    console.quiet_console()
    # What saving a SavedModel does (tensorflow/python/trackable/autotrackable.py).
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logging.info("Sharding callback duration: 179 microseconds")
    logging.getLogger("tensorflow").info("Assets written to: export/assets")
    logging.getLogger("app.runner").info("Read 6 train examples.")
    absl_logging.warning("a library warning")
    assert caplog.messages == ["Read 6 train examples.", "a library warning"]
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_quiet_console_keeps_a_log_level_the_user_set(restored_console, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    console.quiet_console()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_native_stderr_hidden_only_inside_the_block(capfd):
    os.write(2, b"before\n")
    with console.native_stderr_hidden():
        os.write(2, b"native start-up line\n")
    with console.native_stderr_hidden(hidden=False):
        os.write(2, b"shown\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nshown\nafter\n"


def test_native_stderr_comes_back_after_an_exception(capfd):
    with pytest.raises(ImportError):
        with console.native_stderr_hidden():
            raise ImportError("no such module")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"


def test_only_verbosity_keeps_library_lines(run_main, monkeypatch):
    calls = []
    monkeypatch.setattr(console, "quiet_console", lambda: calls.append("quiet"))
    assert run_main("--task_name=mrpc")[0] == 1  # no action given: exit 1
    assert calls == ["quiet"]
    assert run_main("--verbosity=0", "--task_name=mrpc")[0] == 1
    assert calls == ["quiet"]


def test_a_failing_run_prints_only_the_runner_lines(tmp_path):
    """TensorFlow loads, devices are probed, and stderr holds no library line."""
    environment = dict(os.environ)
    environment.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--task_name=mrpc",
            "--do_eval",
            f"--data_dir={tmp_path / 'missing'}",
            f"--output_dir={tmp_path / 'out'}",
            f"--init_checkpoint={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("ERROR: The data folder does not exist")
    assert len(lines) == 2 and "] Strategy: " in lines[0], lines


# === The environment: changed by main(), never by an import ===


def test_importing_app_changes_no_environment(monkeypatch):
    import app

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    importlib.reload(app)
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ


@pytest.mark.parametrize("already_set, expected", [(None, "1"), ("0", "0")])
def test_main_turns_on_onednn_unless_set(monkeypatch, already_set, expected):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    if already_set is not None:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", already_set)
    main.load_tensorflow(verbose=True)
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == expected


def test_allow_case_mismatch_reaches_the_case_check(huggingface_dir, tmp_path):
    from app.runner import run_all
    from checkpoints import CheckpointError
    from tasks import DataError

    config = RunConfig(
        task_name="mrpc",
        data_dir=str(tmp_path / "missing"),
        output_dir=str(tmp_path / "out"),
        init_checkpoint=huggingface_dir,  # records do_lower_case: true
        do_lower_case=False,
        do_train=True,
    )
    with pytest.raises(CheckpointError, match="--allow_case_mismatch"):
        run_all(config)
    # Past the case check, the run stops at the next problem: no data.
    with pytest.raises(DataError):
        run_all(dataclasses.replace(config, allow_case_mismatch=True))
    assert not (tmp_path / "out").exists()
