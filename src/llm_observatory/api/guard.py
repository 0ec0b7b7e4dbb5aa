"""The dependency in front of every /api/v1 and /graphql request: rate limit, then auth.

The rate limit counts first, keyed by the token's subject when the token is valid and
by the caller's address when it is not, so guessing tokens is limited too. Then a
request without a valid `Authorization: Bearer <JWT>` gets 401 with a
WWW-Authenticate header saying what was wrong. Routes that change data also need
`require_admin`: a valid token without the admin scope gets 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from llm_observatory.api.auth import ADMIN_SCOPE, InvalidToken, Principal, verify_principal
from llm_observatory.api.state import api_state

REALM = "llm-observatory"

# Declares the scheme for OpenAPI (/docs "Authorize"); the header is parsed below, so
# a missing and a malformed header get different messages.
bearer_scheme = HTTPBearer(auto_error=False, description="JWT from `llm-observatory token`")


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _is_graphql_ide_page(request: Request) -> bool:
    """The GraphiQL page itself (static HTML, no data) loads without a token."""
    return (
        request.method == "GET"
        and request.url.path.rstrip("/").endswith("/graphql")
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
        and api_state(request).settings.graphql_playground
    )


async def require_client(
    request: Request,
    response: Response,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
) -> str | None:
    """The authenticated subject; raises 429 or 401."""
    state = api_state(request)
    subject: str | None = None
    problem: str | None = None
    header = request.headers.get("authorization")
    if header is None:
        problem = "missing"
    else:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            problem = "the Authorization header is malformed: use 'Bearer <token>'"
        else:
            try:
                principal = verify_principal(token.strip(), state.settings)
                request.state.principal = principal
                subject = principal.subject
            except InvalidToken as exc:
                problem = str(exc)

    client = f"sub:{subject}" if subject else f"ip:{_client_address(request)}"
    decision = await state.limiter.hit(client)
    if decision is not None and not decision.allowed:
        raise HTTPException(
            status_code=429,
            detail=(
                f"rate limit exceeded: {decision.limit} requests per "
                f"{state.settings.rate_limit_window}s; retry after {decision.retry_after}s"
            ),
            headers={
                "Retry-After": str(decision.retry_after),
                "X-RateLimit-Limit": str(decision.limit),
                "X-RateLimit-Remaining": "0",
            },
        )

    if problem is not None:
        if problem == "missing" and _is_graphql_ide_page(request):
            return None
        if problem == "missing":
            raise HTTPException(
                status_code=401,
                detail="authentication required: send 'Authorization: Bearer <token>' "
                "(llm-observatory token mints one)",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
            )
        raise HTTPException(
            status_code=401,
            detail=problem,
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="{REALM}", error="invalid_token", '
                    f'error_description="{problem.replace(chr(34), chr(39))}"'
                )
            },
        )
    if decision is not None:
        response.headers["X-RateLimit-Limit"] = str(decision.limit)
        response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    return subject


async def require_admin(
    request: Request, _subject: Annotated[str | None, Depends(require_client)]
) -> Principal:
    """The caller, when its token carries the admin scope; 403 for any other valid token."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal) or not principal.is_admin:
        raise HTTPException(
            status_code=403,
            detail=f"this needs a token with scope {ADMIN_SCOPE!r} "
            f"(llm-observatory token --scope {ADMIN_SCOPE})",
        )
    return principal
