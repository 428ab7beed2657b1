r"""Fine-tune BERT for text classification with the original run_classifier.py flags.

    python main.py --task_name=MRPC --do_train --do_eval --data_dir=glue/MRPC \
        --init_checkpoint=PATH --output_dir=/tmp/mrpc

Every flag is a field of `app.config.RunConfig`, which holds its default, help
text and choices: the original's flags first (same names, defaults, meaning),
then those beyond it, devices and reproducibility, tasks and outputs.
absl's own `--verbosity` brings back the library lines a run hides.
"""

import dataclasses
import logging
import os
import sys
import time

from absl import app as absl_app  # `app` is this project's package.
from absl import flags

from app import phase_times
from app.config import RunConfig, value_type

FLAGS = flags.FLAGS

_DEFINE = {
    bool: flags.DEFINE_bool,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
}


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """One flag per RunConfig field: its name, default, help and choices."""
    for field in dataclasses.fields(RunConfig):
        help_text = field.metadata["help"]
        choices = field.metadata.get("choices")
        if choices:
            flags.DEFINE_enum(
                field.name, field.default, choices, help_text, flag_values=flag_values
            )
        else:
            define = _DEFINE[value_type(field)]
            define(field.name, field.default, help_text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = FLAGS) -> RunConfig:
    names = [field.name for field in dataclasses.fields(RunConfig)]
    return RunConfig(**{name: flag_values[name].value for name in names})


def load_tensorflow(verbose: bool) -> None:
    """Sets what TensorFlow reads once, when it loads, then loads it.

    Flag mistakes absl finds are reported before this, so before TensorFlow
    loads. Without `--verbosity`, library chatter is hidden (app/console.py).
    """
    from app import console, lean_imports

    if not verbose:
        console.quiet_console()
    # oneDNN kernels: TensorFlow turns them on by itself only on CPUs with
    # some AVX512 extensions or AMX; they also speed up training and
    # prediction on CPUs without them (docs/changelog.md). A value already
    # set wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    with console.native_stderr_hidden(not verbose), lean_imports.sklearn_deferred():
        import tensorflow  # noqa: F401


def main(argv, started: float | None = None):
    """One run; `started` (perf_counter clock) is when the process started."""
    del argv  # Everything comes from flags.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    times = phase_times.start_run(started)
    load_tensorflow(verbose=FLAGS["verbosity"].present > 0)
    from app.errors import RunInterrupted, UsageError
    from checkpoints import CheckpointError
    from tasks import DataError, UnknownTaskError

    try:
        from app.runner import run_all

        times.add("imports", time.perf_counter() - times.started)
        run_all(config_from_flags())
    except (RunInterrupted, KeyboardInterrupt) as error:
        # 130: the shell's status for a process ended by Ctrl-C (128 + SIGINT).
        print(str(error) or "Interrupted (Ctrl-C).", file=sys.stderr)
        return 130
    except (UsageError, CheckpointError, DataError, UnknownTaskError) as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    logging.getLogger(__name__).info("%s", times.summary())
    return 0


def main_and_exit(argv) -> None:
    """Runs `main`, then ends the process without tearing TensorFlow down;
    a run that raises exits the usual way."""
    from app import console

    console.exit_without_teardown(main(argv, phase_times.process_start()))


define_flags()

if __name__ == "__main__":
    absl_app.run(main_and_exit)
