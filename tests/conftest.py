"""Shared fixtures: test data paths, free loopback ports, the shipped models loaded once per session."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ARTIFACTS = Path(__file__).parent / "artifacts"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def detector():
    from visioncast.models import load_model  # noqa: PLC0415 — only when a test asks for a model

    return load_model("yolox-nano")


@pytest.fixture(scope="session")
def classifier():
    from visioncast.models import load_model  # noqa: PLC0415 — only when a test asks for a model

    return load_model("resnet56-cifar10")
