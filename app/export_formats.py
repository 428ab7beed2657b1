"""The fine-tuned model in other ecosystems, beside the SavedModel (`--export_formats`).

- `huggingface`: OUTPUT_DIR/huggingface/, a `BertForSequenceClassification`
  folder (app/export_huggingface.py); also a valid `--init_checkpoint`.
- `keras_hub`: OUTPUT_DIR/keras_hub/, a `BertTextClassifier` preset with its
  preprocessor (app/export_keras_hub.py).

Each folder is written beside its place, then renamed there, and recorded in
output_dir's manifest, as the SavedModel is (app/output_dir.py).
"""

import os

import keras

from app import phase_times
from app.config import SAVED_MODEL
from app.errors import ConfigError
from app.export_huggingface import write_huggingface
from app.export_keras_hub import write_keras_hub
from app.model import build_plain_copy, is_backbone
from app.output_dir import list_files, publish_export, read_manifest
from tasks import OutputKind

WRITERS = {"huggingface": write_huggingface, "keras_hub": write_keras_hub}


def format_dir(output_dir: str, name: str) -> str:
    """Where the `name` format is written: OUTPUT_DIR/name."""
    return os.path.join(output_dir, name)


@phase_times.timed("export")
def export_formats(
    formats: tuple[str, ...],
    model: keras.Model,
    preprocessor,
    labels: list[str] | None,
    output_kind: OutputKind,
    output_dir: str,
) -> dict[str, str]:
    """Writes every format of `formats` but the SavedModel; returns their folders.

    Args:
        formats: names from `--export_formats`; `saved_model` is skipped
            (app/export.py writes it).
        model: the fine-tuned classifier (any precision; written in float32).
        preprocessor: the run's `ClassifierPreprocessor`: its vocabulary,
            case setting and sequence length go with the model.
        labels: label names in class id order (None or empty for a score).
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
    for name in names:
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
