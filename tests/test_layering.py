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
    ("only azure/client.py imports the Azure SDK", lambda rel: rel != "azure/client.py", ("azure",)),
    ("reconcile imports neither kopf, the SDK nor the Kubernetes client",
     lambda rel: rel.startswith("reconcile/"), ("kopf", "azure", "kubernetes")),
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
