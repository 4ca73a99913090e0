// ESP32 (Arduino core) + PubSubClient: an RGB LED and a servo act on the label visioncast pushes.
//
// Arduino IDE: install the "esp32" boards and the "PubSubClient" library (Nick O'Leary), edit the settings,
// upload. Wiring: RGB LED (common cathode) R/G/B on GPIO 25/26/27 through 220 ohm resistors; the on-board
// LED (GPIO 2) is on while connected. PubSubClient pings every KEEPALIVE_S; when the broker stops answering
// connected() turns false and the loop reconnects with a growing wait (1 s ... 30 s). A refused login
// (state 4 or 5) is printed on the serial monitor with what to fix, the LED turns purple, and it retries.
//
// ACTIONS: label, LED colour, servo angle (NO_SERVO: it stays where it is), text (nullptr: the label). The
// servo's signal goes on SERVO_PIN; it is driven with the ESP32's own LEDC PWM (50 Hz, a 0.5 ms pulse at 0°
// to 2.5 ms at 180°), so no servo library is needed, and only once a label with an angle arrives. The text
// is printed on the serial monitor (115200 baud): an ESP32 has no screen. A label missing from ACTIONS turns
// the LED off.
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
const int SERVO_PIN = 13;
const int SERVO_CHANNEL = 0;  // LEDC channel of the servo on Arduino-ESP32 2.x (analogWrite takes others)
const uint32_t SERVO_MIN_US = 500, SERVO_MAX_US = 2500;  // pulse at 0° and at 180°
const int16_t NO_SERVO = -1;

struct Action { const char *label; uint8_t r, g, b; int16_t servo; const char *text; };
const Action ACTIONS[] = {
  {"开心", 255, 200, 0, 180, nullptr},
  {"happy", 255, 200, 0, 180, nullptr},
  {"愤怒", 255, 0, 0, 0, nullptr},
  {"angry", 255, 0, 0, 0, nullptr},
  {"person", 0, 0, 255, NO_SERVO, "someone is there"},
  {"none", 0, 0, 0, NO_SERVO, nullptr},
};

WiFiClient net;
PubSubClient mqtt(net);
char clientId[32];
unsigned long nextTryMs = 0;
unsigned long backoffMs = 1000;
bool servoReady = false;

void setColour(uint8_t r, uint8_t g, uint8_t b) {
  analogWrite(RGB_PINS[0], r);
  analogWrite(RGB_PINS[1], g);
  analogWrite(RGB_PINS[2], b);
}

// 50 Hz, 14-bit LEDC: the duty of a pulse of SERVO_MIN_US at 0° ... SERVO_MAX_US at 180° in a 20 ms period.
void turnServo(int16_t angle) {
  uint32_t pulseUs = SERVO_MIN_US + (SERVO_MAX_US - SERVO_MIN_US) * (uint32_t)angle / 180;
  uint32_t duty = pulseUs * 16384 / 20000;
#if ESP_ARDUINO_VERSION_MAJOR >= 3
  if (!servoReady) servoReady = ledcAttach(SERVO_PIN, 50, 14);
  ledcWrite(SERVO_PIN, duty);
#else
  if (!servoReady) {
    ledcSetup(SERVO_CHANNEL, 50, 14);
    ledcAttachPin(SERVO_PIN, SERVO_CHANNEL);
    servoReady = true;
  }
  ledcWrite(SERVO_CHANNEL, duty);
#endif
}

void onMessage(char *topic, byte *payload, unsigned int length) {
  String label;
  for (unsigned int i = 0; i < length; i++) label += (char)payload[i];
  for (const Action &a : ACTIONS) {
    if (label == a.label) {
      setColour(a.r, a.g, a.b);
      if (a.servo != NO_SERVO) turnServo(a.servo);
      Serial.printf("label %s: %s\n", a.label, a.text ? a.text : a.label);
      return;
    }
  }
  setColour(0, 0, 0);
  Serial.printf("label %s\n", label.c_str());
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
