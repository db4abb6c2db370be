"""The import commands' progress bar: rich on stderr, or nothing at all when disabled."""

from __future__ import annotations

from contextlib import AbstractContextManager
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


class ImportProgress(AbstractContextManager["ImportProgress"]):
    """A rich progress bar on stderr, or nothing at all when disabled."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
        self._task: TaskID | None = None
        self._total: float | None = None

    def __enter__(self) -> ImportProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish_task()
        if self._progress is not None:
            self._progress.stop()

    def _finish_task(self) -> None:
        if self._progress is not None and self._task is not None:
            total = self._total if self._total is not None else 1
            self._progress.update(self._task, total=total, completed=total)
            self._progress.stop_task(self._task)
            self._task = None

    def task(self, description: str, total: float | None) -> None:
        """Start a phase; ``total`` None shows a pulsing bar (size unknown)."""
        if self._progress is None:
            return
        self._finish_task()
        self._total = total
        self._task = self._progress.add_task(description, total=total)

    def update(self, *, completed: float, description: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, description=description)
