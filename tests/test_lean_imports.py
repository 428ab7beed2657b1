"""TensorFlow loads without scikit-learn; the metrics that need it import it."""

import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn.metrics

from app import lean_imports
from app.metrics import per_class_metrics


def test_inside_the_block_sklearn_cannot_be_imported_and_afterwards_it_can(
    monkeypatch,
):
    # As in a fresh process: neither Keras nor scikit-learn loaded yet.
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.delitem(sys.modules, "sklearn")
    with lean_imports.sklearn_deferred():
        with pytest.raises(ImportError):
            import sklearn  # noqa: F401
    assert "sklearn" not in sys.modules  # the next import loads it as usual


def test_nothing_is_deferred_once_keras_is_loaded():
    with lean_imports.sklearn_deferred():
        import sklearn  # noqa: F401


def test_per_class_metrics_are_sklearns_to_the_last_bit():
    random = np.random.RandomState(0)
    targets = random.randint(0, 3, size=500)  # class 3 never true
    predictions = random.randint(0, 4, size=500) % 3  # class 3 never predicted
    predictions[:40] = 3
    labels = ["a", "b", "c", "d"]
    metrics = per_class_metrics(targets, predictions, labels)
    classes = list(range(len(labels)))
    precision, recall, f1, _ = sklearn.metrics.precision_recall_fscore_support(
        targets, predictions, labels=classes, zero_division=0
    )
    for index, label in enumerate(labels):
        assert metrics[f"eval_precision_{label}"] == float(precision[index])
        assert metrics[f"eval_recall_{label}"] == float(recall[index])
        assert metrics[f"eval_f1_{label}"] == float(f1[index])
    matrix = sklearn.metrics.confusion_matrix(targets, predictions, labels=classes)
    assert metrics["eval_confusion_matrix"] == matrix.tolist()


def test_the_runner_loads_without_sklearn():
    """A run whose metrics do not need scikit-learn never pays for loading it."""
    code = (
        "import sys, main; main.load_tensorflow(verbose=False); import app.runner; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
