"""The self-signed certificate of `serve --tls`: made once, reused (same fingerprint), renewed when an address
is missing; the key readable by its owner only. Real cryptography, real files."""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
import stat
from pathlib import Path

from cryptography import x509

from visioncast.server.tls import ensure_certificate


def test_made_once_then_reused_with_the_same_fingerprint(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path / "tls", ["192.168.1.7"])
    again = ensure_certificate(tmp_path / "tls", ["192.168.1.7"])
    assert first.created
    assert not again.created
    assert again.fingerprint == first.fingerprint
    der = ssl.PEM_cert_to_DER_cert(first.cert_path.read_text())
    assert first.fingerprint.replace(":", "") == hashlib.sha256(der).hexdigest().upper()
    assert len(first.fingerprint.split(":")) == 32
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600


def test_covers_localhost_and_the_given_addresses(tmp_path: Path) -> None:
    cert_file = ensure_certificate(tmp_path, ["10.0.0.5", "camera.local"]).cert_path
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = set(sans.get_values_for_type(x509.IPAddress))
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.0.0.5")} <= ips
    assert {"localhost", "camera.local"} <= set(sans.get_values_for_type(x509.DNSName))
    assert cert.issuer == cert.subject  # self-signed


def test_a_new_address_makes_a_new_certificate(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, ["192.168.1.7"])
    moved = ensure_certificate(tmp_path, ["192.168.1.8"])
    assert moved.created
    assert moved.fingerprint != first.fingerprint
