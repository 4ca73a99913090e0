"""The firewall between the classroom network and this computer: which one is active on this OS, which of
visioncast's ports it lets in, and the exact command that opens them. I/O: runs the OS's own tools, read
only (``ufw status``, ``firewall-cmd``, ``iptables -S``, ``netsh advfirewall``, ``socketfilterfw``).

The parsers and :func:`open_command` are pure, so each OS's form is tested here on Linux; reading the state
runs only the tool of the OS it is on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

MACOS_FIREWALL = "/usr/libexec/ApplicationFirewall/socketfilterfw"
WINDOWS_RULE = "visioncast"
TOOLS = ("ufw", "firewalld", "iptables", "windows", "macos")
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Firewall:
    """``tool`` (one of TOOLS, or "" when none was found), ``active`` (None: could not tell, e.g. not
    allowed to ask), the ports its rules are known to let in, and ``detail`` in words."""

    tool: str
    active: bool | None
    allowed: frozenset[int] = field(default_factory=frozenset)
    detail: str = ""

    def blocks(self, port: int) -> bool:
        """True when this firewall is known to be on and not known to let ``port`` in."""
        return bool(self.active) and port not in self.allowed and self.tool in ("ufw", "firewalld")


def _run(command: list[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return -1, str(exc)
    return done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace")


def detect(platform: str = sys.platform) -> Firewall:
    """The firewall of this computer, as far as its tools tell without changing anything."""
    if platform == "win32":
        return _windows()
    if platform == "darwin":
        code, text = _run([MACOS_FIREWALL, "--getglobalstate"])
        return Firewall("macos", None if code else "enabled" in text.lower(), detail=text.strip())
    return _linux()


def _linux() -> Firewall:
    if shutil.which("ufw"):
        code, text = _run(["ufw", "status"])
        if code == 0 and "Status: active" in text:
            return parse_ufw(text)
        if code != 0:
            return Firewall("ufw", None, detail=text.strip().splitlines()[-1] if text.strip() else "")
    if shutil.which("firewall-cmd"):
        code, text = _run(["firewall-cmd", "--state"])
        if text.strip() == "running":
            return Firewall("firewalld", True, parse_firewalld(_run(["firewall-cmd", "--list-ports"])[1]))
    if shutil.which("iptables"):
        code, text = _run(["iptables", "-S", "INPUT"])
        if code == 0:
            return parse_iptables(text)
        return Firewall("iptables", None, detail=text.strip())
    return Firewall("", False, detail="no ufw, firewalld or iptables found")


def _windows() -> Firewall:
    code, text = _run(["netsh", "advfirewall", "show", "allprofiles", "state"])
    if code:
        return Firewall("windows", None, detail=text.strip())
    on = bool(re.search(r"\bON\b", text))
    rule_code, _ = _run(["netsh", "advfirewall", "firewall", "show", "rule", f"name={WINDOWS_RULE}"])
    return Firewall("windows", on, detail="visioncast's rule is there" if rule_code == 0 else "")


def parse_ufw(text: str) -> Firewall:
    """``ufw status`` output: active or not, and the TCP ports its ALLOW rules let in from anywhere."""
    active = "Status: active" in text
    allowed: set[int] = set()
    for line in text.splitlines():
        match = re.match(r"^\s*([\d,:]+)(?:/(tcp|udp))?\s+(?:\(v6\)\s+)?ALLOW(?: IN)?\s", line)
        if match and match.group(2) != "udp":
            allowed |= _ports(match.group(1))
    return Firewall("ufw", active, frozenset(allowed), "active" if active else "inactive")


def parse_firewalld(text: str) -> frozenset[int]:
    """``firewall-cmd --list-ports`` output ('5000/tcp 1883-1890/tcp …') → the TCP ports it opens."""
    allowed: set[int] = set()
    for item in text.split():
        ports, _, proto = item.partition("/")
        if proto == "tcp":
            allowed |= _ports(ports.replace("-", ":"))
    return frozenset(allowed)


def parse_iptables(text: str) -> Firewall:
    """``iptables -S INPUT``: on when the policy drops or a rule drops/rejects TCP; the ports it accepts."""
    policy_drop = bool(re.search(r"^-P INPUT (DROP|REJECT)", text, re.MULTILINE))
    refuses = bool(re.search(r"^-A INPUT\b.*-j (DROP|REJECT)", text, re.MULTILINE))
    allowed: set[int] = set()
    for line in text.splitlines():
        match = re.search(r"--dports? ([\d,:]+).*-j ACCEPT", line)
        if line.startswith("-A INPUT") and match and "! " not in line and "-s " not in line:
            allowed |= _ports(match.group(1))
    state = "drops by default" if policy_drop else ("has DROP/REJECT rules" if refuses else "accepts")
    return Firewall("iptables", policy_drop or refuses, frozenset(allowed), f"INPUT {state}")


def _ports(spec: str) -> set[int]:
    """'5000,1883:1885' → {5000, 1883, 1884, 1885} (ranges capped at 100 ports)."""
    out: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition(":")
        if low.isdigit() and (not high or high.isdigit()):
            out |= set(range(int(low), min(int(high or low), int(low) + 100) + 1))
    return out


def open_command(tool: str, ports: Sequence[int], programs: Sequence[str] = ()) -> str:
    """The exact command that lets TCP ``ports`` in, for ``tool`` (an admin's command: sudo, or an
    administrator prompt on Windows). macOS's firewall allows programs, not ports: ``programs``."""
    listed = ",".join(str(p) for p in ports)
    if tool == "ufw":
        return f"sudo ufw allow proto tcp to any port {listed}"
    if tool == "firewalld":
        adds = " ".join(f"--add-port={p}/tcp" for p in ports)
        return f"sudo firewall-cmd --permanent {adds} && sudo firewall-cmd --reload"
    if tool == "windows":
        return (f'netsh advfirewall firewall add rule name="{WINDOWS_RULE}" dir=in action=allow '
                f"protocol=TCP localport={listed}  (in an administrator Command Prompt)")
    if tool == "macos":
        apps = programs or (sys.executable,)
        return " && ".join(f'sudo {MACOS_FIREWALL} --add "{p}" && sudo {MACOS_FIREWALL} --unblockapp "{p}"'
                           for p in apps)
    return f"sudo iptables -I INPUT -p tcp -m multiport --dports {listed} -j ACCEPT"
