"""A thousand vaults in one operator process: time to Ready against the request budget, Azure calls, passes,
Events, memory and CPU, a bare kopf baseline, and (with `--restart`) the herd check of a restart.

Runs the sandbox (fast pace, principalPropagationDelaySeconds 0) and `asr-autoupdate run` as subprocesses, as
the e2e tests do. Seeds `--subscriptions` subscriptions (the sandbox's two, plus new ones with the operator
Owner on each) and `--vaults` A2A vaults (a forward and a failback mapping each, one or two protected items)
spread round-robin over them, applies one Automatic policy per vault in one `kubectl apply`, and prints:

* convergence: seconds until every policy is Ready for its generation (one LIST a second), the ARM calls of the
  operator's principal (token calls left out; reads = GET, writes = the rest), per vault and per subscription,
  and per subscription the bound the request budget sets, max(reads/rate - burst/rate, writes/rate -
  burst/rate, 0) with the configured rates: the ratio all-Ready seconds / the largest bound says how close the
  operator comes to its budget (the goal is <= 1.3);
* passes by result (controller_runtime_reconcile_total), Warning Events by reason, log lines with "failed
  temporarily" and "is waiting on Azure";
* the operator's RSS (peak and now) against a bare kopf operator's that only logs each of the same objects,
  and CPU seconds of the operator, the emulator (the sandbox process), kube-apiserver, etcd and the bench;
* `--restart`: SIGTERM the operator (seconds to exit), start it again with `--drift-interval-override`, and
  over two drift intervals count the policies that ever showed Ready != True, the ARM calls per second (max
  over one-second windows) and the Warning Events posted.

How to read it: CPU "others" is what the machine spent outside the bench's processes over the same window
(kubectl, and anything else running there): on a shared machine a large figure there makes every time longer.
The bench's own once-a-second LIST is not free either: its cost alone is printed last (kube-apiserver CPU per
LIST). The emulator keeps only its last 20 000 requests, so the bench reads the log every 3 s and clears it
past 4 000 entries; a request arriving between a read and the clear is lost (compare "ARM calls" with the
operator's own `requests` counter). `--work DIR` keeps the logs and the calls of each phase (calls-*.jsonl);
`--py-spy PATH` samples the operator and the emulator while converging and prints where they spend their time.

Usage: python bench/scale.py [--vaults 200] [--subscriptions 4] [--budget documented|arm] [--ca file|env]
                             [--restart] [--drift-interval 60] [--passes-per-subscription N] [--out FILE]
                             [--work DIR] [--py-spy PATH] [--timeout 900]
This is a measurement, not a test: it asserts nothing. 200 vaults take a few minutes, 1000 about ten.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime

import kubernetes
import yaml
from e2e_figures import GROUP, PLURAL, VERSION, kubectl
from estate import a2a_vaults, add_subscriptions, policy_manifest, seed_vaults

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.children import Child, free_port
from asr_sandbox.process import OperatorProcess, SandboxProcess, read_env_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLEETS = "mobilityupdatefleets"
RESOURCE_GROUP = "rg-bench-scale"
LARGE_DRIFT_INTERVAL = 86400  # so no drift check runs during the convergence
BUDGETS = {
    # reads/s, read burst, writes/s, write burst
    "documented": (8.0, 40.0, 3.0, 15.0),  # the operator's defaults (throttle.BudgetSettings)
    "arm": (25.0, 250.0, 10.0, 200.0),  # ARM's published buckets
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
IDLE_FRAMES = {"_worker (concurrent/futures/thread.py:81)"}
BARE_KOPF = f'''"""A bare kopf operator: one resume/create handler on the policies that only logs (the bench's baseline)."""
import kopf


@kopf.on.resume("{GROUP}", "{VERSION}", "{PLURAL}")
@kopf.on.create("{GROUP}", "{VERSION}", "{PLURAL}")
def seen(logger, **_):
    logger.info("bench-seen")
'''


# --- processes -------------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (not its children), from /proc/<pid>/stat."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)


def memory_mib(pid: int) -> dict[str, float]:
    """VmHWM (peak RSS) and VmRSS in MiB, from /proc/<pid>/status."""
    found: dict[str, float] = {}
    try:
        lines = pathlib.Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) / 1024
    return found


def host_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all CPUs), from /proc/stat."""
    fields = [int(v) for v in pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / CLOCK_TICKS  # less idle and iowait


def open_sockets(pid: int) -> int:
    """Sockets the process holds open (TCP connections, listeners), from /proc/<pid>/fd."""
    count = 0
    try:
        for entry in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                count += os.readlink(entry.path).startswith("socket:")
    except OSError:
        pass
    return count


def socket_peers(pid: int) -> dict[str, int]:
    """The process's TCP sockets by remote port and state ("35005 ESTABLISHED"), from /proc/<pid>/net/tcp."""
    inodes = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(entry.path)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    states = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}
    peers: collections.Counter = collections.Counter()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in pathlib.Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    port = int(fields[2].rsplit(":", 1)[1], 16)
                    peers[f"{port} {states.get(fields[3], fields[3])}"] += 1
    return dict(peers.most_common())


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    snapshot = {name: cpu_seconds(pid) for name, pid in pids.items()}
    times = os.times()
    snapshot["bench"] = times.user + times.system
    snapshot["host (all)"] = host_busy_seconds()
    return {name: value for name, value in snapshot.items() if value is not None}


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Per process; `others` is what the machine spent on processes outside this bench (kubectl included)."""
    delta = {name: round(after[name] - before[name], 1) for name in before if name in after}
    ours = sum(value for name, value in delta.items() if name != "host (all)")
    delta["others"] = round(delta.pop("host (all)") - ours, 1)
    return delta


# --- the emulator's request log ------------------------------------------------------------------------------


class RequestDrain:
    """The operator's ARM calls from the emulator's request log, read every `interval` s in a thread.

    The log keeps the last 20 000 requests, fewer than a thousand vaults make; once it holds more than
    `clear_above` entries it is cleared right after being read (`clears` counts it: a request that arrives
    between the read and the clear is lost). Entries are kept by request id, updated while they are in the
    log (a request still in flight has no status yet)."""

    def __init__(self, admin: AdminClient, principal: str, *, interval: float = 3.0, clear_above: int = 4000):
        self.admin = admin
        self.principal = principal.lower()
        self.interval = interval
        self.clear_above = clear_above
        self.entries: dict[str, dict] = {}
        self.clears = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-drain", daemon=True)

    def start(self) -> RequestDrain:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception as error:  # noqa: BLE001 - a measurement goes on; the next read catches up
                print(f"request log read failed: {error}", file=sys.stderr)

    def poll(self) -> None:
        with self._lock:
            entries = self.admin.requests()
            for entry in entries:
                if (entry.get("principal") or "").lower() != self.principal or "/oauth2/" in entry["path"]:
                    continue
                entry["epoch"] = datetime.fromisoformat(entry["time"]).timestamp()
                self.entries[entry["requestId"]] = entry
            if len(entries) > self.clear_above:
                self.admin.delete("requests")
                self.clears += 1

    def calls(self, since: float, until: float = float("inf")) -> list[dict]:
        """The operator's ARM calls between two `time.time()` moments, oldest first."""
        with self._lock:
            found = [e for e in self.entries.values() if since <= e["epoch"] <= until]
        return sorted(found, key=lambda e: e["epoch"])


def dump_calls(path: pathlib.Path, calls: list[dict], origin: float) -> None:
    """The calls of a phase, one JSON line each with its offset from the phase's start (for a closer look)."""
    with path.open("w") as out:
        for call in calls:
            out.write(json.dumps({"t": round(call["epoch"] - origin, 3), **call}) + "\n")


def throttled_at(calls: list[dict], origin: float) -> list[float]:
    """When the emulator answered 429, in seconds from the phase's start."""
    return [round(c["epoch"] - origin, 1) for c in calls if c.get("status") == 429]


def split_calls(calls: list[dict]) -> dict:
    reads = sum(c["method"] == "GET" for c in calls)
    return {"total": len(calls), "reads": reads, "writes": len(calls) - reads}


# Per vault from scratch (2 mappings): what a convergence cannot do without. Writes: the account, its role
# assignment, one PATCH per mapping, one PUT per schedule. Reads: the vault, the account, the role
# assignments, the mappings, the schedules, the job schedules, and one status poll per mapping PATCH.
FLOOR_WRITES = 6
FLOOR_READS = 8


def endpoint(call: dict) -> str:
    """A call's method and the kind of resource it names: "GET automationAccounts/schedules"."""
    segments = [part for part in call["path"].split("?")[0].strip("/").split("/") if part]
    kinds = [segments[i] for i in range(len(segments)) if i % 2 == 0 and segments[i].lower() != "providers"]
    kinds = [kind for kind in kinds if "." not in kind and kind.lower() not in ("subscriptions", "resourcegroups")]
    listing = len(segments) % 2 == 1  # a collection, not one resource
    return f"{call['method']} {'/'.join(kinds[-2:])}{' (list)' if listing else ''}"


def endpoints_per_vault(calls: list[dict], vaults: int) -> list[tuple[str, float]]:
    counts = collections.Counter(endpoint(call) for call in calls)
    return [(key, round(value / vaults, 2)) for key, value in counts.most_common()]


def per_subscription(calls: list[dict]) -> dict[str, dict]:
    grouped: dict[str, list[dict]] = collections.defaultdict(list)
    for call in calls:
        grouped[(call.get("subscription") or "tenant").lower()].append(call)
    return {key: split_calls(value) for key, value in sorted(grouped.items())}


def budget_bound(counts: dict, budget: tuple[float, float, float, float]) -> float:
    """The fewest seconds the budget allows for these reads and writes (a full bucket to start with)."""
    read_rate, read_burst, write_rate, write_burst = budget
    return max(
        counts["reads"] / read_rate - read_burst / read_rate,
        counts["writes"] / write_rate - write_burst / write_rate,
        0.0,
    )


def busiest_seconds(calls: list[dict], origin: float) -> dict:
    """The most calls in one one-second window (windows counted from `origin`), overall and in one
    subscription."""
    if not calls:
        return {"all": 0, "one_subscription": 0}
    overall = collections.Counter(int(c["epoch"] - origin) for c in calls)
    by_subscription = collections.Counter((c.get("subscription"), int(c["epoch"] - origin)) for c in calls)
    return {"all": max(overall.values()), "one_subscription": max(by_subscription.values())}


# --- Kubernetes -------------------------------------------------------------------------------------------


def readiness(custom, namespace: str) -> dict[str, tuple[bool, bool]]:
    """One LIST: name -> (Ready is True, Ready is True for the object's generation)."""
    response = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, _preload_content=False)
    found = {}
    for item in json.loads(response.data)["items"]:
        status = item.get("status") or {}
        condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        is_true = condition.get("status") == "True"
        found[item["metadata"]["name"]] = (
            is_true,
            is_true and status.get("observedGeneration") == item["metadata"]["generation"],
        )
    return found


def warning_events(core, namespace: str) -> tuple[collections.Counter, dict[str, str]]:
    """Warning Events by reason (an Event's count included), and one message for each reason."""
    reasons: collections.Counter = collections.Counter()
    examples: dict[str, str] = {}
    for event in core.list_namespaced_event(namespace, field_selector="type=Warning").items:
        reasons[event.reason] += event.count or 1
        examples.setdefault(event.reason, f"{event.involved_object.name}: {(event.message or '')[:200]}")
    return reasons, examples


def scrape(port: int) -> dict:
    """The figures of interest from the operator's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    passes: collections.Counter = collections.Counter()
    azure: collections.Counter = collections.Counter()
    for line in text.splitlines():
        if line.startswith("controller_runtime_reconcile_total{"):
            result = re.search(r'result="([^"]*)"', line).group(1)
            passes[result] += int(float(line.rsplit(" ", 1)[1]))
        for family in (
            "asr_autoupdate_azure_requests_total",
            "asr_autoupdate_azure_throttled_total",
            "asr_autoupdate_azure_budget_waits_total",
            "asr_autoupdate_azure_budget_rejected_total",
            "asr_autoupdate_azure_request_failures_total",
        ):
            if line.startswith(family + "{"):
                azure[family.removeprefix("asr_autoupdate_azure_").removesuffix("_total")] += int(
                    float(line.rsplit(" ", 1)[1])
                )
    return {"passes": dict(passes), "azure": dict(azure)}


def log_lines(path: pathlib.Path, offset: int = 0) -> dict:
    text = path.read_text(errors="replace")[offset:] if path.exists() else ""
    return {
        "failed temporarily": text.count("failed temporarily"),
        "is waiting on Azure": text.count("is waiting on Azure"),
        "ERROR lines": sum(" ERROR " in line or "[ERROR" in line for line in text.splitlines()),
        "Traceback": text.count("Traceback"),
    }


# --- profiling (optional) -----------------------------------------------------------------------------------


def start_py_spy(py_spy: str | None, pid: int, out: pathlib.Path) -> Child | None:
    if not py_spy:
        return None
    argv = [py_spy, "record", "--pid", str(pid), "--rate", "25", "--format", "raw", "--nonblocking", "-o", str(out)]
    return Child("py-spy", argv, out.with_suffix(".log"))


def stop_py_spy(child: Child | None) -> None:
    """SIGINT makes py-spy write its output; SIGKILL if it does not end in time."""
    if child is None or child.exited():
        return
    os.kill(child.pid, signal.SIGINT)
    try:
        child.popen.wait(60)
    except subprocess.TimeoutExpired:
        child.kill()


def profile_summary(path: pathlib.Path, top: int = 12) -> dict:
    """From py-spy's raw (collapsed) stacks: samples, the functions most often on top of the stack (self), and
    the files most often anywhere on it (inclusive, once per sample)."""
    if not path.exists():
        return {}
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    marks: collections.Counter = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        if frames[-1] in IDLE_FRAMES:
            continue  # a pool thread waiting for work: py-spy does not see that wait as idle
        total += samples
        names = [re.sub(r":\d+\)$", ")", frame) for frame in frames]
        if names:
            own[names[-1]] += samples
        for where in {re.sub(r"^.*\((.*)\)$", r"\1", name) for name in names}:
            inclusive[_short(where)] += samples
        text = ";".join(names)
        for label, needle in (
            ("a new SSL context (create_default_context)", "create_default_context"),
            ("TLS handshake (do_handshake)", "do_handshake"),
            ("json", "json/"),
            ("azure-core pipeline", "azure/core/"),
            ("aiohttp", "aiohttp/"),
            ("the operator's reconcile code", "asr_autoupdate/reconcile/"),
            ("the emulator's code", "asr_sandbox/azure/"),
        ):
            if needle in text:
                marks[label] += samples
        if "kopf/" in text and "asr_autoupdate/handlers.py" not in text:
            marks["kopf, outside the operator's handlers"] += samples

    def shares(counter: collections.Counter) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "self %": shares(own),
        "files inclusive %": shares(inclusive),
        "marks inclusive %": shares(marks),
    }


def _short(path: str) -> str:
    for anchor in ("site-packages/", "lib/python3.11/", "/operator/", "/sandbox/"):
        if anchor in path:
            return path.split(anchor, 1)[1]
    return path


# --- the run ----------------------------------------------------------------------------------------------


def seed(admin: AdminClient, vaults: int, subscriptions: int) -> tuple[list[dict], list[str]]:
    """`vaults` vaults over `subscriptions` subscriptions (the sandbox's two, then new ones with the operator
    Owner on each), two mappings and one or two protected VMs each."""
    existing = [s["subscriptionId"] for s in admin.state()["subscriptions"]]
    added = add_subscriptions(admin, max(0, subscriptions - 2), admin.state()["operatorObjectId"], "bench-scale")
    chosen = (existing + added)[:subscriptions]
    documents = a2a_vaults(
        chosen, vaults, resource_group=RESOURCE_GROUP, prefix="rsv-scale", machines=lambda index: 1 + index % 2
    )
    seed_vaults(admin, documents)
    return documents, chosen


def manifests(namespace: str, vaults: list[dict]) -> str:
    return yaml.safe_dump_all(
        [policy_manifest(namespace, vault, driftCheckIntervalSeconds=LARGE_DRIFT_INTERVAL) for vault in vaults]
    )


def operator_state_dir(sandbox: SandboxProcess, work: pathlib.Path, ca: str) -> pathlib.Path:
    """Where OperatorProcess reads operator.env: the sandbox's own (`file`: ASR_AUTOUPDATE_CA_BUNDLE), or a
    copy that names the CA through SSL_CERT_FILE instead (`env`)."""
    if ca == "file":
        return sandbox.state_dir
    directory = work / "operator-env"
    directory.mkdir(exist_ok=True)
    env = read_env_file(sandbox.state_dir / "operator.env")
    env["SSL_CERT_FILE"] = env.pop("ASR_AUTOUPDATE_CA_BUNDLE")
    (directory / "operator.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    os.chmod(directory / "operator.env", 0o600)
    return directory


def budget_flags(budget: tuple[float, float, float, float], passes: int | None) -> list[str]:
    read_rate, read_burst, write_rate, write_burst = budget
    flags = [
        "--reads-per-second",
        f"{read_rate:g}",
        "--read-burst",
        f"{read_burst:g}",
        "--writes-per-second",
        f"{write_rate:g}",
        "--write-burst",
        f"{write_burst:g}",
    ]
    return flags + (["--passes-per-subscription", str(passes)] if passes else [])


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def converge(ctx: dict, args: argparse.Namespace) -> dict:
    """Apply every policy at once and watch until all are Ready (or the timeout)."""
    custom, core, namespace, operator, drain = (
        ctx["custom"],
        ctx["core"],
        ctx["namespace"],
        ctx["operator"],
        ctx["drain"],
    )
    pids = ctx["pids"]
    n = args.vaults
    idle = memory_mib(operator.child.pid)
    profilers = [
        start_py_spy(args.py_spy, pid, ctx["work"] / f"py-spy-{name}.txt")
        for name, pid in (("operator", operator.child.pid), ("emulator", pids["emulator"]))
    ]
    cpu_before = cpu_snapshot(pids)
    wall_started = time.time()
    started = time.monotonic()
    kubectl(ctx["sandbox"].description, "apply", "-f", "-", stdin=manifests(namespace, ctx["vaults"]))
    applied = time.monotonic() - started
    first_ready: dict[str, float] = {}
    growth: list[tuple[float, float, int]] = []  # (seconds, operator VmRSS MiB, operator sockets)
    seen = 0
    timed_out = False
    polls = []
    while True:
        tick = time.monotonic()
        state = readiness(custom, namespace)
        polls.append(time.monotonic() - tick)
        seen = len(state)
        if len(polls) % 5 == 1:
            rss = memory_mib(operator.child.pid).get("VmRSS", 0)
            growth.append((round(tick - started, 1), round(rss, 1), open_sockets(operator.child.pid)))
        for name, (_, for_generation) in state.items():
            if for_generation and name not in first_ready:
                first_ready[name] = time.monotonic() - started
        if len(first_ready) >= n:
            break
        if time.monotonic() - started > args.timeout:
            timed_out = True
            break
        if operator.child.exited():
            print(f"the operator exited with {operator.child.returncode}:\n{operator.log_tail(20)}", file=sys.stderr)
            timed_out = True
            break
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    seconds = time.monotonic() - started
    wall_ended = time.time()
    cpu_after = cpu_snapshot(pids)
    for profiler in profilers:
        stop_py_spy(profiler)
    memory = memory_mib(operator.child.pid)
    drain.poll()
    calls = drain.calls(wall_started, wall_ended)
    dump_calls(ctx["work"] / "calls-converge.jsonl", calls, wall_started)
    subs = per_subscription(calls)
    budget = ctx["budget"]
    bounds = {key: round(budget_bound(counts, budget), 1) for key, counts in subs.items()}
    largest = max(bounds.values(), default=0.0)
    metrics = scrape(ctx["metrics_port"])
    reasons, examples = warning_events(core, namespace)
    times = list(first_ready.values())
    result = {
        "seconds": round(seconds, 1),
        "timed_out": timed_out,
        "ready": len(first_ready),
        "objects_seen": seen,
        "kubectl_apply_seconds": round(applied, 1),
        "first_ready_seconds": round(min(times), 1) if times else None,
        "median_ready_seconds": round(statistics.median(times), 1) if times else None,
        "p90_ready_seconds": round(percentile(times, 0.9), 1) if times else None,
        "list_poll_seconds_max": round(max(polls), 2),
        "operator_rss_sockets_series": growth,
        "operator_sockets_max": max((g[2] for g in growth), default=0),
        "operator_socket_peers_end": socket_peers(operator.child.pid),
        "ports": {"arm": ctx["arm_port"], "kube-apiserver": ctx["apiserver_port"]},
        "emulator_sockets_end": open_sockets(pids["emulator"]),
        "calls": split_calls(calls),
        "calls_per_vault": round(len(calls) / n, 1),
        "calls_over_floor": round(len(calls) / n / (FLOOR_READS + FLOOR_WRITES), 2),
        "calls_per_vault_by_endpoint": endpoints_per_vault(calls, n),
        "status_429_from_emulator": sum(c.get("status") == 429 for c in calls),
        "status_429_at_seconds": throttled_at(calls, wall_started),
        "request_log_clears": drain.clears,
        "per_subscription": {key: {**subs[key], "bound_seconds": bounds[key]} for key in subs},
        "largest_bound_seconds": largest,
        "ready_over_bound": round(seconds / largest, 2) if largest else None,
        "passes": metrics["passes"],
        "operator_azure_counters": metrics["azure"],
        "warning_events": dict(reasons),
        "warning_examples": examples,
        "log_lines": log_lines(operator.log_path),
        "operator_rss_idle_mib": round(idle.get("VmRSS", 0), 1),
        "operator_peak_rss_mib": round(memory.get("VmHWM", 0), 1),
        "operator_rss_mib": round(memory.get("VmRSS", 0), 1),
        "cpu_seconds": cpu_delta(cpu_before, cpu_after),
    }
    if args.py_spy:
        result["profile"] = {
            name: profile_summary(ctx["work"] / f"py-spy-{name}.txt") for name in ("operator", "emulator")
        }
    return result


def restart(ctx: dict, args: argparse.Namespace) -> dict:
    """SIGTERM the operator, start it again with --drift-interval-override, watch two intervals."""
    custom, core, namespace, drain = ctx["custom"], ctx["core"], ctx["namespace"], ctx["drain"]
    operator: OperatorProcess = ctx["operator"]
    reasons_before, _ = warning_events(core, namespace)
    started = time.monotonic()
    os.kill(operator.child.pid, signal.SIGTERM)
    try:
        operator.child.popen.wait(60)
        killed = False
    except subprocess.TimeoutExpired:
        operator.kill()
        killed = True
    exit_seconds = time.monotonic() - started
    exit_code = operator.child.returncode
    port = free_port()
    log_path = ctx["work"] / "operator-restart.log"
    second = OperatorProcess(
        ctx["operator_state"],
        kubeconfig=pathlib.Path(ctx["sandbox"].description["kubeconfig"]),
        log_path=log_path,
        args=[
            *ctx["operator_args"](port),
            "--drift-interval-override",
            str(args.drift_interval),
        ],
    )
    ctx["operator"] = second
    ctx["metrics_port"] = port
    ctx["processes"].append(second)
    wall_started = time.time()
    begun = time.monotonic()
    second.start()
    startup = time.monotonic() - begun
    cpu_before = cpu_snapshot({**ctx["pids"], "operator": second.child.pid})
    window = 2 * args.drift_interval
    ever_not_ready: set[str] = set()
    not_ready_per_poll = []
    while time.monotonic() - begun < window:
        tick = time.monotonic()
        state = readiness(custom, namespace)
        down = {name for name, (is_true, _) in state.items() if not is_true}
        ever_not_ready |= down
        not_ready_per_poll.append(len(down))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    wall_ended = time.time()
    cpu_after = cpu_snapshot({**ctx["pids"], "operator": second.child.pid})
    drain.poll()
    calls = drain.calls(wall_started, wall_ended)
    dump_calls(ctx["work"] / "calls-restart.jsonl", calls, wall_started)
    reasons_after, examples = warning_events(core, namespace)
    posted = reasons_after - reasons_before
    memory = memory_mib(second.child.pid)
    metrics = scrape(port)
    busiest = busiest_seconds(calls, wall_started)
    per_second = collections.Counter(int(c["epoch"] - wall_started) for c in calls)
    series = [per_second.get(second, 0) for second in range(int(window) + 1)]
    read_rate, _, write_rate, _ = ctx["budget"]
    return {
        "sigterm_exit_seconds": round(exit_seconds, 1),
        "sigterm_exit_code": exit_code,
        "sigkilled": killed,
        "startup_seconds": round(startup, 1),
        "window_seconds": window,
        "ever_not_ready": len(ever_not_ready),
        "most_not_ready_at_once": max(not_ready_per_poll, default=0),
        "calls": split_calls(calls),
        "calls_per_second_mean": round(len(calls) / window, 1),
        "calls_per_second_max": busiest["all"],
        "calls_per_second_series": series,
        "busiest_seconds_at": sorted(range(len(series)), key=lambda i: -series[i])[:5],
        "calls_per_second_max_one_subscription": busiest["one_subscription"],
        "budget_per_subscription": f"{read_rate:g} r/s + {write_rate:g} w/s after the bursts",
        "status_429_from_emulator": sum(c.get("status") == 429 for c in calls),
        "status_429_at_seconds": throttled_at(calls, wall_started),
        "passes": metrics["passes"],
        "operator_azure_counters": metrics["azure"],
        "warning_events_posted": dict(posted),
        "warning_examples": {reason: examples.get(reason) for reason in posted},
        "log_lines": log_lines(log_path),
        "operator_peak_rss_mib": round(memory.get("VmHWM", 0), 1),
        "operator_rss_mib": round(memory.get("VmRSS", 0), 1),
        "cpu_seconds": cpu_delta(cpu_before, cpu_after),
    }


def list_poll_cost(ctx: dict, polls: int = 15) -> dict:
    """What the bench's own once-a-second LIST costs, with no operator running: CPU s per LIST."""
    pids = {key: ctx["pids"][key] for key in ("kube-apiserver", "etcd")}
    before = cpu_snapshot(pids)
    started = time.monotonic()
    for _ in range(polls):
        readiness(ctx["custom"], ctx["namespace"])
    seconds = time.monotonic() - started
    spent = cpu_delta(before, cpu_snapshot(pids))
    return {
        "seconds_per_list": round(seconds / polls, 2),
        "cpu_seconds_per_list": {k: round(v / polls, 3) for k, v in spent.items() if k != "others"},
    }


def snapshot(ctx: dict, timeout: float = 300) -> pathlib.Path:
    """Ask the operator running under bench/memory_probe.py for a tracemalloc snapshot; its path once written."""
    number = ctx["snapshots_taken"]
    ctx["snapshots_taken"] += 1
    folder = ctx["work"] / "snapshots"
    os.kill(ctx["operator"].child.pid, signal.SIGUSR1)
    done = folder / f"snapshot-{number}.done"
    deadline = time.monotonic() + timeout
    while not done.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no tracemalloc snapshot {number} within {timeout} s")
        time.sleep(0.2)
    return folder / f"snapshot-{number}.tracemalloc"


def _owner(filename: str) -> str:
    """Who allocated: our modules by name, a third-party package by its top directory, else the stdlib module."""
    path = filename.replace("\\", "/")
    for marker, prefix in (("/operator/asr_autoupdate/", "asr_autoupdate."), ("/sandbox/asr_sandbox/", "asr_sandbox.")):
        if marker in path:
            return prefix + path.split(marker, 1)[1].removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    if "-packages/" in path:
        return path.split("-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith("<"):
        return path  # <frozen importlib._bootstrap> and the like: imports
    return "stdlib " + pathlib.PurePath(path).stem


def memory_attribution(idle: pathlib.Path, converged: pathlib.Path, vaults: int, top: int = 12) -> dict:
    """Where the traced memory is once started (imports, clients) and what N vaults added, by owner."""
    import tracemalloc

    keep = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "*/bench/memory_probe.py")]
    before = tracemalloc.Snapshot.load(str(idle)).filter_traces(keep)
    after = tracemalloc.Snapshot.load(str(converged)).filter_traces(keep)

    def by_owner(snap) -> collections.Counter:
        owners: collections.Counter = collections.Counter()
        for stat in snap.statistics("filename"):
            owners[_owner(stat.traceback[0].filename)] += stat.size
        return owners

    at_idle, at_end = by_owner(before), by_owner(after)
    grown = collections.Counter({key: at_end[key] - at_idle.get(key, 0) for key in at_end})
    mib = 1024 * 1024
    lines = after.compare_to(before, "lineno")[:top]
    return {
        "idle_traced_mib": round(sum(at_idle.values()) / mib, 1),
        "converged_traced_mib": round(sum(at_end.values()) / mib, 1),
        "idle_top_mib": [(key, round(size / mib, 1)) for key, size in at_idle.most_common(top)],
        "grown_top_kib_per_vault": [(key, round(size / 1024 / vaults, 1)) for key, size in grown.most_common(top)],
        "grown_top_lines_kib": [
            (f"{_short(stat.traceback[0].filename)}:{stat.traceback[0].lineno}", round(stat.size_diff / 1024))
            for stat in lines
        ],
    }


def cprofile_summary(path: pathlib.Path, top: int = 12) -> dict:
    """The emulator's profile: the functions with the most own time, and ours by inclusive time."""
    import io
    import pstats

    stats = pstats.Stats(str(path), stream=io.StringIO())
    total = stats.total_tt or 1.0
    rows = stats.stats  # {(file, line, name): (calls, primitive calls, own time, inclusive time, callers)}

    def label(key: tuple) -> str:
        return f"{key[2]} ({_short(key[0])}:{key[1]})"

    by_own = sorted(rows.items(), key=lambda item: -item[1][2])[:top]
    ours = [item for item in rows.items() if "asr_sandbox" in item[0][0]]
    by_inclusive = sorted(ours, key=lambda item: -item[1][3])[:top]
    return {
        "profiled_seconds": round(total, 1),
        "own_top_percent": [(label(key), round(100 * value[2] / total, 1)) for key, value in by_own],
        "ours_inclusive_percent": [(label(key), round(100 * value[3] / total, 1)) for key, value in by_inclusive],
    }


def linear_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points (None for fewer than two x values)."""
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)


def steady(ctx: dict, args: argparse.Namespace) -> dict:
    """Steady state after the restart window: the drift checks alone for `--steady` s; the operator's CPU and
    RSS (sampled every 10 s, the slope in MiB per hour), the ARM calls and the passes per vault per interval."""
    drain, pid = ctx["drain"], ctx["operator"].child.pid
    passes_before = scrape(ctx["metrics_port"])["passes"]
    cpu_before, wall_started, begun = cpu_seconds(pid) or 0.0, time.time(), time.monotonic()
    samples: list[tuple[float, float]] = []
    while (elapsed := time.monotonic() - begun) < args.steady:
        samples.append((round(elapsed, 1), round(memory_mib(pid).get("VmRSS", 0), 1)))
        time.sleep(min(10.0, max(0.0, args.steady - elapsed)))
    seconds = time.monotonic() - begun
    cpu = (cpu_seconds(pid) or 0.0) - cpu_before
    samples.append((round(seconds, 1), round(memory_mib(pid).get("VmRSS", 0), 1)))
    drain.poll()
    calls = drain.calls(wall_started, time.time())
    dump_calls(ctx["work"] / "calls-steady.jsonl", calls, wall_started)
    passes_after = scrape(ctx["metrics_port"])["passes"]
    passes = {key: passes_after.get(key, 0) - passes_before.get(key, 0) for key in passes_after}
    intervals = seconds / args.drift_interval
    split = split_calls(calls)
    providers = collections.Counter(
        (re.search(r"/providers/([^/]+)", c["path"]) or re.search("(.*)", "other")).group(1)
        for c in calls
        if c["method"] == "GET"
    )
    slope = linear_slope([(t / 3600, rss) for t, rss in samples])
    return {
        "seconds": round(seconds, 1),
        "drift_interval": args.drift_interval,
        "operator_cpu_seconds": round(cpu, 1),
        "operator_cpu_seconds_per_hour": round(cpu * 3600 / seconds, 1),
        "calls": split,
        "reads_per_vault_per_interval": round(split["reads"] / args.vaults / intervals, 2),
        "writes_per_vault_per_interval": round(split["writes"] / args.vaults / intervals, 2),
        "reads_by_provider_per_vault_per_interval": {
            key: round(value / args.vaults / intervals, 2) for key, value in providers.most_common()
        },
        "passes": passes,
        "passes_per_vault_per_interval": round(sum(passes.values()) / args.vaults / intervals, 2),
        "rss_samples": samples,
        "rss_first_mib": samples[0][1],
        "rss_last_mib": samples[-1][1],
        "rss_slope_mib_per_hour": None if slope is None else round(slope, 1),
        "operator_peak_rss_mib": round(memory_mib(pid).get("VmHWM", 0), 1),
    }


def bare_kopf(ctx: dict, args: argparse.Namespace) -> dict:
    """The baseline: kopf alone on the same objects, its RSS once it has resumed every one."""
    script = ctx["work"] / "bare_kopf.py"
    script.write_text(BARE_KOPF)
    log_path = ctx["work"] / "bare-kopf.log"
    env = {**os.environ, "KUBECONFIG": ctx["sandbox"].description["kubeconfig"], "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "kopf", "run", "--standalone", "-n", ctx["namespace"], str(script)]
    started = time.monotonic()
    child = Child("bare kopf", argv, log_path, env=env)
    ctx["children"].append(child)
    child.wait_until(
        f"bare kopf resumed {args.vaults} policies",
        lambda: log_path.read_text(errors="replace").count("bench-seen") >= args.vaults,
        timeout=300,
        interval=0.5,
    )
    seconds = time.monotonic() - started
    time.sleep(3)  # settle: what it holds once every object has been handled
    memory = memory_mib(child.pid)
    cpu = cpu_seconds(child.pid)
    child.stop()
    return {
        "resume_all_seconds": round(seconds, 1),
        "peak_rss_mib": round(memory.get("VmHWM", 0), 1),
        "rss_mib": round(memory.get("VmRSS", 0), 1),
        "cpu_seconds": round(cpu or 0, 1),
    }


def run(args: argparse.Namespace, work: pathlib.Path) -> dict:
    budget = BUDGETS[args.budget]
    results: dict = {
        "settings": {
            "vaults": args.vaults,
            "subscriptions": args.subscriptions,
            "budget": args.budget,
            "rates": dict(zip(("reads/s", "read burst", "writes/s", "write burst"), budget, strict=True)),
            "passes_per_subscription": args.passes_per_subscription or 4,
            "ca": args.ca,
            "restart": args.restart,
            "drift_interval": args.drift_interval,
            "steady": args.steady,
            "tracemalloc": args.tracemalloc,
            "cprofile": args.cprofile,
            "cpus": os.cpu_count(),
        }
    }
    sandbox = SandboxProcess(work / "sandbox", config={"principalPropagationDelaySeconds": 0})
    if args.cprofile:
        sandbox.module = "bench.cpu_probe"
        os.environ["ASR_BENCH_PROFILE"] = str(work / "emulator.pstats")
    ctx: dict = {"work": work, "sandbox": sandbox, "budget": budget, "processes": [sandbox], "children": []}
    drain = None
    try:
        description = sandbox.start()
        admin = AdminClient(description["adminEndpoint"], description["caBundle"], timeout=120)
        admin.post("config", {"principalPropagationDelaySeconds": 0})
        kubectl(description, "apply", "--server-side", "-f", str(ROOT / "crds"))
        for plural in (PLURAL, FLEETS):
            kubectl(description, "wait", "--for=condition=Established", f"crd/{plural}.{GROUP}", "--timeout=30s")
        began = time.monotonic()
        ctx["vaults"], subscriptions = seed(admin, args.vaults, args.subscriptions)
        results["settings"]["seed_seconds"] = round(time.monotonic() - began, 1)
        results["settings"]["subscription_ids"] = subscriptions
        namespace = f"scale-{uuid.uuid4().hex[:8]}"
        kubectl(description, "create", "namespace", namespace)
        api = kubernetes.config.new_client_from_config(config_file=description["kubeconfig"])
        ctx.update(
            namespace=namespace,
            custom=kubernetes.client.CustomObjectsApi(api),
            core=kubernetes.client.CoreV1Api(api),
        )
        etcd, apiserver = description["controlPlanePids"]
        ctx["pids"] = {"emulator": sandbox.child.pid, "kube-apiserver": apiserver, "etcd": etcd}
        ctx["arm_port"] = urllib.parse.urlsplit(
            read_env_file(sandbox.state_dir / "operator.env").get("ASR_AUTOUPDATE_ARM_ENDPOINT", "")
        ).port
        ctx["apiserver_port"] = urllib.parse.urlsplit(
            yaml.safe_load(pathlib.Path(description["kubeconfig"]).read_text())["clusters"][0]["cluster"]["server"]
        ).port
        ctx["operator_state"] = operator_state_dir(sandbox, work, args.ca)
        flags = budget_flags(budget, args.passes_per_subscription)
        ctx["operator_args"] = lambda port: ["-n", namespace, "--drift-tick", "1", "--metrics-port", str(port), *flags]
        ctx["metrics_port"] = free_port()
        operator = OperatorProcess(
            ctx["operator_state"],
            kubeconfig=pathlib.Path(description["kubeconfig"]),
            log_path=work / "operator.log",
            args=ctx["operator_args"](ctx["metrics_port"]),
        )
        ctx["processes"].append(operator)
        if args.tracemalloc:  # the first operator only: the restarted one runs as usual
            operator.module = "bench.memory_probe"
            (work / "snapshots").mkdir(exist_ok=True)
            os.environ["ASR_BENCH_SNAPSHOTS"] = str(work / "snapshots")
            ctx["snapshots_taken"] = 0
        operator.start()
        ctx["operator"] = operator
        ctx["pids"]["operator"] = operator.child.pid
        admin.delete("requests")
        drain = RequestDrain(admin, admin.state()["operatorObjectId"]).start()
        ctx["drain"] = drain
        idle_snapshot = snapshot(ctx) if args.tracemalloc else None
        if args.cprofile:
            os.kill(sandbox.child.pid, signal.SIGUSR1)  # profiling starts
        results["converge"] = converge(ctx, args)
        print_converge(results)
        if args.cprofile:
            os.kill(sandbox.child.pid, signal.SIGUSR1)  # ...and stops: the stats are written
            profile = work / "emulator.pstats"
            done = profile.with_name(profile.name + ".done")
            sandbox.child.wait_until("the emulator's profile is written", done.exists, timeout=120, interval=0.2)
            results["emulator_profile"] = cprofile_summary(profile)
        if idle_snapshot is not None:
            results["tracemalloc"] = memory_attribution(idle_snapshot, snapshot(ctx), args.vaults)
        if args.restart and not results["converge"]["timed_out"]:
            del ctx["pids"]["operator"]
            results["restart"] = restart(ctx, args)
            if args.steady:
                results["steady"] = steady(ctx, args)
        ctx["operator"].stop(60)
        drain.stop()
        drain = None
        results["list_poll_cost"] = list_poll_cost(ctx)
        results["bare_kopf"] = bare_kopf(ctx, args)
        peak = results["converge"]["operator_peak_rss_mib"]
        results["bare_kopf"]["operator_over_bare_peak"] = round(peak / results["bare_kopf"]["peak_rss_mib"], 2)
        api.close()
    finally:
        if drain is not None:
            drain.stop()
        for child in reversed(ctx["children"]):
            child.stop()
        for process in reversed(ctx["processes"]):
            process.stop(30)
    return results


# --- the table ---------------------------------------------------------------------------------------------


def short(subscription: str) -> str:
    return subscription[:8]


def print_converge(results: dict) -> None:
    """A one-line progress note as soon as the convergence is measured (the table comes at the end)."""
    c = results["converge"]
    print(
        f"[converged: {c['ready']}/{results['settings']['vaults']} Ready in {c['seconds']} s,"
        f" ratio {c['ready_over_bound']}]",
        file=sys.stderr,
        flush=True,
    )


def table(results: dict) -> str:
    s, c = results["settings"], results["converge"]
    rows: list[tuple[str, str]] = []

    def row(label: str, value: object) -> None:
        rows.append((label, str(value)))

    rates = s["rates"]
    row(
        "settings",
        f"{s['vaults']} vaults x 2 mappings over {s['subscriptions']} subscriptions; budget {s['budget']} "
        f"({rates['reads/s']:g} r/s burst {rates['read burst']:g}, {rates['writes/s']:g} w/s burst "
        f"{rates['write burst']:g}, {s['passes_per_subscription']} passes/sub); CA by {s['ca']}; {s['cpus']} CPUs",
    )
    row("seed (emulator)", f"{s['seed_seconds']} s")
    row(
        "all Ready",
        f"{c['seconds']} s{' (TIMED OUT)' if c['timed_out'] else ''}: {c['ready']}/{s['vaults']} Ready; "
        f"kubectl apply {c['kubectl_apply_seconds']} s; first {c['first_ready_seconds']} s, median "
        f"{c['median_ready_seconds']} s, p90 {c['p90_ready_seconds']} s; slowest LIST {c['list_poll_seconds_max']} s",
    )
    calls = c["calls"]
    row(
        "ARM calls",
        f"{calls['total']} ({calls['reads']} reads, {calls['writes']} writes) = {c['calls_per_vault']} per vault; "
        f"429s {c['status_429_from_emulator']} {c['status_429_at_seconds'][:12] or ''}; request log cleared {c['request_log_clears']}x",
    )
    row(
        "  against the floor",
        f"{c['calls_over_floor']}x the floor of {FLOOR_READS + FLOOR_WRITES} per vault "
        f"({FLOOR_READS} reads, {FLOOR_WRITES} writes; goal <= 1.2)",
    )
    row("  per vault by endpoint", "; ".join(f"{k} {v}" for k, v in c["calls_per_vault_by_endpoint"][:16]))
    for key, sub in c["per_subscription"].items():
        row(
            f"  subscription {short(key)}",
            f"{sub['reads']} reads, {sub['writes']} writes -> budget bound {sub['bound_seconds']} s",
        )
    row("all Ready / largest bound", f"{c['ready_over_bound']} (goal <= 1.3)")
    row("passes by result", ", ".join(f"{k} {v}" for k, v in sorted(c["passes"].items())))
    row("operator's Azure counters", ", ".join(f"{k} {v}" for k, v in sorted(c["operator_azure_counters"].items())))
    row(
        "Warning Events",
        f"{sum(c['warning_events'].values())}"
        + (
            ": " + ", ".join(f"{k} x{v}" for k, v in sorted(c["warning_events"].items())) if c["warning_events"] else ""
        ),
    )
    for reason, example in c["warning_examples"].items():
        row(f"  e.g. {reason}", example)
    row("log lines", ", ".join(f"{k!r} {v}" for k, v in c["log_lines"].items()))
    series = c["operator_rss_sockets_series"]
    if series:
        marks = [series[min(len(series) - 1, int(len(series) * q))] for q in (0.25, 0.5, 0.75)] + [series[-1]]
        row(
            "operator RSS / sockets over time",
            "; ".join(f"{t:g} s: {rss:g} MiB, {sockets} sockets" for t, rss, sockets in marks)
            + f" (sockets max {c['operator_sockets_max']}; emulator holds {c['emulator_sockets_end']} at the end)",
        )
        row(
            "operator TCP sockets at the end",
            ", ".join(f"{k}: {v}" for k, v in c["operator_socket_peers_end"].items())
            + f" (ports: {', '.join(f'{k} {v}' for k, v in c['ports'].items())})",
        )
    b = results.get("bare_kopf", {})
    row(
        "operator RSS",
        f"idle {c['operator_rss_idle_mib']} MiB, peak {c['operator_peak_rss_mib']} MiB, now {c['operator_rss_mib']} MiB",
    )
    if b:
        row(
            "bare kopf RSS",
            f"peak {b['peak_rss_mib']} MiB, now {b['rss_mib']} MiB (resumed all in {b['resume_all_seconds']} s, "
            f"{b['cpu_seconds']} CPU s) -> operator/bare peak {b['operator_over_bare_peak']}x",
        )
    row(
        "CPU s over convergence",
        ", ".join(f"{k} {v}" for k, v in sorted(c["cpu_seconds"].items(), key=lambda kv: -kv[1]))
        + f"  (wall {c['seconds']} s)",
    )
    for name, summary in (c.get("profile") or {}).items():
        if not summary:
            continue
        row(f"py-spy {name}", f"{summary['samples']} samples")
        row("  self", "; ".join(f"{n} {p}%" for n, p in summary["self %"][:8]))
        row("  inclusive", "; ".join(f"{n} {p}%" for n, p in summary["marks inclusive %"]))
    r = results.get("restart")
    if r:
        row(
            "restart: SIGTERM -> exit",
            f"{r['sigterm_exit_seconds']} s (code {r['sigterm_exit_code']}{', SIGKILLed' if r['sigkilled'] else ''}); "
            f"new process live in {r['startup_seconds']} s",
        )
        row(
            f"restart: {r['window_seconds']} s window",
            f"{r['ever_not_ready']} policies ever Ready != True (most at once {r['most_not_ready_at_once']})",
        )
        calls = r["calls"]
        row(
            "restart: ARM calls",
            f"{calls['total']} ({calls['reads']} r, {calls['writes']} w); per second mean "
            f"{r['calls_per_second_mean']}, max {r['calls_per_second_max']} (one subscription max "
            f"{r['calls_per_second_max_one_subscription']}; budget {r['budget_per_subscription']}); "
            f"429s {r['status_429_from_emulator']} {r['status_429_at_seconds'][:12] or ''}",
        )
        row(
            "restart: busiest seconds",
            ", ".join(f"+{i} s: {r['calls_per_second_series'][i]}" for i in r["busiest_seconds_at"])
            + f"; first 10 s: {r['calls_per_second_series'][:10]}",
        )
        row("restart: passes by result", ", ".join(f"{k} {v}" for k, v in sorted(r["passes"].items())))
        posted = r["warning_events_posted"]
        row(
            "restart: Warning Events",
            f"{sum(posted.values())}"
            + (": " + ", ".join(f"{k} x{v}" for k, v in sorted(posted.items())) if posted else ""),
        )
        row("restart: log lines", ", ".join(f"{k!r} {v}" for k, v in r["log_lines"].items()))
        row("restart: operator RSS", f"peak {r['operator_peak_rss_mib']} MiB, now {r['operator_rss_mib']} MiB")
        row("restart: CPU s", ", ".join(f"{k} {v}" for k, v in sorted(r["cpu_seconds"].items(), key=lambda kv: -kv[1])))
    e = results.get("emulator_profile")
    if e:
        row("emulator cProfile", f"{e['profiled_seconds']} s profiled over the convergence (cProfile slows it)")
        row("  own time %", "; ".join(f"{k} {v}" for k, v in e["own_top_percent"]))
        row("  ours, inclusive %", "; ".join(f"{k} {v}" for k, v in e["ours_inclusive_percent"]))
    t = results.get("tracemalloc")
    if t:
        row(
            "tracemalloc (traced MiB)",
            f"idle {t['idle_traced_mib']}, converged {t['converged_traced_mib']}"
            " (tracing inflates RSS; a run without --tracemalloc gives the RSS figures)",
        )
        row("  idle, by owner (MiB)", "; ".join(f"{k} {v}" for k, v in t["idle_top_mib"]))
        row("  grown, by owner (KiB/vault)", "; ".join(f"{k} {v}" for k, v in t["grown_top_kib_per_vault"]))
        row("  grown, by line (KiB)", "; ".join(f"{k} {v}" for k, v in t["grown_top_lines_kib"]))
    d = results.get("steady")
    if d:
        row(
            f"steady: {d['seconds']} s of drift checks",
            f"every {d['drift_interval']} s; operator CPU {d['operator_cpu_seconds']} s = "
            f"{d['operator_cpu_seconds_per_hour']} CPU s per hour",
        )
        row(
            "steady: calls per vault per interval",
            f"reads {d['reads_per_vault_per_interval']} ("
            + ", ".join(f"{k} {v}" for k, v in d["reads_by_provider_per_vault_per_interval"].items())
            + f"), writes {d['writes_per_vault_per_interval']}; passes {d['passes_per_vault_per_interval']} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(d['passes'].items()))})",
        )
        row(
            "steady: operator RSS",
            f"{d['rss_first_mib']} -> {d['rss_last_mib']} MiB, slope {d['rss_slope_mib_per_hour']} MiB/h "
            f"over {len(d['rss_samples'])} samples; peak {d['operator_peak_rss_mib']} MiB",
        )
    poll = results.get("list_poll_cost")
    if poll:
        row(
            "the bench's LIST, alone",
            f"{poll['seconds_per_list']} s each; CPU s per LIST: "
            + ", ".join(f"{k} {v}" for k, v in poll["cpu_seconds_per_list"].items()),
        )
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vaults", type=int, default=200)
    parser.add_argument("--subscriptions", type=int, default=4)
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="documented")
    parser.add_argument("--ca", choices=("file", "env"), default="file")
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--drift-interval", type=int, default=60)
    parser.add_argument(
        "--steady",
        type=float,
        default=0,
        help="with --restart: then watch this many s of drift checks alone (CPU per hour, calls, RSS slope)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run the first operator under tracemalloc (bench/memory_probe.py): where its memory goes",
    )
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="profile the sandbox's main thread (the emulator) over the convergence (bench/cpu_probe.py)",
    )
    parser.add_argument("--passes-per-subscription", type=int, default=None, help="the operator's default: 4")
    parser.add_argument("--timeout", type=float, default=900, help="give up on convergence after this many s")
    parser.add_argument("--out", type=pathlib.Path, help="also write the figures here as JSON")
    parser.add_argument("--work", type=pathlib.Path, help="keep logs here (default: a temp dir, removed)")
    parser.add_argument("--py-spy", help="a py-spy binary: profile the operator and the emulator while converging")
    args = parser.parse_args(argv)
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        results = run(args, args.work)
    else:
        scratch = tempfile.mkdtemp(prefix="bench-scale-")
        try:
            results = run(args, pathlib.Path(scratch))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
