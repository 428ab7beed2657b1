"""Line-numbered readers for UTF-8 text and tab-separated files.

Files are opened with `tf.io.gfile`, as the original did with `tf.gfile`, so
`gs://` folders work on Cloud TPU. Its line reader splits lines at LF and drops
every CR, so Windows line endings read the same as Unix ones (and a stray
CR inside a line vanishes, as it did in the original).
"""

import csv
from collections.abc import Iterator

import tensorflow as tf

from tasks.errors import DataError


def read_lines(path: str, keep_line_ends: bool = False) -> Iterator[tuple[int, str]]:
    """Yields `(line_number, text)` for each line of a UTF-8 file.

    Line numbers are physical and 1-based; the text has no line ending unless
    `keep_line_ends` (which a CSV reader needs for line breaks inside quotes).
    A byte order mark at the start of the file is dropped.
    """
    for line_number, raw_line in enumerate(read_raw_lines(path), start=1):
        text = decode_line(raw_line, path, line_number)
        if line_number == 1:
            text = text.removeprefix("\ufeff")
        yield line_number, text if keep_line_ends else text.rstrip("\r\n")


def read_raw_lines(path: str) -> Iterator[bytes]:
    """The file's lines as bytes; a folder or an unreadable file is a DataError."""
    # GFile reads a folder as an empty file, which would read as "no rows".
    if tf.io.gfile.isdir(path):
        raise DataError(
            f"{path} is a directory, not a data file. Pass the path of the file"
            f" inside it that holds the rows. Received: path={path}"
        )
    try:
        with tf.io.gfile.GFile(path, "rb") as file:
            yield from file
    except (tf.errors.OpError, OSError) as error:
        raise DataError(_unreadable_message(path, error)) from error


def _unreadable_message(path: str, error: Exception) -> str:
    if isinstance(error, (tf.errors.PermissionDeniedError, PermissionError)):
        return (
            f"{path}: permission denied: this user may not read the file. Give"
            f" it read permission (e.g. `chmod a+r {path}`) or copy it to a"
            " readable place."
        )
    reason = (getattr(error, "message", None) or str(error)).strip()
    reason = reason.splitlines()[0] if reason else type(error).__name__
    return (
        f"{path}: cannot read the file ({reason}). Check that it exists and is"
        " readable, then run again."
    )


def read_tsv(path: str) -> Iterator[tuple[int, list[str]]]:
    """Yields `(line_number, columns)` for each line of a tab-separated file.

    Quote characters are plain text (`quotechar=None`, i.e. `csv.QUOTE_NONE`),
    as in the original `_read_tsv`: GLUE and XNLI sentences contain unbalanced
    `"` that a quoting reader would join across lines. A blank line yields `[]`.
    """
    numbered_lines = read_lines(path)
    # Without quoting, every line is exactly one row, so the row's line number
    # is the number of lines the reader has consumed.
    reader = tsv_reader(text for _, text in numbered_lines)
    while True:
        try:
            columns = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise DataError(
                f"{path}, line {reader.line_num}: cannot split the line into "
                f"tab-separated columns: {error}. Fix or remove that line."
            ) from error
        yield reader.line_num, columns


def tsv_reader(lines: Iterator[str]):
    """A csv reader of tab-separated lines, quote characters read as text."""
    return csv.reader(lines, delimiter="\t", quotechar=None)


def decode_line(raw_line: bytes, path: str, line_number: int) -> str:
    """Decodes one line as UTF-8; a DataError names the file and line if not."""
    try:
        text = raw_line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path}, line {line_number}: the line is not valid UTF-8 "
            f"({error.reason} at byte {error.start} of the line). Data files "
            "must be UTF-8 encoded; convert the file, e.g. with "
            "`iconv -f latin1 -t utf-8`. "
            f"Received: bytes={raw_line[:80]!r}"
        ) from error
    return text
