"""Self-signed TLS for ``visioncast serve --tls``. I/O: reads and writes the certificate files.

Browsers give a page the camera only on ``https://`` or ``localhost``, so a phone on the LAN needs TLS to
use the webcam page. :func:`ensure_certificate` makes an ECDSA P-256 key and a self-signed certificate on
first use (valid for localhost, this host's name and the given addresses), keeps them in the data dir and
reuses them on the next start — so the SHA-256 fingerprint a phone's user checked once stays the same —
unless an address is missing from it or it is about to expire. :func:`ssl_context` makes the
server's TLS context of them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from visioncast.atomic import write_atomic
from visioncast.errors import ConfigError

log = logging.getLogger(__name__)
CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
VALID_DAYS = 825  # the longest validity Apple platforms accept for a TLS server certificate
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class Certificate:
    """The PEM files of a certificate, its SHA-256 fingerprint (AA:BB:…) and whether it was just made."""

    cert_path: Path
    key_path: Path
    fingerprint: str
    created: bool


def fingerprint_of(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint browsers show: 32 colon-separated upper-case hex bytes."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def _names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["localhost", socket.gethostname(), "127.0.0.1", "::1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if host:
                names.append(x509.DNSName(host))
    return names


def make_certificate(hosts: Sequence[str], now: dt.datetime | None = None) -> tuple[x509.Certificate, Any]:
    """A new self-signed server certificate for localhost + ``hosts`` (names or IP addresses) and its key."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"visioncast on {socket.gethostname()}"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "visioncast (self-signed)")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _usable(cert_path: Path, hosts: Sequence[str]) -> x509.Certificate | None:
    """The stored certificate when it still covers ``hosts`` and is not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return None
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    covered = {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
    covered |= set(sans.get_values_for_type(x509.DNSName))
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=RENEW_BEFORE_DAYS)
    if not set(hosts) <= covered or cert.not_valid_after_utc < soon:
        return None
    return cert


def ensure_certificate(folder: str | Path, hosts: Sequence[str] = ()) -> Certificate:
    """The certificate kept in ``folder`` (made now when missing, expiring or not covering ``hosts``)."""
    folder = Path(folder).expanduser()
    cert_path, key_path = folder / CERT_NAME, folder / KEY_NAME
    cert = _usable(cert_path, hosts) if key_path.is_file() else None
    if cert is not None:
        return Certificate(cert_path, key_path, fingerprint_of(cert), created=False)
    cert, key = make_certificate(hosts)
    try:
        key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        write_atomic(key_path, key_bytes, mode=0o600)  # the key is readable by us only
        write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise ConfigError(f"cannot write the TLS certificate into '{folder}': {exc.strerror or exc}") from exc
    log.info("made a self-signed TLS certificate %s (SHA-256 %s)", cert_path, fingerprint_of(cert))
    return Certificate(cert_path, key_path, fingerprint_of(cert), created=True)


def ssl_context(cert: Certificate) -> ssl.SSLContext:
    """A server-side TLS context (stdlib ssl, TLS 1.2 or newer) serving ``cert``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert.cert_path), str(cert.key_path))
    return context
