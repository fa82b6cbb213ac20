"""`asr-autoupdate sandbox`: the Azure emulator and a real Kubernetes control plane, described in files a test
or a user can read.

The contract (design/testing.md): `DIR/sandbox.json` describes the estate and the endpoints, `DIR/kubeconfig`
points kubectl and kopf at the control plane's kube-apiserver as its admin, and `DIR/operator.env` is the
environment under which `asr-autoupdate run` talks to the Azure emulator. One line with the path of
`sandbox.json` is printed when everything is listening; the process runs until SIGTERM or SIGINT, then stops
kube-apiserver, etcd and the emulator.

The emulator runs at a pace (`--pace`, recorded as `pace` in sandbox.json): `real` (Azure's timings, the
default, so a user trying the operator sees what production will feel like) or `fast` (what the tests run).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import signal

from asr_sandbox.azure import AzureEmulator, EmulatorSettings
from asr_sandbox.controlplane import ControlPlane


def operator_environment(description: dict) -> dict[str, str]:
    """The variables azure-identity and the operator read to reach the sandbox instead of Azure."""
    return {
        "AZURE_TENANT_ID": description["tenantId"],
        "AZURE_CLIENT_ID": description["clientId"],
        "AZURE_CLIENT_SECRET": description["clientSecret"],
        "AZURE_AUTHORITY_HOST": description["authorityHost"],
        "ASR_AUTOUPDATE_ARM_ENDPOINT": description["armEndpoint"],
        "ASR_AUTOUPDATE_CA_BUNDLE": description["caBundle"],
    }


def _write_private(path: pathlib.Path, text: str) -> None:
    """Owner-only (they hold the sandbox principal's secret), and atomic: readers wait for the file to exist."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.chmod(partial, 0o600)
    partial.replace(path)


async def serve(
    state_dir: pathlib.Path,
    *,
    host: str = "127.0.0.1",
    azure_port: int = 0,
    kube_port: int = 0,
    pace: str = "real",
    config: dict | None = None,
) -> None:
    """`config` holds emulator settings in the admin API's names over the pace's; a reset returns to them."""
    settings = EmulatorSettings.of_pace(pace, config)  # refuse a bad pace or setting before starting anything
    state_dir.mkdir(parents=True, exist_ok=True)
    # a data dir per run: etcd, the PKI and the logs of both servers. Started and stopped on this (the main)
    # thread on purpose: the servers die with the thread that spawned them (PR_SET_PDEATHSIG), and nothing
    # else is running on the loop yet.
    control_plane = ControlPlane(state_dir / "controlplane", port=kube_port)
    control_plane.start()
    try:
        azure = AzureEmulator(state_dir, settings=settings)
        await azure.start(host, azure_port)
        try:
            kubeconfig = state_dir / "kubeconfig"
            shutil.copyfile(control_plane.kubeconfig_path, kubeconfig)
            os.chmod(kubeconfig, 0o600)
            description = {
                **control_plane.describe(),
                "kubeconfig": str(kubeconfig),
                "controlPlanePids": control_plane.pids(),
                **azure.describe(),
                "pace": pace,
            }
            environment = operator_environment(description)
            _write_private(state_dir / "operator.env", "".join(f"{k}={v}\n" for k, v in environment.items()))
            sandbox_json = state_dir / "sandbox.json"
            _write_private(sandbox_json, json.dumps(description, indent=2) + "\n")
            print(sandbox_json, flush=True)
            await _until_signalled()
        finally:
            await azure.stop()
    finally:
        control_plane.stop()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
