"""A SavedModel that takes raw strings and returns class probabilities.

Serving needs `import tensorflow_text` (its ops tokenize inside the graph):

    import tensorflow as tf, tensorflow_text
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    serve(text_a=tf.constant(["a fine film"]))["probabilities"]
"""

import keras
import tensorflow as tf

from app.model import plain_layer_norms
from app.training import model_copy


def export_saved_model(
    model: keras.Model, preprocessor, export_dir: str, is_pair: bool
) -> str:
    """Writes `serving_default(text_a[, text_b]) -> {"probabilities": ...}`.

    A regression model (one output, STS-B) returns `{"score": ...}` instead.
    The exported graph computes in float32 whatever precision trained the
    model: a bfloat16 or float16 graph runs slowly, if at all, on the CPUs
    that serve it. Its layer norms are Keras' own (`plain_layer_norms`): the
    fused ones of a CPU-only run would not run on a GPU.
    """
    if any(
        layer.compute_dtype != "float32"
        for layer in model._flatten_layers(include_self=True, recursive=True)
    ):
        model = model_copy(model, "float32")
    text_names = ["text_a", "text_b"] if is_pair else ["text_a"]
    output_name = "probabilities" if model.output_shape[-1] > 1 else "score"

    def serve(*texts):
        inputs = preprocessor(dict(zip(text_names, texts)))
        return {output_name: tf.cast(model(inputs, training=False), tf.float32)}

    with plain_layer_norms(model):
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.track(preprocessor)
        archive.add_endpoint(
            "serving_default",
            serve,
            input_signature=[
                tf.TensorSpec(shape=(None,), dtype=tf.string, name=name)
                for name in text_names
            ],
        )
        archive.write_out(export_dir, verbose=False)
    return export_dir
