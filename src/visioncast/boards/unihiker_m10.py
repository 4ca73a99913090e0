"""UNIHIKER M10 (Linux, Python 3): act on the label visioncast pushes with the screen, an LED and a servo.

Run it on the UNIHIKER (Mind+ or `python3 unihiker_m10.py`), after editing the settings below. It uses
paho-mqtt 2 (preinstalled on the M10; else `pip install paho-mqtt`) and the board's own pinpong library for
the GPIO: the on-board LED (P25) is on while connected and the broker answers; an RGB LED on P21/P22/P23
(PWM, common cathode, 220 Ω resistors) shows the label colour. A refused login is shown on the screen with
what to fix, and retried.

What keeps it alive in a real classroom:
* paho reconnects by itself (1 s … RECONNECT_MAX_S backoff); connecting gives up after IO_TIMEOUT_S, and a
  broker that accepts the connection but never answers is dropped after KEEPALIVE_S;
* every PING_S seconds the board says "online" on its status topic with QoS 1; the broker's PUBACK is its
  answer. Unanswered for PING_WAIT_S seconds, the screen says so at once and the LEDs go off (the label
  shown may no longer be true); paho drops a link that stays silent (at most 2 × KEEPALIVE_S) and
  reconnects;
* it acts only on the newest label: paho hands over each message, the program keeps the last and acts on it
  every tick (and SETTLE_S after a stale spell), so labels queued during a freeze are not replayed (the servo
  turns once, to the newest label's angle).

ACTIONS: label → (LED colour, servo angle, text). The screen shows the text (None: the label); a servo on
SERVO_PIN (P0, P2, P3, P8, P9, P10 or P16; pinpong's Servo) turns to the angle, and stays where it is for a
label without one. The servo pin is only set up once a label with an angle arrives, so a table without angles
never touches it. A label missing from ACTIONS turns the LED off.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from pinpong.board import Board, Pin, Servo
from unihiker import GUI

BROKER = "192.168.1.20"  # the address `visioncast serve` printed
PORT = 1883
USER = "visioncast"  # the "user U  password P" line printed by `visioncast serve`
PASSWORD = "printed-by-serve"
TOPIC = "visioncast/webcam/label"  # visioncast/<source>/label; SIoT preset: "siot/<source>"
KEEPALIVE_S = 10  # paho pings after this long without an answer and drops the link after as long again
PING_S = 5  # say "online" (QoS 1) this often: the broker's PUBACK is its answer
PING_WAIT_S = 2  # unanswered for this long: the display turns stale (the label may be out of date)
SETTLE_S = 0.2  # once the broker answers again, take what arrives for this long, then act on the newest
IO_TIMEOUT_S = 10  # connecting to the broker gives up after this long
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
STALE_TEXT = "服务器无应答 no answer"  # on the screen while the broker does not answer
CLIENT_ID = f"vc-m10-{uuid.getnode():012x}"
STATUS_TOPIC = f"board/{CLIENT_ID}/status"  # boards may write under board/ (see docs/mqtt.md)

Board().begin()  # the UNIHIKER's own co-processor, found automatically
status_led = Pin(Pin.P25, Pin.OUT)
rgb_pins = [Pin(pin, Pin.PWM) for pin in (Pin.P21, Pin.P22, Pin.P23)]
gui = GUI()
text = gui.draw_text(x=120, y=160, text="connecting…", origin="center", font_size=20)
servos = {}  # SERVO_PIN → pinpong's Servo, made by the first label with an angle
lock = threading.Lock()
state = {"refused": False, "connected": False, "latest": None, "shown": None}  # guarded by lock
stopping = threading.Event()


def show(message: str, connected: bool, rgb: tuple[int, int, int]) -> None:
    text.config(text=message)
    status_led.write_digital(1 if connected else 0)
    for pin, value in zip(rgb_pins, rgb, strict=True):
        pin.write_analog(value)


def on_connect(client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
    with lock:
        state["refused"] = reason.is_failure
        state["connected"] = not reason.is_failure
        state["latest"] = state["shown"] = None
    if reason.is_failure:
        hint = " - check USER and PASSWORD" if str(reason) in REFUSED_CODES else ""
        show(f"refused: {reason}{hint}", False, (128, 0, 128))
        print(f"the broker refused the login: {reason}{hint}; retrying", file=sys.stderr)
        return
    client.publish(STATUS_TOPIC, "online", qos=1, retain=True)
    client.subscribe(TOPIC, qos=1)
    show("connected", True, (0, 0, 0))


def on_disconnect(_c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
    with lock:
        state["connected"] = False
        refused = state["refused"]
    if not refused:
        show(f"reconnecting ({reason})", False, (0, 0, 0))


def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
    with lock:
        state["latest"] = msg.payload.decode("utf-8", "replace")  # acted on by the next tick of main()


def turn_servo(angle: int) -> None:
    if SERVO_PIN not in servos:
        servos[SERVO_PIN] = Servo(Pin(getattr(Pin, f"P{SERVO_PIN}")))
    servos[SERVO_PIN].angle(angle)


def act_on_newest(restore: bool) -> None:
    """Show the newest label received (only it: labels that queued up are not replayed); ``restore``: when
    nothing newer came, put the one shown back (after a stale spell)."""
    with lock:
        label, state["latest"] = state["latest"], None
        if label is not None:
            state["shown"] = label
        shown, connected = state["shown"], state["connected"]
    if not connected or (label is None and not restore):
        return
    if shown is None:
        show("connected", True, (0, 0, 0))
        return
    rgb, angle, shown_text = ACTIONS.get(shown, NO_ACTION)
    if label is not None and angle is not None:  # a new label: the servo turns; a restored one is there
        turn_servo(angle)
    show(shown if shown_text is None else shown_text, True, rgb)


class Watch:
    """The broker's answers to the board's QoS 1 "online": stale when one is late, newest label otherwise."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client, self.heartbeat, self.sent_at = client, None, 0.0
        self.stale, self.restore, self.settle_until = False, False, 0.0

    def tick(self, now: float) -> None:
        with lock:
            connected = state["connected"]
        if not connected:
            self.heartbeat, self.stale = None, False
            return
        answered = self.heartbeat is None or self.heartbeat.is_published()
        if answered and self.stale:
            print("the broker answers again", file=sys.stderr)
            self.stale, self.restore, self.settle_until = False, True, now + SETTLE_S
        if answered and now - self.sent_at >= PING_S:
            self.heartbeat, self.sent_at = self.client.publish(STATUS_TOPIC, "online", qos=1), now
        elif not answered and now - self.sent_at >= PING_WAIT_S and not self.stale:
            self.stale = True
            print(f"no answer from the broker for {PING_WAIT_S} s: the display is stale", file=sys.stderr)
            show(STALE_TEXT, False, (0, 0, 0))
        if not self.stale and now >= self.settle_until:
            act_on_newest(self.restore)
            self.restore = False


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=CLIENT_ID)


def main() -> None:
    """Connect and handle messages until stop() (paho reconnects by itself meanwhile)."""
    client.username_pw_set(USER, PASSWORD)
    client.on_connect, client.on_disconnect, client.on_message = on_connect, on_disconnect, on_message
    client.will_set(STATUS_TOPIC, "offline", qos=1, retain=True)
    client.reconnect_delay_set(1, RECONNECT_MAX_S)
    client.connect_timeout = IO_TIMEOUT_S
    client.connect_async(BROKER, PORT, keepalive=KEEPALIVE_S)
    client.loop_start()  # paho's own thread: the network, reconnecting
    watch = Watch(client)
    try:
        while not stopping.wait(0.05):
            watch.tick(time.monotonic())
    finally:
        client.disconnect()
        client.loop_stop()


def stop() -> None:
    stopping.set()


if __name__ == "__main__":
    main()
