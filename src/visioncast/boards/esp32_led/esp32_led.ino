// ESP32 (Arduino core) + PubSubClient: an RGB LED and a servo act on the label visioncast pushes.
//
// Arduino IDE: install the "esp32" boards and the "PubSubClient" library (Nick O'Leary), edit the settings,
// upload. Wiring: RGB LED (common cathode) R/G/B on GPIO 25/26/27 through 220 ohm resistors; the on-board
// LED (GPIO 2) is on while connected and the broker answers. A lost link reconnects with a growing wait
// (1 s ... 30 s). A refused login (state 4 or 5) is printed on the serial monitor with what to fix, the LED
// turns purple, and it retries.
//
// What keeps it alive in a real classroom: every read of PubSubClient gives up after IO_TIMEOUT_S (a broker
// that accepts the connection and never answers fails connect() and is tried again); every PING_MS the
// board sends "ping" to its own topic board/<id>/ping and hears it back through the broker: when neither
// that nor a label comes back within PING_WAIT_MS the status LED and the RGB LED go off at once (the label
// may no longer be true), and after DEAD_MS the link is dropped and made again. Labels are read all before
// acting (PubSubClient reads one packet per loop()), and only the newest is acted on: the labels queued
// during a freeze are not replayed (the servo turns once). That logic is the "link watch" below, plain C++
// tested on a PC.
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
const uint16_t IO_TIMEOUT_S = 10;         // a read from the broker (its CONNACK included) that takes longer fails
const unsigned long PING_MS = 5000;       // say "ping" on board/<id>/ping this often (well inside the keepalive)
const unsigned long PING_WAIT_MS = 2000;  // no answer this long: the LEDs go off (the label may be out of date)
const unsigned long DEAD_MS = 15000;      // no answer this long: drop the link and reconnect
const unsigned long SETTLE_MS = 200;      // once the broker answers again, read for this long, then act
const int MAX_BURST = 100;                // packets read in one go before the board pings again
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

// ---- link watch: plain C++ (no Arduino calls), compiled and tested on a PC by the project's tests ----
const unsigned int LABEL_MAX = 255;  // bytes: PubSubClient's 256-byte buffer passes no longer message
enum LinkStep { LINK_IDLE, LINK_PING, LINK_STALE, LINK_DEAD };

struct LinkWatch {
  unsigned long lastPingMs = 0;  // when the last ping went out
  bool waiting = false;          // a ping has had no answer yet
  bool stale = false;            // the LEDs say "no answer"
  unsigned long settleUntilMs = 0;
  bool settling = false;
  bool pending = false;          // newest holds a label not acted on yet
  char newest[LABEL_MAX + 1] = "";
};

// What the board must do at nowMs: send a ping, show that the broker does not answer, drop the link, or
// nothing. Times are millis() values (wrapping every 49 days: only differences are compared).
LinkStep linkStep(LinkWatch &w, unsigned long nowMs) {
  if (!w.waiting) {
    if (nowMs - w.lastPingMs < PING_MS) return LINK_IDLE;
    w.lastPingMs = nowMs;
    w.waiting = true;
    return LINK_PING;
  }
  unsigned long waitedMs = nowMs - w.lastPingMs;
  if (waitedMs >= DEAD_MS) return LINK_DEAD;
  if (waitedMs >= PING_WAIT_MS && !w.stale) {
    w.stale = true;
    return LINK_STALE;
  }
  return LINK_IDLE;
}

// Anything came from the broker (the ping heard back, a label): it answers. After a stale spell, what it
// sends within SETTLE_MS is read before acting.
void linkAnswered(LinkWatch &w, unsigned long nowMs) {
  w.waiting = false;
  if (w.stale) {
    w.stale = false;
    w.settling = true;
    w.settleUntilMs = nowMs + SETTLE_MS;
  }
}

// A label arrived: it replaces any label not acted on yet.
void linkLabel(LinkWatch &w, const char *payload, unsigned int length) {
  unsigned int n = length < LABEL_MAX ? length : LABEL_MAX;
  for (unsigned int i = 0; i < n; i++) w.newest[i] = payload[i];
  w.newest[n] = '\0';
  w.pending = true;
}

// The label to act on now, if any (copied into out, LABEL_MAX + 1 bytes): the newest, once, never while the
// broker does not answer or while settling.
bool linkTakeNewest(LinkWatch &w, unsigned long nowMs, char *out) {
  if (w.settling && (long)(nowMs - w.settleUntilMs) >= 0) w.settling = false;
  if (!w.pending || w.stale || w.settling) return false;
  for (unsigned int i = 0; i <= LABEL_MAX; i++) out[i] = w.newest[i];
  w.pending = false;
  return true;
}
// ---- end of the link watch ----

WiFiClient net;
PubSubClient mqtt(net);
char clientId[32];
char pingTopic[48];
unsigned long nextTryMs = 0;
unsigned long backoffMs = 1000;
bool servoReady = false;
LinkWatch link;
const Action *shown = nullptr;  // the action of the label the LEDs show
bool staleShown = false;        // the LEDs say the broker does not answer

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

const Action *actionOf(const char *label) {
  for (const Action &a : ACTIONS) {
    if (strcmp(label, a.label) == 0) return &a;
  }
  return nullptr;
}

void actOn(const char *label) {
  const Action *a = actionOf(label);
  shown = a;
  if (a == nullptr) {
    setColour(0, 0, 0);
    Serial.printf("label %s\n", label);
    return;
  }
  setColour(a->r, a->g, a->b);
  if (a->servo != NO_SERVO) turnServo(a->servo);
  Serial.printf("label %s: %s\n", a->label, a->text ? a->text : a->label);
}

void onMessage(char *topic, byte *payload, unsigned int length) {
  linkAnswered(link, millis());
  if (strcmp(topic, pingTopic) != 0) linkLabel(link, (const char *)payload, length);  // acted on in loop()
}

void connectMqtt() {
  Serial.printf("MQTT: connecting to %s:%u as %s\n", BROKER, PORT, clientId);
  if (mqtt.connect(clientId, USER, PASSWORD)) {
    mqtt.subscribe(TOPIC, 1);
    mqtt.subscribe(pingTopic, 0);
    link = LinkWatch();
    link.lastPingMs = millis();
    shown = nullptr;
    staleShown = false;
    digitalWrite(STATUS_PIN, HIGH);
    setColour(0, 0, 0);
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
  snprintf(pingTopic, sizeof pingTopic, "board/%s/ping", clientId);  // boards may write under board/
  WiFi.mode(WIFI_STA);
  WiFi.begin(WIFI_SSID, WIFI_PASSWORD);
  mqtt.setServer(BROKER, PORT);
  mqtt.setKeepAlive(KEEPALIVE_S);
  mqtt.setSocketTimeout(IO_TIMEOUT_S);
  mqtt.setCallback(onMessage);
}

void watchLink() {
  unsigned long now = millis();
  switch (linkStep(link, now)) {
    case LINK_PING:
      mqtt.publish(pingTopic, "ping");
      break;
    case LINK_STALE:
      Serial.println("MQTT: no answer from the broker: the LEDs are off until it answers");
      digitalWrite(STATUS_PIN, LOW);
      setColour(0, 0, 0);
      staleShown = true;
      break;
    case LINK_DEAD:
      Serial.println("MQTT: no answer from the broker: the link is dead, reconnecting");
      mqtt.disconnect();
      net.stop();
      setColour(0, 0, 0);
      return;
    case LINK_IDLE:
      break;
  }
  char label[LABEL_MAX + 1];
  if (linkTakeNewest(link, now, label)) {
    digitalWrite(STATUS_PIN, HIGH);
    actOn(label);
    staleShown = false;
  } else if (staleShown && !link.stale && !link.settling) {
    staleShown = false;
    digitalWrite(STATUS_PIN, HIGH);  // it answers again and nothing newer came: the label shown is true
    if (shown != nullptr) setColour(shown->r, shown->g, shown->b);
  }
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
  for (int i = 0; i < MAX_BURST && mqtt.loop(); i++) {  // one packet per loop(): read what is there
    if (!net.available()) break;
  }
  watchLink();
}
