"""The chart's RBAC, enforced by the real kube-apiserver: the operator does its whole job under it in both of
the chart's modes, and every single permission it grants is needed.

Each trial renders the chart as a user installs it, applies its ServiceAccount, roles and bindings, mints a
token for the ServiceAccount (TokenRequest) and runs `asr-autoupdate run` with nothing else. The job: find the
policy, add the finalizer, read its credentials Secret, converge Azure, write status, post Events, and on
deletion clean up and let the object go; then a fleet's (discover the vault, create its child policy, write the
fleet's status, and on deletion delete the child and let the fleet go). A trial passes when the job is done and the operator never heard
"forbidden" from the API server (kopf logs a refused Event or CRD watch as a warning and goes on, so the log is
read as well as the outcome). The operator runs as the chart runs it, in kopf's peering (`--peering` and
`--peering-lifetime` from the rendered Deployment) with the chart's peering object applied as `helm install`
creates it: it acts only after its keep-alive is in the peering object, so the peering grants are on trial too.
Each trial has a peering of its own (`peering.name`), so the SIGKILLed operator of the trial before, whose
keep-alive outlives it, never holds the next one back.

Then every grant (API group, resource, verb) is removed in turn, one trial each: the trial must fail. A grant
whose removal goes unnoticed is more than the operator needs, and the test named after it says so.

This module runs its own sandbox: in cluster-wide mode the operator watches every namespace, and the
session's shared server holds other suites' policies.
"""

from __future__ import annotations

import copy
import pathlib
import uuid
from dataclasses import dataclass

import kubernetes
import pytest

from asr_sandbox.admin_client import AdminClient
from asr_sandbox.process import OperatorProcess, SandboxProcess
from tests.chart import chart_kit
from tests.e2e.kit import GROUP, PLURAL, VERSION, condition, fleet, policy, secret_manifest, vault_spec
from tests.kube_kit import (
    Kubectl,
    install_chart_identity,
    install_chart_peering,
    install_crd,
    install_peering_crds,
    service_account_kubeconfig,
)
from tests.support import Timeout, wait_for

MODES = ("cluster-wide", "namespaced")
FLEETS = "mobilityupdatefleets"
JOB_TIMEOUT = 60.0
FORBIDDEN_MARKERS = ("forbidden", "Forbidden", " 403")


@pytest.fixture(scope="module")
def rbac_sandbox(tmp_path_factory):
    with SandboxProcess(tmp_path_factory.mktemp("rbac-sandbox")) as process:
        yield process


@pytest.fixture(scope="module")
def world(rbac_sandbox):
    description = rbac_sandbox.description
    kubectl = Kubectl(description["kubeconfig"])
    install_crd(kubectl)
    install_peering_crds(kubectl)
    client = kubernetes.config.new_client_from_config(config_file=description["kubeconfig"])
    yield World(
        description,
        kubectl,
        kubernetes.client.CoreV1Api(client),
        kubernetes.client.CustomObjectsApi(client),
        AdminClient(description["adminEndpoint"], description["caBundle"]),
    )
    client.close()


@dataclass
class World:
    description: dict
    kubectl: Kubectl
    core: kubernetes.client.CoreV1Api
    custom: kubernetes.client.CustomObjectsApi
    admin: AdminClient


def render(mode: str, namespace: str) -> list[dict]:
    """The chart as a user installs it to run one policy (with a credentials Secret) in `namespace`, with a
    peering of the trial's own."""
    peering = {"peering": {"name": f"trial-{namespace}"}}
    if mode == "namespaced":
        return chart_kit.render({"watchNamespaces": [namespace], **peering})
    return chart_kit.render({"rbac": {"credentialsSecrets": {"namespaces": [namespace]}}, **peering})


def grants(manifests: list[dict]) -> list[tuple[str, str, str, str]]:
    """Every (role, API group, resource, verb) the rendered roles grant."""
    found = []
    for role in chart_kit.of_kind(manifests, "ClusterRole") + chart_kit.of_kind(manifests, "Role"):
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        found.append((role["kind"], group, resource, verb))
    return found


def without(manifests: list[dict], grant: tuple[str, str, str, str]) -> list[dict]:
    """The manifests with one verb of one rule taken out (and the rule dropped if it has no verb left)."""
    kind, group, resource, verb = grant
    manifests = copy.deepcopy(manifests)
    for role in chart_kit.of_kind(manifests, kind):
        rules = []
        for rule in role["rules"]:
            if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
                assert rule["apiGroups"] == [group] and rule["resources"] == [resource], rule
                rule = {**rule, "verbs": [v for v in rule["verbs"] if v != verb]}
            if rule["verbs"]:
                rules.append(rule)
        role["rules"] = rules
    return manifests


@dataclass
class Trial:
    done: bool
    stage: str
    forbidden: list[str]


def run_trial(world: World, mode: str, tmp_path: pathlib.Path, remove: tuple[str, str, str, str] | None) -> Trial:
    """Install the chart's identity (minus `remove`), run the operator as it, and try the whole job."""
    namespace = f"rbac-{uuid.uuid4().hex[:8]}"
    world.admin.reset()
    world.admin.post("config", {"principalPropagationDelaySeconds": 0})
    world.kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    manifests = render(mode, namespace)
    if remove is not None:
        assert remove in grants(manifests), f"the chart no longer grants {remove}"
        manifests = without(manifests, remove)
    install_chart_identity(world.kubectl, manifests, chart_kit.NAMESPACE)
    assert install_chart_peering(world.kubectl, manifests), "the chart creates no peering object"
    peering = [a for a in chart_kit.container(manifests)["args"] if a.startswith("--peering")]
    assert len(peering) == 2, peering
    [account] = chart_kit.of_kind(manifests, "ServiceAccount")
    kubeconfig = service_account_kubeconfig(
        world.core,
        world.description,
        chart_kit.NAMESPACE,
        account["metadata"]["name"],
        tmp_path / f"{namespace}.kubeconfig",
    )
    d = world.description
    world.kubectl.apply(
        secret_manifest(
            namespace, "azure-sp", tenantId=d["tenantId"], clientId=d["clientId"], clientSecret=d["clientSecret"]
        )
    )
    scope = ["-A"] if mode == "cluster-wide" else ["-n", namespace]
    operator = OperatorProcess(
        pathlib.Path(d["kubeconfig"]).parent,
        args=[*scope, *peering, "--drift-tick", "1", "--fleet-tick", "1"],
        log_path=tmp_path / f"{namespace}-operator.log",
        kubeconfig=kubeconfig,
    )
    operator.start()
    try:
        return _attempt_the_job(world, namespace, operator)
    finally:
        operator.kill()
        _remove_policies(world, namespace)


def _remove_policies(world: World, namespace: str) -> None:
    """Let a failed trial's fleet and policies go (their finalizers would keep them), so that the next
    cluster-wide operator does not find them beside its own and see two policies for one vault."""
    for kind, plural in (("mupf", FLEETS), ("mup", PLURAL)):
        for body in world.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]:
            name = body["metadata"]["name"]
            unblock = '{"metadata":{"finalizers":null}}'
            world.kubectl("patch", kind, name, "-n", namespace, "--type=merge", "-p", unblock)
            world.kubectl("delete", kind, name, "-n", namespace, "--ignore-not-found", "--wait=true")


def _attempt_the_job(world: World, namespace: str, operator: OperatorProcess) -> Trial:
    def forbidden() -> list[str]:
        return [line for line in operator.log_text().splitlines() if any(m in line for m in FORBIDDEN_MARKERS)]

    def until(stage: str, check) -> Trial | None:
        """None when `check` holds; a failed Trial when the server said forbidden first, or at the deadline."""

        def outcome():
            if refused := forbidden():
                return Trial(False, stage, refused)
            return check()

        try:
            result = wait_for(outcome, timeout=JOB_TIMEOUT, interval=0.2, what=stage)
        except Timeout:
            return Trial(False, stage, forbidden())
        return result if isinstance(result, Trial) else None

    world.kubectl.apply(
        policy("vault", namespace, vault_spec(world.description, 0), credentialsSecretRef={"name": "azure-sp"})
    )

    def ready() -> bool | Trial:
        body = world.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "vault")
        stalled = condition(body, "Stalled")
        if stalled.get("status") == "True":  # e.g. the credentials Secret could not be read
            return Trial(False, "converge", [f"Stalled: {stalled.get('reason')}: {stalled.get('message')}"])
        return (
            condition(body, "Ready").get("status") == "True"
            and body["status"].get("observedGeneration") == body["metadata"]["generation"]
        )

    def events_posted() -> bool:
        return any(e.involved_object.name == "vault" for e in world.core.list_namespaced_event(namespace).items)

    def gone() -> bool:
        return not world.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]

    if failed := until("converge", ready):
        return failed
    if failed := until("post an Event", events_posted):
        return failed
    world.kubectl("delete", "mup", "vault", "-n", namespace, "--wait=false")
    if failed := until("clean up on deletion", gone):
        return failed

    vault = vault_spec(world.description, 0)
    world.kubectl.apply(
        fleet(
            "fleet",
            namespace,
            [vault["subscriptionId"]],
            {"resourceGroups": [vault["resourceGroup"]], "names": [vault["name"]]},
            {"updateMode": "Automatic", "credentialsSecretRef": {"name": "azure-sp"}},
        )
    )

    def fleet_ready() -> bool:
        body = world.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, FLEETS, "fleet")
        return (
            condition(body, "Ready").get("status") == "True" and (body["status"].get("totals") or {}).get("ready") == 1
        )

    def fleet_gone() -> bool:
        return not world.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, FLEETS)["items"] and gone()

    if failed := until("a fleet converges through its child", fleet_ready):
        return failed
    world.kubectl("delete", "mupf", "fleet", "-n", namespace, "--wait=false")
    if failed := until("a fleet and its child go on deletion", fleet_gone):
        return failed
    return Trial(True, "done", forbidden())


@pytest.mark.parametrize("mode", MODES)
def test_the_operator_does_its_whole_job_under_the_chart_rbac(world, tmp_path, mode):
    trial = run_trial(world, mode, tmp_path, remove=None)
    assert trial.done and not trial.forbidden, f"stopped at {trial.stage}: {trial.forbidden}"


def _grant_cases() -> list:
    cases = []
    for mode in MODES:
        for grant in grants(render(mode, "trial")):
            kind, group, resource, verb = grant
            cases.append(pytest.param(mode, grant, id=f"{mode}:{kind}:{group or 'core'}/{resource}:{verb}"))
    return cases


@pytest.mark.parametrize("mode, grant", _grant_cases())
def test_every_grant_is_needed(world, tmp_path, mode, grant):
    trial = run_trial(world, mode, tmp_path, remove=grant)
    print(f"without {grant}: stopped at {trial.stage}: {trial.forbidden[:3]}")
    assert not (trial.done and not trial.forbidden), (
        f"the operator did its whole job without {grant} in {mode} mode: the chart grants more than it needs"
    )
