"""Regenerate `tests/chart/operator-requests.json` from the Kubernetes emulator's request log.

Run it after the end-to-end suite (or any session in which `asr-autoupdate run` talked to the sandbox), while
the sandbox still runs, with the emulator's address (`kubeEndpoint` in `sandbox.json`):

    python tests/chart/record_requests.py --kube http://127.0.0.1:PORT --mode namespaced

`GET <kube>/_kube/requests` returns the log as a JSON list (or `{"requests": [...]}`) of entries with at least
`method, path, query, verb, resource, namespace, status` (and, where the emulator knows them, `group` and
`subresource`). `--from-file LOG.json` reads a saved log instead. The result is one line per distinct
(mode, verb, group, resource, subresource, cluster scope or a namespace) that `tests/chart/test_rbac.py` checks against the
chart's RBAC: every request must be granted, and nothing may be granted that no request (or a listed
allowance) needs.

The log also holds the test harness's own calls (kubectl, the `kubernetes` client creating namespaces,
Secrets and policies). Entries carrying a `userAgent` are kept only when it matches `--user-agent`
(default: kopf's and the `kubernetes` client's); calls the operator never makes by design are dropped with
`--exclude VERB:GROUP/RESOURCE` patterns (the defaults are printed by `--help`). Discovery (`/api`, `/apis`,
`/version`: allowed to every authenticated user by `system:discovery`), requests that failed with 404, and
the emulator's own `/_kube` endpoints are not recorded. `why` notes of an existing file are carried over.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import pathlib
import re
import sys
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "operator-requests.json"

# What the e2e harness does and the operator never does (the chart grants none of it, so a real operator call
# of this shape would show up as a missing grant only if it is not excluded here: keep the list short).
DEFAULT_EXCLUDES = (
    "get:/namespaces",
    "create:/namespaces",
    "patch:/namespaces",
    "update:/namespaces",
    "delete:/namespaces",
    "get:/events",
    "list:/events",
    "watch:/events",
    "create:/secrets",
    "delete:/secrets",
    "update:/secrets",
    "patch:/secrets",
    "create:asr.autoupdate.dev/mobilityupdatepolicies",
    "update:asr.autoupdate.dev/mobilityupdatepolicies",
    "delete:asr.autoupdate.dev/mobilityupdatepolicies",
    "deletecollection:*",
    "*:apiextensions.k8s.io/customresourcedefinitions/status",
    "get:apiextensions.k8s.io/customresourcedefinitions",
    "create:apiextensions.k8s.io/customresourcedefinitions",
    "patch:apiextensions.k8s.io/customresourcedefinitions",
    "delete:apiextensions.k8s.io/customresourcedefinitions",
)
DEFAULT_USER_AGENT = r"^(kopf/|OpenAPI-Generator/)"
KEY_FIELDS = ("mode", "verb", "group", "resource", "subresource", "namespace")


def load_log(kube: str | None, from_file: str | None) -> list[dict]:
    if from_file:
        data = json.loads(pathlib.Path(from_file).read_text())
    else:
        with urllib.request.urlopen(kube.rstrip("/") + "/_kube/requests", timeout=30) as response:  # noqa: S310
            data = json.load(response)
    if isinstance(data, dict):
        data = data.get("requests", [])
    if not isinstance(data, list):
        raise SystemExit("the request log is neither a JSON list nor {'requests': [...]}")
    return data


def _excluded(entry: dict, patterns: list[str]) -> bool:
    subject = f"{entry['group'] or ''}/{entry['resource']}"
    if entry.get("subresource"):
        subject += f"/{entry['subresource']}"
    return any(
        fnmatch.fnmatchcase(entry["verb"], verb) and fnmatch.fnmatchcase(subject, what)
        for verb, _, what in (pattern.partition(":") for pattern in patterns)
    )


def infer_mode(entries: list[dict]) -> str:
    """A cluster-scope list of policies means `--all-namespaces`; otherwise the operator ran with `-n`."""
    for entry in entries:
        if entry.get("resource") == "mobilityupdatepolicies" and entry.get("verb") in ("list", "watch"):
            return "cluster-wide" if not entry.get("namespace") else "namespaced"
    return "cluster-wide"


def distinct_requests(log: list[dict], *, mode: str | None, excludes: list[str], user_agent: str) -> list[dict]:
    agent = re.compile(user_agent)
    kept = []
    for entry in log:
        if not entry.get("resource") or not entry.get("verb") or entry.get("path", "").startswith("/_kube"):
            continue  # discovery and the emulator's own endpoints
        if entry.get("status") == 404:
            continue
        if "userAgent" in entry and not agent.search(entry.get("userAgent") or ""):
            continue
        entry = {**entry, "group": entry.get("group") or "", "subresource": entry.get("subresource") or None}
        if _excluded(entry, excludes):
            continue
        kept.append(entry)
    run_mode = mode or infer_mode(kept)
    seen: dict[tuple, dict] = {}
    for entry in kept:
        record = {
            "mode": run_mode,
            "verb": entry["verb"],
            "group": entry["group"],
            "resource": entry["resource"],
            "subresource": entry["subresource"],
            "namespace": entry.get("namespace") or None,
        }
        # One line per shape: which namespace a namespaced call went to does not change what RBAC must allow.
        key = tuple(record[k] for k in KEY_FIELDS[:-1]) + (record["namespace"] is not None,)
        seen.setdefault(key, record)
    return [seen[key] for key in sorted(seen, key=lambda k: tuple("" if v is None else str(v) for v in k))]


def merge(existing: list[dict], recorded: list[dict], *, keep_other_modes: bool) -> list[dict]:
    """Keep the `why` notes; entries of the recorded mode are replaced, those of the other mode kept or not."""
    why = {(e.get("verb"), e.get("group") or "", e.get("resource"), e.get("subresource")): e.get("why")
           for e in existing if e.get("why")}
    modes = {r["mode"] for r in recorded}
    result = [e for e in existing if e.get("mode") not in modes] if keep_other_modes else []
    for record in recorded:
        note = why.get((record["verb"], record["group"], record["resource"], record["subresource"]))
        result.append({**record, **({"why": note} if note else {})})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--kube", help="the Kubernetes emulator's base URL (kubeEndpoint in sandbox.json)")
    source.add_argument("--from-file", help="a saved copy of GET <kube>/_kube/requests")
    parser.add_argument("--mode", choices=("cluster-wide", "namespaced"),
                        help="how the operator ran (default: inferred from its policy list/watch calls)")
    parser.add_argument("--exclude", action="append", default=None, metavar="VERB:GROUP/RESOURCE",
                        help="drop the harness's calls (fnmatch patterns; core group is empty). "
                             f"Default: {', '.join(DEFAULT_EXCLUDES)}")
    parser.add_argument("--user-agent", default=DEFAULT_USER_AGENT,
                        help="keep entries whose userAgent matches (when the log records it)")
    parser.add_argument("--replace", action="store_true",
                        help="replace the whole file instead of only the entries of the recorded mode")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT))
    args = parser.parse_args(argv)

    log = load_log(args.kube, args.from_file)
    recorded = distinct_requests(log, mode=args.mode, excludes=list(args.exclude or DEFAULT_EXCLUDES),
                                 user_agent=args.user_agent)
    if not recorded:
        print("no operator request in the log: was the operator running against this emulator?", file=sys.stderr)
        return 1
    output = pathlib.Path(args.output)
    existing = json.loads(output.read_text()) if output.exists() else []
    result = merge(existing, recorded, keep_other_modes=not args.replace)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(recorded)} distinct requests ({recorded[0]['mode']}) written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
