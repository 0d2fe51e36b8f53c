"""`GET /api/v1/registrations`: how the webhook registrations with Mobivate stand."""

from fastapi import APIRouter, Request

from app.api.deps import EngineDep, SettingsDep
from app.registration.status import RegistrationStatus, registration_status

router = APIRouter(tags=["registrations"])


@router.get(
    "/registrations",
    summary="The state of the three webhook registrations with Mobivate",
    description="One entry per webhook kind (receipt, incoming, click): the URL registered or "
    "being registered (secret masked), the outcome of the latest attempt and Mobivate's message.",
)
async def get_registrations(
    request: Request, engine: EngineDep, settings: SettingsDep
) -> RegistrationStatus:
    return await registration_status(engine, settings, request.app.state.webhook_secret)
