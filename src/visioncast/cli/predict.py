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
from visioncast.cli.infer import (
    DEFAULT_OUT,
    Batch,
    _save_path,
    expand,
    print_result,
    prompt_paths,
    sample_image,
    why_skipped,
)
from visioncast.cli.options import load_config
from visioncast.core.payload import result_from_payload
from visioncast.core.types import Result
from visioncast.draw import draw_result
from visioncast.errors import InputError, VisioncastError
from visioncast.lang import LANGS
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
    p.add_argument("--sample", action="store_true",
                   help="send the sample shipped with visioncast (messi5.jpg; a CIFAR-10 cat for classify)")
    p.add_argument("--server", default=DEFAULT_SERVER, help=f"server URL (default {DEFAULT_SERVER})")
    p.add_argument("--task", choices=("detect", "classify", "pose", "face", "segment"), default="detect",
                   help="what the server finds: objects, classes, body keypoints, faces or where people are, "
                        "pixel by pixel (default detect)")
    p.add_argument("--draw", action="store_true",
                   help="draw the returned result on the image and show it (saved when there is no display)")
    p.add_argument("--save", metavar="OUT", help="save the annotated image to this file or folder")
    p.add_argument("--lang", choices=LANGS, help="language of the labels drawn (default: config "
                   "pipeline.lang, else the locale's)")
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


def _error_of(resp: requests.Response) -> tuple[str, str]:
    """(the server's error code, '<code>: <message>') of a visioncast error answer; for anything else (an HTML
    page, a proxy's answer) only its status and what to check."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "message" in body:
        code = str(body.get("error", "error"))
        return code, f"{code}: {body['message']}"
    kind = resp.headers.get("Content-Type", "?").split(";")[0]
    return "error", (f"{resp.reason or 'error'} ({kind}, not an answer of visioncast's API: check --server, "
                     f"e.g. {DEFAULT_SERVER})")


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
        code, text = _error_of(resp)
        raise ServerAnswerError(f"{path}: the server answered {resp.status_code} {text}{hint}", code=code)
    try:
        return resp.json()  # type: ignore[no-any-return,unused-ignore]
    except ValueError as exc:
        raise ServerAnswerError(f"{path}: the server's answer is not JSON: {resp.text[:80]!r}") from exc


def draw_locally(path: Path, result: Result, args: argparse.Namespace, many: bool, lang: str) -> None:
    """Draw ``result`` on the local image in ``lang``; show it (--draw) and/or save it (--save, or no
    display)."""
    annotated = draw_result(read_image(path), result, lang=lang)
    problem = display.show(f"visioncast - {path.name}", annotated) if args.draw else None
    if args.save or problem:
        target = _save_path(args.save or DEFAULT_OUT, path, many)
        if not cv2.imwrite(str(target), annotated):
            raise VisioncastError(f"cannot write the annotated image to '{target}'")
        reason = f" (cannot show it: {problem})" if problem else ""
        print(f"saved {target}{reason}", file=sys.stderr if args.json else sys.stdout, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.sample:
        args.images = [*args.images, str(sample_image(args.task))]
    interactive = not args.images
    paths = prompt_paths() if interactive else expand(args.images)
    many = interactive or len(args.images) > 1 or any(Path(s).is_dir() for s in args.images)
    batch = Batch()
    with requests.Session() as session:
        cfg = load_config(args)
        token = args.token or cfg.server.token
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        for path in paths:
            try:
                result = result_from_payload(post_image(session, args, path))
                print_result(path, result, args.json)
                if args.draw or args.save:
                    draw_locally(path, result, args, many, cfg.pipeline.lang)
                batch.done += 1
            except ServerUnavailableError as exc:
                if not interactive:
                    raise
                print(f"visioncast: error: {exc}", file=sys.stderr, flush=True)
            except (InputError, ServerAnswerError) as exc:
                batch.skip(path, why_skipped(exc))
                print(f"visioncast: error: {exc}", file=sys.stderr, flush=True)
    if interactive:
        return 0
    if many:
        return batch.report(args.images, as_json=args.json)
    return 1 if batch.skipped else 0
