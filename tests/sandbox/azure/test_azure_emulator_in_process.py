"""The in-process interface `asr-autoupdate sandbox` uses: start in the caller's loop, describe, stop."""

from __future__ import annotations

import ssl

import aiohttp

from asr_sandbox.azure import AzureEmulator, EmulatorSettings


async def test_start_describe_and_stop_in_the_callers_loop(tmp_path) -> None:
    emulator = AzureEmulator(
        tmp_path / "state", seed={"vaults": []}, settings=EmulatorSettings(lro_retry_after_seconds=0)
    )
    await emulator.start()
    try:
        described = emulator.describe()
        assert described["armEndpoint"] == described["authorityHost"] == emulator.url
        assert emulator.url.startswith("https://127.0.0.1:")
        assert described["adminEndpoint"] == emulator.admin_url == emulator.url + "/_sandbox"
        assert described["caBundle"] == str(emulator.ca_path) and emulator.ca_path.read_text().startswith(
            "-----BEGIN CERTIFICATE-----"
        )
        assert described["vaults"] == [] and len(described["subscriptions"]) == 2
        assert {"tenantId", "clientId", "clientSecret", "subscriptionId"} <= set(described)
        context = ssl.create_default_context(cafile=str(emulator.ca_path))
        async with (
            aiohttp.ClientSession() as session,
            session.get(emulator.admin_url + "/config", ssl=context) as response,
        ):
            assert (await response.json())["lroRetryAfterSeconds"] == 0
    finally:
        await emulator.stop()
