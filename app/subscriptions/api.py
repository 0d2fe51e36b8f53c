"""`/api/v1/subscriptions`: subscribe a URL to events, change or delete it, rotate its signing
secret, read its deliveries and their attempts, replay it. Every route needs the `admin`
scope."""

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from app.api.deps import EngineDep, SettingsDep, requires
from app.config import Scope, Settings
from app.subscriptions import store
from app.subscriptions.schemas import (
    SUBSCRIPTION_EXAMPLE,
    AttemptPage,
    DeliveryPage,
    ReplayOut,
    ReplayRequest,
    SecretOut,
    SecretRotation,
    SubscriptionChange,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
)
from app.subscriptions.targets import check_url, resolve

router = APIRouter(tags=["subscriptions"])

ADMIN = requires(Scope.ADMIN)
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]
Before = Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Items older than this id")]


async def _checked_url(url: str, settings: Settings) -> str:
    checked = check_url(url, allow_http=settings.environment == "development")
    await resolve(checked, allow_private=settings.subscription_allow_private)
    return checked


@router.post(
    "/subscriptions",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a URL to events",
    description="The answer carries the signing `secret` (`whsec_...`), shown only this once.",
    openapi_extra=ADMIN,
)
async def create_subscription(
    body: SubscriptionCreate, engine: EngineDep, settings: SettingsDep, response: Response
) -> SubscriptionCreated:
    url = await _checked_url(body.url, settings)
    row, secret = await store.create(engine, body, url)
    response.headers["Location"] = f"/api/v1/subscriptions/{row.id}"
    return SubscriptionCreated(**store.subscription_out(row).model_dump(), secret=secret)


@router.get(
    "/subscriptions",
    summary="Every subscription",
    openapi_extra=ADMIN,
    responses={200: {"content": {"application/json": {"example": [SUBSCRIPTION_EXAMPLE]}}}},
)
async def list_subscriptions(engine: EngineDep) -> list[SubscriptionOut]:
    return [store.subscription_out(row) for row in await store.all_subscriptions(engine)]


@router.get("/subscriptions/{subscription_id}", summary="One subscription", openapi_extra=ADMIN)
async def get_subscription(subscription_id: Id, engine: EngineDep) -> SubscriptionOut:
    return store.subscription_out(await store.find(engine, subscription_id))


@router.patch(
    "/subscriptions/{subscription_id}",
    summary="Change a subscription, or enable it again",
    openapi_extra=ADMIN,
)
async def change_subscription(
    subscription_id: Id, body: SubscriptionChange, engine: EngineDep, settings: SettingsDep
) -> SubscriptionOut:
    url = None if body.url is None else await _checked_url(body.url, settings)
    return store.subscription_out(await store.change(engine, subscription_id, body, url))


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a subscription with its deliveries",
    openapi_extra=ADMIN,
)
async def delete_subscription(subscription_id: Id, engine: EngineDep) -> Response:
    await store.remove(engine, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/subscriptions/{subscription_id}/secret",
    summary="Rotate the signing secret",
    description="Deliveries are signed with the new secret and, for `overlap_hours`, with the "
    "old one too (two signatures in `webhook-signature`).",
    openapi_extra={
        **ADMIN,
        "requestBody": {"content": {"application/json": {"example": {"overlap_hours": 24}}}},
    },
)
async def rotate_secret(
    subscription_id: Id, engine: EngineDep, body: SecretRotation | None = None
) -> SecretOut:
    overlap = timedelta(hours=(body or SecretRotation()).overlap_hours)
    secret, until = await store.rotate_secret(engine, subscription_id, overlap)
    return SecretOut(secret=secret, previous_secret_until=until)


@router.post(
    "/subscriptions/{subscription_id}/replay",
    summary="Send a subscription's deliveries since a time again",
    openapi_extra=ADMIN,
)
async def replay_subscription(
    subscription_id: Id, body: ReplayRequest, engine: EngineDep
) -> ReplayOut:
    return ReplayOut(queued=await store.replay(engine, subscription_id, body.since))


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    summary="A subscription's deliveries, newest first",
    openapi_extra=ADMIN,
)
async def list_deliveries(
    subscription_id: Id,
    engine: EngineDep,
    state: Literal["pending", "delivered", "failed"] | None = None,
    before: Before = None,
    limit: Limit = 100,
) -> DeliveryPage:
    items = await store.deliveries(engine, subscription_id, state, before, limit)
    return DeliveryPage(items=items)


@router.get(
    "/subscriptions/{subscription_id}/attempts",
    summary="Every attempt to send a subscription's deliveries, newest first",
    openapi_extra=ADMIN,
)
async def list_attempts(
    subscription_id: Id,
    engine: EngineDep,
    delivery_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    before: Before = None,
    limit: Limit = 100,
) -> AttemptPage:
    items = await store.attempts(engine, subscription_id, delivery_id, before, limit)
    return AttemptPage(items=items)
