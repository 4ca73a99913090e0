"""MicroPython for a UNIHIKER K10 / ESP32 board: an RGB LED, a servo and the screen act on the label
visioncast pushes; it survives.

Copy to the board as main.py (Thonny, mpremote or Mind+), edit the settings below, reset the board. It joins
the Wi-Fi, logs in to the MQTT broker that `visioncast serve` started (its address, user and password are
printed when serve starts: "user U  password P"), subscribes to the label topic and does what ACTIONS says
for each label, e.g. 开心 → yellow LED and the servo to 180°, 愤怒 → red LED and the servo to 0°. Needs
umqtt.simple (bundled with most ESP32 firmwares; else `mpremote mip install umqtt.simple`).

ACTIONS: label → (LED colour, servo angle, text). A label missing from it turns the LED off.
* The servo (signal on SERVO_PIN, 5 V and GND from a supply that can feed it) gets 50 Hz PWM with a pulse of
  0.5 ms at 0° to 2.5 ms at 180° (SERVO_MIN_MS … SERVO_MAX_MS; an SG90 wants about 0.5–2.4), set with
  ``duty_u16``. An angle of None leaves it where it is. The pin is only driven once a label with an angle
  arrives, so a table without angles never touches it.
* The text (None: the label itself) is printed on the serial console. On a UNIHIKER K10 it is also drawn
  on the screen with DFRobot's ``unihiker_k10`` module (``screen.draw_text``, which has Chinese glyphs), as
  DFRobot's K10 MicroPython examples do; that call is written from those examples and has not been run on a
  K10 here. A plain ESP32 has no screen: the text is only printed.

What keeps it alive in a real classroom:
* the client id is text made from the board's MAC address (brokers refuse raw bytes);
* every read and write of the connection gives up after IO_TIMEOUT_S, with any umqtt.simple: 1.8.0 (what
  `mip install` gives today) takes ``connect(timeout=...)``, 1.3.4 does not and gets it from the socket, and
  neither may turn it off (both call ``setblocking(True)`` in ``wait_msg``, 1.8.0's ``connect`` sets the
  library's own timeout) - so a broker that accepts the connection and never answers cannot hold the board;
* it pings the broker every PING_S seconds; a ping unanswered for PING_WAIT_S seconds turns the display
  stale at once (status LED off, RGB LED off, "no answer" on the K10's screen: the last label may no longer
  be true); unanswered for DEAD_S seconds the link is dead (Wi-Fi gone, a half-open TCP connection, a
  frozen broker): it drops it and reconnects;
* it acts only on the newest label: everything that has arrived is read before acting, so the labels
  queued during a freeze are not replayed (the servo turns once, to the newest label's angle);
* every error reconnects, waiting 1 s, 2 s, 4 s … up to BACKOFF_MAX_S between tries;
* a refused login (wrong user or password) prints what to fix and tries again every REFUSED_RETRY_S seconds.

The LEDs tell the class what is going on: the status LED (STATUS_PIN) is on while the board is connected,
subscribed and the broker answers; the RGB LED shows the newest label then, is off while (re)connecting or
while the broker does not answer, and purple while the broker refuses the login.
"""

import time

import machine
import network
import ubinascii
import uselect
from umqtt.simple import MQTTClient, MQTTException

WIFI_SSID = "classroom"
WIFI_PASSWORD = "wifi-password"
BROKER = "192.168.1.20"  # the address `visioncast serve` printed
PORT = 1883
USER = "visioncast"  # the "user U  password P" line printed by `visioncast serve`
PASSWORD = "printed-by-serve"
TOPIC = "visioncast/webcam/label"  # visioncast/<source>/label; SIoT preset: "siot/<source>"
KEEPALIVE_S = 30  # the broker drops a client silent for 1.5 × this
PING_S = 5  # ping this often (well inside the keepalive)
PING_WAIT_S = 2  # a ping unanswered for this long: the display turns stale (the label may be out of date)
DEAD_S = 15  # a ping unanswered for this long: the link is dead, drop it and reconnect
IO_TIMEOUT_S = 10  # a connect, a read or a write that takes longer fails (and the board reconnects)
SETTLE_MS = 200  # once the broker answers again, read what arrives for this long, then act on the newest
MAX_BURST = 100  # packets read in one go before the board pings again (a busy topic never starves it)
BACKOFF_MAX_S = 30
REFUSED_RETRY_S = 30
STATUS_PIN = 2  # the on-board LED of most ESP32 boards
LED_PINS = (25, 26, 27)  # R, G, B pins of the LED (PWM)
SERVO_PIN = 13  # the servo's signal pin (driven only once a label with an angle arrives)
SERVO_MIN_MS = 0.5  # pulse at 0°
SERVO_MAX_MS = 2.5  # pulse at 180°
ACTIONS = {  # label → (LED (r, g, b) 0–255, servo angle 0–180 or None: stays, text or None: the label)
    "开心": ((255, 200, 0), 180, None),
    "happy": ((255, 200, 0), 180, None),
    "愤怒": ((255, 0, 0), 0, None),
    "angry": ((255, 0, 0), 0, None),
    "person": ((0, 0, 255), None, "有人 person"),
    "none": ((0, 0, 0), None, None),
}
OFF = (0, 0, 0)
NO_ACTION = (OFF, None, None)
REFUSED = (128, 0, 128)  # purple: the broker refused the login
STALE_TEXT = "服务器无应答 no answer"  # on the K10's screen while the broker does not answer
CLIENT_ID = b"vc-board-" + ubinascii.hexlify(machine.unique_id())  # text, unique per board
STATUS_TOPIC = b"board/" + CLIENT_ID[9:] + b"/status"  # boards may write under board/ (see docs/mqtt.md)

status_led = machine.Pin(STATUS_PIN, machine.Pin.OUT)
leds = [machine.PWM(machine.Pin(pin), freq=1000) for pin in LED_PINS]
servos = {}  # SERVO_PIN → machine.PWM, made by the first label with an angle
try:
    from unihiker_k10 import screen  # the UNIHIKER K10's firmware; a plain ESP32 has none
except ImportError:
    screen = None
if screen is not None:
    screen.init(dir=2)  # before the Wi-Fi starts, as DFRobot's examples do


def set_colour(rgb):
    for led, value in zip(leds, rgb):
        led.duty(value * 1023 // 255)


def servo_duty(angle):
    """The duty_u16 of a 50 Hz (20 ms) PWM whose pulse is SERVO_MIN_MS at 0° … SERVO_MAX_MS at 180°."""
    pulse_ms = SERVO_MIN_MS + (SERVO_MAX_MS - SERVO_MIN_MS) * angle / 180
    return int(pulse_ms / 20 * 65535)


def turn_servo(angle):
    if SERVO_PIN in servos:
        servos[SERVO_PIN].duty_u16(servo_duty(angle))
    else:
        servos[SERVO_PIN] = machine.PWM(machine.Pin(SERVO_PIN), freq=50, duty_u16=servo_duty(angle))


def show_text(text):
    """``text`` on the console and the K10's screen; "" clears the screen."""
    if text:
        print("text", text)
    if screen is not None:
        screen.show_bg(color=0x000000)
        if text:
            screen.draw_text(text=text, x=10, y=100, font_size=24, color=0xFFFFFF)
        screen.show_draw()


def show(connected, rgb):
    status_led.value(1 if connected else 0)
    set_colour(rgb)


latest = {"label": None, "shown": None}  # the newest label received, the one the LEDs show


def act_on_newest():
    """Show the newest label received since the last call (only it: labels that queued up are not replayed),
    or put the one shown back (after a stale spell nothing newer came)."""
    label, latest["label"] = latest["label"], None
    if label is None:
        label = latest["shown"]
        if label is None:
            show(True, OFF)
            show_text("")
            return
        rgb, _, text = ACTIONS.get(label, NO_ACTION)
    else:
        rgb, angle, text = ACTIONS.get(label, NO_ACTION)
        print("label", label, "-> LED", rgb, "servo", angle)
        if angle is not None:
            turn_servo(angle)
        latest["shown"] = label
    show(True, rgb)
    show_text(label if text is None else text)


def show_stale():
    """The broker does not answer: what the board shows may no longer be true."""
    print("no answer from the broker for %d s: the display is stale" % PING_WAIT_S)
    show(False, OFF)
    show_text(STALE_TEXT)


class TimedSocket:
    """The socket umqtt.simple uses, never without IO_TIMEOUT_S: the library's ``setblocking(True)`` (every
    ``wait_msg``) and ``settimeout(None)`` (1.8.0's ``connect``) would otherwise let a broker that stops
    answering, even in the middle of a packet, hold the board forever."""

    def __init__(self, sock):
        self.raw = sock
        sock.settimeout(IO_TIMEOUT_S)

    def settimeout(self, seconds):
        self.raw.settimeout(IO_TIMEOUT_S if seconds is None else seconds)

    def setblocking(self, flag):
        self.raw.settimeout(IO_TIMEOUT_S if flag else 0)

    def connect(self, address):
        self.raw.connect(address)

    def read(self, n):
        return self.raw.read(n)

    def write(self, data, n=None):
        return self.raw.write(data) if n is None else self.raw.write(data, n)

    def close(self):
        self.raw.close()


class BoardClient(MQTTClient):
    """umqtt.simple whose socket is a :class:`TimedSocket` from the moment the library makes it."""

    @property
    def sock(self):
        return self._sock

    @sock.setter
    def sock(self, sock):
        self._sock = sock if sock is None or isinstance(sock, TimedSocket) else TimedSocket(sock)


def connect_wifi():
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(WIFI_SSID, WIFI_PASSWORD)
        for _ in range(100):
            if wlan.isconnected():
                break
            time.sleep_ms(200)
    print("Wi-Fi:", wlan.ifconfig())


def on_message(topic, msg):
    latest["label"] = msg.decode("utf-8")  # acted on once everything that has arrived is read


def open_session(client):
    """``connect(timeout=IO_TIMEOUT_S)`` where umqtt.simple takes it (1.4 and later), else ``connect()``
    (1.3.x: the socket has the timeout already)."""
    try:
        client.connect(timeout=IO_TIMEOUT_S)
    except TypeError:
        if client.sock is not None:
            raise  # raised inside connect(): not the missing argument
        client.connect()


def connect_mqtt():
    client = BoardClient(CLIENT_ID, BROKER, port=PORT, user=USER.encode(), password=PASSWORD.encode(),
                         keepalive=KEEPALIVE_S)
    client.set_callback(on_message)
    client.set_last_will(STATUS_TOPIC, b"offline", retain=True)
    latest["label"] = latest["shown"] = None
    open_session(client)
    client.publish(STATUS_TOPIC, b"online", retain=True)
    client.subscribe(TOPIC.encode())
    print("connected to", BROKER, "as", CLIENT_ID, "- subscribed to", TOPIC)
    return client


def read_arrived(client, poller, wait_ms, settle_ms):
    """Read every packet that arrives within ``wait_ms``, then go on while more come within ``settle_ms`` of
    the last (at most MAX_BURST); True when anything came. Labels land in ``latest`` (:func:`on_message`)."""
    for count in range(MAX_BURST):
        events = poller.poll(wait_ms if count == 0 else settle_ms)
        if not events:
            return count > 0
        for _, event in events:
            if event & (uselect.POLLHUP | uselect.POLLERR):
                raise OSError("the broker closed the connection")
        client.wait_msg()  # a label (→ on_message), or the broker's answer to a ping
    return True


def listen(client):
    """Handle messages and keep the link checked; returns only by raising when the link fails."""
    poller = uselect.poll()
    poller.register(client.sock.raw, uselect.POLLIN)
    last_ping = time.ticks_ms()
    ping_at = None  # when the ping that has no answer yet was sent
    stale = False
    while True:
        if read_arrived(client, poller, 200, SETTLE_MS if stale else 0):
            ping_at = None
            if stale:
                print("the broker answers again")
                stale = False
            act_on_newest()
        now = time.ticks_ms()
        if ping_at is None and time.ticks_diff(now, last_ping) >= PING_S * 1000:
            client.ping()
            ping_at = last_ping = now
        waited_ms = 0 if ping_at is None else time.ticks_diff(now, ping_at)
        if waited_ms >= DEAD_S * 1000:
            raise OSError("no answer from the broker for %d s: the link is dead" % DEAD_S)
        if waited_ms >= PING_WAIT_S * 1000 and not stale:
            stale = True
            show_stale()


def close(client):
    if client is not None and client.sock is not None:
        try:
            client.sock.close()
        except OSError:
            pass


def run_once():
    """One connection, from login to failure: (whether the login worked, ms to wait before the next try)."""
    client = None
    connected = False
    try:
        client = connect_mqtt()
        connected = True
        act_on_newest()  # a label that came with the SUBACK, else all off until the first one
        listen(client)
    except MQTTException as exc:
        code = exc.args[0] if exc.args else 0
        if code in (4, 5):
            print("the broker refused the login (code %d): check USER and PASSWORD" % code)
            print("(the 'user U  password P' line printed by visioncast serve); retrying in %d s"
                  % REFUSED_RETRY_S)
            show(False, REFUSED)
            return False, REFUSED_RETRY_S * 1000
        print("the broker refused the connection (code %d)" % code)
    except Exception as exc:  # any error (OSError, a garbled packet…): reconnect, never die
        print("MQTT error:", repr(exc), "- reconnecting")
    finally:
        close(client)
    show(False, OFF)
    return connected, 0


def main():
    show(False, OFF)
    connect_wifi()
    backoff_ms = 1000
    while True:
        connected, wait_ms = run_once()
        if connected:
            backoff_ms = 1000  # the link worked: the next try is quick again
        if not wait_ms:
            wait_ms = backoff_ms
            backoff_ms = min(backoff_ms * 2, BACKOFF_MAX_S * 1000)
        print("next try in %d ms" % wait_ms)
        time.sleep_ms(wait_ms)


if __name__ == "__main__":
    main()
