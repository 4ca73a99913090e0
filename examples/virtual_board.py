"""A "virtual board" on any computer (CPython + paho-mqtt): prints what the LED of mqtt_led_board.py would do.

Usage (the address, user and password are those `visioncast serve` prints):

    python examples/virtual_board.py --host 192.168.1.20 --user visioncast --password XXXX \
        --topic visioncast/webcam/label

Useful to check the classroom setup before flashing a board: send an image to the server
(`visioncast predict …` or the webcam page) and watch the colour change here.
"""

from __future__ import annotations

import argparse
import sys

import paho.mqtt.client as mqtt

COLOURS = {"开心": "yellow", "happy": "yellow", "愤怒": "red", "angry": "red", "person": "blue",
           "none": "off"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--user", default="visioncast")
    p.add_argument("--password", default="")
    p.add_argument("--topic", default="visioncast/+/label", help="label topic (SIoT preset: siot/<name>)")
    args = p.parse_args()

    def on_connect(client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        if reason.is_failure:
            print(f"the broker refused the login: {reason}", file=sys.stderr)
            client.disconnect()
            return
        client.subscribe(args.topic)
        print(f"connected to {args.host}:{args.port}, waiting for labels on {args.topic}", flush=True)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        label = msg.payload.decode("utf-8", "replace")
        print(f"{msg.topic}: {label!r} -> LED {COLOURS.get(label, 'off')}", flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(args.user, args.password or None)
    client.on_connect, client.on_message = on_connect, on_message
    client.connect(args.host, args.port, keepalive=30)
    try:
        client.loop_forever()
    except KeyboardInterrupt:
        client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
