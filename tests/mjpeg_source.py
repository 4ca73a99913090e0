"""A live MJPEG camera you control, for stream tests: real HTTP on 127.0.0.1, ``stop()`` and ``start()`` again
on the same port (a camera that drops out and comes back). Frames loop forever at ``fps``."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2


def clip_jpegs(path: Path, limit: int = 40) -> list[bytes]:
    """The first ``limit`` frames of a video as JPEG bytes."""
    cap = cv2.VideoCapture(str(path))
    out: list[bytes] = []
    while len(out) < limit:
        ok, image = cap.read()
        if not ok:
            break
        out.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    cap.release()
    return out


class MjpegCamera:
    """``url`` serves multipart/x-mixed-replace JPEGs while started; ``served`` counts frames sent."""

    def __init__(self, frames: list[bytes], port: int, fps: float = 10.0) -> None:
        self.frames, self.port, self.fps = frames, port, fps
        self.served = 0
        self._server: ThreadingHTTPServer | None = None
        self._live = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> MjpegCamera:
        camera = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while camera._live.is_set():
                        jpeg = camera.frames[i % len(camera.frames)]
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(jpeg)).encode()
                            + b"\r\n\r\n"
                            + jpeg
                            + b"\r\n"
                        )
                        self.wfile.flush()
                        camera.served += 1
                        i += 1
                        time.sleep(1 / camera.fps)
                except OSError:
                    return

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._live.set()
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        """Drop every viewer and close the port (the camera goes away)."""
        self._live.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
