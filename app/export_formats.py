"""The fine-tuned model in other ecosystems, beside the SavedModel (`--export_formats`).

- `huggingface`: OUTPUT_DIR/huggingface/, a `BertForSequenceClassification`
  folder (app/export_huggingface.py); also a valid `--init_checkpoint`.
- `keras_hub`: OUTPUT_DIR/keras_hub/, a `BertTextClassifier` preset with its
  preprocessor (app/export_keras_hub.py).
- `onnx`: OUTPUT_DIR/model.onnx, the token-id model checked against ONNX
  Runtime, with the labels and vocabulary inside (app/export_onnx.py).

Each folder (and the ONNX file) is written beside its place, then renamed
there, and recorded in output_dir's manifest, as the SavedModel is
(app/output_dir.py).
"""

import os

import keras

from app import phase_times
from app.config import SAVED_MODEL
from app.errors import ConfigError
from app.export_huggingface import write_huggingface
from app.export_keras_hub import write_keras_hub
from app.export_onnx import write_onnx
from app.model import build_plain_copy, is_backbone
from app.output_dir import list_files, publish_export, publish_file, read_manifest
from app.predict_onnx import FILE_NAME as ONNX_FILE_NAME
from tasks import OutputKind

WRITERS = {"huggingface": write_huggingface, "keras_hub": write_keras_hub}
# Formats written as one file, not a folder: name -> file name in OUTPUT_DIR.
FILE_FORMATS = {"onnx": ONNX_FILE_NAME}


def format_dir(output_dir: str, name: str) -> str:
    """Where the `name` format is written: OUTPUT_DIR/name (or its file name)."""
    return os.path.join(output_dir, FILE_FORMATS.get(name, name))


@phase_times.timed("export")
def export_formats(
    formats: tuple[str, ...],
    model: keras.Model,
    preprocessor,
    labels: list[str] | None,
    output_kind: OutputKind,
    output_dir: str,
    is_pair: bool = False,
) -> dict[str, str]:
    """Writes every format of `formats` but the SavedModel; returns their paths.

    Args:
        formats: names from `--export_formats`; `saved_model` is skipped
            (app/export.py writes it).
        model: the fine-tuned classifier (any precision; written in float32).
        preprocessor: the run's `ClassifierPreprocessor`: its vocabulary,
            case setting and sequence length go with the model.
        labels: label names in class id order (None or empty for a score).
        is_pair: the task has `text_b` (the ONNX file's metadata says so).
    """
    names = [name for name in formats if name != SAVED_MODEL]
    if not names:
        return {}
    # Float32 whatever precision trained it; plain layers, same weights.
    plain = build_plain_copy(model, "float32")
    backbone = next(layer for layer in plain.layers if is_backbone(layer))
    head = {
        "backbone": backbone,
        "output_layer": plain.get_layer(output_kind.output_name),
        "classifier_dropout": plain.get_layer("classifier_dropout").rate,
        "vocabulary": preprocessor.vocabulary,
        "labels": list(labels or []),
        "output_kind": output_kind,
        "do_lower_case": preprocessor.do_lower_case,
        "max_seq_length": preprocessor.sequence_length,
    }
    written = {}
    if "onnx" in names:
        written["onnx"] = publish_file(
            format_dir(output_dir, "onnx"),
            output_dir,
            lambda path: write_onnx(
                path, plain, preprocessor, head["labels"], output_kind, is_pair
            ),
        )
    for name in names:
        if name in FILE_FORMATS:
            continue
        write = WRITERS[name]
        written[name] = publish_export(
            format_dir(output_dir, name),
            output_dir,
            lambda path, write=write: write(path, **head),
        )
    return written


def check_format_dirs(formats: tuple[str, ...], output_dir: str) -> None:
    """Refuses a format folder holding files that no run of output_dir wrote.

    Each export replaces its folder as a whole, so a user's files there would
    be lost. Runs before output_dir is locked or written.
    """
    manifest = read_manifest(output_dir) if os.path.isdir(output_dir) else None
    for name in formats:
        if name == SAVED_MODEL:
            continue
        folder = format_dir(output_dir, name)
        if name in FILE_FORMATS:
            _check_format_file(folder, name, formats, manifest)
            continue
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise ConfigError(
                f"{folder} is a file, but --export_formats={name} writes a folder "
                f"there. Move the file, or drop {name} from --export_formats. "
                f"Received: export_formats={','.join(formats)}"
            )
        foreign = _foreign_files(folder, name, manifest)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise ConfigError(
                f"{folder} holds files no run of this output_dir wrote ({shown}); "
                f"the {name} export replaces that folder as a whole. Move them, "
                f"or drop {name} from --export_formats. "
                f"Received: export_formats={','.join(formats)}"
            )


def _check_format_file(path, name, formats, manifest: dict | None) -> None:
    """Refuses a folder, or a file no run of output_dir wrote, at `path`."""
    if not os.path.lexists(path):
        return
    recorded = (manifest or {"files": []})["files"]
    if os.path.isfile(path) and os.path.basename(path) in recorded:
        return
    what = (
        "a folder" if os.path.isdir(path) else "a file no run of this output_dir wrote"
    )
    raise ConfigError(
        f"{path} is {what}; --export_formats={name} replaces it with the model."
        f" Move it, or drop {name} from --export_formats."
        f" Received: export_formats={','.join(formats)}"
    )


def _foreign_files(folder: str, name: str, manifest: dict | None) -> list[str]:
    if not os.path.isdir(folder):
        return []
    manifest = manifest or {"files": [], "exports": {}}
    ours = set(manifest["exports"].get(os.path.abspath(folder), []))
    recorded = set(manifest["files"])
    return sorted(
        path
        for path in list_files(folder)
        if path not in ours and os.path.join(name, path) not in recorded
    )
