"""The output_dir of a run: one run at a time, and only this project's files removed.

A run holds `OUTPUT_DIR/.lock` (an `flock`, with the pid and host inside)
while it writes, so a second run into the same folder stops with a message
that names the first. The kernel drops the lock when its process dies; the
next run on that host takes the left-over file over and says so.

`OUTPUT_DIR/.written.json` lists what runs wrote there (paths relative to
output_dir, and the export folders they published): every file that is new or
rewritten when a run lets go of its lock counts as that run's. So
`--overwrite_output_dir` removes exactly those files and never a user's
notes, logs or spreadsheets. The files of a run that was killed (it never
updated the list), and folders written before there was a list, are
recognized by the exact names this project gives its files (`PROJECT_FILES`).
"""

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator

from app.errors import ConfigError

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"
MANIFEST_NAME = ".written.json"
_CHECKPOINT = r"model\.ckpt-\d+(\.index|\.data-\d{5}-of-\d{5}|_temp/[^/]+)"
_SAVED_MODEL = (
    r"(token_ids/)?(saved_model\.pb|fingerprint\.pb|assets/[^/]+"
    r"|variables/variables(\.index|\.data-\d{5}-of-\d{5}))"
)
# What a SavedModel folder may hold; no other folder is replaced by an export.
SAVED_MODEL_FILES = re.compile(
    r"(token_ids/)?(saved_model\.pb(txt)?|fingerprint\.pb|keras_metadata\.pb"
    r"|variables/[^/]+|assets(\.extra)?/.+)"
)
_TMP = r"(\.tmp-\d+)?"  # app.results.write_text_atomically's half-written files
# The files this project writes into an output_dir, as paths relative to it.
PROJECT_FILES = re.compile(
    "|".join(
        (
            rf"(best/|workers/worker-\d+/)?(checkpoint|{_CHECKPOINT}){_TMP}",
            rf"best/best_checkpoint\.json{_TMP}",
            rf"(run_config\.json|eval_results\.(txt|json)|test_results\.tsv){_TMP}",
            rf"(predictions\.tsv|labels\.txt|data_report\.(txt|json)){_TMP}",
            r"logs/(train|eval)/events\.out\.tfevents\.[^/]+",
            rf"export(\.(tmp|old)-\d+)?/{_SAVED_MODEL}",
            # Other export formats half-written by a killed run (finished ones
            # are in the manifest): the folder names are this project's own.
            r"(huggingface|keras_hub)\.(tmp|old)-\d+/.+",
            r"model\.onnx\.tmp-\d+",
            r"\.written\.json\.tmp-\d+",
        )
    )
)


# === What a run wrote ===
def read_manifest(output_dir: str) -> dict:
    """`{"files": [relative paths], "exports": {folder: [relative paths]}}`."""
    path = os.path.join(output_dir, MANIFEST_NAME)
    try:
        with open(path, encoding="utf-8") as file:
            manifest = json.load(file)
    except FileNotFoundError:
        return {"files": [], "exports": {}}
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"Cannot read {path}, the list of files earlier runs wrote there: "
            f"{error}. Delete it if it is damaged (then only files with this "
            f"project's names count as a run's). Received: output_dir={output_dir}"
        ) from error
    return {"files": manifest.get("files", []), "exports": manifest.get("exports", {})}


def record_written(output_dir: str, paths: Iterable[str]) -> None:
    """Adds files (absolute, or relative to output_dir) to the manifest."""
    manifest = read_manifest(output_dir)
    files = set(manifest["files"])
    files.update(
        os.path.relpath(os.path.join(output_dir, p), output_dir) for p in paths
    )
    manifest["files"] = sorted(files)
    _write_manifest(output_dir, manifest)


def record_export(output_dir: str, export_dir: str) -> None:
    """Records an export folder and the files in it as this run's."""
    manifest = read_manifest(output_dir)
    manifest["exports"][os.path.abspath(export_dir)] = sorted(list_files(export_dir))
    _write_manifest(output_dir, manifest)


def list_files(folder: str) -> dict[str, tuple]:
    """Every file under `folder` (relative path -> identity), but lock and manifest.

    The identity (inode, size, mtime) changes whenever a file is rewritten,
    which is how `record_changes` tells what a run wrote.
    """
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if relative in (LOCK_NAME, MANIFEST_NAME):
                continue
            with contextlib.suppress(FileNotFoundError):
                stat = os.lstat(path)
                files[relative] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return files


def record_changes(output_dir: str, before: dict[str, tuple]) -> None:
    """Records every file that is new or rewritten since `before`."""
    after = list_files(output_dir)
    changed = [path for path, identity in after.items() if before.get(path) != identity]
    if changed:
        record_written(output_dir, changed)


def remove_written(output_dir: str) -> list[str]:
    """Removes the files runs of this project wrote in output_dir, nothing else.

    Folders that this leaves empty are removed too; the manifest is emptied.
    Returns the removed paths, relative to output_dir.
    """
    listed = set(read_manifest(output_dir)["files"])
    present = list_files(output_dir)
    removed = sorted(
        path for path in present if path in listed or PROJECT_FILES.fullmatch(path)
    )
    for path in removed:
        os.remove(os.path.join(output_dir, path))
    _remove_empty_folders(output_dir, {os.path.dirname(p) for p in removed})
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(output_dir, MANIFEST_NAME))
    if removed:
        logger.info(
            "Removed %d files of an earlier run from %s.", len(removed), output_dir
        )
    return removed


def _remove_empty_folders(output_dir: str, folders: set[str]) -> None:
    """Removes each folder, deepest first, and its parents, while they are empty."""
    for folder in sorted(folders, key=lambda f: f.count(os.sep), reverse=True):
        while folder:
            try:
                os.rmdir(os.path.join(output_dir, folder))
            except OSError:
                break  # not empty: a user's file, or already gone
            folder = os.path.dirname(folder)


def _write_manifest(output_dir: str, manifest: dict) -> None:
    path = os.path.join(output_dir, MANIFEST_NAME)
    temporary_path = f"{path}.tmp-{os.getpid()}"
    with open(temporary_path, "w", encoding="utf-8") as file:
        json.dump(manifest, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(temporary_path, path)


# === Checks made before anything is written ===
def check_output_dir_path(output_dir: str, flag: str = "output_dir") -> None:
    """Raises ConfigError unless the folder --`flag` names is, or can be made
    as, a folder this process can write into."""
    existing = os.path.abspath(output_dir)
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is" if existing == os.path.abspath(output_dir) else "is inside"
        raise ConfigError(
            f"--{flag} {what} a file, not a folder: {existing}. Choose a folder "
            f"(it is made if missing). Received: {flag}={output_dir}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"Cannot write into {existing}: permission denied. Choose a --{flag} "
            f"you can write to. Received: {flag}={output_dir}"
        )


def check_export_dir(export_dir: str, output_dir: str, overwrite: bool) -> None:
    """Refuses an export folder holding files that no run of output_dir wrote.

    The export replaces the folder as a whole: another SavedModel there is
    replaced only with --overwrite_output_dir, anything else never.
    """
    target, output = os.path.abspath(export_dir), os.path.abspath(output_dir)
    if os.path.commonpath([target, output]) == target:
        raise ConfigError(
            f"--export_dir={export_dir} holds --output_dir={output_dir}; the export "
            "replaces its folder as a whole. Choose a folder of its own, e.g. "
            f"{os.path.join(output_dir, 'export')}. Received: export_dir={export_dir}"
        )
    if os.path.lexists(export_dir) and not os.path.isdir(export_dir):
        raise ConfigError(
            f"--export_dir={export_dir} is a file, not a folder. Choose a new or "
            f"empty folder. Received: export_dir={export_dir}"
        )
    foreign = _foreign_export_files(export_dir, output_dir)
    if not foreign or (overwrite and all(map(SAVED_MODEL_FILES.fullmatch, foreign))):
        return
    shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
    fix = (
        ", or pass --overwrite_output_dir to replace it"
        if all(map(SAVED_MODEL_FILES.fullmatch, foreign))
        else " (it holds more than a SavedModel, so it is never replaced)"
    )
    raise ConfigError(
        f"--export_dir={export_dir} holds files this run did not write "
        f"({shown}). Choose a new or empty folder{fix}. "
        f"Received: export_dir={export_dir}"
    )


def _foreign_export_files(export_dir: str, output_dir: str) -> list[str]:
    """The files in export_dir that no export of output_dir's runs wrote."""
    if not os.path.isdir(export_dir):
        return []
    ours = set(
        read_manifest(output_dir)["exports"].get(os.path.abspath(export_dir), [])
    )
    in_output_dir = os.path.abspath(export_dir) == os.path.abspath(
        os.path.join(output_dir, "export")
    )
    return sorted(
        path
        for path in list_files(export_dir)
        if path not in ours
        and not (in_output_dir and PROJECT_FILES.fullmatch(f"export/{path}"))
    )


# === Publishing a folder whole ===
def publish_dir(target_dir: str, write: Callable[[str], object]) -> str:
    """Writes a folder with `write(path)` beside `target_dir`, then renames it there.

    A run killed while writing leaves `target_dir` as it was; the folder it
    replaces is moved aside, and removed only once the new one is in place.
    """
    target_dir = os.path.abspath(target_dir)
    temporary_dir = f"{target_dir}.tmp-{os.getpid()}"
    old_dir = f"{target_dir}.old-{os.getpid()}"
    for leftover in (temporary_dir, old_dir):
        shutil.rmtree(leftover, ignore_errors=True)
    os.makedirs(os.path.dirname(target_dir), exist_ok=True)
    try:
        write(temporary_dir)
    except BaseException:
        shutil.rmtree(temporary_dir, ignore_errors=True)
        raise
    if os.path.lexists(target_dir):
        os.rename(target_dir, old_dir)
    os.rename(temporary_dir, target_dir)
    shutil.rmtree(old_dir, ignore_errors=True)
    return target_dir


def publish_export(export_dir: str, output_dir: str, write: Callable[[str], object]):
    """`publish_dir`, then records the export as output_dir's run's own."""
    publish_dir(export_dir, write)
    record_export(output_dir, export_dir)
    return export_dir


def publish_file(path: str, output_dir: str, write: Callable[[str], object]) -> str:
    """Writes a file with `write(path)` beside `path`, renames it there, records it.

    A run killed while writing leaves `path` as it was (the half-written
    file's name is in `PROJECT_FILES`).
    """
    path = os.path.abspath(path)
    temporary_path = f"{path}.tmp-{os.getpid()}"
    try:
        write(temporary_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary_path)
        raise
    os.replace(temporary_path, path)
    record_written(output_dir, [path])
    return path


# === One run at a time ===
@contextlib.contextmanager
def claim(output_dir: str) -> Iterator[None]:
    """Holds the lock of output_dir (made if missing) while the block runs.

    On the way out, what the block wrote is added to the manifest and the
    lock file is removed, also when the block raised.
    """
    made = make_folders(output_dir)
    try:
        lock = acquire_lock(output_dir)
    except BaseException:
        remove_if_empty(made)
        raise
    before = list_files(output_dir)
    try:
        yield
    finally:
        try:
            record_changes(output_dir, before)
        finally:
            release_lock(output_dir, lock)
            remove_if_empty(made)  # a run that failed before writing anything


def make_folders(folder: str) -> list[str]:
    """Makes folder and missing parents; returns those made, deepest first."""
    made, missing = [], os.path.abspath(folder)
    while not os.path.isdir(missing):
        made.append(missing)
        missing = os.path.dirname(missing)
    os.makedirs(folder, exist_ok=True)
    return made


def remove_if_empty(folders: list[str]) -> None:
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:
            return  # not empty


def acquire_lock(output_dir: str) -> int:
    """Locks `OUTPUT_DIR/.lock`; returns its file descriptor.

    Raises:
        ConfigError: another run holds it, or a lock file names another host.
    """
    path = os.path.join(output_dir, LOCK_NAME)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise ConfigError(_in_use_message(output_dir, holder, path)) from None
        if _is_same_file(descriptor, path):
            break
        os.close(descriptor)  # its holder removed the file as we opened it
    try:
        _take_over(output_dir, path, _read_holder(descriptor))
        _write_holder(descriptor)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def release_lock(output_dir: str, descriptor: int) -> None:
    """Removes the lock file, then lets go of the lock."""
    path = os.path.join(output_dir, LOCK_NAME)
    with contextlib.suppress(FileNotFoundError):
        if _is_same_file(descriptor, path):
            os.remove(path)
    os.close(descriptor)


def _take_over(output_dir: str, path: str, holder: dict) -> None:
    """Accepts a lock file left behind by a process of this host that ended.

    The kernel let go of its lock, so its process is gone (its pid may have
    been reused). A lock file from another host is refused: this host cannot
    tell whether that run still writes.
    """
    if not holder:
        return
    if holder.get("host") != socket.gethostname():
        raise ConfigError(
            _in_use_message(output_dir, holder, path)
            + f" If that run has ended, delete {path}."
        )
    logger.warning(
        "Taking over %s: the run that held it (pid %s on %s, started %s) ended "
        "without removing it.",
        path,
        holder.get("pid"),
        holder.get("host"),
        holder.get("started"),
    )


def _in_use_message(output_dir: str, holder: dict, path: str) -> str:
    who = (
        f"pid {holder.get('pid')} on host {holder.get('host')}, "
        f"started {holder.get('started')}"
        if holder
        else f"see {path}"
    )
    return (
        f"--output_dir={output_dir} is in use by another run ({who}). Wait for "
        "it to end, or choose another --output_dir. "
        f"Received: output_dir={output_dir}"
    )


def _read_holder(descriptor: int) -> dict:
    os.lseek(descriptor, 0, os.SEEK_SET)
    text = os.read(descriptor, 4096).decode("utf-8", errors="replace")
    try:
        holder = json.loads(text) if text.strip() else {}
    except ValueError:
        return {"pid": "?", "host": "?", "started": f"unreadable: {text[:80]!r}"}
    return holder if isinstance(holder, dict) else {}


def _write_holder(descriptor: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    os.ftruncate(descriptor, 0)
    os.lseek(descriptor, 0, os.SEEK_SET)
    os.write(descriptor, (json.dumps(holder) + "\n").encode("utf-8"))
    os.fsync(descriptor)


def _is_same_file(descriptor: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), os.stat(path))
    except FileNotFoundError:
        return False
