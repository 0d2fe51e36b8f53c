"""The reference the webhook benchmark compares the service with.

One ordinary FastAPI endpoint on the same path as the real webhooks: it reads the body, parses it
with the service's own parser (`parse_webhook`) and stores nothing. Its throughput is the ceiling
for a Python endpoint doing the same request work on this machine, without the database.

    uvicorn reference_app:app --app-dir bench --workers 2 --no-access-log
"""

from fastapi import FastAPI, HTTPException, Request, Response

from app.mobivate.payloads import PayloadError, parse_webhook
from app.mobivate.vocabulary import WebhookKind

app = FastAPI(title="webhook benchmark reference (parses, stores nothing)")

_KINDS = {kind.value: kind for kind in WebhookKind}
_STORED = b'{"status":"stored"}'


@app.post("/webhooks/{secret}/{kind}")
async def receive(secret: str, kind: str, request: Request) -> Response:
    webhook_kind = _KINDS.get(kind)
    if webhook_kind is None:
        raise HTTPException(status_code=404)
    body = await request.body()
    try:
        parse_webhook(webhook_kind, body, request.headers.get("content-type"))
    except PayloadError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.message) from None
    return Response(_STORED, media_type="application/json")
