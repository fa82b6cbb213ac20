"""The house rules of design/architecture.md, checked on the source rather than trusted.

Like kopf's own layer checks: each module's imports are read from its AST, so a rule broken by a lazy
import inside a function is caught too.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRODUCT = ROOT / "operator" / "asr_autoupdate"


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def product_modules() -> list[pathlib.Path]:
    return sorted(PRODUCT.rglob("*.py"))


def _is(module: str, *roots: str) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def relative(path: pathlib.Path) -> str:
    return str(path.relative_to(PRODUCT))


RULES = [
    # (rule id, which files, forbidden import roots)
    ("only handlers import kopf", lambda rel: rel != "handlers.py", ("kopf",)),
    (
        "only the Azure adapter's SDK modules import the Azure SDK (wire, port, errors and throttle stay plain)",
        lambda rel: (
            rel
            not in {
                "azure/client.py",
                "azure/credentials.py",
                "azure/pipeline.py",
                "azure/sdk_errors.py",
                "azure/transport.py",
            }
        ),
        ("azure",),
    ),
    (
        "reconcile imports neither kopf, the SDK nor the Kubernetes client",
        lambda rel: rel.startswith("reconcile/"),
        ("kopf", "azure", "kubernetes"),
    ),
    ("api is plain data", lambda rel: rel.startswith("api/"), ("kopf", "azure", "kubernetes", "aiohttp")),
    ("the operator never imports the sandbox", lambda rel: True, ("asr_sandbox",)),
]


@pytest.mark.parametrize("rule, applies, forbidden", RULES, ids=[rule[0] for rule in RULES])
def test_layering(rule, applies, forbidden):
    offences = [
        f"{relative(path)} imports {module}"
        for path in product_modules()
        if applies(relative(path))
        for module in sorted(imported_modules(path))
        if _is(module, *forbidden)
    ]
    assert not offences, f"{rule}: " + "; ".join(offences)


def test_no_package_named_operator():
    """`operator/` is a source root; a package there named `operator` would shadow the standard library."""
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_rules_can_fail(tmp_path):
    """The checker itself sees imports, including lazy ones inside functions."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import kopf\n    from azure.core import exceptions\n")
    assert imported_modules(sample) == {"kopf", "azure.core"}


# --- import cycles ------------------------------------------------------------------------------------------

PACKAGES = {"asr_autoupdate": PRODUCT, "asr_sandbox": ROOT / "sandbox" / "asr_sandbox"}


def module_name(path: pathlib.Path, package: str, root: pathlib.Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str, root: pathlib.Path) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports (lazy imports included; `from pkg import sub` is an
    edge to the submodule when `sub` is one, otherwise to `pkg`)."""
    paths = {module_name(path, package, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in paths else base for alias in node.names]
            else:
                continue
            edges |= {target for target in targets if target in paths and target != name}
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycles(package):
    found = cycles(import_graph(package, PACKAGES[package]))
    assert not found, "import circles: " + "; ".join(" <-> ".join(component) for component in found)


def test_the_cycle_check_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
