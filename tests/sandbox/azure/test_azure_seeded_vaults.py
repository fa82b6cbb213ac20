"""A vault seeded into a running emulator (admin `POST /seed`, built with `default_estate.a2a_vault`) is an ARM
vault like the others: listed by subscription with its tags, across nextLink pages, and its Site Recovery
objects readable."""

from __future__ import annotations

from asr_sandbox.azure.state.default_estate import SUBSCRIPTION_A, a2a_vault

RG, VAULT = "rg-asr-uks", "rsv-uks-canary"
TAGS = {"asr-autoupdate/ring": "canary", "owner": "platform-team"}


def seed_canary(sandbox, tags: dict[str, str] | None = TAGS) -> None:
    vault = a2a_vault(
        SUBSCRIPTION_A,
        RG,
        VAULT,
        "uksouth",
        "ukwest",
        [{"friendlyName": "vm-uk-01", "agentVersion": "9.61.7016.1", "isReplicationAgentUpdateRequired": True}],
        tags=tags,
    )
    answer = sandbox.admin("POST", "/seed", {"vaults": [vault]})
    assert VAULT in {v["name"] for v in answer["vaults"]}


async def test_a_seeded_vault_is_listed_by_subscription_with_its_tags_across_pages(sandbox, azure) -> None:
    seed_canary(sandbox)
    sandbox.admin("POST", "/config", {"pageSize": 1})
    sandbox.admin("DELETE", "/requests")
    listed = {v.name: v.tags async for v in azure.vaults.vaults.list_by_subscription_id()}
    assert listed == {"rsv-weu-prod": {}, "rsv-eus-prod": {}, VAULT: TAGS}
    pages = [r for r in sandbox.requests() if r["path"].endswith("/providers/Microsoft.RecoveryServices/vaults")]
    assert len(pages) == 3  # one vault a page: the SDK followed two nextLinks
    assert [v.tags async for v in azure.vaults.vaults.list_by_resource_group(RG)] == [TAGS]
    assert (await azure.vaults.vaults.get(RG, VAULT)).tags == TAGS
    mappings = [m.name async for m in azure.site_recovery.replication_protection_container_mappings.list(RG, VAULT)]
    assert mappings == ["ukwest-uksouth-24-hour-retention-policy", "uksouth-ukwest-24-hour-retention-policy"]


def test_seeding_an_existing_vault_with_tags_retags_it_and_bad_tags_are_refused(sandbox) -> None:
    seed_canary(sandbox)
    seed_canary(sandbox, tags={"asr-autoupdate/ring": "broad"})
    [vault] = [v for v in sandbox.state()["vaults"] if v["name"] == VAULT]
    assert (vault["tags"], len(vault["protectedItems"])) == ({"asr-autoupdate/ring": "broad"}, 1)
    seed_canary(sandbox, tags=None)  # a seed that names no tags leaves them as they are
    assert next(v for v in sandbox.state()["vaults"] if v["name"] == VAULT)["tags"] == {"asr-autoupdate/ring": "broad"}
    status, body = sandbox.raw(
        "POST",
        sandbox.info["adminEndpoint"] + "/seed",
        {"vaults": [a2a_vault(SUBSCRIPTION_A, RG, VAULT, "uksouth", "ukwest", [], tags={"ring": 1})]},
    )
    assert status == 400 and "tags" in body["error"]
