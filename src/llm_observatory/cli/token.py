"""Development JWTs for the API, minted by the API's own `mint_token`.

Using the API's function (not a copy) and the same settings class (JwtSettings) keeps
the claims, secret, algorithm, audience and issuer the CLI signs with the ones the API
verifies.
"""

from __future__ import annotations

from llm_observatory.api.auth import mint_token as api_mint_token
from llm_observatory.cli.errors import CliError
from llm_observatory.core.settings import CliSettings


def mint_token(
    subject: str, ttl_seconds: int | None, settings: CliSettings, scope: str | None = None
) -> str:
    try:
        return api_mint_token(subject, ttl_seconds, settings, scope)
    except ValueError as exc:
        raise CliError(f"{exc}: pass e.g. `token --subject alice --ttl 3600`", code=2) from exc
