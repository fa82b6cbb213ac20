"""The `/_sandbox` admin API: state without secrets, reset, seeding, principals, clock, request log and config."""

from __future__ import annotations

import datetime

RG, VAULT = "rg-asr-weu", "rsv-weu-prod"


def test_state_shows_the_default_estate_and_no_secrets(sandbox) -> None:
    state = sandbox.state()
    assert [v["name"] for v in state["vaults"]] == ["rsv-weu-prod", "rsv-eus-prod", "rsv-sea-dr"]
    assert {v["location"] for v in state["vaults"]} == {"westeurope", "eastus", "southeastasia"}
    assert len({v["subscriptionId"] for v in state["vaults"]}) == 2
    assert all(len(v["protectedItems"]) >= 2 for v in state["vaults"])
    assert sandbox.info["clientSecret"] not in str(state)
    operator = next(p for p in state["principals"] if p["objectId"] == state["operatorObjectId"])
    assert operator["hasClientSecret"] is True and "clientSecret" not in operator
    owners = {
        a["scope"]
        for a in state["roleAssignments"]
        if a["principalId"] == state["operatorObjectId"] and a["roleName"] == "Owner"
    }
    assert owners == {f"/subscriptions/{s['subscriptionId']}" for s in sandbox.info["subscriptions"]}
    expiring = [
        i
        for v in state["vaults"]
        for i in v["protectedItems"]
        if datetime.datetime.fromisoformat(
            i["properties"]["providerSpecificDetails"]["agentExpiryDate"].replace("Z", "+00:00")
        )
        < datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    ]
    assert [i["properties"]["friendlyName"] for i in expiring] == ["vm-sql-01"]


def test_reset_restores_seed_clock_settings_and_clears_faults_and_log(sandbox) -> None:
    sandbox.admin("POST", "/clock", {"advanceSeconds": 86400})
    sandbox.admin("POST", "/config", {"pageSize": 1})
    sandbox.admin("POST", "/faults", {"status": 500})
    sandbox.admin("DELETE", f"/principals/{sandbox.state()['principals'][1]['objectId']}")
    sandbox.raw("GET", f"{sandbox.url}/subscriptions/{sandbox.subscription_a}")
    sandbox.admin("POST", "/reset")
    state = sandbox.state()
    assert state["clock"]["offsetSeconds"] == 0
    assert state["settings"]["pageSize"] == 100 and state["settings"]["lroRetryAfterSeconds"] == 0
    assert state["faults"] == [] and sandbox.requests() == []
    assert len(state["principals"]) == 2


def test_seed_adds_a_vault_with_a_non_a2a_mapping(sandbox) -> None:
    sandbox.admin(
        "POST",
        "/seed",
        {
            "vaults": [
                {
                    "subscriptionId": sandbox.subscription_b,
                    "resourceGroup": "rg-asr-jpe",
                    "name": "rsv-jpe-dr",
                    "location": "japaneast",
                    "fabrics": [
                        {
                            "name": "asr-a2a-default-japanwest",
                            "location": "japanwest",
                            "containers": [
                                {
                                    "name": "asr-a2a-default-japanwest-container",
                                    "mappings": [
                                        {
                                            "name": "japanwest-japaneast-24-hour-retention-policy",
                                            "target": "asr-a2a-default-japaneast/asr-a2a-default-japaneast-container",
                                            "state": "Paired",
                                            "agentAutoUpdateStatus": "Disabled",
                                        }
                                    ],
                                    "protectedItems": [
                                        {
                                            "friendlyName": "vm-jp-01",
                                            "agentVersion": "9.60.6956.1",
                                            "isReplicationAgentUpdateRequired": True,
                                            "agentExpiresInDays": 10,
                                        }
                                    ],
                                }
                            ],
                        },
                        {
                            "name": "asr-a2a-default-japaneast",
                            "location": "japaneast",
                            "containers": [{"name": "asr-a2a-default-japaneast-container"}],
                        },
                    ],
                }
            ]
        },
    )
    vault = next(v for v in sandbox.state()["vaults"] if v["name"] == "rsv-jpe-dr")
    assert vault["mappings"][0]["id"].startswith(f"/Subscriptions/{sandbox.subscription_b}/resourceGroups/rg-asr-jpe")
    assert vault["protectedItems"][0]["properties"]["providerSpecificDetails"]["agentVersion"] == "9.60.6956.1"

    status, body = sandbox.raw(
        "POST",
        sandbox.info["adminEndpoint"] + "/seed",
        {
            "vaults": [
                {
                    "subscriptionId": "00000000-0000-0000-0000-00000000dead",
                    "resourceGroup": "rg",
                    "name": "v",
                    "location": "westeurope",
                }
            ]
        },
    )
    assert status == 400 and "could not be found" in body["error"]


def test_clock_moves_forward_only(sandbox) -> None:
    before = sandbox.admin("GET", "/clock")
    after = sandbox.admin("POST", "/clock", {"advanceSeconds": 3600})
    assert after["offsetSeconds"] == 3600
    assert after["now"] > before["now"]
    status, body = sandbox.raw("POST", sandbox.info["adminEndpoint"] + "/clock", {"to": before["now"]})
    assert status == 400 and "forward" in body["error"]


def test_config_refuses_unknown_keys_and_bad_values(sandbox) -> None:
    for change in ({"pageSise": 2}, {"pageSize": 0}, {"schedulePutOnExisting": "merge"}, {"jobDurationSeconds": -1}):
        status, _body = sandbox.raw("POST", sandbox.info["adminEndpoint"] + "/config", change)
        assert status == 400, change
    assert sandbox.admin("POST", "/config", {"jobDurationSeconds": 90})["jobDurationSeconds"] == 90.0


def test_request_log_records_method_path_version_status_and_caller(sandbox) -> None:
    url = (
        f"{sandbox.url}/subscriptions/{sandbox.subscription_a}/resourceGroups/{RG}/providers/"
        f"Microsoft.RecoveryServices/vaults/{VAULT}?api-version=2099-01-01"
    )
    sandbox.raw("GET", url)
    [entry] = sandbox.requests()
    assert (entry["method"], entry["apiVersion"], entry["status"], entry["subscription"]) == (
        "GET",
        "2099-01-01",
        401,
        sandbox.subscription_a,
    )
    sandbox.admin("DELETE", "/requests")
    assert sandbox.requests() == []
    status, body = sandbox.raw("GET", sandbox.info["adminEndpoint"] + "/nothing-here")
    assert status == 404 and "no admin endpoint" in body["error"]


def test_principals_and_role_assignments_can_be_added_and_removed(sandbox) -> None:
    added = sandbox.admin("POST", "/principals", {"kind": "User", "displayName": "Sam Ops"})
    scope = f"/subscriptions/{sandbox.subscription_b}/resourceGroups/rg-asr-sea"
    assignment = sandbox.admin(
        "POST",
        "/role-assignments",
        {"principalId": added["objectId"], "role": "Site Recovery Contributor", "scope": scope},
    )
    assert assignment["roleDefinitionId"].endswith("6670b86e-a3f7-4917-ac9b-5d6ab1be4567")
    assert assignment["principalType"] == "User"
    removed = sandbox.admin("DELETE", f"/role-assignments/{assignment['name']}")
    assert removed["deleted"] == [assignment["name"]]
    sandbox.admin("DELETE", f"/principals/{added['objectId']}")
    assert added["objectId"] not in {p["objectId"] for p in sandbox.state()["principals"]}
