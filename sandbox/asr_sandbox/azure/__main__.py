"""`python -m asr_sandbox.azure --state-dir DIR [--pace real|fast]`: the Azure emulator alone, for tests and
manual poking.

Writes DIR/azure.json (the emulator's `describe()` and its pace), prints its path, and serves until SIGTERM or
SIGINT. It runs at Azure's real pace unless told `--pace fast` (what the test fixtures ask for).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pathlib
import signal

from .http.server import AzureEmulator
from .services.settings import PROFILES, EmulatorSettings


def main(argv: list[str] | None = None) -> None:
    """The pace's settings with --config on top are the start-up ones, so a reset returns to them too."""
    parser = argparse.ArgumentParser(prog="python -m asr_sandbox.azure", description=__doc__)
    parser.add_argument("--state-dir", type=pathlib.Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--pace",
        choices=sorted(PROFILES),
        default="real",
        help="the settings profile to start from: real (Azure's timings, the default) or fast (tests)",
    )
    parser.add_argument(
        "--config",
        default="{}",
        help="start-up settings as admin-API JSON over the pace's, e.g. '{\"lroRetryAfterSeconds\": 0}'; "
        "POST /_sandbox/reset returns to these",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = EmulatorSettings.of_pace(args.pace, json.loads(args.config))
    asyncio.run(_serve(args.state_dir, args.host, args.port, settings, args.pace))


async def _serve(state_dir: pathlib.Path, host: str, port: int, settings: EmulatorSettings, pace: str) -> None:
    emulator = AzureEmulator(state_dir, settings=settings)
    await emulator.start(host, port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    description = state_dir / "azure.json"
    # Written whole, then renamed: a reader polling for the file never sees half of it.
    partial = state_dir / "azure.json.partial"
    partial.write_text(json.dumps({**emulator.describe(), "pace": pace}, indent=2))
    os.replace(partial, description)
    print(description, flush=True)
    try:
        await stopping.wait()
    finally:
        await emulator.stop()


if __name__ == "__main__":
    main()
