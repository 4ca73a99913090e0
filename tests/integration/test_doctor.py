"""`visioncast doctor` finds and explains, on this machine, each case a classroom meets that can be staged
here: a taken web port, a broker whose logins visioncast does not manage (a Mosquitto with its own password
file on a free port of the LAN address), a closed firewall (iptables in a network namespace of the test's
own, as root), a missing camera; and says the rest in Chinese as well as English."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.cli_run import cli_env, run_cli
from tests.mqtt_peers import free_port, mosquitto

from visioncast.network import lan_addresses

LAN = lan_addresses(loopback=False)
needs_lan = pytest.mark.skipif(not LAN, reason="this machine has no LAN address")
NS_ADDRESS = "198.51.100.2"  # TEST-NET-2, only inside the test's own network namespace


def _doctor(tmp_path: Path, *args: str,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("doctor", "--lang", "en", *args, cwd=tmp_path, env=env or cli_env(tmp_path))


def _line(out: str, start: str) -> tuple[str, str]:
    """The line starting with ``start`` and the fix under it ('' when none)."""
    lines = out.splitlines()
    index = next((i for i, ln in enumerate(lines) if ln.startswith(start)), None)
    assert index is not None, f"no line starting with {start!r} in:\n{out}"
    fix = lines[index + 1].strip() if index + 1 < len(lines) and lines[index + 1].startswith("    ") else ""
    return lines[index], fix


@needs_lan
def test_a_taken_web_port_and_a_foreign_broker_are_found_and_explained(tmp_path: Path) -> None:
    lan, mqtt = LAN[0], free_port()
    with mosquitto(tmp_path, mqtt, {"owner": "its-own-password"}, host=lan), \
            socket.create_server((lan, 0)) as holder:
        web = holder.getsockname()[1]
        done = _doctor(tmp_path, "--host", lan, "--port", str(web), "--broker-port", str(mqtt),
                       env=cli_env(tmp_path, VISIONCAST_BROKER__WS_PORT="0"))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    web_line, web_fix = _line(out, f"✗ web port {web}")
    assert web_line == f"✗ web port {web}: taken by 'python' (pid {os.getpid()})"
    assert web_fix == f"→ stop that program, or choose another port: visioncast serve --port {web + 1}"
    mqtt_line, mqtt_fix = _line(out, f"✗ MQTT port {mqtt}")
    assert "taken by 'mosquitto'" in mqtt_line
    assert "a broker whose logins visioncast does not manage (it refuses visioncast's login" in mqtt_line
    moved = int(re.search(r"on port (\d+) instead", mqtt_fix).group(1))
    assert moved != mqtt
    boards, _ = _line(out, "✓ boards can connect: yes")
    assert f"(mqtt://{lan}:{moved}, user visioncast, checked with a real MQTT login from {lan})" in boards
    assert re.fullmatch(r"\d+ check\(s\) failed: see the lines marked ✗", out.splitlines()[-1])


def test_a_missing_camera_is_said_with_what_to_do(tmp_path: Path) -> None:
    if sys.platform.startswith("linux") and list(Path("/dev").glob("video*")):
        pytest.skip("this machine has a camera: nothing missing to find")
    done = _doctor(tmp_path, "--port", str(free_port()), "--broker-port", str(free_port()))
    line, fix = _line(done.stdout, "✗ no camera found")
    assert line == "✗ no camera found on this computer"
    assert fix.startswith("→ plug in a USB camera for visioncast run -i CAM")


def test_doctor_speaks_chinese(tmp_path: Path) -> None:
    done = run_cli("doctor", "--port", str(free_port()), "--broker-port", str(free_port()), cwd=tmp_path,
                   env=cli_env(tmp_path, LANG="zh_CN.UTF-8", VISIONCAST_BROKER__WS_PORT="0"))
    lines = done.stdout.splitlines()
    assert lines[0] == "visioncast 体检：这台电脑能在教室里用了吗？"
    assert any(ln.startswith("✓ 模型：yolox-nano") for ln in lines), done.stdout
    assert any(ln.startswith("✓ 数据目录 ") for ln in lines)


# ---- a closed firewall, staged in a network namespace of the test's own ----------------------------------
def _in(ns: str, *command: str) -> None:
    """Run ``command`` inside the network namespace ``ns``."""
    subprocess.run(["ip", "netns", "exec", ns, *command], check=True, capture_output=True, timeout=10)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace: lo and a veth pair, one end at NS_ADDRESS (the default route); deleted after."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not (shutil.which("ip") and shutil.which("iptables")):
        pytest.skip("needs iproute2 and iptables (apt install iproute2 iptables)")
    name = f"vc-doctor-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
    try:
        _in(name, "ip", "link", "set", "lo", "up")
        _in(name, "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
        _in(name, "ip", "addr", "add", f"{NS_ADDRESS}/24", "dev", "lan0")
        for link in ("lan0", "lan1"):
            _in(name, "ip", "link", "set", link, "up")
        _in(name, "ip", "route", "add", "default", "dev", "lan0")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=10)


def test_a_closed_firewall_is_found_with_the_command_that_opens_it(tmp_path: Path, namespace: str) -> None:
    web, mqtt = 5000, 1883  # the namespace is new: nothing else listens in it
    for port, action in ((web, "DROP"), (mqtt, "REJECT")):
        _in(namespace, "iptables", "-A", "INPUT", "-d", NS_ADDRESS, "-p", "tcp", "--dport", str(port), "-j",
            action)
    command = ["ip", "netns", "exec", namespace, sys.executable, "-m", "visioncast", "doctor", "--lang", "en",
               "--host", NS_ADDRESS]
    done = subprocess.run(command, cwd=tmp_path, env=cli_env(tmp_path, VISIONCAST_BROKER__WS_PORT="0"),
                          capture_output=True, text=True, encoding="utf-8", timeout=60, check=False)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert _line(out, "✓ network address")[0].startswith(f"✓ network address {NS_ADDRESS}:")
    boards, _ = _line(out, "✗ boards can connect: no")
    assert f"mqtt://{NS_ADDRESS}:{mqtt} did not answer MQTT from {NS_ADDRESS}" in boards
    blocked, fix = _line(out, f"✗ port {web} does not answer from {NS_ADDRESS}")
    assert "no answer within 2 s (a firewall may drop it)" in blocked
    assert fix == (f"→ open the ports (as administrator): sudo iptables -I INPUT -p tcp -m multiport "
                   f"--dports {web},{mqtt},8883 -j ACCEPT")  # 8883: MQTT over TLS, on with https
    # The command it printed, run as it says, opens them.
    _in(namespace, *fix.split(": ", 1)[1].removeprefix("sudo ").split())
    again = subprocess.run(command, cwd=tmp_path, env=cli_env(tmp_path, VISIONCAST_BROKER__WS_PORT="0"),
                           capture_output=True, text=True, encoding="utf-8", timeout=60, check=False)
    assert "✓ boards can connect: yes" in again.stdout, again.stdout
    assert "does not answer from" not in again.stdout
