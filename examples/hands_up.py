""""Hands up!" from pose keypoints (CPython + paho-mqtt): tells a board how many hands the person raises.

visioncast publishes every pose result as JSON on ``visioncast/<source>/result``: each person has 17
``keypoints`` [x, y, score] in image pixels (COCO order: 5/6 = left/right shoulder, 9/10 = left/right wrist;
y grows downwards). A hand is up when its wrist is seen above its shoulder by more than a tenth of the
shoulder width. This script counts raised hands of the best-scored person and, when the count changes,
publishes ``none``, ``one`` or ``both`` on ``visioncast/<source>/hands`` — a short text any board (see
mqtt_led_board.py) can react to.

    python examples/hands_up.py --host 192.168.1.20 --user visioncast --password XXXX

Then open the webcam page, choose "People and their pose" (or `visioncast run -m movenet-lightning`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

import paho.mqtt.client as mqtt

LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_WRIST, RIGHT_WRIST = 5, 6, 9, 10
MIN_SCORE = 0.3
WORDS = {0: "none", 1: "one", 2: "both"}


def raised_hands(keypoints: list[list[float]]) -> int:
    """0, 1 or 2: wrists seen above their shoulder by more than 10 % of the shoulder width."""
    ls, rs = keypoints[LEFT_SHOULDER], keypoints[RIGHT_SHOULDER]
    if ls[2] < MIN_SCORE or rs[2] < MIN_SCORE:
        return 0
    margin = abs(ls[0] - rs[0]) * 0.1
    raised = 0
    for wrist, shoulder in ((keypoints[LEFT_WRIST], ls), (keypoints[RIGHT_WRIST], rs)):
        if wrist[2] >= MIN_SCORE and wrist[1] < shoulder[1] - margin:
            raised += 1
    return raised


def hands_in(result: dict) -> int | None:
    """Raised hands of the best-scored person of a result payload; None when it is not a pose result."""
    people = [d for d in result.get("detections", []) if len(d.get("keypoints", [])) == 17]
    if result.get("task") != "pose":
        return None
    return raised_hands(max(people, key=lambda d: d["score"])["keypoints"]) if people else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--user", default="visioncast")
    p.add_argument("--password", default="")
    p.add_argument("--prefix", default="visioncast")
    args = p.parse_args()
    last: dict[str, int] = {}

    def on_connect(client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        if reason.is_failure:
            print(f"the broker refused the login: {reason}", file=sys.stderr)
            client.disconnect()
            return
        client.subscribe(f"{args.prefix}/+/result")
        print(f"connected to {args.host}:{args.port}, watching pose results", flush=True)

    def on_message(client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            hands = hands_in(json.loads(msg.payload))
        except ValueError:
            return
        source = msg.topic.split("/")[-2]
        if hands is not None and last.get(source) != hands:
            last[source] = hands
            client.publish(f"{args.prefix}/{source}/hands", WORDS[hands])
            print(f"{source}: hands up: {WORDS[hands]}", flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(args.user, args.password or None)
    client.on_connect, client.on_message = on_connect, on_message
    client.connect(args.host, args.port, keepalive=30)
    with contextlib.suppress(KeyboardInterrupt):
        client.loop_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
