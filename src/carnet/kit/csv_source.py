"""Opening an import file (path or text stream) for the CSV importers.

UTF-8 with an optional BOM; an invalid byte becomes U+FFFD so that the importer reports it on its
line instead of failing the whole file. Bytes read are counted for the progress bar.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO

from carnet.exceptions import BadRequest


class CountingReader(io.RawIOBase):
    """A binary stream that counts the bytes read (for the progress bar)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        self.count += n or 0
        return int(n or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass
class CsvSource:
    stream: TextIO
    name: str
    total_bytes: int | None = None
    counter: CountingReader | None = None

    @property
    def bytes_read(self) -> int | None:
        return self.counter.count if self.counter is not None else None


@contextmanager
def open_csv_source(source: Path | str | TextIO, name: str | None) -> Iterator[CsvSource]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        raw = path.open("rb", buffering=0)
        counter = CountingReader(raw)
        stream = io.TextIOWrapper(
            io.BufferedReader(counter, buffer_size=1 << 20),
            encoding="utf-8-sig",
            errors="replace",  # an invalid byte becomes U+FFFD, reported on its line
            newline="",
        )
        try:
            size = os.fstat(raw.fileno()).st_size
            yield CsvSource(stream, name or str(path), size if size > 0 else None, counter)
        finally:
            stream.close()
        return
    stream_name = getattr(source, "name", None)
    yield CsvSource(source, name or (stream_name if isinstance(stream_name, str) else "<stream>"))


# -- reading the lines and collecting the errors (shared by the register, directory and rights
# importers; each keeps its own header message) ------------------------------------------------

LineError = tuple[int, str]  # line number, message
RawLine = tuple[int, list[str] | None, str | None]  # line number, fields, CSV parse error

# A header cell that looks like a column name: only such cells are echoed in an error message
# (a file without its header starts with a person's line, which must not be echoed).
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]{0,39}")


def read_csv_lines(
    stream: TextIO, header: tuple[str, ...], header_error: Callable[[list[str]], Exception]
) -> Iterator[RawLine]:
    """Check the header, then yield every non-empty line with its (first) line number."""
    reader = csv.reader(stream, strict=True)
    try:
        found = next(reader)
    except StopIteration:
        raise BadRequest(
            f"the file is empty: expected the header line '{','.join(header)}'",
            code="invalid_header",
        ) from None
    except csv.Error as exc:
        raise BadRequest(f"line 1: unreadable header ({exc})", code="invalid_header") from None
    if [value.strip() for value in found] != list(header):
        raise header_error(found)
    while True:
        line_no = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line_no, None, f"unreadable CSV line ({exc})"
            continue
        # An empty line, or one holding only blanks or separators (",,,,": the blank rows that
        # spreadsheets export), carries nothing: skipped like an empty line.
        if fields and any(value.strip() for value in fields):
            yield line_no, fields, None


class ErrorList:
    """The first ``limit`` errors by line number, in bounded memory, and how many in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._kept: list[LineError] = []

    def add(self, error: LineError) -> None:
        self.count += 1
        self._kept.append(error)
        if len(self._kept) >= 2 * self.limit + 1000:
            self._kept.sort()
            del self._kept[self.limit :]

    def extend(self, errors: Iterable[LineError]) -> None:
        for error in errors:
            self.add(error)

    def keep(self, errors: Iterable[LineError]) -> None:
        """List errors already counted (lines refused by the cross-line checks)."""
        self._kept.extend(errors)

    def first(self) -> list[LineError]:
        self._kept.sort()
        return self._kept[: self.limit]
