"""Sinks: the I/O edge that consumes (Frame, Result): annotated files, MQTT, MJPEG, JSON lines."""
