"""`python -m bench.memory_probe run ...`: `asr-autoupdate` under tracemalloc, for bench/scale.py `--tracemalloc`.

Tracing starts before the operator's first import, so a snapshot holds the imports too. SIGUSR1 writes one
snapshot to `$ASR_BENCH_SNAPSHOTS/snapshot-<n>.tracemalloc` (n counts from 0), then `snapshot-<n>.done`, so
the bench knows when it may read it. Tracing costs the operator CPU and memory of its own: a run with it
says where memory goes, not how fast or how big the operator is (compare the RSS of a run without it).
"""

from __future__ import annotations

import itertools
import os
import pathlib
import runpy
import signal
import sys
import tracemalloc

tracemalloc.start(int(os.environ.get("ASR_BENCH_TRACEMALLOC_FRAMES", "1")))
_SNAPSHOTS = pathlib.Path(os.environ["ASR_BENCH_SNAPSHOTS"])
_COUNT = itertools.count()


def _dump(signum: int, frame: object) -> None:
    number = next(_COUNT)
    tracemalloc.take_snapshot().dump(str(_SNAPSHOTS / f"snapshot-{number}.tracemalloc"))
    (_SNAPSHOTS / f"snapshot-{number}.done").write_text("")


signal.signal(signal.SIGUSR1, _dump)
sys.argv[0] = "asr_autoupdate"
runpy.run_module("asr_autoupdate", run_name="__main__", alter_sys=True)
