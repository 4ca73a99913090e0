"""UNIHIKER M10 (Linux, Python 3): act on the label visioncast pushes with the screen, an LED and a servo.

Run it on the UNIHIKER (Mind+ or `python3 unihiker_m10.py`), after editing the settings below. It uses
paho-mqtt (preinstalled on the M10; else `pip install paho-mqtt`) and the board's own pinpong library for
the GPIO: the on-board LED (P25) is on while connected; an RGB LED on P21/P22/P23 (PWM, common cathode,
220 Ω resistors) shows the label colour. paho reconnects by itself (1 s … 30 s backoff) and pings every
KEEPALIVE_S / 2; a refused login is shown on the screen with what to fix, and retried.

ACTIONS: label → (LED colour, servo angle, text). The screen shows the text (None: the label); a servo on
SERVO_PIN (P0, P2, P3, P8, P9, P10 or P16; pinpong's Servo) turns to the angle, and stays where it is for a
label without one. The servo pin is only set up once a label with an angle arrives, so a table without angles
never touches it. A label missing from ACTIONS turns the LED off.
"""

from __future__ import annotations

import sys
import uuid

import paho.mqtt.client as mqtt
from pinpong.board import Board, Pin, Servo
from unihiker import GUI

BROKER = "192.168.1.20"  # the address `visioncast serve` printed
PORT = 1883
USER = "visioncast"  # the "user U  password P" line printed by `visioncast serve`
PASSWORD = "printed-by-serve"
TOPIC = "visioncast/webcam/label"  # visioncast/<source>/label; SIoT preset: "siot/<source>"
KEEPALIVE_S = 20
RECONNECT_MAX_S = 30
SERVO_PIN = 10  # P10: the servo's signal pin
ACTIONS = {  # label → (LED (r, g, b) 0–255, servo angle 0–180 or None: stays, text or None: the label)
    "开心": ((255, 200, 0), 180, None),
    "happy": ((255, 200, 0), 180, None),
    "愤怒": ((255, 0, 0), 0, None),
    "angry": ((255, 0, 0), 0, None),
    "person": ((0, 0, 255), None, None),
    "none": ((0, 0, 0), None, None),
}
NO_ACTION = ((0, 0, 0), None, None)
REFUSED_CODES = ("Bad user name or password", "Not authorized")

Board().begin()  # the UNIHIKER's own co-processor, found automatically
status_led = Pin(Pin.P25, Pin.OUT)
rgb_pins = [Pin(pin, Pin.PWM) for pin in (Pin.P21, Pin.P22, Pin.P23)]
gui = GUI()
text = gui.draw_text(x=120, y=160, text="connecting…", origin="center", font_size=20)
state = {"refused": False}  # a refused login stays on the screen through paho's disconnect and retries
servos = {}  # SERVO_PIN → pinpong's Servo, made by the first label with an angle


def show(message: str, connected: bool, rgb: tuple[int, int, int]) -> None:
    text.config(text=message)
    status_led.write_digital(1 if connected else 0)
    for pin, value in zip(rgb_pins, rgb, strict=True):
        pin.write_analog(value)


def on_connect(client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
    state["refused"] = reason.is_failure
    if reason.is_failure:
        hint = " - check USER and PASSWORD" if str(reason) in REFUSED_CODES else ""
        show(f"refused: {reason}{hint}", False, (128, 0, 128))
        print(f"the broker refused the login: {reason}{hint}; retrying", file=sys.stderr)
        return
    client.subscribe(TOPIC, qos=1)
    show("connected", True, (0, 0, 0))


def on_disconnect(_c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
    if not state["refused"]:
        show(f"reconnecting ({reason})", False, (0, 0, 0))


def turn_servo(angle: int) -> None:
    if SERVO_PIN not in servos:
        servos[SERVO_PIN] = Servo(Pin(getattr(Pin, f"P{SERVO_PIN}")))
    servos[SERVO_PIN].angle(angle)


def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
    label = msg.payload.decode("utf-8", "replace")
    rgb, angle, text = ACTIONS.get(label, NO_ACTION)
    if angle is not None:
        turn_servo(angle)
    show(label if text is None else text, True, rgb)


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"vc-m10-{uuid.getnode():012x}")


def main() -> None:
    """Connect and handle messages until client.disconnect() (paho reconnects by itself meanwhile)."""
    client.username_pw_set(USER, PASSWORD)
    client.on_connect, client.on_disconnect, client.on_message = on_connect, on_disconnect, on_message
    client.reconnect_delay_set(1, RECONNECT_MAX_S)
    client.connect_async(BROKER, PORT, keepalive=KEEPALIVE_S)
    client.loop_forever(retry_first_connection=True)


if __name__ == "__main__":
    main()
