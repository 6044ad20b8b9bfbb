"""TLS for the agent: a certificate pair (given, or a self-signed one made on first start) and the
SHA-256 fingerprint a client pins it by (``--agent https://HOST:PORT#sha256=FINGERPRINT`` or a pins file).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from hwnas.core.errors import ConfigError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalise_fingerprint(text: str) -> str:
    """``AB:CD:…`` or ``abcd…`` -> 64 lowercase hex digits; ConfigError (one line) otherwise."""
    fp = text.strip().lower().replace(":", "")
    if fp.startswith("sha256="):
        fp = fp[len("sha256=") :]
    if not _HEX64.match(fp):
        raise ConfigError(f"not a SHA-256 certificate fingerprint (64 hex digits): {text.strip()[:80]!r}")
    return fp


def cert_fingerprint(cert_file: str | Path) -> str:
    """SHA-256 of the certificate's DER form, as 64 lowercase hex digits."""
    pem = Path(cert_file).read_text(encoding="ascii")
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_self_signed(cert_file: Path, key_file: Path, name: str, years: int = 10) -> None:
    """A new EC P-256 key (mode 0600) and a self-signed certificate for ``name``, localhost and 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hwnas agent {name}"[:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if re.fullmatch(r"[A-Za-z0-9.-]{1,63}", name) and name != "localhost":
        alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365 * years))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_new(key_file, key_pem, 0o600)
    _write_new(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def ensure_pair(cert_file: str | Path, key_file: str | Path, name: str) -> bool:
    """Make a self-signed pair where neither file exists (True); use an existing pair as it is (False)."""
    cert_file, key_file = Path(cert_file), Path(key_file)
    have = cert_file.exists(), key_file.exists()
    if have == (False, False):
        make_self_signed(cert_file, key_file, name)
        return True
    if have != (True, True):
        missing = key_file if have[0] else cert_file
        raise ConfigError(f"--tls-cert and --tls-key must both exist or both be absent (to make a pair): no {missing}")
    return False


def server_context(cert_file: str | Path, key_file: str | Path) -> ssl.SSLContext:
    """TLS 1.2 or newer with the given pair; ConfigError (one line) if it does not load."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (ssl.SSLError, OSError, ValueError) as e:
        raise ConfigError(f"cannot load the TLS pair {cert_file} / {key_file}: {e.__class__.__name__}") from None
    return ctx


def split_pin(url: str) -> tuple[str, str | None]:
    """``https://h:p#sha256=FP`` -> (``https://h:p``, FP normalised); a URL without a pin -> (url, None)."""
    base, sep, fragment = url.partition("#")
    if not sep:
        return url, None
    return base, normalise_fingerprint(fragment)


def host_port(url: str) -> str:
    """``HOST:PORT`` of an agent URL (the key of a pins file)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    return f"{parts.hostname}:{parts.port or 443 if parts.scheme == 'https' else parts.port or 80}"


def read_pins(path: str | Path) -> dict[str, str]:
    """A pins file: one ``HOST:PORT FINGERPRINT`` a line (``#`` starts a comment) -> {HOST:PORT: FP}."""
    pins: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the pins file {path}: {e.__class__.__name__}") from None
    for n, line in enumerate(text.splitlines(), 1):
        words = line.partition("#")[0].split()
        if not words:
            continue
        if len(words) != 2:
            raise ConfigError(f"{path}:{n}: expected 'HOST:PORT FINGERPRINT', got {line.strip()[:80]!r}")
        pins[host_port(words[0])] = normalise_fingerprint(words[1])
    return pins
