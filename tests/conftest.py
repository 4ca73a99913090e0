"""Shared fixtures: test data paths, free loopback ports, the shipped models loaded once per session, the
server's app (``make_app``) and a real ``visioncast serve`` process (``serve``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_peers import free_port

# The tests run on onnxruntime, whose answers they were written against: the configured default engine is
# "auto" (measured per model and machine, models/choice.py; OpenVINO is installed with the test extras), which
# would measure for seconds at each fresh cache and move answers within its agreement bounds. Subprocesses get
# it from the environment; in this process auto's candidates are the reference alone. The choice itself is
# tested in tests/unit/models/test_engine_choice.py and tests/integration/test_cli_models.py.
ENGINE = {"VISIONCAST_MODELS__ENGINE": "onnxruntime"}
os.environ.update(ENGINE)

DATA = Path(__file__).parent / "data"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session", autouse=True)
def reference_engine_only() -> Iterator[None]:
    """engine="auto" in this process picks the reference (onnxruntime f32) without measuring."""
    from visioncast.models import choice  # noqa: PLC0415

    every = choice.candidates
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(choice, "candidates", lambda path: every(path)[:1])
        yield


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


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_app(data_dir=tmp_path, **overrides)``: the server's Flask app (tests/apps.py ``app_for``;
    ``server__token="x"`` sets ``server.token``), its services closed at teardown."""
    from tests.apps import app_for  # noqa: PLC0415 — Flask loads only for the tests that build an app

    made: list[Any] = []

    def make(data_dir: Path | None = None, **overrides: Any) -> Any:
        made.append(app_for(tmp_path if data_dir is None else data_dir, **overrides))
        return made[-1]

    yield make
    for app in made:
        app.extensions["visioncast"].close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``serve(*flags, home=tmp_path, port=None, env=None)``: a real ``visioncast serve`` on ``port`` (a free
    one by default; pass an earlier one's ``.port`` to restart it) with its data under ``home``
    (tests/serve_process.py ``Served``; ready when it answers /readyz), stopped at teardown."""
    from tests.serve_process import Served  # noqa: PLC0415

    started: list[Any] = []

    def start(*flags: str, home: Path | None = None, port: int | None = None,
              env: dict[str, str] | None = None) -> Any:
        started.append(Served(tmp_path if home is None else home, port or free_port(), *flags, env=env))
        return started[-1]

    yield start
    for served in started:
        served.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked by its directory (unit, integration, e2e): `pytest -m unit` is the fast lane."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts
        if parts and parts[0] in ("unit", "integration", "e2e"):
            item.add_marker(parts[0])
