"""Loading TensorFlow without what a run does not use.

TensorFlow loads Keras, and Keras' scikit-learn wrappers (`keras.wrappers`)
import scikit-learn, and with it much of SciPy, whenever it is installed:
a large part of a run's import time and memory, for wrappers the
runner never uses. Inside `sklearn_deferred()` an `import sklearn` fails, so
Keras defines its wrappers without it (as where scikit-learn is not
installed); afterwards scikit-learn imports as usual, when a task's metric
needs it (app/metrics.py imports it there).
"""

import contextlib
import sys


@contextlib.contextmanager
def sklearn_deferred():
    """Keras, loaded inside the block, does not import scikit-learn."""
    if "keras" in sys.modules or "sklearn" in sys.modules:
        yield  # too late, or already paid
        return
    sys.modules["sklearn"] = None  # `import sklearn` raises ImportError
    try:
        yield
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]
