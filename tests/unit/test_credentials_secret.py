"""Reading a policy's credentials Secret: every way the read can go wrong ends in a reason, none escapes."""

from __future__ import annotations

import base64
import re

import kubernetes
import pytest

from asr_autoupdate import credentials_secret
from asr_autoupdate.azure.credentials import SecretInvalid


class _CoreApi:
    """Stands in for our own `_core_api()` (the Kubernetes client is the real one everywhere else)."""

    def __init__(self, answer):
        self.answer = answer

    def read_namespaced_secret(self, name, namespace):
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def _secret(**data: str):
    return kubernetes.client.V1Secret(data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()})


@pytest.fixture
def core(monkeypatch):
    def answer_with(answer):
        monkeypatch.setattr(credentials_secret, "_core_api", lambda: _CoreApi(answer))

    return answer_with


REFUSED_BY_RBAC = "cannot be read by the operator (RBAC)"  # docs/credentials.md quotes it


@pytest.mark.parametrize(
    "answer, problem",
    [
        pytest.param(kubernetes.client.ApiException(status=404), "does not exist in the policy's namespace", id="404"),
        pytest.param(kubernetes.client.ApiException(status=403), REFUSED_BY_RBAC, id="403"),
    ],
)
async def test_a_missing_or_forbidden_secret_is_the_users_to_fix(core, answer, problem):
    core(answer)
    with pytest.raises(SecretInvalid, match=re.escape(problem)):
        await credentials_secret.read_service_principal("dr", "azure-sp")


@pytest.mark.parametrize(
    "answer, problem",
    [
        pytest.param(kubernetes.client.ApiException(status=500, reason="boom"), "HTTP 500", id="5xx"),
        pytest.param(kubernetes.client.ApiException(status=0), "no answer", id="no-status"),
        pytest.param(ConnectionResetError("reset"), "ConnectionResetError", id="connection-reset"),
    ],
)
async def test_an_api_failure_is_unreadable_not_invalid(core, answer, problem):
    core(answer)
    with pytest.raises(credentials_secret.SecretUnreadable) as raised:
        await credentials_secret.read_service_principal("dr", "azure-sp")
    assert str(raised.value) == problem


async def test_a_good_secret_reads(core):
    core(_secret(tenantId="t", clientId="c", clientSecret="s3cret"))
    identity = await credentials_secret.read_service_principal("dr", "azure-sp")
    assert identity.client_id == "c" and "s3cret" not in repr(identity)
