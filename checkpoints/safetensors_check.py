"""Checks a Hugging Face `*.safetensors` file against its `config.json`, unread.

A safetensors file is an 8-byte little-endian header length, a JSON header
that names each tensor's dtype, shape and byte range, then the bytes. Reading
the header alone finds a truncated download and a config that does not fit
the weights, before a run writes anything, and names the tensor and both
shapes instead of the values that a failed `assign` prints.
"""

import json
import os
import re
import struct

from checkpoints.errors import CheckpointError

_HEADER_LENGTH_BYTES = 8
# Tensor names, prefix (`bert.`) and layer number taken out, as `_generic_name`
# writes them. Shapes are PyTorch's: dense kernels are `(out, in)`.
_SHAPES = {
    "embeddings.word_embeddings.weight": ("vocab_size", "hidden_size"),
    "embeddings.position_embeddings.weight": (
        "max_position_embeddings",
        "hidden_size",
    ),
    "embeddings.token_type_embeddings.weight": ("type_vocab_size", "hidden_size"),
    "embeddings.LayerNorm.weight": ("hidden_size",),
    "embeddings.LayerNorm.bias": ("hidden_size",),
    "encoder.layer.N.attention.self.query.weight": ("hidden_size", "hidden_size"),
    "encoder.layer.N.attention.self.query.bias": ("hidden_size",),
    "encoder.layer.N.attention.self.key.weight": ("hidden_size", "hidden_size"),
    "encoder.layer.N.attention.self.key.bias": ("hidden_size",),
    "encoder.layer.N.attention.self.value.weight": ("hidden_size", "hidden_size"),
    "encoder.layer.N.attention.self.value.bias": ("hidden_size",),
    "encoder.layer.N.attention.output.dense.weight": ("hidden_size", "hidden_size"),
    "encoder.layer.N.attention.output.dense.bias": ("hidden_size",),
    "encoder.layer.N.attention.output.LayerNorm.weight": ("hidden_size",),
    "encoder.layer.N.attention.output.LayerNorm.bias": ("hidden_size",),
    "encoder.layer.N.intermediate.dense.weight": ("intermediate_size", "hidden_size"),
    "encoder.layer.N.intermediate.dense.bias": ("intermediate_size",),
    "encoder.layer.N.output.dense.weight": ("hidden_size", "intermediate_size"),
    "encoder.layer.N.output.dense.bias": ("hidden_size",),
    "encoder.layer.N.output.LayerNorm.weight": ("hidden_size",),
    "encoder.layer.N.output.LayerNorm.bias": ("hidden_size",),
    "pooler.dense.weight": ("hidden_size", "hidden_size"),
    "pooler.dense.bias": ("hidden_size",),
}
_LAYER = re.compile(r"encoder\.layer\.(\d+)\.")
_PARTS = ("embeddings.", "encoder.", "pooler.")


def read_safetensors_header(path: str) -> dict:
    """The tensors a safetensors file describes (name: dtype, shape, offsets).

    Raises CheckpointError when the file is shorter than its header says.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as file:
            length_bytes = file.read(_HEADER_LENGTH_BYTES)
            (length,) = struct.unpack("<Q", length_bytes.ljust(8, b"\0"))
            header = file.read(length) if length <= size else b""
        tensors = json.loads(header) if len(header) == length else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _damaged(path, f"its header cannot be read ({error})") from error
    if len(length_bytes) < _HEADER_LENGTH_BYTES or not isinstance(tensors, dict):
        raise _damaged(path, f"it holds {size:,} bytes, fewer than its header")
    tensors.pop("__metadata__", None)
    needed = (
        _HEADER_LENGTH_BYTES
        + length
        + max((t["data_offsets"][1] for t in tensors.values()), default=0)
    )
    if size < needed:
        raise _damaged(
            path, f"it holds {size:,} bytes, but its header describes {needed:,}"
        )
    return tensors


def check_safetensors(path: str, config: dict, config_path: str) -> None:
    """Raises CheckpointError for a truncated file or shapes that `config` denies."""
    tensors = read_safetensors_header(path)
    layers = set()
    # Matrices first: their message shows which of two sizes differs.
    for name in sorted(tensors, key=lambda n: (len(tensors[n]["shape"]) < 2, n)):
        tensor = tensors[name]
        generic, layer = _generic_name(name)
        if layer is not None:
            layers.add(layer)
        keys = _SHAPES.get(generic)
        if keys is None or any(key not in config for key in keys):
            continue
        expected = [config[key] for key in keys]
        if list(tensor["shape"]) != expected:
            raise CheckpointError(
                f"{name} in {path} has shape {list(tensor['shape'])}, but "
                f"{config_path} makes it {expected} ({', '.join(keys)}). Pass the "
                "config.json that came with these weights. Received: "
                f"shape={list(tensor['shape'])}, expected={expected}"
            )
    expected_layers = config.get("num_hidden_layers")
    if layers and expected_layers is not None and len(layers) != expected_layers:
        raise CheckpointError(
            f"{path} holds {len(layers)} transformer layers, but {config_path} "
            f"sets num_hidden_layers={expected_layers}. Pass the config.json "
            f"that came with these weights. Received: layers={len(layers)}"
        )


def _generic_name(name: str) -> tuple[str, int | None]:
    """`bert.encoder.layer.3.output.LayerNorm.gamma` -> the `_SHAPES` key, 3."""
    starts = [name.find(part) for part in _PARTS if part in name]
    generic = name[min(starts) :] if starts else name
    match = _LAYER.match(generic)
    layer = int(match[1]) if match else None
    generic = _LAYER.sub("encoder.layer.N.", generic, count=1)
    for old, new in ((".gamma", ".weight"), (".beta", ".bias")):
        if generic.endswith(old):
            generic = generic[: -len(old)] + new
    return generic, layer


def _damaged(path: str, reason: str) -> CheckpointError:
    return CheckpointError(
        f"{path} is truncated or corrupted: {reason}. Download or convert "
        "the weights again (an interrupted download leaves a short file)."
    )
