// micro:bit + DFRobot OBLOQ (UART Wi-Fi IoT module): show the label visioncast pushes.
//
// MakeCode (makecode.microbit.org): Extensions → search "DFRobot_WIFI_IoT_UART" (OBLOQ), then paste this in
// the JavaScript view; the blocks view opens it. Wiring: OBLOQ TX (green) → P1, RX (blue) → P2, 3V3, GND.
// Start serve with the siot preset so the login and topics match what OBLOQ expects:
//   visioncast serve --host 0.0.0.0 --preset siot   (user siot, password dfrobot, topics siot/<source>)
// Pages publish as sources "detect", "classify" and "webcam": siot/detect is the detect page's label.
// The extension reconnects Wi-Fi and MQTT by itself. The micro:bit has no RGB LED: each label shows a text
// (its 5×5 font has no Chinese, so a Chinese label shows a built-in icon) and may turn a servo on P0
// (pins.servoWritePin; a label without an angle leaves the servo where it is); a blank screen means "nothing
// seen". The siot preset publishes on change only, which suits the micro:bit's slow serial link.
DFRobotWiFiIoTUART.WIFISetup(SerialPin.P1, SerialPin.P2, "classroom", "wifi-password")
DFRobotWiFiIoTUART.mqttSetup("siot", "dfrobot", "siot/board", DFRobotWiFiIoTUART.SERVERS.Siot, "192.168.1.20")
DFRobotWiFiIoTUART.mqttAddTopic(TOPIC.topic_1, "siot/detect")
DFRobotWiFiIoTUART.mqttCallbackUserMore(TOPIC.topic_1, function (message) {
    if (message == "person") {
        basic.showIcon(IconNames.StickFigure)
    } else if (message == "开心") {
        pins.servoWritePin(AnalogPin.P0, 180)
        basic.showIcon(IconNames.Happy)
    } else if (message == "happy") {
        pins.servoWritePin(AnalogPin.P0, 180)
        basic.showString("happy")
    } else if (message == "愤怒") {
        pins.servoWritePin(AnalogPin.P0, 0)
        basic.showIcon(IconNames.Angry)
    } else if (message == "angry") {
        pins.servoWritePin(AnalogPin.P0, 0)
        basic.showString("angry")
    } else if (message == "none") {
        basic.clearScreen()
    } else {
        basic.clearScreen()
    }
})
