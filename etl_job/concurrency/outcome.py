"""What one simulated interleaving did, in a form both the CLI and the tests consume."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outcome:
    """The result of one variant of one scenario.

    ``anomaly`` is what was observed in the database, ``protected`` is whether the variant
    applied a countermeasure; a simulation behaves as documented when the two disagree.
    """

    scenario: str
    variant: str
    engine: str
    protected: bool
    anomaly: bool
    summary: str
    steps: tuple[str, ...]
    facts: Mapping[str, int | str] = field(default_factory=dict)

    @property
    def as_expected(self) -> bool:
        """The unprotected run shows the anomaly and the protected run does not."""
        return self.anomaly != self.protected


@dataclass
class Trace:
    """Thread-safe, ordered log of the steps two sessions took.

    Both sessions append from their own threads; the lock keeps lines whole and the order
    is the order the steps really completed in.
    """

    lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def step(self, actor: str, text: str) -> None:
        with self._lock:
            self.lines.append(f"{actor}: {text}")

    def freeze(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self.lines)
