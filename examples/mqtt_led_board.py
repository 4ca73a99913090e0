"""MicroPython for an ESP32 / UNIHIKER-class board: set an RGB LED colour per label pushed by visioncast.

Copy to the board as main.py (Thonny, mpremote or Mind+), edit the settings below, reset the board.
It joins the Wi-Fi, logs in to the MQTT broker that `visioncast serve` started (its address, user and
password are printed when serve starts), subscribes to the label topic and sets the LED colour of each label,
e.g. 开心 → yellow, 愤怒 → red. Labels arrive as plain UTF-8 text (the default payload). Needs umqtt.simple
(bundled with most ESP32 firmwares; else `mpremote mip install umqtt.simple`).
"""

import time

import machine
import network
from umqtt.simple import MQTTClient

WIFI_SSID = "classroom"
WIFI_PASSWORD = "wifi-password"
BROKER = "192.168.1.20"  # the IP address `visioncast serve` printed
PORT = 1883
USER = "visioncast"
PASSWORD = "printed-by-serve"
TOPIC = b"visioncast/webcam/label"  # visioncast/<source>/label; SIoT preset: b"siot/<name>"
LED_PINS = (25, 26, 27)  # R, G, B pins of the LED (PWM)
COLOURS = {  # label → (r, g, b) 0–255
    "开心": (255, 200, 0),
    "happy": (255, 200, 0),
    "愤怒": (255, 0, 0),
    "angry": (255, 0, 0),
    "person": (0, 0, 255),
    "none": (0, 0, 0),
}

leds = [machine.PWM(machine.Pin(pin), freq=1000) for pin in LED_PINS]


def set_colour(rgb):
    for led, value in zip(leds, rgb):
        led.duty(value * 1023 // 255)


def connect_wifi():
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(WIFI_SSID, WIFI_PASSWORD)
        for _ in range(100):
            if wlan.isconnected():
                break
            time.sleep(0.2)
    print("Wi-Fi:", wlan.ifconfig())


def on_message(topic, msg):
    label = msg.decode("utf-8")
    rgb = COLOURS.get(label, (0, 0, 0))
    print("label", label, "-> LED", rgb)
    set_colour(rgb)


def main():
    connect_wifi()
    client = MQTTClient(b"board-" + machine.unique_id(), BROKER, port=PORT, user=USER, password=PASSWORD,
                        keepalive=30)
    client.set_callback(on_message)
    while True:
        try:
            client.connect()
            client.subscribe(TOPIC)
            print("subscribed to", TOPIC)
            while True:
                client.wait_msg()
        except OSError as exc:  # broker restarted or Wi-Fi lost: try again in 2 s
            print("MQTT error", exc, "- reconnecting")
            set_colour((0, 0, 0))
            time.sleep(2)


main()
