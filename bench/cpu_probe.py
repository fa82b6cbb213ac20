"""`python -m bench.cpu_probe ARGS...`: `python -m asr_autoupdate ARGS...` (the sandbox, for bench/scale.py
`--cprofile`) with cProfile switched by SIGUSR1 in its main thread, where the emulator's event loop runs.

The first SIGUSR1 starts profiling, the second stops it and writes the pstats to `$ASR_BENCH_PROFILE`, then
`$ASR_BENCH_PROFILE.done`. cProfile slows what it profiles (by about half again): use it for where the time
goes, not for how long things take.
"""

from __future__ import annotations

import cProfile
import os
import pathlib
import runpy
import signal
import sys

_OUT = pathlib.Path(os.environ["ASR_BENCH_PROFILE"])
_PROFILE = cProfile.Profile()
_ON = [False]


def _toggle(signum: int, frame: object) -> None:
    if not _ON[0]:
        _ON[0] = True
        _PROFILE.enable()
        return
    _PROFILE.disable()
    _PROFILE.dump_stats(str(_OUT))
    _OUT.with_name(_OUT.name + ".done").write_text("")


signal.signal(signal.SIGUSR1, _toggle)
sys.argv[0] = "asr_autoupdate"
runpy.run_module("asr_autoupdate", run_name="__main__", alter_sys=True)
