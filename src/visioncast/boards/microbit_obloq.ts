// micro:bit + DFRobot OBLOQ (UART Wi-Fi IoT module): show the label visioncast pushes.
//
// MakeCode (makecode.microbit.org): Extensions → search "DFRobot_WIFI_IoT_UART" (OBLOQ), then paste this in
// the JavaScript view; the blocks view opens it. Wiring: OBLOQ TX (green) → P1, RX (blue) → P2, 3V3, GND.
// Start serve with the siot preset so the login and topics match what OBLOQ expects:
//   visioncast serve --host 0.0.0.0 --preset siot   (user siot, password dfrobot, topics siot/<source>)
// Pages publish as sources "detect", "classify" and "webcam": siot/detect is the detect page's label.
// The extension reconnects Wi-Fi and MQTT by itself (each of its calls waits a bounded time for the OBLOQ).
// The micro:bit has no RGB LED: each label shows a text (its 5×5 font has no Chinese, so a Chinese label
// shows a built-in icon) and may turn a servo on P0 (pins.servoWritePin; a label without an angle leaves the
// servo where it is); a blank screen means "nothing seen". The siot preset publishes on change only, which
// suits the micro:bit's slow serial link.
// Every PING_MS the board sends "ping" to its own topic board/mb-<serial>/ping and hears it back through the
// broker: when neither that nor a label comes back within PING_WAIT_MS, the screen shows four corner dots at
// once (the broker does not answer: the label shown may no longer be true). A label is kept and acted on by
// the forever loop, so only the newest is shown: labels queued during a freeze are not replayed (the servo
// turns once).
const PING_MS = 5000  // say "ping" this often
const PING_WAIT_MS = 2000  // no answer this long: the screen says so
const SETTLE_MS = 200  // once the broker answers again, wait this long for what it sends, then act
const PING_TOPIC = "board/mb-" + control.deviceSerialNumber() + "/ping"  // boards may write under board/
let newest = ""  // the newest label, not acted on yet while pending
let pending = false
let shown = ""  // the label the screen shows
let lastPingMs = 0
let pingAtMs = -1  // when the ping that has no answer yet went out (-1: none)
let stale = false
let restore = false
let settleUntilMs = 0
DFRobotWiFiIoTUART.WIFISetup(SerialPin.P1, SerialPin.P2, "classroom", "wifi-password")
DFRobotWiFiIoTUART.mqttSetup("siot", "dfrobot", "siot/board", DFRobotWiFiIoTUART.SERVERS.Siot, "192.168.1.20")
DFRobotWiFiIoTUART.mqttAddTopic(TOPIC.topic_1, "siot/detect")
DFRobotWiFiIoTUART.mqttAddTopic(TOPIC.topic_2, PING_TOPIC)
DFRobotWiFiIoTUART.mqttCallbackUserMore(TOPIC.topic_1, function (message) {
    answered()
    newest = message
    pending = true
})
DFRobotWiFiIoTUART.mqttCallbackUserMore(TOPIC.topic_2, function (message) {
    answered()
})
function answered() {
    pingAtMs = -1
    if (stale) {
        stale = false
        restore = true
        settleUntilMs = input.runningTime() + SETTLE_MS
    }
}
function showLabel(message: string, turn: boolean) {
    if (message == "person") {
        basic.showIcon(IconNames.StickFigure)
    } else if (message == "开心") {
        if (turn) pins.servoWritePin(AnalogPin.P0, 180)
        basic.showIcon(IconNames.Happy)
    } else if (message == "happy") {
        if (turn) pins.servoWritePin(AnalogPin.P0, 180)
        basic.showString("happy")
    } else if (message == "愤怒") {
        if (turn) pins.servoWritePin(AnalogPin.P0, 0)
        basic.showIcon(IconNames.Angry)
    } else if (message == "angry") {
        if (turn) pins.servoWritePin(AnalogPin.P0, 0)
        basic.showString("angry")
    } else if (message == "none") {
        basic.clearScreen()
    } else {
        basic.clearScreen()
    }
}
basic.forever(function () {
    const now = input.runningTime()
    if (pingAtMs < 0 && now - lastPingMs >= PING_MS) {
        lastPingMs = now
        pingAtMs = now
        DFRobotWiFiIoTUART.mqttSendMessageMore("ping", TOPIC.topic_2)
    } else if (pingAtMs >= 0 && now - pingAtMs >= PING_WAIT_MS && !stale) {
        stale = true
        basic.showLeds(`
            # . . . #
            . . . . .
            . . . . .
            . . . . .
            # . . . #
            `)
    }
    if (!stale && now >= settleUntilMs && (pending || restore)) {
        const turn = pending
        if (pending) {
            shown = newest
        }
        pending = false
        restore = false
        showLabel(shown, turn)
    }
    basic.pause(50)
})
