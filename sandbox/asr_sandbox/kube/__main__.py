"""`python -m asr_sandbox.kube --state-dir DIR`: the Kubernetes emulator alone, for tests and manual use.

Writes DIR/kubeconfig and DIR/kube.json (`{"url": ..., "kubeconfig": ..., "pid": ...}`) once listening, prints
the kubeconfig path, and runs until SIGTERM or SIGINT. kube.json appears last and atomically, so a waiting
test can treat its existence as "ready".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pathlib
import signal

from .server import KubeEmulator


async def serve(state_dir: pathlib.Path, host: str, port: int, history_limit: int, bookmark_interval: float) -> None:
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    emulator = KubeEmulator(history_limit=history_limit, bookmark_interval=bookmark_interval)
    await emulator.start(host, port)
    try:
        kubeconfig = state_dir / "kubeconfig"
        emulator.write_kubeconfig(kubeconfig)
        description = state_dir / "kube.json"
        partial = description.with_name("kube.json.partial")
        partial.write_text(json.dumps({"url": emulator.url, "kubeconfig": str(kubeconfig), "pid": os.getpid()}) + "\n")
        partial.replace(description)
        print(kubeconfig, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asr_sandbox.kube", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=pathlib.Path, required=True, help="where kubeconfig and kube.json go")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--history-limit", type=int, default=1000, help="watch events kept per resource")
    parser.add_argument("--bookmark-interval", type=float, default=5.0, help="seconds between watch BOOKMARKs")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.state_dir, args.host, args.port, args.history_limit, args.bookmark_interval))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
