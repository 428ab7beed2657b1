"""A SavedModel that takes raw strings and returns the task's outputs.

Serving needs `import tensorflow_text` (its ops tokenize inside the graph):

    import tensorflow as tf, tensorflow_text
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    serve(text_a=tf.constant(["a fine film"]))["probabilities"]
"""

import keras
import tensorflow as tf

from app.model import build_plain_copy


def export_saved_model(
    model: keras.Model, preprocessor, export_dir: str, is_pair: bool
) -> str:
    """Writes `serving_default(text_a[, text_b]) -> {name: outputs}`.

    `name` is the model's output: "probabilities" for classes, "score" for a
    task with one score (STS-B). The graph is that of `serving_model(model)`.
    """
    model = serving_model(model)
    text_names = ["text_a", "text_b"] if is_pair else ["text_a"]
    output_name = model.output_names[0]

    def serve(*texts):
        inputs = preprocessor(dict(zip(text_names, texts)))
        return {output_name: tf.cast(model(inputs, training=False), tf.float32)}

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


def serving_model(model: keras.Model) -> keras.Model:
    """The plain classifier in float32 with `model`'s weights, for export.

    Plain: a SavedModel may serve on a GPU, where the CPU speed changes do
    not pay (cuDNN refuses BERT's epsilon in a fused layer norm). Float32
    whatever precision trained the model: a bfloat16 or float16 graph runs
    slowly, if at all, on the CPUs that serve it.
    """
    return build_plain_copy(model, "float32")
