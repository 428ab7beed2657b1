"""The token-id model as one ONNX file (`--export_formats=onnx`).

    import onnxruntime
    session = onnxruntime.InferenceSession("OUTPUT_DIR/model.onnx")
    probabilities, label = session.run(["probabilities", "label"], packed)

OUTPUT_DIR/model.onnx is the graph of the SavedModel's `serve_token_ids`
(app/export.py), converted by tf2onnx: int32 (batch, length) inputs
`token_ids`, `segment_ids` and `padding_mask`, as `python -m app.tokenize
--format=json` prints them, and the same outputs (`probabilities` and
`label`, or `score`). The file explains itself in its `metadata_props`:
`export_metadata` is the SavedModel's export_metadata.json (labels,
do_lower_case, max_seq_length, vocabulary_sha256, ...) and `vocabulary` the
vocab.txt, so `python -m app.predict --model_dir=OUTPUT_DIR/model.onnx`
tokenizes as training did with the file alone.

The converted file is run once by ONNX Runtime before it is published; it
must give the TensorFlow graph's outputs within `TOLERANCE`.
"""

import contextlib
import json
import logging

import numpy as np

from app.export import (
    TOKEN_ID_NAMES,
    ServingOutputs,
    export_metadata,
    token_id_specs,
)
from app.predict_onnx import METADATA_KEY, VOCABULARY_KEY
from tasks import OutputKind

# ONNX operator set: one every ONNX Runtime of the last years runs.
OPSET = 17
# Largest difference allowed between ONNX Runtime's and TensorFlow's outputs.
TOLERANCE = 1e-4


def write_onnx(
    path: str,
    model,
    preprocessor,
    labels: list[str],
    output_kind: OutputKind,
    is_pair: bool,
) -> str:
    """Converts the float32 classifier `model` and writes it to `path`.

    Raises:
        RuntimeError: ONNX Runtime's outputs differ from TensorFlow's.
    """
    import tf2onnx

    outputs = ServingOutputs(model, labels, output_kind)
    with warnings_only(logging.getLogger("tf2onnx")):  # not a line per layer
        proto, _ = tf2onnx.convert.from_function(
            outputs.serve_token_ids, input_signature=token_id_specs(), opset=OPSET
        )
    metadata = export_metadata(preprocessor, labels, output_kind, is_pair)
    metadata["signatures"] = []  # one graph, no signatures
    metadata["inputs"] = list(TOKEN_ID_NAMES)
    properties = {
        METADATA_KEY: json.dumps(metadata, ensure_ascii=False),
        VOCABULARY_KEY: "".join(f"{token}\n" for token in preprocessor.vocabulary),
    }
    for key, value in properties.items():
        proto.metadata_props.add(key=key, value=value)
    serialized = proto.SerializeToString()
    check_parity(serialized, outputs, preprocessor)
    with open(path, "wb") as file:
        file.write(serialized)
    return path


def check_parity(serialized: bytes, outputs: ServingOutputs, preprocessor) -> None:
    """Runs the ONNX model and the TensorFlow graph on the same probe batch."""
    import onnxruntime

    feeds = probe_inputs(len(preprocessor.vocabulary), preprocessor.sequence_length)
    session = onnxruntime.InferenceSession(
        serialized, providers=["CPUExecutionProvider"]
    )
    name = "score" if outputs.output_kind is OutputKind.SCORE else "probabilities"
    (converted,) = session.run([name], feeds)
    expected = outputs.serve_token_ids(**feeds)[name].numpy()
    difference = float(np.max(np.abs(converted - expected)))
    if difference > TOLERANCE:
        raise RuntimeError(
            f"The ONNX model's {name} differ from TensorFlow's by {difference:.3g}"
            f" (at most {TOLERANCE} allowed); it was not written. Export without"
            " onnx in --export_formats, and report the versions of tf2onnx and"
            " onnxruntime."
        )


def probe_inputs(vocabulary_size: int, length: int) -> dict[str, np.ndarray]:
    """Packed inputs of random tokens: rows of several lengths, one a pair."""
    rng = np.random.default_rng(0)
    lengths = np.linspace(3, length, num=4).astype(np.int32)
    positions = np.arange(length)
    padding_mask = (positions < lengths[:, None]).astype(np.int32)
    token_ids = rng.integers(0, vocabulary_size, (len(lengths), length)) * padding_mask
    segment_ids = (positions >= lengths[:, None] // 2) * padding_mask
    segment_ids[0] = 0
    return {
        "token_ids": token_ids.astype(np.int32),
        "segment_ids": segment_ids.astype(np.int32),
        "padding_mask": padding_mask,
    }


@contextlib.contextmanager
def warnings_only(logger: logging.Logger):
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
