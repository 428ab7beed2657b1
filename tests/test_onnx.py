"""--export_formats=onnx, and `app.predict` on the ONNX file.

One in-process run on a copy of the shared MRPC training run (`trained_mrpc`)
predicts again and writes OUTPUT_DIR/model.onnx, without training: the only
tf2onnx conversion of the file. ONNX Runtime then runs it through the
predict command, which must give the run's test_results.tsv and the
SavedModel's predictions.
"""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from app.errors import ConfigError
from app.export_formats import check_format_dirs
from app.output_dir import PROJECT_FILES, publish_file, read_manifest, remove_written
from tests.bert_weights import TINY_VOCABULARY
from tests.conftest import MRPC_ROWS, copy_of, global_state_restored
from tests.test_main import original_flags, run_main
from tests.test_predict_cli import assert_predicts_test_results, parse_tsv, run

# Its module fixture is built once: keep its tests on one worker.
pytestmark = pytest.mark.xdist_group("test_onnx")

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def onnx_run(trained_mrpc, shared_mrpc_dir, huggingface_dir, tmp_path_factory):
    """The MRPC run's output_dir, where a second run wrote model.onnx."""
    output_dir = copy_of(trained_mrpc[1], tmp_path_factory.mktemp("onnx"))
    flags = original_flags(shared_mrpc_dir, huggingface_dir, output_dir)
    with global_state_restored():
        result = run_main(
            *flags, "--do_train=false", "--do_eval=false", "--export_formats=onnx"
        )
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir


def test_the_file_is_published_recorded_and_explains_itself(onnx_run):
    names = {path.name for path in onnx_run.iterdir()}
    assert "model.onnx" in names
    assert not [name for name in names if ".tmp-" in name]
    assert "model.onnx" in read_manifest(str(onnx_run))["files"]
    model = onnx.load(str(onnx_run / "model.onnx"))
    properties = {prop.key: prop.value for prop in model.metadata_props}
    metadata = json.loads(properties["export_metadata"])
    assert metadata["labels"] == ["0", "1"]
    assert (metadata["is_pair"], metadata["output_kind"]) == (True, "classes")
    assert (metadata["do_lower_case"], metadata["max_seq_length"]) == (True, 32)
    assert metadata["inputs"] == ["token_ids", "segment_ids", "padding_mask"]
    assert properties["vocabulary"].split("\n")[:-1] == TINY_VOCABULARY
    assert [i.name for i in model.graph.input] == metadata["inputs"]
    assert {o.name for o in model.graph.output} == {"probabilities", "label"}


def test_onnx_runtime_predicts_the_runs_test_results(onnx_run, shared_mrpc_dir):
    model = onnx_run / "model.onnx"
    assert_predicts_test_results(model, onnx_run, shared_mrpc_dir, TOLERANCE)


def test_stdin_gives_the_saved_models_tsv(onnx_run):
    lines = "".join(f"{a}\t{b}\n" for _, a, b in MRPC_ROWS).encode()
    code, saved_model = run([f"--model_dir={onnx_run / 'export'}"], lines)
    assert code == 0
    # A folder holding model.onnx is read as the file.
    code, from_onnx = run([f"--model_dir={onnx_run}"], lines)
    assert code == 0
    saved_rows, onnx_rows = parse_tsv(saved_model), parse_tsv(from_onnx)
    assert len(onnx_rows) == len(MRPC_ROWS) + 1
    assert [row[:1] for row in onnx_rows] == [row[:1] for row in saved_rows]
    np.testing.assert_allclose(
        np.array([row[1:] for row in onnx_rows[1:]], float),
        np.array([row[1:] for row in saved_rows[1:]], float),
        atol=TOLERANCE,
    )


def write_foreign_onnx(path):
    """A valid ONNX model (an identity) without this project's metadata."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "identity",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(
        helper.make_model(
            graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17)]
        ),
        path,
    )


@pytest.mark.parametrize(
    "make, message",
    [
        (None, "no such file. Pass the model.onnx a run wrote"),
        (
            lambda path: path.write_bytes(b"\x08\x07not a model"),
            "ONNX Runtime cannot load {path} (",
        ),
        (
            lambda path: write_foreign_onnx(str(path)),
            "{path} has no export_metadata and vocabulary in its metadata_props",
        ),
    ],
    ids=["missing", "damaged", "foreign"],
)
def test_a_bad_onnx_file_exits_1_naming_it(make, message, tmp_path, capsys):
    path = tmp_path / "model.onnx"
    if make:
        make(path)
    assert run([f"--model_dir={path}"], b"the dog\n") == (1, "")
    error = capsys.readouterr().err
    assert error.startswith(f"ERROR: --model_dir={path}: ")
    assert message.format(path=path) in error
    assert error.count("\n") == 1 and "Traceback" not in error


# === The file beside a user's files ===
def test_a_users_model_onnx_is_never_replaced(tmp_path, onnx_run):
    (tmp_path / "model.onnx").write_text("mine")
    with pytest.raises(ConfigError, match="model.onnx is a file no run of this"):
        check_format_dirs(("saved_model", "onnx"), str(tmp_path))
    (tmp_path / "model.onnx").unlink()
    (tmp_path / "model.onnx").mkdir()
    with pytest.raises(ConfigError, match="model.onnx is a folder.*drop onnx"):
        check_format_dirs(("onnx",), str(tmp_path))
    # The file an earlier run of the output_dir wrote is replaced.
    check_format_dirs(("onnx",), str(onnx_run))


def test_a_failed_write_leaves_the_old_file_and_no_half_written_one(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_text("old model")

    def write_half(temporary_path):
        with open(temporary_path, "w") as file:
            file.write("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        publish_file(str(path), str(tmp_path), write_half)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert path.read_text() == "old model"
    publish_file(str(path), str(tmp_path), lambda p: open(p, "w").write("new"))
    assert path.read_text() == "new"
    assert read_manifest(str(tmp_path))["files"] == ["model.onnx"]
    # --overwrite_output_dir removes it, and never a user's file beside it.
    (tmp_path / "notes.txt").write_text("mine")
    assert remove_written(str(tmp_path)) == ["model.onnx"]
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    # A killed run's half-written file is this project's; the model is not.
    assert PROJECT_FILES.fullmatch("model.onnx.tmp-123")
    assert not PROJECT_FILES.fullmatch("model.onnx")


# === A score model, converted in-process ===
def test_a_score_model_predicts_its_scores_and_parity_is_checked(
    tiny_backbone, tmp_path
):
    import tensorflow as tf

    from app.export import ServingOutputs
    from app.export_onnx import check_parity, write_onnx
    from app.model import build_classifier, build_plain_copy
    from app.preprocessing import ClassifierPreprocessor
    from tasks import OutputKind

    model = build_plain_copy(build_classifier(tiny_backbone, 1, OutputKind.SCORE))
    kernel, _ = model.get_layer("score").get_weights()
    model.get_layer("score").set_weights([kernel * 2000, np.array([0.5], "float32")])
    preprocessor = ClassifierPreprocessor(TINY_VOCABULARY, sequence_length=16)
    path = write_onnx(
        str(tmp_path / "model.onnx"), model, preprocessor, [], OutputKind.SCORE, False
    )
    texts = ["the dog is hairy.", "is this jacksonville ?", ""]
    code, output = run(
        [f"--model_dir={path}"], "".join(f"{t}\n" for t in texts).encode()
    )
    header, *rows = parse_tsv(output)
    assert (code, header) == (0, ["score"])
    expected = model(preprocessor({"text_a": tf.constant(texts)}), training=False)
    np.testing.assert_allclose(np.array(rows, float), expected, atol=TOLERANCE)
    assert np.ptp(np.array(rows, float)) > 0.01  # scores differ: the check can fail
    # A graph that is not the file's model fails the export's check.
    model.get_layer("score").set_weights([kernel * 2000, np.array([0.6], "float32")])
    other = ServingOutputs(model, [], OutputKind.SCORE)
    with open(path, "rb") as file, pytest.raises(RuntimeError, match="by 0.1"):
        check_parity(file.read(), other, preprocessor)
