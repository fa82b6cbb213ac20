"""The token authority and ARM's authentication gate, as azure-identity and the SDK pipeline meet them."""

from __future__ import annotations

import datetime

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import CertificateCredential
from azure.mgmt.recoveryservices.aio import RecoveryServicesClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

WEU_VAULT = ("rg-asr-weu", "rsv-weu-prod")


async def test_client_secret_credential_gets_a_token_that_arm_accepts(sandbox, azure) -> None:
    token = await azure.credential.get_token("https://management.azure.com/.default")
    vault = await azure.vaults.vaults.get(*WEU_VAULT)
    assert token.token and token.expires_on > datetime.datetime.now().timestamp()
    assert vault.name == "rsv-weu-prod"
    log = sandbox.requests()
    assert [entry["path"] for entry in log] == [
        f"/{sandbox.info['tenantId']}/oauth2/v2.0/token",
        f"/subscriptions/{sandbox.subscription_a}/resourceGroups/rg-asr-weu"
        "/providers/Microsoft.RecoveryServices/vaults/rsv-weu-prod",
    ]
    assert log[-1]["principal"] == sandbox.state()["operatorObjectId"]
    assert "access_token" not in str(log) and token.token not in str(log)


def test_openid_configuration_names_the_token_endpoint(sandbox) -> None:
    """MSAL may read it (older versions always did); both endpoints must point back at the emulator."""
    tenant = sandbox.info["tenantId"]
    status, body = sandbox.raw("GET", f"{sandbox.url}/{tenant}/v2.0/.well-known/openid-configuration")
    assert status == 200
    assert body["token_endpoint"] == f"{sandbox.url}/{tenant}/oauth2/v2.0/token"
    assert body["authorization_endpoint"].startswith(sandbox.url)
    status, body = sandbox.raw("GET", f"{sandbox.url}/not-a-tenant/v2.0/.well-known/openid-configuration")
    assert (status, body["error"]) == (400, "invalid_tenant")


async def test_wrong_secret_is_refused_like_entra_id(sandbox) -> None:
    token_url = f"{sandbox.url}/{sandbox.info['tenantId']}/oauth2/v2.0/token"
    status, body = sandbox.raw(
        "POST",
        token_url,
        form={
            "client_id": sandbox.info["clientId"],
            "client_secret": "not-the-secret",
            "grant_type": "client_credentials",
            "scope": "https://management.azure.com/.default",
        },
    )
    assert status == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "not-the-secret" not in str(body)

    credential = sandbox.credential(sandbox.info["clientId"], "not-the-secret")
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        await credential.get_token("https://management.azure.com/.default")
    await credential.close()


async def test_unknown_application_is_refused(sandbox) -> None:
    credential = sandbox.credential("00000000-0000-0000-0000-000000000001", "whatever")
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        await credential.get_token("https://management.azure.com/.default")
    await credential.close()


class _ForgedCredential:
    """A credential handing out a token the authority never issued."""

    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("forged.token.value", int(datetime.datetime.now().timestamp()) + 3600)

    async def close(self) -> None:
        return None


async def test_arm_refuses_a_token_it_did_not_issue(sandbox) -> None:
    client = RecoveryServicesClient(
        _ForgedCredential(), sandbox.subscription_a, base_url=sandbox.url, connection_verify=sandbox.ca
    )
    with pytest.raises(ClientAuthenticationError) as raised:
        await client.vaults.get(*WEU_VAULT)
    await client.close()
    assert raised.value.error.code == "InvalidAuthenticationToken"
    assert raised.value.response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")

    status, body = sandbox.raw(
        "GET",
        f"{sandbox.url}/subscriptions/{sandbox.subscription_a}/providers/"
        "Microsoft.RecoveryServices/vaults?api-version=2026-11-01",
    )
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")


async def test_client_certificate_credential_needs_a_registered_certificate(sandbox, tmp_path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ci-deployer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
    pem_path = tmp_path / "deployer.pem"
    pem_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + certificate_pem
    )
    registered = sandbox.admin(
        "POST",
        "/principals",
        {"kind": "ServicePrincipal", "displayName": "ci-deployer", "certificatePem": certificate_pem.decode()},
    )
    unregistered = sandbox.admin("POST", "/principals", {"kind": "ServicePrincipal", "displayName": "no-cert"})

    def credential(client_id: str) -> CertificateCredential:
        return CertificateCredential(
            sandbox.info["tenantId"],
            client_id,
            str(pem_path),
            authority=sandbox.url,
            disable_instance_discovery=True,
            connection_verify=sandbox.ca,
        )

    accepted = credential(registered["clientId"])
    assert (await accepted.get_token("https://management.azure.com/.default")).token
    refused = credential(unregistered["clientId"])
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        await refused.get_token("https://management.azure.com/.default")
    await accepted.close()
    await refused.close()
