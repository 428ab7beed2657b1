"""`app.predict` with the ONNX file of a run (`--export_formats=onnx`).

    printf 'a gorgeous, witty film\\n' | python -m app.predict \\
        --model_dir=output/demo/model.onnx

`--model_dir` names the file, or a folder holding `model.onnx`. The file
carries what predicting needs in its `metadata_props` (app/export_onnx.py):
the export's metadata and the vocabulary. Texts are packed by the project's
own preprocessor, as for the SavedModel's `serve_token_ids`, and ONNX
Runtime runs the model; only this module imports onnxruntime.
"""

import functools
import hashlib
import json
import os

FILE_NAME = "model.onnx"
# The file's metadata_props.
METADATA_KEY = "export_metadata"
VOCABULARY_KEY = "vocabulary"
INPUT_NAMES = ("token_ids", "segment_ids", "padding_mask")


def model_file(model_dir: str) -> str | None:
    """The ONNX file --model_dir names, or None for a SavedModel."""
    if model_dir.endswith(".onnx"):
        return model_dir
    path = os.path.join(model_dir, FILE_NAME)
    return path if os.path.isfile(path) else None


@functools.cache
def open_session(path: str):
    """ONNX Runtime's session for the file, or a UsageError naming it."""
    from app.errors import UsageError

    if not os.path.isfile(path):
        raise UsageError(
            f"--model_dir={path}: no such file. Pass the model.onnx a run wrote"
            f" with --export_formats=onnx. Received: model_dir={path}"
        )
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # errors only: no chatter
    try:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's own classes: Fail, InvalidProtobuf...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UsageError(
            f"--model_dir={path}: ONNX Runtime cannot load {path} ({reason}). The"
            " file is damaged or not an ONNX model: export it again with"
            f" --export_formats=onnx. Received: model_dir={path}"
        ) from None


def read_metadata_text(path: str) -> str:
    """The export_metadata JSON inside the file, or a UsageError."""
    from app.errors import UsageError

    properties = open_session(path).get_modelmeta().custom_metadata_map
    if METADATA_KEY in properties and VOCABULARY_KEY in properties:
        return properties[METADATA_KEY]
    raise UsageError(
        f"--model_dir={path}: {path} has no {METADATA_KEY} and {VOCABULARY_KEY}"
        " in its metadata_props, so it was not written by --export_formats=onnx"
        " and its labels and tokenizer are unknown. Export it again with"
        f" --export_formats=onnx. Received: model_dir={path}"
    )


class OnnxServe:
    """Texts -> the ONNX model's outputs, as the SavedModel's serving_default
    gives them: `serve(text_a=..., [text_b=...])` -> {name: tf.Tensor}."""

    def __init__(self, path: str):
        from app.preprocessing import ClassifierPreprocessor

        self.session = open_session(path)
        properties = self.session.get_modelmeta().custom_metadata_map
        metadata = json.loads(properties[METADATA_KEY])
        vocabulary = read_vocabulary(path, properties[VOCABULARY_KEY], metadata)
        self.preprocessor = ClassifierPreprocessor(
            vocabulary,
            sequence_length=int(metadata["max_seq_length"]),
            do_lower_case=bool(metadata["do_lower_case"]),
            trim_to_longest=True,  # the model takes any length up to it
        )
        self.output_names = [output.name for output in self.session.get_outputs()]

    def count_tokens(self, **texts) -> dict:
        """`{"length": (batch,)}`: as the SavedModel's `count_tokens`."""
        from app.preprocessing import packed_lengths

        packed = self.preprocessor(texts)
        return {"length": packed_lengths(packed, len(next(iter(texts.values()))))}

    def __call__(self, **texts) -> dict:
        import tensorflow as tf

        packed = self.preprocessor(texts)
        feeds = {name: tf.cast(packed[name], tf.int32).numpy() for name in INPUT_NAMES}
        values = self.session.run(self.output_names, feeds)
        return {name: tf.constant(v) for name, v in zip(self.output_names, values)}


def read_vocabulary(path: str, text: str, metadata: dict) -> list[str]:
    """The vocabulary of the file, checked against its vocabulary_sha256."""
    from app.errors import UsageError

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest == metadata.get("vocabulary_sha256"):
        return text.split("\n")[:-1]  # one token a line; no other line breaks
    raise UsageError(
        f"--model_dir={path}: the vocabulary in {path} does not match its"
        " vocabulary_sha256; the file is damaged. Export it again with"
        f" --export_formats=onnx. Received: model_dir={path}"
    )
