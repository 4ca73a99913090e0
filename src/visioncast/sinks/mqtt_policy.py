"""When to publish: every result, on change only (debounced), or at most R per second. Pure, no I/O.

The MQTT sink asks :class:`PublishPolicy` once per result and source. ``change`` keeps boards from flickering:
a label must win ``frames`` consecutive results (or a strict majority of the last ``window`` results when
``window`` > 0) before it becomes the new published label. Skipped results are counted by the sink, not lost.
"""

from __future__ import annotations

from collections import Counter, deque

from visioncast.errors import ConfigError

POLICIES = ("every", "change", "rate")


class Debouncer:
    """The stable label of one stream: ``update()`` returns it when it changes, None otherwise."""

    def __init__(self, frames: int = 1, window: int = 0) -> None:
        if frames < 1:
            raise ConfigError(f"debounce_frames must be >= 1, got {frames}")
        if window < 0:
            raise ConfigError(f"window must be >= 0 (0 = consecutive frames), got {window}")
        self.frames, self.window = frames, window
        self.stable: str | None = None
        self._recent: deque[str] = deque(maxlen=window or frames)

    def update(self, label: str) -> str | None:
        self._recent.append(label)
        winner = self._majority() if self.window else self._consecutive()
        if winner is None or winner == self.stable:
            return None
        self.stable = winner
        return winner

    def _consecutive(self) -> str | None:
        if len(self._recent) < self.frames or len(set(self._recent)) != 1:
            return None
        return self._recent[-1]

    def _majority(self) -> str | None:
        label, votes = Counter(self._recent).most_common(1)[0]
        return label if votes * 2 > self.window else None


class RateLimiter:
    """At most ``max_rate_hz`` events per second (minimum spacing; the first event always passes)."""

    def __init__(self, max_rate_hz: float) -> None:
        if not max_rate_hz > 0:
            raise ConfigError(f"max_rate_hz must be > 0, got {max_rate_hz}")
        self.interval_s = 1.0 / max_rate_hz
        self._last_s: float | None = None

    def allow(self, now_s: float) -> bool:
        if self._last_s is not None and now_s - self._last_s < self.interval_s:
            return False
        self._last_s = now_s
        return True


class PublishPolicy:
    """Per-source decisions for results (by label) and snapshots (by value)."""

    def __init__(self, mode: str = "every", *, frames: int = 1, window: int = 0,
                 max_rate_hz: float = 5.0) -> None:
        if mode not in POLICIES:
            raise ConfigError(f"policy must be one of {', '.join(POLICIES)}, got {mode!r}")
        Debouncer(frames, window)  # validates the parameters up front
        if mode == "rate":
            RateLimiter(max_rate_hz)
        self.mode, self.frames, self.window, self.max_rate_hz = mode, frames, window, max_rate_hz
        self._debouncers: dict[str, Debouncer] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._last_values: dict[str, object] = {}

    def decide(self, source: str, label: str, now_s: float) -> str | None:
        """The label to publish for this result, or None to skip it."""
        if self.mode == "change":
            deb = self._debouncers.setdefault(source, Debouncer(self.frames, self.window))
            return deb.update(label)
        if self.mode == "rate":
            lim = self._limiters.setdefault(source, RateLimiter(self.max_rate_hz))
            return label if lim.allow(now_s) else None
        return label

    def decide_value(self, key: str, value: object, now_s: float) -> bool:
        """Whether a snapshot value (e.g. people count) is published: on change, rate-limited, or always."""
        if self.mode == "change":
            if key in self._last_values and self._last_values[key] == value:
                return False
            self._last_values[key] = value
            return True
        if self.mode == "rate":
            return self._limiters.setdefault("value:" + key, RateLimiter(self.max_rate_hz)).allow(now_s)
        return True
