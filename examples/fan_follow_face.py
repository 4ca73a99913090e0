"""MicroPython for an ESP32 / UNIHIKER-class board: a fan on a servo turns to follow the face visioncast sees.

The camera sits on the fan. Open the webcam page (or run `visioncast run -m yunet --source 0`), choose
"Faces": visioncast pushes where the biggest face is as plain integers 0–100 on
``visioncast/webcam/target/x`` (0 = left edge of the picture, 100 = right edge), ``…/target/y`` and
``…/target/size``, and ``none`` on ``visioncast/webcam/target`` when no one is there. This board turns the
servo a little toward the face after each message until the face is in the middle of the picture:

* smoothing: x is averaged (exponentially) so a jittery box does not shake the fan;
* dead band: within ±DEAD_BAND of the middle the fan keeps still;
* the step is proportional to how far off the middle the face is, never more than MAX_STEP degrees.

Copy to the board as main.py (Thonny, mpremote or Mind+), edit the settings, reset the board. Needs
umqtt.simple (bundled with most ESP32 firmwares; else `mpremote mip install umqtt.simple`). The
``Follower`` class has no board imports, so the same logic runs (and is tested) on a computer.
"""

import time

WIFI_SSID = "classroom"
WIFI_PASSWORD = "wifi-password"
BROKER = "192.168.1.20"  # the IP address `visioncast serve` printed
PORT = 1883
USER = "visioncast"
PASSWORD = "printed-by-serve"
SOURCE = "webcam"  # the <source> part of the topics: webcam page = webcam
SERVO_PIN = 13
SMOOTHING = 0.5  # 0 = no smoothing, towards 1 = smoother but slower
DEAD_BAND = 8  # percent of the picture width around the middle where the fan keeps still
GAIN = 0.4  # degrees turned per percent off the middle
MAX_STEP = 10  # degrees per message at most
INVERT = False  # True when the servo turns the wrong way (depends on how it is mounted)


class Follower:
    """Servo angle (degrees, 0–180) from target/x messages (0–100); ``update`` returns the new angle."""

    def __init__(self, angle=90.0, *, smoothing=SMOOTHING, dead_band=DEAD_BAND, gain=GAIN, max_step=MAX_STEP,
                 invert=INVERT):
        self.angle = angle
        self.smoothing, self.dead_band, self.gain = smoothing, dead_band, gain
        self.max_step, self.sign = max_step, -1 if invert else 1
        self.x = None  # smoothed target x; None while no face is seen

    def update(self, x):
        """A new target x (0–100): the smoothed error beyond the dead band turns the fan toward the face."""
        self.x = x if self.x is None else self.smoothing * self.x + (1 - self.smoothing) * x
        error = self.x - 50
        if abs(error) <= self.dead_band:
            return self.angle
        step = max(-self.max_step, min(self.max_step, self.gain * error))
        self.angle = max(0.0, min(180.0, self.angle + self.sign * step))
        return self.angle

    def lost(self):
        """No one is there (``none``): keep the angle, forget the smoothed position."""
        self.x = None
        return self.angle


def servo_duty(angle):
    """SG90-type servo at 50 Hz: 0.5–2.5 ms pulse for 0–180°, as a duty_u16 value."""
    pulse_ms = 0.5 + 2.0 * angle / 180
    return int(pulse_ms / 20 * 65535)


def main():
    import machine  # noqa: PLC0415 - board modules: only on the board
    import network  # noqa: PLC0415
    from umqtt.simple import MQTTClient  # noqa: PLC0415

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(WIFI_SSID, WIFI_PASSWORD)
        for _ in range(100):
            if wlan.isconnected():
                break
            time.sleep(0.2)
    print("Wi-Fi:", wlan.ifconfig())
    servo = machine.PWM(machine.Pin(SERVO_PIN), freq=50)
    follower = Follower()
    servo.duty_u16(servo_duty(follower.angle))
    base = "visioncast/" + SOURCE + "/target"

    def on_message(topic, payload):
        topic, text = topic.decode(), payload.decode()
        if topic == base + "/x":
            servo.duty_u16(servo_duty(follower.update(int(text))))
        elif topic == base and text == "none":
            follower.lost()

    client = MQTTClient("fan-" + SOURCE, BROKER, port=PORT, user=USER, password=PASSWORD, keepalive=30)
    client.set_callback(on_message)
    client.connect()
    client.subscribe((base + "/x").encode())
    client.subscribe(base.encode())
    print("following faces on", base)
    while True:
        client.wait_msg()


if __name__ == "__main__":
    main()
