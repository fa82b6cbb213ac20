"""Throwaway certificate authorities for the sandbox: the Azure emulator's HTTPS (the Azure SDK refuses bearer
tokens over plain HTTP) and the control plane's (serving certificate, admin client certificate).

A fresh authority per start keeps nothing secret on disk between runs; EC keys make this take milliseconds.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import pathlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey

_CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def _builder(subject: x509.Name, issuer: x509.Name, key: Key, days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


@dataclasses.dataclass(frozen=True)
class Authority:
    """A CA's key and certificate, which signs what `issue` makes."""

    key: Key
    certificate: x509.Certificate

    @classmethod
    def new(cls, common_name: str, *, days: int = 30) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            _builder(name, name, key, days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def issue(
        self,
        common_name: str,
        *,
        organization: str | None = None,
        server_names: Sequence[x509.GeneralName] = (),
        client: bool = False,
        days: int = 30,
    ) -> tuple[Key, x509.Certificate]:
        """A key and a certificate for a server (its `server_names`) or, with `client`, a client whose user is
        `common_name` in group `organization` (how kube-apiserver reads a client certificate)."""
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            _builder(x509.Name(attributes), self.certificate.subject, key, days)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        if server_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(list(server_names)), critical=False)
        return key, builder.sign(self.key, hashes.SHA256())


def loopback_names(host: str = "127.0.0.1", *extra: str) -> list[x509.GeneralName]:
    """localhost, 127.0.0.1 and ::1, plus `host` and `extra` names (DNS names or IP addresses)."""
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    for name in (host, *extra):
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            general: x509.GeneralName = x509.DNSName(name)
        else:
            general = x509.IPAddress(address)
        if general not in names:
            names.append(general)
    return names


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def pem_key(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_private(path: pathlib.Path, data: bytes) -> None:
    """A key file readable by its owner only, from the moment it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
