"""docs/credentials.md names only environment variables, Secret keys and chart values the code really has, and
the chart turns the values into the variables the page says."""

from __future__ import annotations

import re

import pytest
import yaml

from asr_autoupdate.azure import credentials
from asr_autoupdate.azure.credentials import SecretInvalid, ServicePrincipal
from asr_autoupdate.azure.transport import ConnectionPool
from tests.chart.chart_kit import CHART_DIR, container, one, render
from tests.docs.docs_kit import ROOT, markdown_table, read
from tests.pem import encrypted_bundle, self_signed

DOC = read("credentials.md")
OPERATOR = ROOT / "operator" / "asr_autoupdate"
PEM = self_signed()[0]


def source_text() -> str:
    files = [*OPERATOR.rglob("*.py"), *(CHART_DIR / "templates").glob("*"), CHART_DIR / "values.yaml"]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def doc_env_vars() -> set[str]:
    return set(re.findall(r"\b((?:AZURE|ASR_AUTOUPDATE)_[A-Z_]+)\b", DOC))


@pytest.mark.parametrize("name", sorted(doc_env_vars()))
def test_every_env_var_named_exists_in_the_code(name):
    assert re.search(rf"\b{name}\b", source_text()), f"{name} is not in operator/ or the chart"


def test_every_operator_setting_is_documented():
    settings = {value for key, value in vars(credentials).items() if key.startswith("ENV_")}
    assert settings, "no ENV_ constants found"
    assert settings <= doc_env_vars(), settings - doc_env_vars()


def test_settings_table_defaults_are_the_codes():
    rows = {row[0].strip("`"): row for row in markdown_table(DOC, "variable")}
    defaults = credentials.AzureSettings()
    assert defaults.arm_endpoint in rows["ASR_AUTOUPDATE_ARM_ENDPOINT"][2]
    assert defaults.authority_host in rows["AZURE_AUTHORITY_HOST"][2]
    assert f"`{defaults.polling_interval:g}`" == rows["ASR_AUTOUPDATE_LRO_POLLING_INTERVAL"][2]
    assert f"`{defaults.read_timeout:g}`" == rows["ASR_AUTOUPDATE_READ_TIMEOUT"][2]
    assert defaults.scopes == (defaults.arm_endpoint + "/.default",)
    # instance discovery: off for Microsoft clouds' authorities, on for anything else
    assert not credentials.AzureSettings(authority_host="https://login.microsoftonline.us").instance_discovery_disabled
    assert credentials.AzureSettings(authority_host="https://login.contoso.example").instance_discovery_disabled


def test_cloud_table_endpoints_are_accepted_and_known_to_msal():
    rows = markdown_table(DOC, "cloud")
    for cloud, arm, authority in rows:
        if "leave empty" in arm:
            continue
        settings = credentials.AzureSettings.from_env(
            {"ASR_AUTOUPDATE_ARM_ENDPOINT": arm.strip("`"), "AZURE_AUTHORITY_HOST": authority.strip("`")}
        )
        assert not settings.instance_discovery_disabled, cloud


def test_an_invalid_endpoint_stops_the_operator_with_exit_code_2(capsys, monkeypatch):
    from asr_autoupdate import cli

    monkeypatch.setenv("ASR_AUTOUPDATE_ARM_ENDPOINT", "http://management.azure.com")
    assert cli.main(["run"]) == 2
    assert "must be an https URL" in capsys.readouterr().err


def test_secret_keys_table_is_what_the_code_reads():
    keys = [row[0].strip("`") for row in markdown_table(DOC, "key")]
    assert keys == ["tenantId", "clientId", "clientSecret", "clientCertificate"]
    base = {"tenantId": b"t", "clientId": b"c"}
    assert ServicePrincipal.from_secret_data({**base, "clientSecret": b"s"}).client_secret == "s"
    assert ServicePrincipal.from_secret_data({**base, "clientCertificate": PEM.encode()}).client_certificate
    for missing in ("tenantId", "clientId"):
        with pytest.raises(SecretInvalid, match=missing):
            ServicePrincipal.from_secret_data({k: v for k, v in {**base, "clientSecret": b"s"}.items() if k != missing})
    with pytest.raises(SecretInvalid, match="clientSecret or clientCertificate"):
        ServicePrincipal.from_secret_data(base)
    with pytest.raises(SecretInvalid, match="not PEM"):
        ServicePrincipal.from_secret_data({**base, "clientCertificate": b"not a certificate"})


async def test_with_both_the_certificate_is_used():
    from azure.identity.aio import CertificateCredential

    identity = ServicePrincipal.from_secret_data(
        {"tenantId": b"t", "clientId": b"c", "clientSecret": b"s", "clientCertificate": PEM.encode()}
    )
    connections = ConnectionPool(None)
    credential = credentials.make_credential(credentials.AzureSettings(), identity, connections=connections)
    try:
        assert isinstance(credential, CertificateCredential)
    finally:
        await credential.close()
        await connections.close()


@pytest.mark.parametrize(
    "value, problem",
    [
        pytest.param(self_signed()[1], "holds no private key", id="certificate-without-its-key"),
        pytest.param(encrypted_bundle(), "encrypted private key", id="encrypted-key"),
    ],
)
def test_a_certificate_azure_identity_cannot_use_is_refused_where_the_secret_is_read(value, problem):
    """The page promises CredentialsSecretInvalid for these, naming the key and what is wrong."""
    with pytest.raises(SecretInvalid, match=problem) as refused:
        ServicePrincipal.from_secret_data({"tenantId": b"t", "clientId": b"c", "clientCertificate": value.encode()})
    assert "clientCertificate" in str(refused.value) and "BEGIN" not in str(refused.value)
    assert "lacks its private key, or whose key is encrypted" not in DOC
    assert "CredentialsSecretInvalid" in DOC


def test_secret_values_never_show_in_repr():
    identity = ServicePrincipal("t", "c", client_secret="hunter2-secret")
    assert "hunter2" not in repr(identity)


def values_paths(data, prefix=""):
    for key, value in data.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, dict):
            yield from values_paths(value, path + ".")


def test_every_chart_value_named_exists():
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    known = set(values_paths(values))
    named = set()
    for token in re.findall(r"`([a-zA-Z]+(?:\.[a-zA-Z]+)+)`", DOC):
        if token.split(".")[0] in values:
            named.add(token)
    # shorthand like `.existingConfigMap` after `azure.caBundle.pem` refers to a sibling
    for sibling in re.findall(r"`\.([a-zA-Z]+)`", DOC):
        named.add(f"azure.caBundle.{sibling}")
    assert named, "no chart values found in the page"
    assert named <= known, sorted(named - known)


def test_chart_values_become_the_documented_variables():
    values = {
        "azure": {
            "armEndpoint": "https://management.usgovcloudapi.net",
            "authorityHost": "https://login.microsoftonline.us",
            "caBundle": {"existingSecret": "corp-ca", "key": "bundle.pem"},
            "credentials": {"existingSecret": "asr-operator-sp"},
        }
    }
    operator = container(render(values))
    env = {entry["name"]: entry.get("value") for entry in operator["env"]}
    assert env["ASR_AUTOUPDATE_ARM_ENDPOINT"] == "https://management.usgovcloudapi.net"
    assert env["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.us"
    assert env["ASR_AUTOUPDATE_CA_BUNDLE"].endswith("/bundle.pem")
    assert operator["envFrom"] == [{"secretRef": {"name": "asr-operator-sp", "optional": False}}]
    for name, _, _, _ in [row for row in markdown_table(DOC, "variable")]:
        assert name.strip("`") in env or "extraEnv" in DOC, name


def test_workload_identity_values_label_the_pod_and_annotate_the_service_account():
    client = "0b1f6c35-2f0e-4d8a-9d6b-5e7a3c1d9f42"
    tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    manifests = render({"workloadIdentity": {"enabled": True, "clientId": client, "tenantId": tenant}})
    pod = one(manifests, "Deployment")["spec"]["template"]["metadata"]
    assert pod["labels"]["azure.workload.identity/use"] == "true"
    annotations = one(manifests, "ServiceAccount")["metadata"]["annotations"]
    assert annotations == {"azure.workload.identity/client-id": client, "azure.workload.identity/tenant-id": tenant}
    for text in (
        'azure.workload.identity/use: "true"',
        "azure.workload.identity/client-id",
        "azure.workload.identity/tenant-id",
    ):
        assert text in DOC


def test_rbac_modes_grant_get_on_secrets_only():
    def secret_rules(manifests):
        return [
            rule
            for m in manifests
            if m["kind"] in ("Role", "ClusterRole")
            for rule in m["rules"]
            if "secrets" in rule["resources"]
        ]

    assert secret_rules(render()) == []
    for values in (
        {"rbac": {"credentialsSecrets": {"namespaces": ["team-a"]}}},
        {"rbac": {"credentialsSecrets": {"allNamespaces": True}}},
        {"watchNamespaces": ["team-a"]},
    ):
        rules = secret_rules(render(values))
        assert rules and all(rule["verbs"] == ["get"] for rule in rules), values


def test_rbac_message_is_the_codes():
    """What the operator says when the API server refuses the Secret's read (tests/unit/test_credentials_secret.py
    drives that refusal) is what the doc tells people to look for."""
    from tests.unit.test_credentials_secret import REFUSED_BY_RBAC

    assert REFUSED_BY_RBAC == "cannot be read by the operator (RBAC)"
    assert REFUSED_BY_RBAC in " ".join(DOC.split())


def test_role_table_names_real_spec_fields_and_values():
    from tests.docs.test_docs_common import spec_schema

    spec = spec_schema()
    for field, value in re.findall(r"`(\w+): (\w+)`", DOC):
        assert field in spec["properties"], field
        schema = spec["properties"][field]
        if "enum" in schema:
            assert value in schema["enum"], (field, value)
        elif schema.get("type") == "boolean":
            assert value in ("true", "false"), (field, value)
