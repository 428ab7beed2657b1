"""Evaluating while training, keeping the best checkpoint, and several seeds."""

import json

from tests.test_main import original_flags, read_eval_results, run_main


def test_best_checkpoint_is_kept_and_used(mrpc_dir, huggingface_dir, tmp_path):
    output_dir = tmp_path / "out"
    flags = original_flags(mrpc_dir, huggingface_dir, output_dir)
    flags += ["--eval_every_steps=2", "--early_stopping_patience=2"]
    flags += ["--export_formats=none"]
    result = run_main(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((output_dir / "best" / "best_checkpoint.json").read_text())
    assert state["metric_key"] == "eval_f1"  # MRPC is scored by F1
    assert state["best_step"] in (2, 4, 6)
    assert "come from the best checkpoint" in result.stderr
    results = read_eval_results(output_dir / "eval_results.txt")
    assert results["global_step"] == str(state["best_step"])
    assert abs(float(results["eval_f1"]) - state["best_value"]) < 1e-6


def test_early_stopping_needs_periodic_evaluation(mrpc_dir, huggingface_dir, tmp_path):
    flags = original_flags(mrpc_dir, huggingface_dir, tmp_path / "out")
    result = run_main(*flags, "--early_stopping_patience=2")
    assert result.returncode == 1
    assert "--eval_every_steps=N or --eval_every_epoch" in result.stderr


def test_several_seeds_are_summarized(mrpc_dir, huggingface_dir, tmp_path):
    output_dir = tmp_path / "out"
    flags = original_flags(mrpc_dir, huggingface_dir, output_dir)
    result = run_main(
        *flags,
        "--num_seeds=2",
        "--seed=5",
        "--num_train_epochs=1",
        "--export_formats=none",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for seed in (5, 6):
        assert (output_dir / f"seed_{seed}" / "eval_results.txt").exists()
    summary = (output_dir / "seed_summary.txt").read_text().splitlines()
    assert summary[0] == "seeds = 5 6"
    assert any(line.startswith("eval_accuracy = ") for line in summary)
    # The summary is recorded as written, so --overwrite_output_dir removes it.
    written = json.loads((output_dir / ".written.json").read_text())["files"]
    assert {"seed_summary.txt", "seed_summary.json"} <= set(written)
    assert not (output_dir / ".lock").exists()


def test_each_split_is_packed_once_and_every_evaluation_reuses_it(
    mrpc_dir, huggingface_dir, tmp_path, monkeypatch, dtype_policy
):
    # dtype_policy: the run sets Keras global policy; restored afterwards.
    import os

    import tensorflow as tf

    from app import inference
    from app.config import RunConfig
    from app.preprocessing import ClassifierPreprocessor
    from app.runner import run_all

    packed_rows = []  # rows per eager packing call (export traces are not)
    pack = ClassifierPreprocessor.call

    def counting_pack(self, features):
        if tf.executing_eagerly():
            packed_rows.append(int(tf.shape(features["text_a"])[0]))
        return pack(self, features)

    predicted = []  # the packed set of every evaluation and prediction
    predict = inference.predict_outputs

    def recording_predict(model, packed, *args, **kwargs):
        predicted.append(packed)
        return predict(model, packed, *args, **kwargs)

    monkeypatch.setattr(ClassifierPreprocessor, "call", counting_pack)
    monkeypatch.setattr(inference, "predict_outputs", recording_predict)
    run_all(
        RunConfig(
            task_name="MRPC",
            do_train=True,
            do_eval=True,
            do_predict=True,
            data_dir=mrpc_dir,
            vocab_file=os.path.join(huggingface_dir, "vocab.txt"),
            init_checkpoint=huggingface_dir,
            max_seq_length=32,
            train_batch_size=2,
            num_train_epochs=2.0,
            eval_every_steps=2,
            output_dir=str(tmp_path / "out"),
            export_formats="none",
        )
    )
    assert packed_rows == [6, 6, 5]  # train, dev, test: once each
    # Evaluations at steps 2, 4 and 6, the final one, then the test set.
    assert len(predicted) == 5
    assert all(packed is predicted[0] for packed in predicted[:4])
    assert len(predicted[0]) == 6 and len(predicted[4]) == 5
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    assert report["splits"]["dev"]["tokens"] == int(predicted[0].token_counts.sum())


def test_runs_in_one_process_share_the_preprocessor_of_their_settings(
    huggingface_dir, tmp_path
):
    """Seeds (and any run in the same process) reuse the traced tokenizer."""
    from app.runner import build_preprocessor
    from checkpoints import read_pretrained
    from tests.test_run_record import tiny_config

    pretrained = read_pretrained(huggingface_dir, None)

    def preprocessor(**changes):
        config = tiny_config(tmp_path, huggingface_dir, tmp_path / "out", **changes)
        return build_preprocessor(config, pretrained)

    first = preprocessor(seed=1)
    assert preprocessor(seed=2, learning_rate=1e-3) is first
    assert preprocessor(max_seq_length=24) is not first
    assert preprocessor(do_lower_case=False) is not first
    assert preprocessor(long_text="head_tail") is not first
