"""The visioncast error tree. Pure: no I/O.

Every error the package raises on purpose derives from one root, so callers can catch it in one place::

    VisioncastError
    ├── ConfigError          a configuration value or file is wrong (names the key)
    ├── ModelError           a model cannot be loaded, its family is unsupported, or an engine is missing
    ├── InputError           a bad upload, image, option or command (HTTP 400)
    │   ├── UnsupportedMediaError   the bytes are not a supported media type (HTTP 415)
    │   └── TooLargeError           a body or an image exceeds its configured limit (HTTP 413)
    ├── NotFoundError        a named thing (model, job, stream, file) does not exist (HTTP 404)
    ├── SourceError          a source cannot be opened or was lost
    └── SinkError            a sink cannot publish or write

Third-party errors are converted at the edge that called the library (``raise SourceError(...) from exc``).
Messages name the field, what was expected and what came.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InputError",
    "ModelError",
    "NotFoundError",
    "SinkError",
    "SourceError",
    "TooLargeError",
    "UnsupportedMediaError",
    "VisioncastError",
]


class VisioncastError(Exception):
    """Root of every error visioncast raises on purpose.

    ``code`` is the stable, specific name of the problem that API answers carry (``{"error": code, …}``) and
    pages translate; each class has a general one, a raise site may name a more specific one:
    ``InputError("…", code="image_corrupt")``. The codes in use are listed in visioncast.server.errors.
    """

    code = "error"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code


class ConfigError(VisioncastError):
    """A configuration key or value is wrong; the message names the key."""

    code = "bad_config"


class ModelError(VisioncastError):
    """A model cannot be loaded or run: missing file, unsupported family, missing engine."""

    code = "model_error"


class InputError(VisioncastError):
    """Bad input from a user: an image, an option, a command."""

    code = "bad_input"


class UnsupportedMediaError(InputError):
    """The bytes are not a media type visioncast accepts."""

    code = "unsupported_media"


class TooLargeError(InputError):
    """A body or decoded image exceeds its configured limit."""

    code = "too_large"


class NotFoundError(VisioncastError):
    """A named model, job, stream or file does not exist."""

    code = "not_found"


class SourceError(VisioncastError):
    """A source (file, camera, stream) cannot be opened or was lost."""

    code = "source_error"


class SinkError(VisioncastError):
    """A sink (MQTT, file, stream) cannot publish or write."""

    code = "sink_error"
