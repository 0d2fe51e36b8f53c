"""The opt-out lists, on the shared list machinery (`app.api.list_queries`): numbers opted out
now, newest change first (index `(opted_out, changed_at, msisdn)`), pushes to Mobivate, newest
first (index `(state, created_at, id)`), and the review queue, newest first (index
`(state, created_at, id)`)."""

from sqlalchemy import ColumnElement

from app.api.list_queries import ListSpec
from app.core.tables import OPTOUT_REVIEWS as REVIEWS
from app.core.tables import OPTOUTS
from app.core.tables import OUTBOX_MESSAGES as OUTBOX
from app.optouts.schemas import (
    OptoutQuery,
    OptoutStateOut,
    PushOut,
    PushQuery,
    ReviewOut,
    ReviewQuery,
)

OPTOUT_SPEC = ListSpec.of(
    [OPTOUTS.c[name] for name in OptoutStateOut.model_fields],
    OPTOUTS,
    OPTOUTS.c.changed_at,
    OPTOUTS.c.msisdn,
)
PUSH_SPEC = ListSpec.of(
    [OUTBOX.c[name] for name in PushOut.model_fields], OUTBOX, OUTBOX.c.created_at, OUTBOX.c.id
)

REVIEW_SPEC = ListSpec.of(
    [REVIEWS.c[name] for name in ReviewOut.model_fields],
    REVIEWS,
    REVIEWS.c.created_at,
    REVIEWS.c.id,
)


def optout_filters(query: OptoutQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [OPTOUTS.c.opted_out.is_(True)]
    if query.unresolved is not None:
        where.append(OPTOUTS.c.unresolved.is_(query.unresolved))
    return where


def push_filters(query: PushQuery) -> list[ColumnElement[bool]]:
    return [] if query.state is None else [OUTBOX.c.state == query.state]


def review_filters(query: ReviewQuery) -> list[ColumnElement[bool]]:
    return [] if query.state == "all" else [REVIEWS.c.state == query.state]
