"""What a run prints: the progress bar and the runner's own log lines.

Library chatter that says nothing about the run is hidden unless the command
line asks for it with absl's own `--verbosity` flag (`--verbosity=0` shows
every library's info lines). `main()` calls `quiet_console` and loads
TensorFlow inside `native_stderr_hidden` before anything else runs.
"""

import contextlib
import logging
import os
import sys
import warnings

# Keras' `fit(shuffle=True)` is its default and warns when `x` is a
# tf.data.Dataset, which cannot be shuffled by Keras. The training dataset
# shuffles itself (app/input_pipeline.py), so the warning says nothing here.
# keras/src/trainers/data_adapters/__init__.py, `get_data_adapter`.
SHUFFLE_WARNING = r"`shuffle=True` was passed, but will be ignored since the data `x`"


LIBRARY_LOGGERS = ("absl", "tensorflow")


class _WarningsAndAbove(logging.Filter):
    """Lets through records at WARNING and above only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


WARNINGS_AND_ABOVE = _WarningsAndAbove()


def quiet_console() -> None:
    """Hides TensorFlow's C++ and per-checkpoint lines and Keras' shuffle warning.

    Call it before TensorFlow loads: its C++ log level is read once, at load.
    A value the user already set in the environment wins.
    """
    # C++ messages below FATAL (device probing, cuInit failures) stay quiet;
    # real failures still reach the user as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow logs at INFO through absl ("Sharding callback duration" on
    # every save, tensorflow/python/checkpoint/functional_saver.py) and its own
    # logger ("Assets written to"). A filter, not a level: saving a SavedModel
    # resets absl's level (tensorflow/python/trackable/autotrackable.py).
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).addFilter(WARNINGS_AND_ABOVE)
    warnings.filterwarnings("ignore", message=SHUFFLE_WARNING, category=UserWarning)


@contextlib.contextmanager
def native_stderr_hidden(hidden: bool = True):
    """Sends what native code writes to stderr to /dev/null inside the block.

    TensorFlow's C++ libraries log a few info lines while they load, before
    absl's C++ logging is initialized, and such lines ignore
    TF_CPP_MIN_LOG_LEVEL (seen with tensorflow 2.21; upstream:
    https://github.com/abseil/abseil-cpp/pull/1957 and
    https://github.com/tensorflow/tensorflow/pull/102212). Python exceptions
    raised inside the block are printed after it, on the real stderr.
    """
    if not hidden:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def exit_without_teardown(status: int) -> None:
    """Flushes the logs, stdout and stderr, then ends the process at once.

    For a command whose outputs are all written and closed: the interpreter's
    clean-up of TensorFlow's objects (traced functions, kernels, thread pools)
    writes nothing and takes seconds.
    """
    logging.shutdown()  # flushes the log handlers
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing to lose
            pass
    os._exit(status)
