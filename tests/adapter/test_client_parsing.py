"""The adapter's pure parts: settings, identities, wire -> port parsing, names and messages (no network)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta, timezone

import pytest

from asr_autoupdate.api.reasons import Reason, RetryKind
from asr_autoupdate.azure import errors, port, sdk_errors, transport, wire
from asr_autoupdate.azure.credentials import AzureSettings, SecretInvalid, ServicePrincipal, make_credential
from tests.pem import encrypted_bundle, self_signed

UTC = UTC


# --- settings ---------------------------------------------------------------------------------------


def test_settings_defaults_are_public_azure() -> None:
    settings = AzureSettings()
    assert settings.arm_endpoint == "https://management.azure.com"
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.scopes == ("https://management.azure.com/.default",)
    assert settings.instance_discovery_disabled is False
    assert settings.ca_bundle is None


@pytest.mark.parametrize(
    "reason, environ, expected",
    [
        ("nothing set: public cloud", {}, AzureSettings()),
        (
            "sandbox: endpoint, authority and CA",
            {
                "ASR_AUTOUPDATE_ARM_ENDPOINT": "https://127.0.0.1:8443/",
                "AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443",
                "ASR_AUTOUPDATE_CA_BUNDLE": "/tmp/ca.pem",
            },
            AzureSettings(
                arm_endpoint="https://127.0.0.1:8443",
                authority_host="https://127.0.0.1:8443",
                ca_bundle="/tmp/ca.pem",
            ),
        ),
        (
            "explicit scope and discovery switch",
            {
                "ASR_AUTOUPDATE_ARM_SCOPE": "https://management.core.windows.net/.default",
                "ASR_AUTOUPDATE_DISABLE_INSTANCE_DISCOVERY": "true",
                "ASR_AUTOUPDATE_LRO_POLLING_INTERVAL": "5",
                "ASR_AUTOUPDATE_READ_TIMEOUT": "2.5",
            },
            AzureSettings(
                credential_scopes=("https://management.core.windows.net/.default",),
                disable_instance_discovery=True,
                polling_interval=5.0,
                read_timeout=2.5,
            ),
        ),
        (
            "authority without a scheme gets https",
            {"AZURE_AUTHORITY_HOST": "login.microsoftonline.us"},
            AzureSettings(authority_host="https://login.microsoftonline.us"),
        ),
    ],
)
def test_settings_from_env(reason: str, environ: dict[str, str], expected: AzureSettings) -> None:
    assert AzureSettings.from_env(environ) == expected, reason


@pytest.mark.parametrize(
    "reason, authority, disabled",
    [
        ("public cloud validates itself", "https://login.microsoftonline.com", False),
        ("US government cloud", "https://login.microsoftonline.us", False),
        ("China cloud", "https://login.chinacloudapi.cn", False),
        ("the sandbox or Azure Stack: no discovery call leaves", "https://127.0.0.1:8443", True),
    ],
)
def test_instance_discovery_follows_the_authority(reason: str, authority: str, disabled: bool) -> None:
    assert AzureSettings(authority_host=authority).instance_discovery_disabled is disabled, reason


def test_scope_follows_a_sovereign_endpoint() -> None:
    settings = AzureSettings(arm_endpoint="https://management.usgovcloudapi.net/")
    assert settings.scopes == ("https://management.usgovcloudapi.net/.default",)


@pytest.mark.parametrize(
    "reason, settings",
    [
        ("plain http would send tokens in clear", {"arm_endpoint": "http://127.0.0.1:8080"}),
        ("ftp authority", {"authority_host": "ftp://login"}),
        ("bad boolean", "discovery"),
        ("a read timeout of zero would fail every request", {"read_timeout": 0}),
    ],
)
def test_settings_refuse_bad_values(reason: str, settings: object) -> None:
    with pytest.raises(ValueError):
        if settings == "discovery":
            AzureSettings.from_env({"ASR_AUTOUPDATE_DISABLE_INSTANCE_DISCOVERY": "maybe"})
        else:
            AzureSettings(**settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reason, ca_bundle, environ, expected",
    [
        (
            "the operator's setting comes first",
            "/ca/operator.pem",
            {"REQUESTS_CA_BUNDLE": "/ca/requests.pem", "SSL_CERT_FILE": "/ca/openssl.pem"},
            transport.Trust(path="/ca/operator.pem"),
        ),
        (
            "then REQUESTS_CA_BUNDLE",
            None,
            {"REQUESTS_CA_BUNDLE": "/ca/requests.pem", "SSL_CERT_FILE": "/ca/openssl.pem"},
            transport.Trust(path="/ca/requests.pem"),
        ),
        (
            "then OpenSSL's defaults, with the variables they read",
            None,
            {"REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": "/ca/openssl.pem", "SSL_CERT_DIR": "/ca/dir"},
            transport.Trust(default_file="/ca/openssl.pem", default_dir="/ca/dir"),
        ),
        ("nothing set: the system trust store", None, {}, transport.Trust()),
    ],
)
def test_which_cas_are_trusted(
    reason: str, ca_bundle: str | None, environ: dict[str, str], expected: transport.Trust
) -> None:
    assert transport.trust(ca_bundle, environ) == expected, reason


def test_one_tls_context_per_ca_source(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(self_signed("a-private-ca")[1])
    context = transport.ssl_context(transport.Trust(path=str(ca)))
    assert transport.ssl_context(transport.Trust(path=str(ca))) is context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509"] == 1, "that file's certificate alone, not the system's"
    assert transport.ssl_context(transport.Trust(path=str(tmp_path))) is not context  # a directory: capath
    assert transport.ssl_context(transport.Trust()) is not context


# --- identities -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason, data, error",
    [
        ("secret", {"tenantId": "t", "clientId": "c", "clientSecret": "s"}, None),
        (
            "certificate as bytes",
            {"tenantId": "t", "clientId": "c", "clientCertificate": self_signed()[0].encode()},
            None,
        ),
        ("no tenant", {"clientId": "c", "clientSecret": "s"}, "tenantId"),
        ("no client", {"tenantId": "t", "clientSecret": "s"}, "clientId"),
        (
            "tenant that is no tenant ID",
            {"tenantId": "not a tenant!", "clientId": "c", "clientSecret": "s"},
            "key tenantId is not a tenant ID",
        ),
        (
            "tenant as an emoji",
            {"tenantId": "🚀", "clientId": "c", "clientSecret": "s"},
            "key tenantId is not a tenant",
        ),
        (
            "tenant as a path",
            {"tenantId": "t/../x", "clientId": "c", "clientSecret": "s"},
            "key tenantId is not a tenant",
        ),
        ("neither secret nor certificate", {"tenantId": "t", "clientId": "c"}, "clientSecret or clientCertificate"),
        ("blank secret", {"tenantId": "t", "clientId": "c", "clientSecret": "  "}, "clientSecret"),
        ("certificate not PEM", {"tenantId": "t", "clientId": "c", "clientCertificate": "abc"}, "not PEM"),
        (
            "certificate without its key",
            {"tenantId": "t", "clientId": "c", "clientCertificate": self_signed()[1]},
            "holds no private key",
        ),
        (
            "key without its certificate",
            {"tenantId": "t", "clientId": "c", "clientCertificate": self_signed()[2]},
            "holds no certificate",
        ),
        (
            "encrypted key",
            {"tenantId": "t", "clientId": "c", "clientCertificate": encrypted_bundle()},
            "encrypted private key",
        ),
        (
            "garbled PEM",
            {
                "tenantId": "t",
                "clientId": "c",
                "clientCertificate": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            },
            "cannot be read",
        ),
    ],
)
def test_service_principal_from_secret(reason: str, data: dict, error: str | None) -> None:
    if error is None:
        identity = ServicePrincipal.from_secret_data(data)
        assert identity.tenant_id == "t" and identity.client_id == "c", reason
    else:
        with pytest.raises(SecretInvalid, match=error):
            ServicePrincipal.from_secret_data(data)


@pytest.mark.parametrize(
    "tenant",
    ["72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso.onmicrosoft.com", "t", "not a tenant!", "🚀", "a/b", "x\ty"],
)
async def test_an_identity_the_secret_check_accepts_makes_a_credential(tenant: str) -> None:
    """What `from_secret_data` lets through, azure-identity takes: otherwise a credential's ValueError would be an
    InternalError (and a traceback) on every pass instead of CredentialsSecretInvalid."""
    try:
        identity = ServicePrincipal.from_secret_data({"tenantId": tenant, "clientId": "c", "clientSecret": "s"})
    except SecretInvalid:
        return
    connections = transport.ConnectionPool(None)
    try:
        credential = make_credential(AzureSettings(), identity, connections=connections)
        await credential.close()
    finally:
        await connections.close()


def test_service_principal_repr_hides_secret_material() -> None:
    identity = ServicePrincipal("t", "c", client_secret="hunter2-secret-value")
    assert "hunter2" not in repr(identity)
    assert hash(identity) == hash(ServicePrincipal("t", "c", client_secret="hunter2-secret-value"))


# --- names ------------------------------------------------------------------------------------------


def test_role_assignment_name_is_deterministic_and_case_blind() -> None:
    scope = "/subscriptions/S/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
    first = wire.role_assignment_name(scope, "P", port.CONTRIBUTOR_ROLE)
    assert first == wire.role_assignment_name(scope.upper() + "/", "p", port.CONTRIBUTOR_ROLE.upper())
    assert first != wire.role_assignment_name(scope, "P", port.OWNER_ROLE)
    assert first != wire.role_assignment_name(scope + "x", "P", port.CONTRIBUTOR_ROLE)


def test_parse_arm_id_is_case_blind_on_keys() -> None:
    parts = wire.parse_arm_id(
        "/Subscriptions/S/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
        "/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectionContainerMappings/m"
    )
    assert (parts["subscriptions"], parts["resourcegroups"], parts["vaults"]) == ("S", "rg", "v")
    assert parts["replicationprotectioncontainermappings"] == "m"


# --- times ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reason, value, expected",
    [
        ("Z", "2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC)),
        ("offset is converted to UTC", "2030-01-01T01:00:00+01:00", datetime(2030, 1, 1, tzinfo=UTC)),
        (
            "seven fractional digits",
            "2030-01-01T00:00:00.1234567+00:00",
            datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
        ),
        ("naive is UTC", "2030-01-01T00:00:00", datetime(2030, 1, 1, tzinfo=UTC)),
        ("DateTime.MinValue means never", "0001-01-01T00:00:00", None),
        ("garbage", "yesterday", None),
        ("absent", None, None),
    ],
)
def test_parse_time(reason: str, value: str | None, expected: datetime | None) -> None:
    assert wire.parse_time(value) == expected, reason


def test_format_time_is_utc_z() -> None:
    local = datetime(2030, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert wire.format_time(local) == "2030-01-01T00:00:00Z"


# --- wire -> port -----------------------------------------------------------------------------------


def test_parse_mapping_reads_a2a_details_and_health() -> None:
    mapping = wire.parse_mapping(
        {
            "id": "/Subscriptions/S/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/x/m1",
            "name": "m1",
            "properties": {
                "state": "Paired",
                "healthErrorDetails": [
                    {"errorCode": "150", "summaryMessage": "Run As expired", "recommendedAction": "Renew"},
                    {"errorCode": "151", "errorMessage": "detail", "summaryMessage": "summary"},
                ],
                "providerSpecificDetails": {
                    "instanceType": "A2A",
                    "agentAutoUpdateStatus": "Enabled",
                    "automationAccountArmId": "/subscriptions/S/x/aa",
                    "automationAccountAuthenticationType": "RunAsAccount",
                    "scheduleName": "m1_guid",
                    "jobScheduleName": "guid",
                },
            },
        }
    )
    assert mapping.manageable and mapping.auto_update == "Enabled"
    assert (mapping.schedule_name, mapping.job_schedule_name) == ("m1_guid", "guid")
    assert mapping.authentication_type == "RunAsAccount"
    assert mapping.health_errors == (
        port.HealthError("150", "Run As expired", "Renew"),
        port.HealthError("151", "detail", ""),
    )


def test_parse_mapping_of_another_provider() -> None:
    mapping = wire.parse_mapping(
        {
            "id": "i",
            "name": "n",
            "properties": {"state": "Paired", "providerSpecificDetails": {"instanceType": "VMwareCbt"}},
        }
    )
    assert not mapping.manageable and mapping.auto_update is None and mapping.health_errors == ()


def test_parse_protected_item_agent_fields() -> None:
    item = wire.parse_protected_item(
        {
            "id": "i",
            "name": "vm1",
            "properties": {
                "replicationHealth": "Critical",
                "providerSpecificDetails": {
                    "instanceType": "A2A",
                    "agentVersion": "9.62.7172.1",
                    "isReplicationAgentUpdateRequired": True,
                    "isAgentUpgradeInProgress": False,
                    "agentExpiryDate": "2031-05-01T00:00:00Z",
                    "agentCertificateExpiryDate": "2030-12-01T00:00:00Z",
                },
            },
        }
    )
    assert item == port.ProtectedItem(
        id="i",
        name="vm1",
        agent_version="9.62.7172.1",
        update_required=True,
        upgrade_in_progress=False,
        agent_expiry=datetime(2031, 5, 1, tzinfo=UTC),
        certificate_expiry=datetime(2030, 12, 1, tzinfo=UTC),
        replication_health="Critical",
    )


def test_parse_schedule_week_and_enabled_flag() -> None:
    schedule = wire.parse_schedule(
        {
            "name": "s",
            "properties": {
                "startTime": "2030-01-01T00:00:00+01:00",
                "frequency": "Week",
                "interval": 2,
                "timeZone": "Europe/Berlin",
                "advancedSchedule": {"weekDays": ["Sunday"]},
                "isEnabled": False,
                "nextRun": "2030-01-05T23:00:00Z",
            },
        }
    )
    assert schedule.week_days == ("Sunday",) and schedule.interval == 2 and schedule.is_enabled is False
    assert schedule.start_time == datetime(2029, 12, 31, 23, tzinfo=UTC)


def test_parse_job() -> None:
    job = wire.parse_job(
        {
            "id": "/x/jobs/j",
            "name": "j",
            "properties": {
                "jobId": "guid",
                "runbook": {"name": port.SITE_RECOVERY_RUNBOOK},
                "status": "Completed",
                "startTime": "2030-01-01T00:00:05Z",
                "endTime": "2030-01-01T00:01:05Z",
            },
        }
    )
    assert job.id == "guid" and job.runbook_name == port.SITE_RECOVERY_RUNBOOK
    assert job.end_time - job.start_time == timedelta(minutes=1)


# --- messages ---------------------------------------------------------------------------------------


def test_messages_are_one_line_without_tokens_or_secrets() -> None:
    raw = "line one\nAuthorization: Bearer abc.def.ghi and eyJhbGciOi.eyJzdWIiOiJ4.sig secret=s3cr3t-value"
    text = sdk_errors.one_line(raw, secrets=("s3cr3t-value",))
    assert "\n" not in text and "abc.def" not in text and "eyJ" not in text and "s3cr3t" not in text


def test_azure_enums_arrive_in_one_spelling_whatever_case_azure_used():
    mapping = wire.parse_mapping(
        {
            "id": "/m1",
            "name": "m1",
            "properties": {
                "state": "paired",
                "providerSpecificDetails": {
                    "instanceType": "a2a",
                    "agentAutoUpdateStatus": "enabled",
                    "automationAccountAuthenticationType": "systemAssignedIdentity",
                },
            },
        }
    )
    assert (mapping.instance_type, mapping.state, mapping.auto_update, mapping.authentication_type) == (
        "A2A",
        "Paired",
        "Enabled",
        "SystemAssignedIdentity",
    )
    assert mapping.manageable
    schedule = wire.parse_schedule(
        {"name": "s", "properties": {"frequency": "week", "advancedSchedule": {"weekDays": ["sunday", "MONDAY"]}}}
    )
    assert (schedule.frequency, schedule.week_days) == ("Week", ("Sunday", "Monday"))
    unknown = wire.parse_mapping({"properties": {"providerSpecificDetails": {"agentAutoUpdateStatus": "Paused"}}})
    assert unknown.auto_update == "Paused" and unknown.instance_type is None


# --- Site Recovery operations, followed by hand -------------------------------------------------------

VAULT_ID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
ARM = "https://management.azure.com"


def test_a_mapping_update_answer_says_where_to_follow_it() -> None:
    status_url = f"{ARM}{VAULT_ID}/replicationOperationStatus/op1?api-version=2025-08-01"
    answer = wire.parse_mapping_update(
        202, {"Azure-AsyncOperation": status_url, "Location": f"{ARM}/results", "Retry-After": "30"}, None
    )
    assert answer == port.MappingUpdate(status_url=status_url, retry_after=30.0)
    location_only = wire.parse_mapping_update(202, {"location": f"{ARM}/results"}, None)
    assert location_only.status_url == f"{ARM}/results" and location_only.retry_after is None
    done = wire.parse_mapping_update(200, {}, {"id": "m", "name": "m", "properties": {"state": "Paired"}})
    assert done.status_url is None and done.mapping is not None and done.mapping.name == "m"
    with pytest.raises(errors.TransientError):
        wire.parse_mapping_update(202, {}, None)


@pytest.mark.parametrize(
    "body, running, succeeded, failed",
    [
        ({"status": "InProgress"}, True, False, False),
        ({"status": "NotStarted"}, True, False, False),
        ({"status": "Validating"}, True, False, False),  # unknown: still running, never a success
        ({}, True, False, False),
        ({"status": "Succeeded"}, False, True, False),
        ({"status": "PartiallySucceeded"}, False, True, False),
        ({"status": "CompletedWithInformation"}, False, True, False),
        ({"status": "failed", "error": {"code": "E1", "message": "m"}}, False, False, True),
        ({"status": "Canceled"}, False, False, True),
    ],
)
def test_operation_statuses(body, running, succeeded, failed) -> None:
    answer = wire.parse_operation_status({"Retry-After": "15"}, body)
    assert (answer.running, answer.succeeded, answer.failed, answer.retry_after) == (running, succeeded, failed, 15.0)


def test_a_failed_operation_carries_its_code() -> None:
    answer = wire.parse_operation_status({}, {"status": "Failed", "error": {"code": "E1", "message": "broken"}})
    assert (answer.error_code, answer.error_message) == ("E1", "broken")


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(f"{ARM}{VAULT_ID}/replicationOperationStatus/op1?api-version=x", id="the-vaults-own"),
        pytest.param(
            f"{ARM}{VAULT_ID.replace('/subscriptions/', '/Subscriptions/')}/replicationOperationStatus/op1",
            id="any-case",
        ),
    ],
)
def test_operation_addresses_that_are_followed(address) -> None:
    wire.check_operation_address(address, ARM, VAULT_ID)


@pytest.mark.parametrize(
    "address",
    [
        pytest.param(f"https://attacker.example{VAULT_ID}/replicationOperationStatus/op1", id="another-host"),
        pytest.param(f"http://management.azure.com{VAULT_ID}/replicationOperationStatus/op1", id="not-https"),
        pytest.param(f"{ARM}{VAULT_ID}2/replicationOperationStatus/op1", id="another-vault"),
        pytest.param(f"{ARM}{VAULT_ID}/replicationOperationStatus/op1/../../../other", id="climbing-out"),
        pytest.param(
            f"{ARM}/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments", id="not-an-operation"
        ),
        pytest.param(
            f"https://management.azure.com.attacker.example{VAULT_ID}/replicationOperationStatus/op1",
            id="lookalike-host",
        ),
    ],
)
def test_operation_addresses_that_are_refused(address) -> None:
    with pytest.raises(errors.InvalidRequestError) as refused:
        wire.check_operation_address(address, ARM, VAULT_ID)
    assert refused.value.code == "UntrustedOperationAddress"


def test_site_recoverys_placeholder_time_means_never() -> None:
    assert wire.parse_time("1753-01-01T01:01:01Z") is None
    assert wire.parse_time("1754-01-01T00:00:00Z") is not None


def test_fabrics_and_a_mappings_source_fabric() -> None:
    fabric = wire.parse_fabric(
        {"name": "asr-a2a-default-uksouth", "properties": {"customDetails": {"location": "uksouth"}}}
    )
    assert fabric == port.Fabric("asr-a2a-default-uksouth", "uksouth")
    mapping = wire.parse_mapping(
        {
            "id": f"{VAULT_ID}/replicationFabrics/asr-a2a-default-uksouth/replicationProtectionContainers/c/replicationProtectionContainerMappings/m",
            "name": "m",
        }
    )
    assert mapping.fabric_name == "asr-a2a-default-uksouth"


class _Answer:
    """The authority's HTTP answer as azure-identity attaches it to its error."""

    def __init__(self, status_code: int):
        self.status_code = status_code
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.request = type("Request", (), {"url": "https://login.example/tenant/oauth2/v2.0/token"})()


@pytest.mark.parametrize(
    "reason, message, status, expected",
    [
        (
            "a refused secret",
            "Microsoft Entra ID error '(invalid_client) AADSTS7000215: bad'",
            401,
            ("TokenRequestFailed", errors.AuthenticationError),
        ),
        (
            "no identity configured",
            "ChainedTokenCredential failed: EnvironmentCredential authentication unavailable",
            0,
            ("TokenRequestFailed", errors.AuthenticationError),
        ),
        (
            "the authority's 503",
            "Microsoft Entra ID error '{'error': {'code': 'ServiceUnavailable'}}'",
            503,
            ("AuthorityUnavailable", errors.TransientError),
        ),
        (
            "the chain keeps only the text of a 500",
            "EnvironmentCredential: Microsoft Entra ID error 'Injected fault: HTTP 500.'",
            0,
            ("AuthorityUnavailable", errors.TransientError),
        ),
        (
            "a dropped connection",
            "EnvironmentCredential: Server disconnected",
            0,
            ("AuthorityUnavailable", errors.TransientError),
        ),
        (
            "a read timeout",
            "EnvironmentCredential: Timeout on reading data from socket",
            0,
            ("AuthorityUnavailable", errors.TransientError),
        ),
        (
            "the authority's 429",
            "Microsoft Entra ID error '{'error': {'code': 'Throttled'}}'",
            429,
            ("TokenRequestThrottled", errors.ThrottledError),
        ),
        (
            "the chain keeps only the text of a 429",
            "EnvironmentCredential: Microsoft Entra ID error 'Injected fault: HTTP 429.'",
            0,
            ("TokenRequestThrottled", errors.ThrottledError),
        ),
    ],
)
def test_a_token_the_authority_refused_is_a_person_s_problem_one_it_failed_to_issue_is_waited_out(
    reason: str, message: str, status: int, expected: tuple[str, type]
) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    failure = ClientAuthenticationError(message=message, response=_Answer(status) if status else None)
    error = sdk_errors.convert_error(failure, "get vault")
    assert (error.code, type(error)) == expected, reason
    if isinstance(error, errors.TransientError):
        assert error.reason in (Reason.AZURE_UNAVAILABLE, Reason.PROGRESSING), reason
        assert error.kind in (RetryKind.TRANSIENT, RetryKind.WAIT), reason
    else:
        assert error.reason is Reason.AUTHENTICATION_FAILED, reason
