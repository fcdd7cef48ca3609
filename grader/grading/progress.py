"""A progress bar on stderr: notebooks done, rate and time left.

On a terminal it redraws one line (at most ten times a second); otherwise (a log file, CI) it
prints a line at every tenth of the work and at least every 30 seconds.
"""

from __future__ import annotations

import sys
import time


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    def __init__(self, total: int, *, enabled: bool = True, stream=None, label: str = "grading",
                 clock=time.monotonic, width: int = 24):
        self.total = max(0, int(total))
        self.done = 0
        self.enabled = enabled and self.total > 0
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.clock = clock
        self.width = width
        self.start = clock()
        self._last_draw = float("-inf")
        self._last_decile = -1
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        filled = int(self.width * self.done / self.total) if self.total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        if self.done >= self.total:
            tail = f"done in {format_duration(elapsed)}"
        elif rate > 0:
            tail = f"{format_duration((self.total - self.done) / rate)} left"
        else:
            tail = "time left unknown"
        per_minute = rate * 60
        return (f"{self.label} [{bar}] {self.done}/{self.total} notebooks, "
                f"{per_minute:.1f}/min, {tail}")

    def update(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        if not self.enabled:
            return
        now = self.clock()
        if self.tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self.stream.write("\r" + self.line() + "\x1b[K")
                self.stream.flush()
                self._last_draw = now
        else:
            decile = int(10 * self.done / self.total)
            if decile != self._last_decile or now - self._last_draw >= 30:
                self.stream.write(self.line() + "\n")
                self.stream.flush()
                self._last_decile, self._last_draw = decile, now

    def open(self) -> "Progress":
        if self.enabled:
            if self.tty:
                self.stream.write(self.line())
                self.stream.flush()
        return self

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
        self.enabled = False

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
