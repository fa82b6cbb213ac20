"""Fixtures of the contract tests: the real server with both CRDs, and an object of each CRD stored with the
status the operator writes."""

from __future__ import annotations

import pytest
import yaml

from tests.contract.crd_kit import (
    FLEET,
    FLEET_EXAMPLES,
    NAMESPACE,
    POLICY,
    fleet_status,
    policy_status,
    renamed,
    store_with_status,
)
from tests.unit.policy_builders import make_policy


@pytest.fixture(scope="module")
def server(kubectl, crd):
    """kubectl as the admin, with both CRDs installed (as a user installs them) and served, and a namespace for
    the objects these tests store."""
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    return kubectl


@pytest.fixture(scope="module")
def with_status(server) -> dict[str, str]:
    """CRD label -> the name of an object stored for real with the status the operator writes: a converged
    policy, and a fleet (the first fleet example) with every status field."""
    policy = renamed(POLICY.object(make_policy().spec, "vault1"), "columns")
    fleet = renamed(FLEET.object(yaml.safe_load(FLEET_EXAMPLES[0].read_text())["spec"], "fleet"), "columns")
    return {
        POLICY.label: store_with_status(server, policy, POLICY.plural, policy_status()),
        FLEET.label: store_with_status(server, fleet, FLEET.plural, fleet_status()),
    }
