"""A data file's rows one by one, each bad row reported and skipped.

The csv task stops at a file's first bad row: training on part of a file
would mislead. Batch prediction (app/batch_predict.py) predicts every good row
instead and reports each bad one with its file, line and reason. The rows are
read with the csv task's parsers and column flags, so a row that one refuses
the other refuses with the same message.
"""

import csv
import dataclasses
from collections.abc import Iterable, Iterator

from tasks.custom import CsvProcessor
from tasks.errors import DataError
from tasks.tables import csv_record_error, parse_json_line, table_format
from tasks.tsv import decode_line, tsv_reader


@dataclasses.dataclass(frozen=True)
class Row:
    """A row to predict: its texts (`text_a`, and `text_b` for pairs) and id."""

    path: str
    line_number: int
    texts: tuple[str, ...]
    example_id: str | None


@dataclasses.dataclass(frozen=True)
class BadRow:
    """A row that cannot be read, and why (a message naming file and line)."""

    path: str
    line_number: int
    reason: str


def read_rows(
    path: str, raw_lines: Iterable[bytes], processor: CsvProcessor, is_pair: bool
) -> Iterator[Row | BadRow]:
    """Every data row of a TSV, CSV or JSON-lines file, in file order.

    `raw_lines` are the file's lines as bytes. The header (TSV, CSV) or the
    first object's keys (JSON lines) name the columns of `processor`'s
    flags; until a row's columns resolve, each row is a BadRow saying why.
    """
    lines = _DecodedLines(path, raw_lines)
    is_json = table_format(path) == "jsonl"
    header, read_fields = None, None
    for line_number, record in _records(path, lines, table_format(path)):
        yield from lines.pop_bad_rows()
        if isinstance(record, DataError):
            yield BadRow(path, line_number, str(record))
            continue
        if header is None and not is_json:
            header = record
            continue
        try:
            if read_fields is None:
                names = header if header is not None else list(record)
                read_fields = processor.fields_reader(path, names, "test")
            values = read_fields(record, line_number)
        except DataError as error:
            yield BadRow(path, line_number, str(error))
            continue
        texts = (values["text_a"], values["text_b"]) if is_pair else (values["text_a"],)
        yield Row(path, line_number, texts, values["id"])
    yield from lines.pop_bad_rows()


class _DecodedLines:
    """A file's lines as text, for a record parser.

    Lines that are not UTF-8 are left out and kept as BadRows; `first_line`
    is the number of the first line handed out since it was last reset, i.e.
    where the record being parsed starts.
    """

    def __init__(self, path: str, raw_lines: Iterable[bytes]):
        self.path, self.raw_lines = path, raw_lines
        self.bad_rows, self.first_line = [], None

    def __iter__(self) -> Iterator[str]:
        for line_number, raw_line in enumerate(self.raw_lines, start=1):
            try:
                text = decode_line(raw_line, self.path, line_number)
            except DataError as error:
                self.bad_rows.append(BadRow(self.path, line_number, str(error)))
                continue
            if self.first_line is None:
                self.first_line = line_number
            yield text.removeprefix("\ufeff") if line_number == 1 else text

    def pop_bad_rows(self) -> list[BadRow]:
        bad_rows, self.bad_rows = self.bad_rows, []
        return bad_rows


def _records(path: str, lines: _DecodedLines, kind: str):
    """Yields `(first_line_number, record or DataError)`; blank lines skipped."""
    if kind == "jsonl":
        records = iter(lines)
    elif kind == "tsv":
        records = tsv_reader(text.rstrip("\r\n") for text in lines)
    else:
        records = csv.reader(lines)  # It reads on after a bad record.
    while True:
        lines.first_line = None
        try:
            record = next(records)
        except StopIteration:
            return
        except csv.Error as error:
            yield lines.first_line, csv_record_error(path, lines.first_line, error)
            continue
        if kind == "jsonl":
            record = _json_or_error(record, path, lines.first_line)
        if record or isinstance(record, dict):  # `{}` is a row (a bad one).
            yield lines.first_line, record


def _json_or_error(text: str, path: str, line_number: int) -> dict | DataError | None:
    """The line's object, the DataError that says why it is none, or None if
    the line is blank."""
    if not text.strip():
        return None
    try:
        return parse_json_line(text.rstrip("\r\n"), path, line_number)
    except DataError as error:
        return error
