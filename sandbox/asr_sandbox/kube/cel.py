"""CEL for `x-kubernetes-validations`, through cel-expr-python (Google's cel-cpp).

The environment declares `self` and `oldSelf` as `dyn` and loads the `strings`, `lists` and `optional`
extensions, which cover what the apiserver's CEL offers for ordinary rules (`lowerAscii`, `split`, `.?field`,
`sort`...). The Kubernetes-specific libraries (`url()`, `quantity()`, `isSorted`, `ip()`, `format`) are not
there: a rule using them fails to compile here, which `compile_rule` reports like a CRD compilation error.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from cel_expr_python import cel

_ENV_CONFIG = """
name: kubernetes-crd-validation
extensions:
  - name: strings
  - name: lists
  - name: optional
variables:
  - name: self
    type_name: dyn
  - name: oldSelf
    type_name: dyn
"""


class CelError(Exception):
    """A rule that does not compile, or fails while being evaluated."""


@functools.cache
def _environment():
    return cel.NewEnv(config=cel.NewEnvConfigFromYaml(_ENV_CONFIG))


@functools.lru_cache(maxsize=512)
def compile_rule(rule: str):
    try:
        return _environment().compile(rule)
    except RuntimeError as e:
        raise CelError(_clean(str(e))) from None


def _clean(message: str) -> str:
    message = re.sub(r"^INVALID_ARGUMENT:\s*", "", message)
    return re.sub(r"\s*\[INVALID_ARGUMENT\]\s*$", "", message).strip()


def uses_old_self(rule: str) -> bool:
    """Transition rules mention `oldSelf`; they only run on updates where the old value exists."""
    return re.search(r"\boldSelf\b", rule) is not None


def evaluate(rule: str, self_value: Any, old_self: Any = None) -> Any:
    """The rule's plain value (bool for rules, string for messageExpressions); CelError on evaluation errors."""
    expression = compile_rule(rule)
    data = {"self": self_value}
    if old_self is not None:
        data["oldSelf"] = old_self
    result = expression.eval(data=data)
    if result.type() == cel.Type.ERROR:
        raise CelError(str(result.value()))
    return result.plain_value()
