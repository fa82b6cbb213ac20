"""What every page owned here must get right: links and anchors resolve, `spec.`/`status.` paths and
`field: value` examples exist in the CRD the page is about (docs/rollouts.md: the fleet's, whose template is a
policy's spec), and the operator flags named exist in `asr-autoupdate run`."""

from __future__ import annotations

import functools
import re

import pytest
import yaml

from tests.docs.docs_kit import CRD_FILE, DOCS, FLEET_CRD_FILE, ROOT

PAGES = ["gitops.md", "credentials.md", "troubleshooting.md", "upgrading.md", "rollouts.md"]
# The pages about fleets: their paths are the fleet CRD's.
FLEET_PAGES = {"rollouts.md"}

# Fields of other tools' objects (Flux Kustomization and HelmRelease) that the pages name.
FOREIGN_PATHS = {"spec.wait", "spec.timeout", "spec.healthChecks", "spec.healthCheckExprs", "spec.upgrade.crds"}


@functools.cache
def crd_schema(file=CRD_FILE) -> dict:
    crd = yaml.safe_load(file.read_text(encoding="utf-8"))
    [version] = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def spec_schema() -> dict:
    return crd_schema()["properties"]["spec"]


def page_schema(page: str) -> dict:
    return crd_schema(FLEET_CRD_FILE if page in FLEET_PAGES else CRD_FILE)


def spec_fields(page: str) -> dict:
    """The `spec` fields a page's `field: value` examples may name (a fleet's template holds a policy's)."""
    spec = page_schema(page)["properties"]["spec"]["properties"]
    if page in FLEET_PAGES:
        return {**spec_schema()["properties"], **spec["template"]["properties"], **spec}
    return spec


def resolve(path: str, schema: dict | None = None) -> bool:
    node = crd_schema() if schema is None else schema
    for part in path.split("."):
        while node.get("type") == "array":
            node = node["items"]
        properties = node.get("properties") or {}
        if part not in properties:
            return False
        node = properties[part]
    return True


def slug(heading: str) -> str:
    """GitHub's heading anchor."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S), re.M)
    return {slug(heading) for heading in headings}


@pytest.mark.parametrize("page", PAGES)
def test_links_and_anchors_resolve(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (DOCS / file_part) if file_part else DOCS / page
        assert linked.exists(), f"{page}: broken link {target}"
        if anchor:
            assert anchor in anchors(linked.read_text(encoding="utf-8")), f"{page}: no anchor {target}"


@pytest.mark.parametrize("page", PAGES)
def test_spec_and_status_paths_exist_in_the_crd(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    paths = set(re.findall(r"(?<![\w./-])((?:spec|status)\.[A-Za-z]+(?:\.[A-Za-z]+)*)", text))
    for path in paths - FOREIGN_PATHS:
        assert resolve(path, page_schema(page)), f"{page}: {path} is not in the CRD schema"


@pytest.mark.parametrize("page", PAGES)
def test_field_value_examples_are_valid(page):
    text = (DOCS / page).read_text(encoding="utf-8")
    spec = spec_fields(page)
    for field, value in re.findall(r"`(\w+): (\w+)`", text):
        if field not in spec:
            continue  # e.g. Flux's `crds: CreateReplace`
        schema = spec[field]
        if "enum" in schema:
            assert value in schema["enum"], f"{page}: {field}: {value}"
        elif schema.get("type") == "boolean":
            assert value in ("true", "false"), f"{page}: {field}: {value}"


def test_operator_flags_named_exist():
    from asr_autoupdate.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["run", "--log-format", "json", "--verbose"])
    assert args.log_format == "json" and args.verbose
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    assert "--log-format json" in text and "`--verbose`" in text


def test_chart_passes_the_log_format():
    from tests.chart.chart_kit import container, render

    args = container(render())["args"]
    assert "--log-format=json" in args


def test_crd_names_named_in_the_pages():
    crd = yaml.safe_load(CRD_FILE.read_text(encoding="utf-8"))
    names = crd["spec"]["names"]
    upgrading = (DOCS / "upgrading.md").read_text(encoding="utf-8")
    assert f"`{names['shortNames'][0]}`" in upgrading and f"`{names['categories'][0]}`" in upgrading
    assert f"crds/{crd['metadata']['name']}.yaml" in upgrading
    assert (ROOT / "crds" / f"{crd['metadata']['name']}.yaml").exists()
