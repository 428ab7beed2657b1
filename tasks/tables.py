"""Readers for users' own data files: TSV, CSV and JSON lines, by extension.

Every reader yields `(line_number, record)`, the line number being the first
physical line of the record (a quoted CSV field may span lines). CSV and TSV
records are lists of strings whose first one is the header; JSON-lines records
are dicts.
"""

import csv
import json
import os
from collections.abc import Iterator

from tasks.errors import DataError
from tasks.tsv import read_lines, read_tsv

# Extension -> format. TSV is read as GLUE's files are: no quote characters,
# one row per line. CSV follows RFC 4180: quoted fields may hold commas,
# quotes (doubled) and line breaks.
FORMATS = {
    ".tsv": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def table_format(path: str) -> str:
    """The format of a data file, from its extension."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise DataError(
            f"{path}: cannot tell the file's format from its extension. Use"
            f" {', '.join(FORMATS)} (.json files hold one JSON object per line)."
            f" Received: extension={extension!r}"
        )
    return FORMATS[extension]


def read_records(path: str) -> Iterator[tuple[int, list[str] | dict]]:
    """Yields the records of a TSV, CSV or JSON-lines file, blank lines skipped."""
    readers = {"tsv": read_tsv, "csv": read_csv, "jsonl": read_jsonl}
    for line_number, record in readers[table_format(path)](path):
        if record:
            yield line_number, record


def read_csv(path: str) -> Iterator[tuple[int, list[str]]]:
    """Yields `(first_line_number, fields)` for each record of a CSV file."""
    reader = csv.reader(text for _, text in read_lines(path, keep_line_ends=True))
    while True:
        first_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise csv_record_error(path, first_line, error) from error
        yield first_line, fields


def csv_record_error(path: str, line_number: int, error: csv.Error) -> DataError:
    return DataError(
        f"{path}, line {line_number}: cannot read the CSV record: {error}."
        " Check the quotes: a field that holds a quote, comma or line"
        ' break is written in quotes, with inner quotes doubled ("").'
    )


def read_jsonl(path: str) -> Iterator[tuple[int, dict]]:
    """Yields `(line_number, object)` for each non-blank line of a JSON-lines file."""
    for line_number, text in read_lines(path):
        if text.strip():
            yield line_number, parse_json_line(text, path, line_number)


def parse_json_line(text: str, path: str, line_number: int) -> dict:
    """The JSON object on one line; a DataError names the file and line if not."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}, line {line_number}: not a JSON object ({error.msg} at"
            f" column {error.colno}). JSON-lines files hold one object per"
            f" line. Received: line={text[:200]!r}"
        ) from error
    if not isinstance(record, dict):
        raise DataError(
            f"{path}, line {line_number}: expected a JSON object such as"
            ' {"text": "...", "label": "..."}; JSON-lines files hold one'
            f" object per line. Received: line={text[:200]!r}"
        )
    return record
