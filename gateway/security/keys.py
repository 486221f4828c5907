"""The gateway's own signing key and certificate.

A production gateway is given a key and certificate issued by a trusted CA (``signing_key_file``,
``signing_cert_file``). When none is configured, a self-signed pair is generated once in
``<data_dir>/signing/`` so receipts are signed from the first start: auditors can still check
them against that certificate, which the operator publishes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gateway.config import Settings
from gateway.errors import SigningKeyError

KEY_NAME, CERT_NAME = "gateway.key", "gateway.crt"
VALIDITY = dt.timedelta(days=730)


def signing_material(settings: Settings, *, create: bool = True) -> tuple[Path, Path]:
    """The key and certificate files to sign with, generating a self-signed pair if needed
    (``create=False``: health checks, which must never make a key, get an error instead)."""
    if settings.signing_key_file is not None and settings.signing_cert_file is not None:
        return settings.signing_key_file, settings.signing_cert_file
    folder = settings.signing_dir
    if not folder.exists():
        if not create:
            raise SigningKeyError(
                "N.SigningKey",
                f"no signing key at {folder} (none configured, and none generated yet: "
                "`serve` makes a self-signed pair on its first start)",
            )
        _generate_folder(settings.gateway_id, folder)
    return folder / KEY_NAME, folder / CERT_NAME


def _generate_folder(common_name: str, folder: Path) -> None:
    """Write key and certificate in a private folder, then rename it into place in one step,
    so concurrent workers never pair one's key with another's certificate."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".signing-", dir=folder.parent))
    try:
        _generate(common_name, staging / KEY_NAME, staging / CERT_NAME)
        try:
            os.rename(staging, folder)
        except OSError:  # another worker's folder is already in place: keep it
            if not folder.exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _generate(common_name: str, key_path: Path, cert_path: Path) -> None:
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edoc-gateway (self-signed)"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write(key_path, pem_key, 0o600)
    _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
