"""Test certificates made with ``openssl``: a CA, a server and a client certificate, and a second
CA that signed neither (the "wrong CA")."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Strict enough for Python 3.13's default X.509 checks (VERIFY_X509_STRICT): key identifiers,
# key usage, and a critical basicConstraints on the CA.
CA_EXTENSIONS = (
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
    "subjectKeyIdentifier=hash",
)
LEAF_EXTENSIONS = (
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "subjectKeyIdentifier=hash",
    "authorityKeyIdentifier=keyid,issuer",
)
KEY_OPTIONS = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


class CertificatesUnavailable(RuntimeError):
    """``openssl`` is missing or failed."""


@dataclass(frozen=True)
class Certificates:
    """PEM files in one directory."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    wrong_ca: Path


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate for ``localhost`` and ``127.0.0.1``, a client certificate, and
    an unrelated CA; valid for two days."""
    if shutil.which("openssl") is None:
        raise CertificatesUnavailable("openssl is not installed (Debian: apt-get install openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    ca = _authority(directory, "ca", "Test CA")
    wrong_ca = _authority(directory, "wrong-ca", "Unrelated CA")
    server = _leaf(
        directory,
        "server",
        ca,
        ("extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
    )
    client = _leaf(directory, "client", ca, ("extendedKeyUsage=clientAuth",))
    return Certificates(
        ca=ca,
        server_cert=server,
        server_key=directory / "server.key",
        client_cert=client,
        client_key=directory / "client.key",
        wrong_ca=wrong_ca,
    )


def _authority(directory: Path, name: str, common_name: str) -> Path:
    certificate = directory / f"{name}.crt"
    extensions = [option for line in CA_EXTENSIONS for option in ("-addext", line)]
    _openssl(
        "req", "-x509", *KEY_OPTIONS, "-keyout", str(directory / f"{name}.key"),
        "-out", str(certificate), "-days", "2", "-subj", f"/CN={common_name}", *extensions,
    )  # fmt: skip
    return certificate


def _leaf(directory: Path, name: str, ca: Path, extra: tuple[str, ...]) -> Path:
    request, certificate = directory / f"{name}.csr", directory / f"{name}.crt"
    extensions = directory / f"{name}.ext"
    extensions.write_text("\n".join((*LEAF_EXTENSIONS, *extra)) + "\n", encoding="utf-8")
    _openssl(
        "req", "-new", *KEY_OPTIONS, "-keyout", str(directory / f"{name}.key"),
        "-out", str(request), "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca.with_suffix(".key")),
        "-CAcreateserial", "-out", str(certificate), "-days", "2", "-extfile", str(extensions),
    )  # fmt: skip
    return certificate


def _openssl(*arguments: str) -> None:
    result = subprocess.run(["openssl", *arguments], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise CertificatesUnavailable(f"openssl {arguments[0]} failed: {result.stderr.strip()}")
