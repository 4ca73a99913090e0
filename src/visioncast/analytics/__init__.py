"""Analytics fed by Results: tracking, line and zone counting, dwell time, events. Pure."""

from __future__ import annotations

from visioncast.analytics.event import Condition, StateWatcher, describe_event
from visioncast.analytics.region import LineCounter, ZoneCounter
from visioncast.analytics.stats import Analytics, AnalyticsSpec, StatsSnapshot, empty_snapshot
from visioncast.analytics.track import ByteTracker

__all__ = [
    "Analytics",
    "AnalyticsSpec",
    "ByteTracker",
    "Condition",
    "LineCounter",
    "StateWatcher",
    "StatsSnapshot",
    "ZoneCounter",
    "describe_event",
    "empty_snapshot",
]
