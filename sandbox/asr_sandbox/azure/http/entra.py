"""A Microsoft Entra ID (Azure AD) stand-in that azure-identity's credentials use unchanged, and ARM's
bearer-token gate in front of every resource provider.

With `disable_instance_discovery=True` MSAL makes exactly two calls: the OpenID configuration, then the token
endpoint. Refusals come in Entra's own AADSTS shape, which differs from ARM's error body.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import json
import time
import uuid
from typing import Any

from aiohttp import web

from ..services.world import World
from ..state.tenant import Principal
from .arm import ArmError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def register(app: web.Application, world: World) -> None:
    """The two endpoints MSAL calls: discovery, then client-credentials tokens."""

    async def openid_configuration(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if tenant.lower() != world.state.tenant_id.lower():
            return _aad_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you "
                "have the correct tenant ID and are signing into the correct cloud.",
            )
        base = f"https://{request.host}/{world.state.tenant_id}"
        return web.json_response(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "WW",
            }
        )

    async def token(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        form = await request.post()
        state = world.state
        if tenant.lower() != state.tenant_id.lower():
            return _aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type "
                f"'{form.get('grant_type')}'; the sandbox issues client_credentials tokens only.",
            )
        client_id = str(form.get("client_id", ""))
        principal = state.principal_by_client_id(client_id)
        if principal is None:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was "
                f"not found in the directory '{state.tenant_id}'. This can happen if the application "
                "has not been installed by the administrator of the tenant or consented to by any user "
                "in the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        refusal = _check_credential(principal, form)
        if refusal is not None:
            return refusal
        scope = str(form.get("scope", "https://management.azure.com/.default"))
        audience = scope.split()[0].removesuffix("/.default") + "/"
        lifetime = world.settings.token_lifetime_seconds
        access_token = world.tokens.issue(principal, state.tenant_id, audience, lifetime)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": access_token,
            }
        )

    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)


def authenticate(world: World, request: web.Request) -> Principal:
    """The principal behind an ARM call's bearer token, or ARM's 401 with a WWW-Authenticate challenge."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise _unauthenticated(
            world, request, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
        )
    scheme, _, token = header.partition(" ")
    resolved = world.tokens.resolve(token.strip()) if scheme.lower() == "bearer" else None
    if resolved is None:
        raise _unauthenticated(world, request, "InvalidAuthenticationToken", "The access token is invalid.")
    object_id, expires = resolved
    if time.time() >= expires:
        expired_at = datetime.datetime.fromtimestamp(expires, datetime.UTC).strftime("%m/%d/%Y %H:%M:%S")
        now_text = datetime.datetime.now(datetime.UTC).strftime("%m/%d/%Y %H:%M:%S")
        raise _unauthenticated(
            world,
            request,
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{expired_at}' is earlier than current UTC time '{now_text}'.",
        )
    principal = world.state.principals.get(object_id.lower())
    if principal is None:
        raise _unauthenticated(
            world,
            request,
            "InvalidAuthenticationToken",
            "The access token is invalid: its principal no longer exists in the directory.",
        )
    return principal


def principal_hint(world: World, request: web.Request) -> str | None:
    """The caller's object id for the request log, without judging the token."""
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    resolved = world.tokens.resolve(token.strip())
    return resolved[0] if resolved else None


def _check_credential(principal: Principal, form: Any) -> web.Response | None:
    secret = form.get("client_secret")
    if secret is not None:
        expected = principal.client_secret
        if expected is None or not hmac.compare_digest(str(secret).encode(), expected.encode()):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret "
                "being sent in the request is the client secret value, not the client secret ID, for "
                f"a secret added to app '{principal.client_id}'.",
            )
        return None
    if form.get("client_assertion_type") == JWT_BEARER and form.get("client_assertion"):
        header = _jwt_header(str(form["client_assertion"]))
        presented = {_thumbprint_hex(header.get(name)) for name in ("x5t", "x5t#S256")} - {None}
        if not principal.certificate_thumbprints or (presented and not presented & principal.certificate_thumbprints):
            return _aad_error(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on application.",
            )
        return None
    return _aad_error(
        401,
        "invalid_client",
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    )


def _jwt_header(assertion: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(_padded(assertion.split(".")[0])))
    except (ValueError, binascii.Error):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _thumbprint_hex(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.urlsafe_b64decode(_padded(value)).hex().upper()
    except (ValueError, binascii.Error):
        return None


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _aad_error(status: int, error: str, code: int, description: str) -> web.Response:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    return web.json_response(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {now}",
            "error_codes": [code],
            "timestamp": now,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status=status,
    )


def _unauthenticated(world: World, request: web.Request, code: str, message: str) -> ArmError:
    challenge = (
        f'Bearer authorization_uri="https://{request.host}/{world.state.tenant_id}", '
        f'error="invalid_token", error_description="{message}"'
    )
    return ArmError(401, code, message, headers={"WWW-Authenticate": challenge})
