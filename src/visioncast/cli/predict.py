"""`visioncast predict`: the command-line client of a running `visioncast serve`. I/O: HTTP, files, prints.

Posts each image (multipart field ``image``) to ``/api/v1/detect`` or ``/api/v1/classify`` with requests and
prints the answer as ``visioncast detect`` prints a local result. With no IMAGE it asks for paths in a loop
(the same prompt as ``visioncast detect``). ``--draw`` rebuilds the Result from the JSON
(``result_from_payload``), draws it locally on the image and shows it in an OpenCV window, or saves it when
this machine cannot show windows (and says why). A server that is not running, does not answer in time or
answers an error gives one clear line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import requests

from visioncast.cli import display
from visioncast.cli.infer import DEFAULT_OUT, _save_path, expand, print_result, prompt_paths
from visioncast.cli.options import load_config
from visioncast.core.payload import result_from_payload
from visioncast.core.types import Result
from visioncast.draw import draw_result
from visioncast.errors import InputError, VisioncastError
from visioncast.sources.image import read_image

DEFAULT_SERVER = "http://127.0.0.1:5000"
DEFAULT_TIMEOUT_S = 30.0


class ServerUnavailableError(VisioncastError):
    """No server answers at the URL, or it did not answer in time."""

    code = "server_unavailable"


class ServerAnswerError(VisioncastError):
    """The server answered with an error status; the message carries its status and message."""

    code = "server_error"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = sub.add_parser("predict", help="send images to a running `visioncast serve` and print the results",
                       description="Send images to a visioncast server and print what it found. "
                                   "With no IMAGE, asks for paths in a loop.")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("--server", default=DEFAULT_SERVER, help=f"server URL (default {DEFAULT_SERVER})")
    p.add_argument("--task", choices=("detect", "classify", "pose", "face"), default="detect",
                   help="what the server finds: objects, classes, body keypoints or faces (default detect)")
    p.add_argument("--draw", action="store_true",
                   help="draw the returned result on the image and show it (saved when there is no display)")
    p.add_argument("--save", metavar="OUT", help="save the annotated image to this file or folder")
    p.add_argument("--json", action="store_true", help="print one JSON result per line")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait (default 30)")
    p.add_argument("--token", help="the teacher's token, sent as 'Authorization: Bearer' (default "
                                   "VISIONCAST_SERVER__TOKEN or server.token of --config; detect and "
                                   "classify need none)")
    g = p.add_argument_group("options sent to the server")
    g.add_argument("-m", "--model", help="model name on the server (default: the server's)")
    g.add_argument("--conf", type=float, help="minimum confidence 0–1 (detect)")
    g.add_argument("--iou", type=float, help="NMS IoU threshold 0–1 (detect)")
    g.add_argument("--classes", help="keep only these classes: names or ids, comma-separated (detect)")
    g.add_argument("--max-det", type=int, help="maximum detections (detect)")
    g.add_argument("--top", type=int, help="how many classes (classify, default 5)")
    p.set_defaults(handler=run)


def query_of(args: argparse.Namespace) -> dict[str, Any]:
    """The query parameters of the request: only the options that were given."""
    names = ("model", "conf", "iou", "classes", "max_det", "top")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _error_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('error', 'error')}: {body['message']}"
    return resp.text.strip()[:200] or resp.reason or "no message"


def post_image(session: requests.Session, args: argparse.Namespace, path: Path) -> dict[str, Any]:
    """POST ``path`` to the server; the JSON answer, or a VisioncastError in one clear line."""
    server = args.server.rstrip("/")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read image '{path}': {exc.strerror or exc}") from exc
    try:
        resp = session.post(f"{server}/api/v1/{args.task}", params=query_of(args),
                            files={"image": (path.name, data)}, timeout=args.timeout)
    except requests.Timeout as exc:
        raise ServerUnavailableError(
            f"the visioncast server at {server} did not answer within {args.timeout:g} s") from exc
    except requests.ConnectionError as exc:
        raise ServerUnavailableError(
            f"no visioncast server at {server} — start one with `visioncast serve`") from exc
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema) as exc:
        raise InputError(f"--server must be a URL like {DEFAULT_SERVER}, got {args.server!r}") from exc
    if resp.status_code != 200:
        hint = " (pass the teacher's token with --token)" if resp.status_code == 401 else ""
        raise ServerAnswerError(f"{path}: the server answered {resp.status_code} {_error_text(resp)}{hint}")
    try:
        return resp.json()  # type: ignore[no-any-return,unused-ignore]
    except ValueError as exc:
        raise ServerAnswerError(f"{path}: the server's answer is not JSON: {resp.text[:80]!r}") from exc


def draw_locally(path: Path, result: Result, args: argparse.Namespace, many: bool) -> None:
    """Draw ``result`` on the local image; show it (--draw) and/or save it (--save, or no display)."""
    annotated = draw_result(read_image(path), result)
    problem = display.show(f"visioncast - {path.name}", annotated) if args.draw else None
    if args.save or problem:
        target = _save_path(args.save or DEFAULT_OUT, path, many)
        if not cv2.imwrite(str(target), annotated):
            raise VisioncastError(f"cannot write the annotated image to '{target}'")
        reason = f" (cannot show it: {problem})" if problem else ""
        print(f"saved {target}{reason}", file=sys.stderr if args.json else sys.stdout, flush=True)


def run(args: argparse.Namespace) -> int:
    interactive = not args.images
    paths = prompt_paths() if interactive else expand(args.images)
    many = interactive or len(args.images) > 1 or any(Path(s).is_dir() for s in args.images)
    failures = 0
    with requests.Session() as session:
        token = args.token or load_config(args).server.token
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        for path in paths:
            try:
                result = result_from_payload(post_image(session, args, path))
                print_result(path, result, args.json)
                if args.draw or args.save:
                    draw_locally(path, result, args, many)
            except ServerUnavailableError:
                if not interactive:
                    raise
                failures += 1
                print(f"visioncast: error: {sys.exc_info()[1]}", file=sys.stderr, flush=True)
            except (InputError, ServerAnswerError) as exc:
                failures += 1
                print(f"visioncast: error: {exc}", file=sys.stderr, flush=True)
    return 1 if failures and not interactive else 0
