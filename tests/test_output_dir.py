"""app.output_dir and tasks.movie_reviews: nothing a user wrote is lost.

Locks and kills need real processes; they run small scripts that import
app.output_dir only (no TensorFlow).
"""

import json
import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from app.errors import ConfigError
from app.output_dir import (
    LOCK_NAME,
    MANIFEST_NAME,
    acquire_lock,
    check_export_dir,
    check_output_dir_path,
    claim,
    list_files,
    publish_dir,
    read_manifest,
    record_changes,
    remove_written,
)
from tasks.movie_reviews import main as movie_reviews_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Names runs of this project give their files, before there was a manifest.
PROJECT_NAMES = [
    "checkpoint",
    "model.ckpt-3.index",
    "model.ckpt-3.data-00000-of-00001",
    "model.ckpt-4_temp/part-00000-of-00001.index",
    "run_config.json",
    "eval_results.txt",
    "eval_results.json",
    "test_results.tsv",
    "predictions.tsv",
    "labels.txt",
    "data_report.txt",
    "data_report.json.tmp-123",
    "logs/train/events.out.tfevents.1700000000.host.12.0.v2",
    "logs/eval/events.out.tfevents.1700000000.host.12.1.v2",
    "best/checkpoint",
    "best/model.ckpt-2.index",
    "best/model.ckpt-2.data-00000-of-00001",
    "best/best_checkpoint.json",
    "export/saved_model.pb",
    "export/fingerprint.pb",
    "export/variables/variables.index",
    "export/variables/variables.data-00000-of-00001",
    "export.tmp-76/token_ids/saved_model.pb",
    "export.tmp-76/token_ids/assets/labels.txt",
    "huggingface.tmp-77/model.safetensors",
    "keras_hub.old-78/assets/tokenizer/vocabulary.txt",
]
# A user's files, some named like ours.
USER_NAMES = [
    "notes",
    "eval_results.xlsx",
    "checkpoint.bak",
    "model.ckpt-notes.txt",
    "logs/mine.log",
    "logs/train/mine.txt",
    "best/why.md",
]


def write_files(folder, names, text="x"):
    for name in names:
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as file:
            file.write(text)


def files_under(folder) -> set[str]:
    return {
        os.path.relpath(os.path.join(root, name), folder)
        for root, _, names in os.walk(folder)
        for name in names
    }


# === Removing only what runs wrote ===
def test_a_folder_without_manifest_loses_only_this_projects_file_names(tmp_path):
    write_files(tmp_path, PROJECT_NAMES + USER_NAMES)
    removed = remove_written(str(tmp_path))
    assert sorted(removed) == sorted(PROJECT_NAMES)
    assert files_under(tmp_path) == set(USER_NAMES)
    # Folders left empty are removed; those holding a user's file stay.
    assert not (tmp_path / "export").exists()
    assert not (tmp_path / "logs" / "eval").exists()
    assert (tmp_path / "logs" / "train").is_dir()


def test_the_manifest_lists_what_else_a_run_wrote(tmp_path):
    write_files(tmp_path, ["report/summary.csv", "mine/summary.csv", "notes"])
    before = list_files(str(tmp_path))
    write_files(tmp_path, ["report/summary.csv", "report/extra.txt"], text="new")
    record_changes(str(tmp_path), before)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    # Rewritten and new files count as the run's; untouched ones do not.
    assert manifest["files"] == ["report/extra.txt", "report/summary.csv"]

    remove_written(str(tmp_path))
    assert files_under(tmp_path) == {"mine/summary.csv", "notes"}
    assert read_manifest(str(tmp_path)) == {"files": [], "exports": {}}


def test_a_damaged_manifest_is_named(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ConfigError, match=f"Cannot read .*{MANIFEST_NAME}"):
        remove_written(str(tmp_path))


# === Checks before anything is written ===
def test_an_output_dir_inside_a_file_is_refused(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigError, match="is inside a file, not a folder: .*a_file"):
        check_output_dir_path(str(tmp_path / "a_file" / "out"))
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_output_dir_path(str(tmp_path / "a_file"))
    check_output_dir_path(str(tmp_path / "new" / "deeper"))  # made when claimed


def test_an_export_dir_with_another_model_is_refused(tmp_path):
    output_dir, export_dir = str(tmp_path / "out"), tmp_path / "served"
    write_files(export_dir, ["saved_model.pb", "variables/variables.index"])
    with pytest.raises(ConfigError, match="saved_model.pb, variables/variables.ind"):
        check_export_dir(str(export_dir), output_dir, overwrite=False)
    check_export_dir(str(export_dir), output_dir, overwrite=True)

    # A folder holding more than a SavedModel is never replaced as a whole.
    write_files(export_dir, ["README.md"])
    with pytest.raises(ConfigError, match="README.md.*never replaced"):
        check_export_dir(str(export_dir), output_dir, overwrite=True)
    with pytest.raises(ConfigError, match="holds --output_dir"):
        check_export_dir(str(tmp_path), output_dir, overwrite=True)


def test_an_export_this_output_dir_published_is_replaced(tmp_path):
    output_dir, export_dir = tmp_path / "out", str(tmp_path / "served")
    os.makedirs(output_dir)
    publish_dir(export_dir, lambda path: write_files(path, ["saved_model.pb"]))
    with pytest.raises(ConfigError, match="did not write"):
        check_export_dir(export_dir, str(output_dir), overwrite=False)

    from app.output_dir import publish_export

    publish_export(export_dir, str(output_dir), lambda path: write_files(path, ["a"]))
    check_export_dir(export_dir, str(output_dir), overwrite=False)
    # Runs before the manifest left their export in OUTPUT_DIR/export.
    write_files(output_dir, ["export/saved_model.pb", "export/variables/x"])
    with pytest.raises(ConfigError, match=r"\(variables/x\)"):
        check_export_dir(str(output_dir / "export"), str(output_dir), False)


# === Publishing a folder whole ===
def test_a_failed_export_leaves_the_old_one_in_place(tmp_path):
    target = tmp_path / "export"
    write_files(target, ["saved_model.pb"], text="good")

    def fail(path):
        write_files(path, ["saved_model.pb"], text="half")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space"):
        publish_dir(str(target), fail)
    assert files_under(tmp_path) == {"export/saved_model.pb"}
    assert (target / "saved_model.pb").read_text() == "good"

    publish_dir(str(target), lambda path: write_files(path, ["fingerprint.pb"]))
    assert files_under(tmp_path) == {"export/fingerprint.pb"}


KILLED_WRITER = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
from app.output_dir import publish_dir

def write(path):
    os.makedirs(path)
    with open(os.path.join(path, "saved_model.pb"), "w") as file:
        file.write("half")
    print("writing", flush=True)
    time.sleep(600)

publish_dir(sys.argv[2], write)
"""


def test_a_killed_export_leaves_the_old_one_in_place(tmp_path):
    target = tmp_path / "export"
    write_files(target, ["saved_model.pb", "variables/variables.index"], text="good")
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, ROOT, str(target)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "writing\n"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert files_under(target) == {"saved_model.pb", "variables/variables.index"}
    assert (target / "saved_model.pb").read_text() == "good"


# === One run at a time ===
LOCK_HOLDER = """
import sys
sys.path.insert(0, sys.argv[1])
from app.errors import ConfigError
from app.output_dir import claim

try:
    with claim(sys.argv[2]):
        print("locked", flush=True)
        sys.stdin.readline()
except ConfigError as error:
    print(f"refused: {error}", flush=True)
"""


def start_lock_holder(output_dir):
    return subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, ROOT, str(output_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_processes_racing_for_one_output_dir(tmp_path):
    processes = [start_lock_holder(tmp_path / "out") for _ in range(2)]
    lines = [process.stdout.readline() for process in processes]
    assert sorted(line.split(":")[0].strip() for line in lines) == [
        "locked",
        "refused",
    ]
    winner = processes[lines.index("locked\n")]
    refusal = next(line for line in lines if line.startswith("refused"))
    assert f"in use by another run (pid {winner.pid} on host" in refusal
    assert socket.gethostname() in refusal
    for process in processes:
        process.communicate("\n")
        assert process.returncode == 0
    assert not (tmp_path / "out" / LOCK_NAME).exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    holder = {"pid": dead.pid, "host": socket.gethostname(), "started": "then"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(holder))
    with caplog.at_level(logging.WARNING, logger="app.output_dir"):
        with claim(str(tmp_path)):
            lock = json.loads((tmp_path / LOCK_NAME).read_text())
            assert lock["pid"] == os.getpid()
    assert f"the run that held it (pid {dead.pid} on" in caplog.text
    assert "ended without removing it" in caplog.text
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_file_of_another_host_is_refused(tmp_path):
    holder = {"pid": 1, "host": "elsewhere.example", "started": "then"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(holder))
    with pytest.raises(ConfigError, match="pid 1 on host elsewhere.example.*delete"):
        acquire_lock(str(tmp_path))
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == holder


def test_the_lock_is_removed_when_the_run_fails(tmp_path):
    output_dir = tmp_path / "new" / "out"
    with pytest.raises(RuntimeError):
        with claim(str(output_dir)):
            assert (output_dir / LOCK_NAME).exists()
            raise RuntimeError("failed before writing")
    assert not (tmp_path / "new").exists()  # made by the run, left empty

    with pytest.raises(RuntimeError):
        with claim(str(output_dir)):
            write_files(output_dir, ["data_report.txt"])
            raise RuntimeError("failed after writing")
    assert files_under(output_dir) == {"data_report.txt", MANIFEST_NAME}
    assert read_manifest(str(output_dir))["files"] == ["data_report.txt"]


# === tasks.movie_reviews ===
def write_reviews(path):
    path.write_text("id\tsentiment\ttext\n1\t1.5\tgood film\n2\t-2.0\tbad film\n")
    return str(path)


def test_movie_reviews_never_overwrite_splits(tmp_path, capsys):
    source = write_reviews(tmp_path / "reviews.txt")
    output_dir = tmp_path / "sst2"
    write_files(output_dir, ["dev.tsv"], text="mine")
    status = movie_reviews_main([f"--source={source}", f"--output_dir={output_dir}"])
    assert status == 1
    assert "already holds dev.tsv; they are not overwritten" in capsys.readouterr().err
    assert files_under(output_dir) == {"dev.tsv"}
    assert (output_dir / "dev.tsv").read_text() == "mine"


@pytest.mark.parametrize(
    "source_text, expected",
    [
        (None, "--source is a folder, not a file"),
        ("", "holds no reviews with a nonzero score"),
        ("id\tsentiment\ttext\n1\t0\tneither\n", "holds no reviews with a nonzero"),
    ],
)
def test_movie_reviews_refuse_a_source_without_reviews(
    tmp_path, capsys, source_text, expected
):
    source = tmp_path / "source"
    if source_text is None:
        source.mkdir()
    else:
        source.write_text(source_text)
    output_dir = tmp_path / "sst2"
    status = movie_reviews_main([f"--source={source}", f"--output_dir={output_dir}"])
    error = capsys.readouterr().err
    assert status == 1
    assert expected in error and "`id<TAB>score<TAB>text`" in error
    assert not output_dir.exists()
