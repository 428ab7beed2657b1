"""`python main.py FLAGS` that SIGKILLs itself once a given checkpoint is on disk.

    KILL_AFTER_CHECKPOINT=OUTPUT_DIR/model.ckpt-5.index \
        python tests/kill_at_checkpoint.py FLAGS

Every `fit` of the run gets one more callback, after the run's own: at the
end of each training batch it looks for the checkpoint's index file and, once
it is there, kills the process with SIGKILL, as `kill -9` would. The run's
checkpoint callback saves before it at the end of the same batch, so the run
dies right after that step, however loaded the machine is.
"""

import os
import runpy
import signal
import sys

MAIN_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "main.py")


def kill_once_written(index_path: str):
    """A Keras callback that SIGKILLs this process once `index_path` exists."""
    import keras

    class KillOnceWritten(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if os.path.exists(index_path):
                os.kill(os.getpid(), signal.SIGKILL)

    return KillOnceWritten()


def add_to_every_fit(callback) -> None:
    """Appends `callback` to the callbacks of every `keras.Model.fit` call."""
    import keras

    fit = keras.Model.fit

    def fit_then_callback(self, *args, callbacks=None, **kwargs):
        callbacks = [*(callbacks or []), callback]
        return fit(self, *args, callbacks=callbacks, **kwargs)

    keras.Model.fit = fit_then_callback


def main() -> None:
    add_to_every_fit(kill_once_written(os.environ["KILL_AFTER_CHECKPOINT"]))
    sys.argv[0] = MAIN_PATH
    sys.path.insert(0, os.path.dirname(MAIN_PATH))
    runpy.run_path(MAIN_PATH, run_name="__main__")


if __name__ == "__main__":
    main()
