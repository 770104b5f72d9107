"""Progress lines for long steps and the closing summary, so a person sees where time goes."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class StepFailedError(RuntimeError):
    """A step could not finish; the message says what to install, start or fix."""


@dataclass
class Progress:
    """Numbered steps with elapsed time, then a summary table of what runs where."""

    total: int
    done: int = 0
    summary: list[tuple[str, str]] = field(default_factory=list)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.done += 1
        print(f"[{self.done}/{self.total}] {title} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        yield
        print(
            f"[{self.done}/{self.total}] {title}: done in {time.monotonic() - started:.1f}s",
            file=sys.stderr,
            flush=True,
        )

    def note(self, text: str) -> None:
        print(f"      {text}", file=sys.stderr, flush=True)

    def record(self, name: str, where: str) -> None:
        self.summary.append((name, where))

    def render_summary(self) -> str:
        width = max((len(name) for name, _ in self.summary), default=0)
        return "\n".join(f"  {name.ljust(width)}  {where}" for name, where in self.summary)
