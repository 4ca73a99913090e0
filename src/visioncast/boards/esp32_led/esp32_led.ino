// ESP32 (Arduino core) + PubSubClient: an RGB LED shows the label visioncast pushes.
//
// Arduino IDE: install the "esp32" boards and the "PubSubClient" library (Nick O'Leary), edit the settings,
// upload. Wiring: RGB LED (common cathode) R/G/B on GPIO 25/26/27 through 220 ohm resistors; the on-board
// LED (GPIO 2) is on while connected. PubSubClient pings every KEEPALIVE_S; when the broker stops answering
// connected() turns false and the loop reconnects with a growing wait (1 s ... 30 s). A refused login
// (state 4 or 5) is printed on the serial monitor with what to fix, the LED turns purple, and it retries.
#include <WiFi.h>
#include <PubSubClient.h>

const char *WIFI_SSID = "classroom";
const char *WIFI_PASSWORD = "wifi-password";
const char *BROKER = "192.168.1.20";      // the address `visioncast serve` printed
const uint16_t PORT = 1883;
const char *USER = "visioncast";          // the "user U  password P" line printed by `visioncast serve`
const char *PASSWORD = "printed-by-serve";
const char *TOPIC = "visioncast/webcam/label";  // SIoT preset: "siot/<source>"
const uint16_t KEEPALIVE_S = 15;
const int STATUS_PIN = 2;
const int RGB_PINS[3] = {25, 26, 27};

struct Colour { const char *label; uint8_t r, g, b; };
const Colour COLOURS[] = {
  {"开心", 255, 200, 0}, {"happy", 255, 200, 0}, {"愤怒", 255, 0, 0}, {"angry", 255, 0, 0},
  {"person", 0, 0, 255}, {"none", 0, 0, 0},
};

WiFiClient net;
PubSubClient mqtt(net);
char clientId[32];
unsigned long nextTryMs = 0;
unsigned long backoffMs = 1000;

void setColour(uint8_t r, uint8_t g, uint8_t b) {
  analogWrite(RGB_PINS[0], r);
  analogWrite(RGB_PINS[1], g);
  analogWrite(RGB_PINS[2], b);
}

void onMessage(char *topic, byte *payload, unsigned int length) {
  String label;
  for (unsigned int i = 0; i < length; i++) label += (char)payload[i];
  for (const Colour &c : COLOURS) {
    if (label == c.label) { setColour(c.r, c.g, c.b); return; }
  }
  setColour(0, 0, 0);
}

void connectMqtt() {
  Serial.printf("MQTT: connecting to %s:%u as %s\n", BROKER, PORT, clientId);
  if (mqtt.connect(clientId, USER, PASSWORD)) {
    mqtt.subscribe(TOPIC, 1);
    digitalWrite(STATUS_PIN, HIGH);
    backoffMs = 1000;
    Serial.printf("MQTT: connected, subscribed to %s\n", TOPIC);
    return;
  }
  int state = mqtt.state();
  if (state == MQTT_CONNECT_BAD_CREDENTIALS || state == MQTT_CONNECT_UNAUTHORIZED) {
    Serial.println("MQTT: the broker refused the login: check USER and PASSWORD (printed by visioncast serve)");
    setColour(128, 0, 128);
  } else {
    Serial.printf("MQTT: failed (state %d), next try in %lu ms\n", state, backoffMs);
    setColour(0, 0, 0);
  }
  nextTryMs = millis() + backoffMs;
  backoffMs = backoffMs * 2 > 30000 ? 30000 : backoffMs * 2;
}

void setup() {
  Serial.begin(115200);
  pinMode(STATUS_PIN, OUTPUT);
  for (int pin : RGB_PINS) pinMode(pin, OUTPUT);
  uint8_t mac[6];
  WiFi.macAddress(mac);
  snprintf(clientId, sizeof clientId, "vc-esp32-%02x%02x%02x%02x%02x%02x",
           mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  WiFi.mode(WIFI_STA);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  mqtt.setServer(BROKER, PORT);
  mqtt.setKeepAlive(KEEPALIVE_S);
  mqtt.setSocketTimeout(5);
  mqtt.setCallback(onMessage);
}

void loop() {
  if (WiFi.status() != WL_CONNECTED) {
    digitalWrite(STATUS_PIN, LOW);
    setColour(0, 0, 0);
    delay(200);
    return;
  }
  if (!mqtt.connected()) {
    digitalWrite(STATUS_PIN, LOW);
    if ((long)(millis() - nextTryMs) >= 0) connectMqtt();
    delay(20);
    return;
  }
  mqtt.loop();  // reads messages, pings every KEEPALIVE_S, notices a dead link
}
