"""`GET /metrics` for Prometheus, optionally behind its own bearer token (METRICS_TOKEN)."""

import hmac

from fastapi import APIRouter, HTTPException, Request, Response, status

from app.api.deps import EngineDep, SettingsDep
from app.core.metrics import render
from app.ops.state_metrics import render_state_metrics

router = APIRouter(tags=["probes"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={401: {"description": "METRICS_TOKEN is set and the bearer token is wrong"}},
)
async def metrics(request: Request, settings: SettingsDep, engine: EngineDep) -> Response:
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        offered = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(offered, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="metrics require 'Authorization: Bearer <METRICS_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    body, content_type = render()
    return Response(body + await render_state_metrics(engine), media_type=content_type)
