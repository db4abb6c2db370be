"""Opening an import file (path or text stream) for the CSV importers.

UTF-8 with an optional BOM; an invalid byte becomes U+FFFD so that the importer reports it on its
line instead of failing the whole file. Bytes read are counted for the progress bar.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO


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
