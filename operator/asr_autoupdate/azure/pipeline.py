"""The SDK clients of one subscription, and the pipeline every one of them is built with.

It exists because two rules must hold for every request whichever SDK makes it, and azure-core's pipeline
is the one place the four management clients (Automation, Recovery Services, Site Recovery, Authorization)
have in common:

* **One request budget per subscription for the whole process.** `SubscriptionBudgetPolicy` (added through
  azure-core's `per_retry_policies`, the SDK's extension point) waits on `throttle.BudgetRegistry` before
  each attempt and tells it about every answer, so a 429 seen by one policy's call holds every other call to
  that subscription until the Retry-After passes.
* **Short waits only.** `BoundedRetryPolicy` keeps the SDK's own retries (`AzureSettings.retry_total`) but
  never sleeps on a Retry-After longer than `max_retry_after`; what is left over surfaces as a
  `ThrottledError` for the reconciler to requeue.

The four clients of a subscription also share one pool of kept-alive TLS connections (`transport.py`): no
`connection_verify` is passed, since azure-core would build a TLS context, and so a new connection, per request.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import AsyncHTTPPolicy, AsyncRetryPolicy
from azure.core.pipeline.transport._aiohttp import AioHttpTransport
from azure.core.rest import AsyncHttpResponse, HttpRequest
from azure.mgmt.authorization.aio import AuthorizationManagementClient
from azure.mgmt.automation.aio import AutomationClient
from azure.mgmt.recoveryservices.aio import RecoveryServicesClient
from azure.mgmt.recoveryservicessiterecovery.aio import SiteRecoveryManagementClient

from asr_autoupdate.azure import throttle, transport
from asr_autoupdate.azure.clock import AzureClock, azure_clock
from asr_autoupdate.azure.credentials import AzureSettings

log = logging.getLogger(__name__)


class SubscriptionBudgetPolicy(AsyncHTTPPolicy[HttpRequest, AsyncHttpResponse]):
    """Charge every attempt to its subscription's budget, and report every answer back to it.

    Placed after the retry policy, so each retry waits on the budget too, and a pause set by another
    client's 429 holds this client's next attempt. Every answer's `Date` also sets Azure's clock (`clock.py`).
    """

    def __init__(self, budgets: throttle.BudgetRegistry, clock: AzureClock | None = None):
        super().__init__()
        self._budgets = budgets
        self._clock = clock or azure_clock()

    async def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, AsyncHttpResponse]:
        http_request = request.http_request
        budget = self._budgets.budget_for_url(http_request.url)
        kind = throttle.request_kind(http_request.method)
        await budget.acquire(kind)
        try:
            response = await self.next.send(request)
        except Exception:
            budget.record(kind, 0, None)
            raise
        http_response = response.http_response
        headers = dict(http_response.headers)
        self._clock.observe(headers.get("Date") or headers.get("date"))
        budget.record(kind, http_response.status_code, throttle.parse_retry_after(headers), headers=headers)
        return response


class BoundedRetryPolicy(AsyncRetryPolicy[HttpRequest, AsyncHttpResponse]):
    """The SDK's retry policy, except that it never sleeps on a Retry-After longer than `max_retry_after`.

    Such an answer is returned as it is, so the caller gets a ThrottledError carrying the Retry-After
    (the reconciler requeues) instead of a kopf handler sleeping for minutes.
    """

    def __init__(self, *, max_retry_after: float, **kwargs: Any):
        super().__init__(**kwargs)
        self._max_retry_after = max_retry_after

    # Any, Any: azure-core declares this method generic over every transport's request and response types
    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        retry_after = self.get_retry_after(response)
        if retry_after is not None and retry_after > self._max_retry_after:
            return False
        return super().is_retry(settings, response)


class ClientOptions(TypedDict):
    """The keyword arguments every management client is made with (azure-core's pipeline settings)."""

    credential_scopes: list[str]
    polling_interval: float
    retry_policy: BoundedRetryPolicy
    per_retry_policies: list[SubscriptionBudgetPolicy]
    transport: AioHttpTransport


def _client_options(
    settings: AzureSettings, budgets: throttle.BudgetRegistry, connections: transport.ConnectionPool
) -> ClientOptions:
    """Fresh options for one SDK client: policy objects are chained into one pipeline each, so every client
    needs its own instances. Its transport borrows the subscription's connection pool and carries the
    timeouts, which azure-core applies to each request from the transport's configuration."""
    return {
        "credential_scopes": list(settings.scopes),
        "polling_interval": settings.polling_interval,
        "retry_policy": BoundedRetryPolicy(
            max_retry_after=settings.max_retry_after,
            retry_total=settings.retry_total,
            retry_backoff_factor=settings.retry_backoff_factor,
            retry_backoff_max=settings.retry_backoff_max,
        ),
        "per_retry_policies": [SubscriptionBudgetPolicy(budgets)],
        "transport": connections.transport(
            connection_timeout=settings.connection_timeout, read_timeout=settings.read_timeout
        ),
    }


class SubscriptionClients:
    """The four SDK clients for one subscription, sharing one credential, one budget registry and one pool of
    connections (theirs: `close()` closes it)."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        subscription_id: str,
        settings: AzureSettings,
        budgets: throttle.BudgetRegistry,
    ):
        base_url = settings.arm_endpoint
        self.connections = transport.ConnectionPool(settings.ca_bundle)
        pool = self.connections
        self.automation = AutomationClient(
            credential, subscription_id, base_url=base_url, **_client_options(settings, budgets, pool)
        )
        self.vaults = RecoveryServicesClient(
            credential, subscription_id, base_url=base_url, **_client_options(settings, budgets, pool)
        )
        self.site_recovery = SiteRecoveryManagementClient(
            credential, subscription_id, base_url=base_url, **_client_options(settings, budgets, pool)
        )
        self.authorization = AuthorizationManagementClient(
            credential, subscription_id, base_url=base_url, **_client_options(settings, budgets, pool)
        )

    async def close(self) -> None:
        """Close every client even when one fails to, then the connection pool they shared."""
        for client in (self.automation, self.vaults, self.site_recovery, self.authorization):
            try:
                await client.close()
            except Exception:
                log.debug("closing an SDK client failed", exc_info=True)
        try:
            await self.connections.close()
        except Exception:
            log.debug("closing the connection pool failed", exc_info=True)
