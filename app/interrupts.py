"""Stopping training cleanly: on Ctrl-C, and when a checkpoint cannot be written.

Ctrl-C (SIGINT) during `fit` only asks for a stop; the checkpoint callback
saves at the next update and ends the run, so a rerun resumes at that step.
A checkpoint write that fails (a full disk) leaves the manager's last complete
checkpoint as it was; the partial files of the failed one are removed.
"""

import contextlib
import errno
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator

import tensorflow as tf

from app.errors import CheckpointWriteError

logger = logging.getLogger(__name__)

# How a full disk (or a file size limit) shows up, from TF and from Python.
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_DISK_FULL_WORDS = ("no space left", "disk quota", "file too large")
# What TF wraps around an op's message: `{{function_node ...}}`, `[Op:SaveV2]`.
_TF_DECORATIONS = re.compile(r"\{\{function_node [^}]*\}\}|\s*\[Op:\w+\]")


@contextlib.contextmanager
def stop_on_sigint(request_stop: Callable[[], None]) -> Iterator[None]:
    """While inside, the first Ctrl-C calls `request_stop`; a second one
    raises KeyboardInterrupt at once, as Python does by default.

    Signal handlers belong to the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handle(signum, frame):
        signal.signal(signal.SIGINT, previous)
        logger.warning(
            "Ctrl-C: saving a checkpoint at the next step, then stopping "
            "(Ctrl-C again stops at once, without saving)."
        )
        request_stop()

    signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def checkpoint_write_error(
    manager: tf.train.CheckpointManager, step: int, error: Exception, model_bytes: int
) -> CheckpointWriteError:
    """Removes what a failed save of `step` left, and says what to do.

    Args:
        model_bytes: the size of the values a checkpoint holds, for the space
            needed when no earlier checkpoint gives it.
    """
    prefix = os.path.join(manager.directory, f"model.ckpt-{step}")
    remove_partial_checkpoint(manager, prefix)
    latest = manager.latest_checkpoint
    kept = (
        f"The last complete checkpoint, {latest}, is kept"
        if latest
        else "No earlier checkpoint of this run exists"
    )
    resume_step = _checkpoint_step(latest)
    if is_disk_full(error):
        needed = checkpoint_bytes(latest) if latest else model_bytes
        what = (
            f"the disk is full ({_reason(error)})",
            f"Free about {_format_bytes(needed)} there (the size of one checkpoint)",
        )
    else:
        what = (_reason(error), "Check that the folder is writable")
    return CheckpointWriteError(
        f"Could not write the checkpoint of step {step} in {manager.directory}: "
        f"{what[0]}. {kept}; the partial files were removed. {what[1]} and run "
        f"the same command again to resume from step {resume_step}."
    )


def remove_partial_checkpoint(manager: tf.train.CheckpointManager, prefix: str):
    """Deletes `prefix`'s files and temporary folder, unless the manager lists it."""
    if prefix in manager.checkpoints:
        return
    for path in tf.io.gfile.glob(prefix + ".*") + tf.io.gfile.glob(prefix + "_temp*"):
        try:
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)
        except (tf.errors.OpError, OSError) as error:
            logger.warning("Could not remove %s: %s", path, _reason(error))


def is_disk_full(error: Exception) -> bool:
    """Whether a write failed for lack of space (or a file size limit)."""
    if isinstance(error, tf.errors.ResourceExhaustedError):
        return True
    if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
        return True
    return any(words in _reason(error).lower() for words in _DISK_FULL_WORDS)


def checkpoint_bytes(prefix: str) -> int:
    """The size of a checkpoint's files (`.index` and `.data-*`)."""
    paths = tf.io.gfile.glob(prefix + ".*")
    return sum(tf.io.gfile.stat(path).length for path in paths)


def _checkpoint_step(prefix: str | None) -> int:
    return int(prefix.rsplit("-", 1)[1]) if prefix else 0


def _format_bytes(size: float) -> str:
    if size < 1000:
        return f"{int(size)} bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1000
        if size < 1000 or unit == "TB":
            return f"{size:.1f} {unit}"


def _reason(error: Exception) -> str:
    """The cause alone: TF's `path; strerror [Op:SaveV2]` gives the strerror."""
    message = (getattr(error, "message", None) or str(error)).strip()
    message = _TF_DECORATIONS.sub("", message).strip()
    first_line = message.splitlines()[0] if message else type(error).__name__
    return first_line.rsplit("; ", 1)[-1]
