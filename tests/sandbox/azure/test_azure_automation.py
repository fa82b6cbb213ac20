"""Microsoft.Automation through the real async SDK: accounts, runbooks, schedules, links, assets and jobs."""

from __future__ import annotations

import base64
import datetime

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
from cryptography.x509.oid import NameOID

RG = "rg-asr-weu"
ACCOUNT = "aa-weu-asr"
ASR_RUNBOOK = "MS-SR-Update-MobilityServiceForA2AVirtualMachines"


def emulated_now(sandbox) -> datetime.datetime:
    return datetime.datetime.fromisoformat(sandbox.admin("GET", "/clock")["now"].replace("Z", "+00:00"))


def wire(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def create_account(azure, name: str = ACCOUNT, identity: str = "SystemAssigned"):
    return await azure.automation.automation_account.create_or_update(
        RG, name, {"location": "westeurope", "identity": {"type": identity}, "properties": {"sku": {"name": "Basic"}}}
    )


async def create_schedule(azure, sandbox, name: str = "nightly", **properties):
    start = emulated_now(sandbox) + datetime.timedelta(hours=1)
    body = {"startTime": wire(start), "frequency": "Day", "interval": 1, "timeZone": "Europe/Amsterdam", **properties}
    return await azure.automation.schedule.create_or_update(RG, ACCOUNT, name, {"name": name, "properties": body})


async def test_account_lifecycle_with_system_identity(sandbox, azure) -> None:
    created = await create_account(azure)
    assert created.identity.type == "SystemAssigned"
    assert created.identity.principal_id and created.identity.tenant_id == sandbox.info["tenantId"]
    assert created.properties.state == "Ok" and created.properties.sku.name == "Basic"

    fetched = await azure.automation.automation_account.get(RG, ACCOUNT)
    assert fetched.id == created.id
    updated = await azure.automation.automation_account.update(RG, ACCOUNT, {"tags": {"owner": "dr-team"}})
    assert updated.tags == {"owner": "dr-team"}
    in_group = [account.name async for account in azure.automation.automation_account.list_by_resource_group(RG)]
    everywhere = [account.name async for account in azure.automation.automation_account.list()]
    assert in_group == [ACCOUNT] and everywhere == [ACCOUNT]
    principals = {p["objectId"]: p for p in sandbox.state()["principals"]}
    assert principals[created.identity.principal_id]["kind"] == "ManagedIdentity"

    await azure.automation.automation_account.delete(RG, ACCOUNT)
    with pytest.raises(ResourceNotFoundError) as raised:
        await azure.automation.automation_account.get(RG, ACCOUNT)
    assert raised.value.error.code == "ResourceNotFound"
    assert raised.value.error.message == (
        f"The Resource 'Microsoft.Automation/automationAccounts/{ACCOUNT}' under resource group '{RG}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix"
    )
    assert created.identity.principal_id not in {p["objectId"] for p in sandbox.state()["principals"]}


async def test_unknown_resource_group_is_resource_group_not_found(azure) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        await azure.automation.automation_account.get("rg-nowhere", ACCOUNT)
    assert raised.value.error.code == "ResourceGroupNotFound"
    assert raised.value.error.message == "Resource group 'rg-nowhere' could not be found."


async def test_ids_are_case_insensitive_and_keep_their_creation_casing(azure) -> None:
    created = await create_account(azure, name="AA-Mixed-Case")
    fetched = await azure.automation.automation_account.get(RG.upper(), "aa-mixed-case")
    assert fetched.name == "AA-Mixed-Case" and fetched.id == created.id
    vault = await azure.vaults.vaults.get("RG-ASR-WEU", "RSV-WEU-PROD")
    assert vault.name == "rsv-weu-prod"
    mapping = await azure.site_recovery.replication_protection_container_mappings.get(
        "rg-asr-weu",
        "rsv-weu-prod",
        "ASR-A2A-DEFAULT-NORTHEUROPE",
        "asr-a2a-default-northeurope-CONTAINER",
        "NorthEurope-WestEurope-24-Hour-Retention-Policy",
    )
    assert mapping.id.startswith("/Subscriptions/")
    assert mapping.name == "northeurope-westeurope-24-hour-retention-policy"


async def test_runbooks_list_only_the_accounts_own(azure) -> None:
    await create_account(azure)
    runbook = await azure.automation.runbook.create_or_update(
        RG,
        ACCOUNT,
        "Restart-AppTier",
        {
            "name": "Restart-AppTier",
            "location": "westeurope",
            "properties": {"runbookType": "PowerShell72", "logProgress": False, "logVerbose": False},
        },
    )
    assert runbook.properties.state == "New"
    assert (await azure.automation.runbook.get(RG, ACCOUNT, "restart-apptier")).name == "Restart-AppTier"
    assert [r.name async for r in azure.automation.runbook.list_by_automation_account(RG, ACCOUNT)] == [
        "Restart-AppTier"
    ]
    with pytest.raises(ResourceNotFoundError):
        await azure.automation.runbook.get(RG, ACCOUNT, ASR_RUNBOOK)


async def test_schedule_must_start_at_least_five_minutes_ahead(sandbox, azure) -> None:
    await create_account(azure)
    soon = emulated_now(sandbox) + datetime.timedelta(minutes=4)
    with pytest.raises(HttpResponseError) as raised:
        await azure.automation.schedule.create_or_update(
            RG, ACCOUNT, "too-soon", {"name": "too-soon", "properties": {"startTime": wire(soon), "frequency": "Day"}}
        )
    assert raised.value.status_code == 400
    assert "The start time of the schedule must be at least 5 minutes after" in raised.value.error.message


async def test_schedule_put_patch_get_list_delete(sandbox, azure) -> None:
    await create_account(azure)
    created = await create_schedule(azure, sandbox)
    assert created.properties.is_enabled is True
    assert created.properties.time_zone == "Europe/Amsterdam"
    assert created.properties.next_run == created.properties.start_time
    assert created.properties.start_time_offset_minutes in (60.0, 120.0)

    paused = await azure.automation.schedule.update(
        RG, ACCOUNT, "nightly", {"name": "nightly", "properties": {"isEnabled": False}}
    )
    assert paused.properties.is_enabled is False
    resumed = await azure.automation.schedule.update(
        RG, ACCOUNT, "nightly", {"name": "nightly", "properties": {"isEnabled": True}}
    )
    assert resumed.properties.is_enabled is True

    moved = await create_schedule(
        azure,
        sandbox,
        startTime=wire(emulated_now(sandbox) + datetime.timedelta(days=1)),
        frequency="Week",
        advancedSchedule={"weekDays": ["Sunday"]},
    )
    assert moved.properties.frequency == "Week"
    assert moved.properties.next_run.weekday() == 6  # reported in the schedule's own zone
    assert (await azure.automation.schedule.get(RG, ACCOUNT, "NIGHTLY")).properties.frequency == "Week"
    assert [s.name async for s in azure.automation.schedule.list_by_automation_account(RG, ACCOUNT)] == ["nightly"]
    await azure.automation.schedule.delete(RG, ACCOUNT, "nightly")
    with pytest.raises(ResourceNotFoundError):
        await azure.automation.schedule.get(RG, ACCOUNT, "nightly")


async def test_schedule_put_on_existing_can_be_a_conflict(sandbox, azure) -> None:
    """The SDK accepts 409 on schedule PUT and returns the error body as a Schedule without properties."""
    await create_account(azure)
    await create_schedule(azure, sandbox)
    sandbox.admin("POST", "/config", {"schedulePutOnExisting": "conflict409"})
    answer = await create_schedule(azure, sandbox)
    assert answer.properties is None
    assert sandbox.requests()[-1]["status"] == 409


async def test_job_schedule_links_a_runbook_and_schedule_once(sandbox, azure) -> None:
    await create_account(azure)
    await create_schedule(azure, sandbox)
    await azure.automation.runbook.create_or_update(
        RG, ACCOUNT, "Report", {"location": "westeurope", "properties": {"runbookType": "Python3"}}
    )
    link_body = {"properties": {"schedule": {"name": "nightly"}, "runbook": {"name": "Report"}, "parameters": {}}}
    first = "0c4f2a8e-1b3d-4e5f-9a7b-2c6d8e0f1a3b"
    link = await azure.automation.job_schedule.create(RG, ACCOUNT, first, link_body)
    assert link.properties.job_schedule_id == first
    assert (link.properties.schedule.name, link.properties.runbook.name) == ("nightly", "Report")
    with pytest.raises(ResourceExistsError) as raised:
        await azure.automation.job_schedule.create(RG, ACCOUNT, "7e9a1c3b-5d2f-4a6e-8b0c-4f1e3a5c7d9b", link_body)
    assert raised.value.error.message == "A job schedule for the specified runbook and schedule already exists."

    assert (await azure.automation.job_schedule.get(RG, ACCOUNT, first)).name == first
    matching = [
        j.name
        async for j in azure.automation.job_schedule.list_by_automation_account(
            RG, ACCOUNT, filter="properties/runbook/name eq 'Report'"
        )
    ]
    other = [
        j.name
        async for j in azure.automation.job_schedule.list_by_automation_account(
            RG, ACCOUNT, filter="properties/runbook/name eq 'Nothing'"
        )
    ]
    assert (matching, other) == ([first], [])
    await azure.automation.job_schedule.delete(RG, ACCOUNT, first)
    with pytest.raises(ResourceNotFoundError):
        await azure.automation.job_schedule.get(RG, ACCOUNT, first)


def _pfx(days: int) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AzureRunAs")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    blob = pkcs12.serialize_key_and_certificates(b"runas", key, certificate, None, NoEncryption())
    return base64.b64encode(blob).decode(), certificate.fingerprint(hashes.SHA1()).hex().upper()


async def test_certificate_and_connection_assets(azure) -> None:
    await create_account(azure)
    base64_value, thumbprint = _pfx(days=365)
    certificate = await azure.automation.certificate.create_or_update(
        RG,
        ACCOUNT,
        "AzureRunAsCertificate",
        {"name": "AzureRunAsCertificate", "properties": {"base64Value": base64_value, "isExportable": False}},
    )
    assert certificate.properties.thumbprint == thumbprint
    assert certificate.properties.expiry_time > datetime.datetime.now(datetime.UTC)
    connection = await azure.automation.connection.create_or_update(
        RG,
        ACCOUNT,
        "AzureRunAsConnection",
        {
            "name": "AzureRunAsConnection",
            "properties": {
                "connectionType": {"name": "AzureServicePrincipal"},
                "fieldDefinitionValues": {
                    "ApplicationId": "a",
                    "TenantId": "t",
                    "CertificateThumbprint": thumbprint,
                    "SubscriptionId": "s",
                },
            },
        },
    )
    assert connection.properties.field_definition_values["CertificateThumbprint"] == thumbprint
    assert (
        await azure.automation.certificate.get(RG, ACCOUNT, "azurerunascertificate")
    ).name == "AzureRunAsCertificate"
    assert (
        await azure.automation.connection.get(RG, ACCOUNT, "AzureRunAsConnection")
    ).properties.connection_type.name == "AzureServicePrincipal"
    assert [c.name async for c in azure.automation.certificate.list_by_automation_account(RG, ACCOUNT)] == [
        "AzureRunAsCertificate"
    ]
    assert [c.name async for c in azure.automation.connection.list_by_automation_account(RG, ACCOUNT)] == [
        "AzureRunAsConnection"
    ]
    await azure.automation.certificate.delete(RG, ACCOUNT, "AzureRunAsCertificate")
    await azure.automation.connection.delete(RG, ACCOUNT, "AzureRunAsConnection")
    with pytest.raises(ResourceNotFoundError):
        await azure.automation.connection.get(RG, ACCOUNT, "AzureRunAsConnection")


async def test_jobs_run_for_the_configured_duration_and_filter(sandbox, azure) -> None:
    await create_account(azure)
    await azure.automation.runbook.create_or_update(
        RG, ACCOUNT, "Report", {"location": "westeurope", "properties": {"runbookType": "Python3"}}
    )
    job_id = "3b5d7f9a-1c2e-4a6b-8d0f-2e4a6c8e0b1d"
    started = await azure.automation.job.create(
        RG, ACCOUNT, job_id, {"properties": {"runbook": {"name": "Report"}, "parameters": {}}}
    )
    assert started.properties.status == "New" and started.properties.start_time is None
    assert started.properties.end_time is None
    sandbox.admin("POST", "/clock", {"advanceSeconds": 15 + 41})  # New and Activating, then the run
    finished = await azure.automation.job.get(RG, ACCOUNT, job_id)
    assert finished.properties.status == "Completed"
    assert (finished.properties.end_time - finished.properties.start_time) == datetime.timedelta(seconds=40)

    since = wire(finished.properties.start_time - datetime.timedelta(minutes=1))
    filters = {
        f"properties/runbook/name eq 'Report' and properties/startTime ge {since}": [job_id],
        "properties/status eq 'Completed'": [job_id],
        "properties/status eq 'Failed'": [],
        f"properties/endTime le {since}": [],
        f"properties/creationTime ge {since} and properties/runbook/name eq 'Other'": [],
    }
    for text, expected in filters.items():
        assert [
            j.properties.job_id async for j in azure.automation.job.list_by_automation_account(RG, ACCOUNT, filter=text)
        ] == expected, text


async def test_a_new_resource_group_can_be_put_and_used(sandbox, azure) -> None:
    """No resource-group SDK is installed; the management client's own pipeline sends the generic ARM call."""
    path = f"/subscriptions/{sandbox.subscription_a}/resourcegroups/rg-asr-automation?api-version=2021-04-01"
    response = await azure.automation.send_request(HttpRequest("PUT", path, json={"location": "westeurope"}))
    assert response.status_code == 201 and response.json()["name"] == "rg-asr-automation"
    again = await azure.automation.send_request(HttpRequest("GET", path.replace("resourcegroups", "resourceGroups")))
    assert again.status_code == 200
    account = await azure.automation.automation_account.create_or_update(
        "rg-asr-automation", "aa-shared", {"location": "westeurope", "properties": {"sku": {"name": "Free"}}}
    )
    assert account.id.endswith(
        "/resourceGroups/rg-asr-automation/providers/Microsoft.Automation/automationAccounts/aa-shared"
    )
