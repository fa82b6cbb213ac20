"""What the documentation tests share: the docs as text, the health checks as runnable code, and sample objects
whose status comes from the operator's own report code.

The three readers of a policy's health are reproduced here, each as its tool does it:

* Argo CD runs `docs/gitops/argocd-health.lua` in gopher-lua (Lua 5.1) with the base and table libraries only
  (`useOpenLibs` off); `argocd_health` runs it in Lua 5.1 (lupa) with the same globals.
* Flux evaluates `healthCheckExprs` with cel-go after parsing only (no type check, undeclared variables are
  the object's top-level fields), after its own observedGeneration check, in the order inProgress, failed,
  current, and InProgress when none is true (fluxcd/pkg runtime/cel/status_evaluator.go). `flux_health`
  does the same with cel-expr-python, whose `compile(..., disable_check=True)` also only parses.
* kstatus (Flux `wait: true` without expressions, `kubectl` tools built on cli-utils) as
  sigs.k8s.io/cli-utils pkg/kstatus/status computes it for a custom resource.
"""

from __future__ import annotations

import copy
import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from cel_expr_python import cel
from lupa import lua51

from asr_autoupdate.api import GROUP, KIND, VERSION
from asr_autoupdate.api.conditions import ConditionType
from asr_autoupdate.api.reasons import REASONS, Reason, fields_of
from asr_autoupdate.reconcile import PolicyInput, blocked

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LUA_FILE = DOCS / "gitops" / "argocd-health.lua"
FLUX_FILE = DOCS / "gitops" / "flux-kustomization.yaml"
CRD_FILE = ROOT / "crds" / "mobilityupdatepolicies.asr.autoupdate.dev.yaml"
FLEET_CRD_FILE = ROOT / "crds" / "mobilityupdatefleets.asr.autoupdate.dev.yaml"
API_VERSION = f"{GROUP}/{VERSION}"
NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def fenced_blocks(markdown: str, language: str | None = None) -> list[str]:
    """The contents of the fenced code blocks (```lang ... ```), optionally only those of one language."""
    blocks = []
    for match in re.finditer(r"^```([A-Za-z0-9_-]*)[^\n]*\n(.*?)^```[ \t]*$", markdown, re.M | re.S):
        if language is None or match.group(1) == language:
            blocks.append(match.group(2))
    return blocks


def markdown_table(markdown: str, first_header: str) -> list[list[str]]:
    """The body rows of the first table whose first header cell is `first_header`, as stripped cells."""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        cells = _cells(line)
        if cells and cells[0] == first_header:
            rows = []
            for body in lines[index + 2 :]:
                if not body.startswith("|"):
                    break
                rows.append(_cells(body))
            return rows
    raise AssertionError(f"no table with first header {first_header!r}")


def _cells(line: str) -> list[str]:
    if not line.startswith("|"):
        return []
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


# --- sample objects ------------------------------------------------------------------------------------------

SPEC = {
    "vault": {
        "subscriptionId": "3f1c9a52-7d4e-4b8a-9c61-2e5f8d0a4b17",
        "resourceGroup": "rg-asr-weu",
        "name": "rsv-weu-prod",
    },
    "updateMode": "Automatic",
}


def policy_object(status: dict[str, Any] | None, *, generation: int = 1) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": "rsv-weu-prod",
            "namespace": "asr-fleet",
            "generation": generation,
            "uid": "cec02e8d-8902-44b0-b31f-beceae0ab4d9",
        },
        "spec": copy.deepcopy(SPEC),
    }
    if status is not None:
        body["status"] = copy.deepcopy(status)
    return body


def placeholder_fields(reason: Reason) -> dict[str, str]:
    """`<name>` for every field the reason's message template names."""
    return {name: f"<{name}>" for name in fields_of(reason)}


def status_for(reason: Reason, *, generation: int = 1) -> dict[str, Any]:
    """The status the operator writes when `reason` speaks for Ready (its own report code builds it)."""
    policy = PolicyInput(namespace="asr-fleet", name="rsv-weu-prod", generation=generation, spec=SPEC)
    return blocked(policy, NOW, reason, **placeholder_fields(reason)).status


def sample(reason: Reason, *, generation: int = 1, observed: int | None = None) -> dict[str, Any]:
    """A policy whose Ready speaks `reason`; `observed` < `generation` makes it a stale status."""
    status = status_for(reason, generation=generation if observed is None else observed)
    return policy_object(status, generation=generation)


def condition(body: dict[str, Any], kind: ConditionType | str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == str(kind))


def summary_reasons() -> list[Reason]:
    """Reasons that can speak for Ready, Reconciling and Stalled."""
    return [reason for reason, info in REASONS.items() if ConditionType.READY in info.conditions]


# --- Argo CD ----------------------------------------------------------------------------------------------------

# The globals gopher-lua offers Argo CD's health scripts without useOpenLibs: the base library and `table`
# (plus package/os, which a health check has no use for). No `string` library, so no `string.format`.
_BASE = (
    "assert",
    "error",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "select",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "table",
)


@functools.cache
def _lua() -> Any:
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runner = runtime.eval(
        "function(source, obj, names)\n"
        "  local chunk = assert(loadstring(source, 'argocd-health.lua'))\n"
        "  local env = { obj = obj }\n"
        "  for _, name in ipairs(names) do env[name] = _G[name] end\n"
        "  setfenv(chunk, env)\n"
        "  return chunk()\n"
        "end"
    )
    return runtime, runner


def argocd_health(body: dict[str, Any], source: str | None = None) -> dict[str, str]:
    """Argo CD's health of `body` by the Lua script: {"status": ..., "message": ...}."""
    runtime, runner = _lua()
    script = LUA_FILE.read_text(encoding="utf-8") if source is None else source
    result = runner(script, runtime.table_from(body, recursive=True), runtime.table_from(list(_BASE)))
    return {key: result[key] for key in ("status", "message") if result[key] is not None}


# --- Flux --------------------------------------------------------------------------------------------------------

# cel-go options Flux sets (runtime/cel/expression.go): OptionalTypes, ext.Strings, ext.Sets, ext.Encoders.
_FLUX_CEL = """
name: flux-healthcheck
extensions:
  - name: optional
  - name: strings
  - name: sets
  - name: encoders
"""


@functools.cache
def _cel_env() -> Any:
    return cel.NewEnv(config=cel.NewEnvConfigFromYaml(_FLUX_CEL))


def flux_kustomization() -> dict[str, Any]:
    return yaml.safe_load(FLUX_FILE.read_text(encoding="utf-8"))


def flux_expressions() -> dict[str, str]:
    entries = [
        entry
        for entry in flux_kustomization()["spec"]["healthCheckExprs"]
        if entry["apiVersion"] == API_VERSION and entry["kind"] == KIND
    ]
    assert len(entries) == 1, entries
    return {key: entries[0][key] for key in ("inProgress", "failed", "current") if key in entries[0]}


def cel_eval(expression: str, body: dict[str, Any]) -> bool:
    """One expression as Flux evaluates it: parsed only, the object's top-level fields as variables."""
    result = _cel_env().compile(expression, disable_check=True).eval(data=body)
    if result.type() == cel.Type.ERROR:
        raise CelError(str(result.value()))
    value = result.value()
    if not isinstance(value, bool):
        raise CelError(f"{expression!r} is not a boolean: {value!r}")
    return value


class CelError(Exception):
    """Flux reports the object as Unknown (and keeps waiting) when an expression fails to evaluate."""


def flux_health(
    body: dict[str, Any], expressions: dict[str, str] | None = None, *, generation_check: bool = True
) -> str:
    """InProgress, Failed, Current, or Unknown (an expression failed), as Flux's StatusEvaluator decides."""
    expressions = flux_expressions() if expressions is None else expressions
    observed = (body.get("status") or {}).get("observedGeneration")
    if generation_check and observed is not None and observed != body["metadata"].get("generation"):
        return "InProgress"
    for key, verdict in (("inProgress", "InProgress"), ("failed", "Failed"), ("current", "Current")):
        if key not in expressions:
            continue
        try:
            if cel_eval(expressions[key], body):
                return verdict
        except CelError:
            return "Unknown"
    return "InProgress"


# --- kstatus -----------------------------------------------------------------------------------------------------


def kstatus(body: dict[str, Any]) -> str:
    """kstatus' Compute for a custom resource (generic.go, then the Ready fallback, then Current)."""
    if body["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    if generation is not None and "observedGeneration" in status and status["observedGeneration"] != generation:
        return "InProgress"
    conditions = status.get("conditions") or []
    for entry in conditions:
        if entry["type"] == "Reconciling" and entry["status"] == "True":
            return "InProgress"
        if entry["type"] == "Stalled" and entry["status"] == "True":
            return "Failed"
    for entry in conditions:
        if entry["type"] == "Ready":
            if entry["status"] == "True":
                return "Current"
            if entry["status"] in ("False", "Unknown"):
                return "InProgress"
    return "Current"
