"""Where Azure is and who the operator is there, and the azure-identity credential for that identity.

`AzureSettings` says which cloud (or emulator) to talk to; `ServicePrincipal` is an explicit identity taken
from a policy's `credentialsSecretRef`. Both are plain frozen values, so the handler layer and the tests can
build and compare them (a pool keys its clients by identity); `make_credential` turns them into the
azure-identity credential that `client.py` gives its SDK clients.

Environment variables read by `AzureSettings.from_env()`:

| variable | meaning (default) |
| --- | --- |
| `ASR_AUTOUPDATE_ARM_ENDPOINT` | Azure Resource Manager endpoint (`https://management.azure.com`) |
| `AZURE_AUTHORITY_HOST` | Microsoft Entra authority, azure-identity's own variable (`https://login.microsoftonline.com`) |
| `ASR_AUTOUPDATE_CA_BUNDLE` | PEM file of CAs to trust for ARM and the authority (see "CAs" below) |
| `ASR_AUTOUPDATE_ARM_SCOPE` | token scope(s) for ARM, comma-separated (`<endpoint>/.default`) |
| `ASR_AUTOUPDATE_DISABLE_INSTANCE_DISCOVERY` | `true`/`false`: skip MSAL's authority validation (`true` unless |
|   | the authority is a Microsoft cloud's: it would otherwise ask login.microsoftonline.com about it) |
| `ASR_AUTOUPDATE_LRO_POLLING_INTERVAL` | seconds between polls when Azure sends no Retry-After (`30`) |
| `ASR_AUTOUPDATE_READ_TIMEOUT` | seconds to wait for an answer of ARM or the authority, each request (`60`) |

CAs trusted for ARM and the authority: the first of these that is set (read when the first connection is made,
not by `from_env()`); 1 and 2 replace the system trust store, they do not add to it:

| order | source |
| --- | --- |
| 1 | `ASR_AUTOUPDATE_CA_BUNDLE` (`AzureSettings.ca_bundle`): a PEM file (or a directory of hashed certificates) |
| 2 | `REQUESTS_CA_BUNDLE`, a PEM file or a directory, as azure-core's requests transport honours it |
| 3 | OpenSSL's defaults: `SSL_CERT_FILE` / `SSL_CERT_DIR` in place of the system's file / directory when set |

Each source's CAs are read once per process, into one TLS context that every connection uses (`transport.py`).

The operator's own identity (used when a policy names no Secret) comes from the variables azure-identity
users already know: `AZURE_TENANT_ID` + `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` (or
`AZURE_CLIENT_CERTIFICATE_PATH`), workload identity (`AZURE_FEDERATED_TOKEN_FILE`, as injected by the AKS
webhook), then managed identity. Interactive and developer sources (Azure CLI, PowerShell, VS Code, shared
cache) are never tried: an operator has no person at the keyboard.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
from collections.abc import Mapping
from typing import TypedDict
from urllib.parse import urlparse

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline.transport._aiohttp import AioHttpTransport
from azure.identity.aio import (
    CertificateCredential,
    ChainedTokenCredential,
    ClientSecretCredential,
    EnvironmentCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from asr_autoupdate.azure.transport import ConnectionPool

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"
PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"

# Authorities that MSAL validates by itself; any other host needs instance discovery switched off, or MSAL
# would ask login.microsoftonline.com about it (a call that leaves an air-gapped cloud or the sandbox).
_MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
    }
)

ENV_ARM_ENDPOINT = "ASR_AUTOUPDATE_ARM_ENDPOINT"
ENV_AUTHORITY_HOST = "AZURE_AUTHORITY_HOST"
ENV_CA_BUNDLE = "ASR_AUTOUPDATE_CA_BUNDLE"
ENV_ARM_SCOPE = "ASR_AUTOUPDATE_ARM_SCOPE"
ENV_DISABLE_INSTANCE_DISCOVERY = "ASR_AUTOUPDATE_DISABLE_INSTANCE_DISCOVERY"
ENV_POLLING_INTERVAL = "ASR_AUTOUPDATE_LRO_POLLING_INTERVAL"
ENV_READ_TIMEOUT = "ASR_AUTOUPDATE_READ_TIMEOUT"


def _https_origin(url: str, what: str) -> str:
    """`https://host[:port]` without a trailing slash; the SDK refuses bearer tokens over plain http."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.netloc:
        raise ValueError(f"{what} must be an https URL, got {url!r}")
    return url


@dataclasses.dataclass(frozen=True)
class AzureSettings:
    """Which Azure cloud to call and how; one value shared by every client of the process."""

    arm_endpoint: str = PUBLIC_ARM_ENDPOINT
    authority_host: str = PUBLIC_AUTHORITY_HOST
    credential_scopes: tuple[str, ...] = ()  # empty: "<arm_endpoint>/.default"
    ca_bundle: str | None = None  # PEM path; None: REQUESTS_CA_BUNDLE, else OpenSSL's defaults (SSL_CERT_FILE)
    disable_instance_discovery: bool | None = None  # None: on for authorities MSAL does not know
    polling_interval: float = 30.0  # LRO delay when Azure sends no Retry-After (tests use 0)
    retry_total: int = 3  # the SDK's own retries per request; kept small so a handler never sleeps long
    retry_backoff_factor: float = 0.8
    retry_backoff_max: float = 10.0
    max_retry_after: float = 10.0  # a Retry-After longer than this is not slept on: ThrottledError instead
    connection_timeout: float = 10.0
    read_timeout: float = 60.0  # for each request to ARM and to the authority (the token endpoint)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arm_endpoint", _https_origin(self.arm_endpoint, "the ARM endpoint"))
        object.__setattr__(self, "authority_host", _https_origin(self.authority_host, "the authority host"))
        object.__setattr__(self, "credential_scopes", tuple(self.credential_scopes))
        if self.retry_total < 0 or self.polling_interval < 0:
            raise ValueError("retry_total and polling_interval must not be negative")
        if self.read_timeout <= 0 or self.connection_timeout <= 0:
            raise ValueError("read_timeout and connection_timeout must be positive")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ARM token audience: configured, or the endpoint's `/.default` (as every public cloud uses)."""
        return self.credential_scopes or (self.arm_endpoint + "/.default",)

    @property
    def instance_discovery_disabled(self) -> bool:
        if self.disable_instance_discovery is not None:
            return self.disable_instance_discovery
        host = (urlparse(self.authority_host).hostname or "").lower()
        return host not in _MICROSOFT_AUTHORITY_HOSTS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> AzureSettings:
        """Settings from the process environment (see the module docstring for the variables)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get(ENV_ARM_ENDPOINT):
            values["arm_endpoint"] = env[ENV_ARM_ENDPOINT]
        if env.get(ENV_AUTHORITY_HOST):
            values["authority_host"] = env[ENV_AUTHORITY_HOST]
        if env.get(ENV_CA_BUNDLE):
            values["ca_bundle"] = env[ENV_CA_BUNDLE]
        if env.get(ENV_ARM_SCOPE):
            values["credential_scopes"] = tuple(s.strip() for s in env[ENV_ARM_SCOPE].split(",") if s.strip())
        if env.get(ENV_DISABLE_INSTANCE_DISCOVERY):
            values["disable_instance_discovery"] = _parse_bool(
                env[ENV_DISABLE_INSTANCE_DISCOVERY], ENV_DISABLE_INSTANCE_DISCOVERY
            )
        if env.get(ENV_POLLING_INTERVAL):
            values["polling_interval"] = float(env[ENV_POLLING_INTERVAL])
        if env.get(ENV_READ_TIMEOUT):
            values["read_timeout"] = float(env[ENV_READ_TIMEOUT])
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


class SecretInvalid(ValueError):
    """A credentials Secret lacks a key or holds an unusable value; the message names the key, never a value."""


@dataclasses.dataclass(frozen=True)
class ServicePrincipal:
    """An explicit identity: a Microsoft Entra application with a client secret or a certificate (PEM).

    Secret material is excluded from `repr`, so logging the value never leaks it.
    """

    tenant_id: str
    client_id: str
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    client_certificate: str | None = dataclasses.field(default=None, repr=False)  # PEM: key + certificate

    def __post_init__(self) -> None:
        if not self.tenant_id or not self.client_id:
            raise SecretInvalid("tenantId and clientId are required")
        if not self.client_secret and not self.client_certificate:
            raise SecretInvalid("one of clientSecret or clientCertificate is required")

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str | bytes]) -> ServicePrincipal:
        """Build from a Kubernetes Secret's keys (values already base64-decoded): tenantId, clientId, and
        clientSecret or clientCertificate."""

        def text(key: str) -> str | None:
            value = data.get(key)
            if value is None:
                return None
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise SecretInvalid(f"key {key} is not UTF-8 text") from None
            value = value.strip()
            return value or None

        missing = [key for key in ("tenantId", "clientId") if not text(key)]
        if missing:
            raise SecretInvalid(f"missing key {' and '.join(missing)}")
        if not set(text("tenantId") or "") <= _TENANT_ID_CHARACTERS:
            raise SecretInvalid("key tenantId is not a tenant ID (the directory's UUID or domain name)")
        secret, certificate = text("clientSecret"), text("clientCertificate")
        if not secret and not certificate:
            raise SecretInvalid("missing key clientSecret or clientCertificate")
        if certificate:
            _check_certificate(certificate)
        return cls(
            tenant_id=text("tenantId") or "",
            client_id=text("clientId") or "",
            client_secret=secret,
            client_certificate=certificate,
        )


# azure-identity's own rule (validate_tenant_id), checked here: a credential made with anything else raises a
# ValueError, which would be an InternalError on every retry instead of the user's CredentialsSecretInvalid
_TENANT_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-.")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.DOTALL)


def _check_certificate(pem: str) -> None:
    """azure-identity wants the certificate and its unencrypted private key in one PEM. Check that here, where
    the Secret is read, so a wrong value is the user's `CredentialsSecretInvalid` (naming what is wrong), not a
    failure deep in the credential."""
    blocks = {match.group(1): match.group(0) for match in _PEM_BLOCK.finditer(pem)}
    if not blocks:
        raise SecretInvalid("key clientCertificate is not PEM")
    if "CERTIFICATE" not in blocks:
        raise SecretInvalid("key clientCertificate holds no certificate (PEM: the certificate and its private key)")
    if "ENCRYPTED PRIVATE KEY" in blocks or "Proc-Type: 4,ENCRYPTED" in pem:
        raise SecretInvalid("key clientCertificate holds an encrypted private key; store the key unencrypted")
    key = next((block for kind, block in blocks.items() if kind.endswith("PRIVATE KEY")), None)
    if key is None:
        raise SecretInvalid("key clientCertificate holds no private key (PEM: the certificate and its private key)")
    try:
        x509.load_pem_x509_certificate(blocks["CERTIFICATE"].encode())
        serialization.load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError):
        raise SecretInvalid("key clientCertificate has a certificate or private key that cannot be read") from None


class _AuthorityOptions(TypedDict):
    """The keyword arguments every credential that talks to the authority is made with."""

    authority: str
    disable_instance_discovery: bool
    transport: AioHttpTransport


class _ManagedIdentityOptions(TypedDict, total=False):
    """A user-assigned identity's client id; without it, the system-assigned identity."""

    client_id: str


def _credential_options(connections: ConnectionPool, settings: AzureSettings) -> _AuthorityOptions:
    """One place for the authority settings, so no credential source talks to a different authority. Each
    source gets its own transport over the pool's one session (the CA settings live in its TLS context)."""
    return {
        "authority": settings.authority_host,
        "disable_instance_discovery": settings.instance_discovery_disabled,
        "transport": connections.transport(
            connection_timeout=settings.connection_timeout, read_timeout=settings.read_timeout
        ),
    }


def make_credential(
    settings: AzureSettings, identity: ServicePrincipal | None = None, *, connections: ConnectionPool
) -> AsyncTokenCredential:
    """The credential for `identity`, or for the operator's own identity when it is None.

    The operator's own identity follows azure-identity's DefaultAzureCredential order restricted to
    sources that need no person: environment (secret or certificate), workload identity, managed identity.
    The authority, instance-discovery and CA settings apply to every source that talks to the authority; those
    sources send through `connections`, which the caller owns and closes after the credential.
    """

    def options() -> _AuthorityOptions:
        return _credential_options(connections, settings)

    if identity is not None:
        if identity.client_certificate:
            return CertificateCredential(
                identity.tenant_id,
                identity.client_id,
                certificate_data=identity.client_certificate.encode("utf-8"),
                **options(),
            )
        return ClientSecretCredential(identity.tenant_id, identity.client_id, identity.client_secret or "", **options())

    sources: list[AsyncTokenCredential] = [EnvironmentCredential(**options())]
    if (
        os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
        and os.environ.get("AZURE_CLIENT_ID")
        and os.environ.get("AZURE_TENANT_ID")
    ):
        sources.append(WorkloadIdentityCredential(**options()))
    managed_identity_options: _ManagedIdentityOptions = {}
    if os.environ.get("AZURE_CLIENT_ID"):
        managed_identity_options["client_id"] = os.environ["AZURE_CLIENT_ID"]
    sources.append(ManagedIdentityCredential(**managed_identity_options))
    return ChainedTokenCredential(*sources)
