"""The firewall part of `visioncast doctor` for every OS: the state read from each tool's own output (as those
tools print it) and the exact command that opens visioncast's ports. Windows and macOS cannot be run here:
their command forms and parsers are pinned here, the real tools are not."""

from __future__ import annotations

import pytest

from visioncast.cli.checkup import system_lang
from visioncast.cli.doctor import mosquitto_install
from visioncast.cli.firewall import (
    MACOS_FIREWALL,
    Firewall,
    open_command,
    parse_firewalld,
    parse_iptables,
    parse_ufw,
)
from visioncast.network import parse_lsof, parse_netstat

UFW_ACTIVE = """Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
5000/tcp                   ALLOW       Anywhere
1883:1885/tcp              ALLOW       Anywhere
8083/udp                   ALLOW       Anywhere
22/tcp (v6)                ALLOW       Anywhere (v6)
"""


def test_ufw_status_gives_the_tcp_ports_it_lets_in() -> None:
    wall = parse_ufw(UFW_ACTIVE)
    assert (wall.tool, wall.active) == ("ufw", True)
    assert wall.allowed == {22, 5000, 1883, 1884, 1885}
    assert not wall.blocks(5000)
    assert wall.blocks(8083)  # udp only
    assert parse_ufw("Status: inactive\n").active is False


def test_firewalld_ports_and_iptables_rules() -> None:
    assert parse_firewalld("5000/tcp 1883-1884/tcp 53/udp\n") == {5000, 1883, 1884}
    rules = ("-P INPUT ACCEPT\n-A INPUT -p tcp -m multiport --dports 5000,1883 -j ACCEPT\n"
             "-A INPUT -d 198.51.100.2/32 -p tcp -m tcp --dport 8083 -j DROP\n")
    wall = parse_iptables(rules)
    assert (wall.tool, wall.active, wall.allowed) == ("iptables", True, {5000, 1883})
    assert wall.detail == "INPUT has DROP/REJECT rules"
    assert parse_iptables("-P INPUT ACCEPT\n").active is False
    assert parse_iptables("-P INPUT DROP\n").detail == "INPUT drops by default"
    assert not Firewall("iptables", True).blocks(5000)  # iptables: the connect from the LAN address decides


@pytest.mark.parametrize(("tool", "command"), [
    ("ufw", "sudo ufw allow proto tcp to any port 5000,1883"),
    ("firewalld", "sudo firewall-cmd --permanent --add-port=5000/tcp --add-port=1883/tcp && "
                  "sudo firewall-cmd --reload"),
    ("iptables", "sudo iptables -I INPUT -p tcp -m multiport --dports 5000,1883 -j ACCEPT"),
    ("", "sudo iptables -I INPUT -p tcp -m multiport --dports 5000,1883 -j ACCEPT"),
    ("windows", 'netsh advfirewall firewall add rule name="visioncast" dir=in action=allow protocol=TCP '
                "localport=5000,1883  (in an administrator Command Prompt)"),
    ("macos", f'sudo {MACOS_FIREWALL} --add "/usr/bin/python3" && sudo {MACOS_FIREWALL} --unblockapp '
              '"/usr/bin/python3"'),
])
def test_the_command_that_opens_the_ports_on_each_os(tool: str, command: str) -> None:
    assert open_command(tool, [5000, 1883], ["/usr/bin/python3"]) == command


def test_who_holds_a_port_on_windows_and_macos() -> None:
    netstat = ("\nActive Connections\n\n"
               "  Proto  Local Address          Foreign Address        State           PID\n"
               "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1000\n"
               "  TCP    127.0.0.1:1883         0.0.0.0:0              LISTENING       4242\n"
               "  TCP    192.168.1.20:51000     192.168.1.9:1883       ESTABLISHED     77\n"
               "  TCP    [::]:1883              [::]:0                 侦听            4242\n")
    assert parse_netstat(netstat, 1883) == "4242"
    assert parse_netstat(netstat, 5000) == ""
    assert parse_lsof("p812\ncmosquitto\nf5\n") == "'mosquitto' (pid 812)"
    assert parse_lsof("") == "another program"


def test_language_and_mosquitto_install_per_os() -> None:
    assert system_lang({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert system_lang({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert mosquitto_install("win32").startswith("winget install EclipseFoundation.Mosquitto")
    assert mosquitto_install("darwin") == "brew install mosquitto"
    assert mosquitto_install("linux").startswith("sudo apt install mosquitto")
