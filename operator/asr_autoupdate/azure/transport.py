"""The HTTP transport of every SDK client and credential: one TLS context per CA, kept-alive connections.

It exists because azure-core's aiohttp transport, given a CA file as `connection_verify`, builds a new
`ssl.SSLContext` for every request and hands it to aiohttp, whose connection pool is keyed by that context:
no connection was ever reused, every ARM call paid a TLS handshake, and each context's copy of the CAs stayed
in memory with the idle connection that held it. So the operator never passes `connection_verify`. Instead:

* **One `ssl.SSLContext` per CA source for the process** (`ssl_context`), built on first use and cached by
  where its CAs come from (`trust`): `AzureSettings.ca_bundle`, else `REQUESTS_CA_BUNDLE`, else OpenSSL's
  defaults (which honour `SSL_CERT_FILE` and `SSL_CERT_DIR`), the order `credentials.py` documents. The file
  is read once: a CA changed on disk takes effect when the operator restarts.
* **One aiohttp session per `ConnectionPool`**, its connector made with that context, shared by the SDK
  clients given its transports (`ConnectionPool.transport`). azure-core then leaves each request's `ssl` unset
  (verify is True), so aiohttp uses the connector's context and keeps connections alive between requests.
  `pipeline.SubscriptionClients` owns one for its four management clients, `client.AzureClient` one for its
  credential; each closes its own in `close()`.

The session is made on the first request, in the running event loop (aiohttp needs one), inside the SDK's
pipeline: an unreadable CA file is then an error of that request, as it was when azure-core read it.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

# the module itself, as azure-core's own pipeline client imports it: the package's lazy export is untyped
from azure.core.pipeline.transport._aiohttp import AioHttpTransport

REQUESTS_CA_BUNDLE = "REQUESTS_CA_BUNDLE"  # azure-core's requests transport honours it; its aiohttp one does not
SSL_CERT_FILE = "SSL_CERT_FILE"  # OpenSSL's own variables, read by `ssl.create_default_context()`
SSL_CERT_DIR = "SSL_CERT_DIR"


@dataclasses.dataclass(frozen=True)
class Trust:
    """Where a TLS context's CAs come from: a PEM file or a directory (`path`), or OpenSSL's default paths,
    with the `SSL_CERT_FILE` / `SSL_CERT_DIR` they were read with (so a changed variable is another source)."""

    path: str | None = None
    default_file: str | None = None
    default_dir: str | None = None


def trust(ca_bundle: str | None, environ: Mapping[str, str] | None = None) -> Trust:
    """The CA source for `AzureSettings.ca_bundle`: itself, else `REQUESTS_CA_BUNDLE`, else OpenSSL's defaults."""
    env = os.environ if environ is None else environ
    path = ca_bundle or env.get(REQUESTS_CA_BUNDLE) or None
    if path:
        return Trust(path=path)
    return Trust(default_file=env.get(SSL_CERT_FILE) or None, default_dir=env.get(SSL_CERT_DIR) or None)


_CONTEXTS: dict[Trust, ssl.SSLContext] = {}


def ssl_context(source: Trust) -> ssl.SSLContext:
    """The process's one verifying context for `source`, made on first use (it reads the CAs from disk)."""
    context = _CONTEXTS.get(source)
    if context is None:
        if source.path is None:
            context = ssl.create_default_context()
        elif os.path.isdir(source.path):
            context = ssl.create_default_context(capath=source.path)
        else:
            context = ssl.create_default_context(cafile=source.path)
        context.set_alpn_protocols(["http/1.1"])  # as aiohttp's own default context does
        context = _CONTEXTS.setdefault(source, context)
    return context


class ConnectionPool:
    """One aiohttp session, i.e. one pool of kept-alive TLS connections, for the SDK clients given its transports.

    Made on the first request and closed by `close()`, which its owner calls: transports only borrow it.
    """

    def __init__(self, ca_bundle: str | None):
        self._ca_bundle = ca_bundle
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def session(self) -> aiohttp.ClientSession:
        """The session, made now if this is the first request (there is a running event loop: a request is sent)."""
        if self._closed:
            raise RuntimeError("the HTTP connection pool is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=ssl_context(trust(self._ca_bundle)))
            # what azure-core's own session is made with: proxies from the environment, no cookies, and the
            # response's Content-Encoding left to azure-core
            self._session = aiohttp.ClientSession(
                connector=connector, trust_env=True, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
            )
        return self._session

    def transport(self, **connection: Any) -> AioHttpTransport:
        """A transport over this pool's session; `connection` is azure-core's per-transport configuration
        (`connection_timeout`, `read_timeout`), applied to each request as before."""
        return _PooledTransport(self, **connection)

    @property
    def opened(self) -> bool:
        """Whether a session was made (for tests)."""
        return self._session is not None

    async def close(self) -> None:
        """Close the session and its connections; the pool cannot be used afterwards."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class _PooledTransport(AioHttpTransport):
    """azure-core's aiohttp transport over a `ConnectionPool`'s session, which it borrows and never closes.

    `AioHttpTransport(session=..., session_owner=False)` would do, but it needs the session when it is made, and
    a session needs a running event loop; this one takes it when the pipeline opens the transport for a request.
    """

    def __init__(self, pool: ConnectionPool, **connection: Any):
        super().__init__(**connection)
        self._pool = pool

    async def open(self) -> None:
        self.session = self._pool.session()
        await super().open()  # type: ignore[no-untyped-call]  # with a session set, it only enters it

    async def close(self) -> None:
        self.session = None  # the pool's owner closes the session
