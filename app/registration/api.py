"""`GET /api/v1/registrations`: how the webhook registrations with Mobivate stand."""

from fastapi import APIRouter

from app.api.deps import EngineDep, SettingsDep, WebhookSecretDep
from app.registration.status import RegistrationStatus, registration_status

router = APIRouter(tags=["registrations"])


@router.get(
    "/registrations",
    summary="The state of the three webhook registrations with Mobivate",
    description="One entry per webhook kind (receipt, incoming, click): the URL registered or "
    "being registered (secret masked), the outcome of the latest attempt and Mobivate's message.",
)
async def get_registrations(
    engine: EngineDep, settings: SettingsDep, secret: WebhookSecretDep
) -> RegistrationStatus:
    return await registration_status(engine, settings, secret)
