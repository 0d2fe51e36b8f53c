"""Signing deliveries per the Standard Webhooks specification, with the `standardwebhooks`
package: `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of
id.timestamp.body>`). Secrets are `whsec_` and 32 random bytes in base64. After a rotation a
delivery carries two signatures, one per secret, until the previous secret's overlap ends, so a
receiver can move to the new secret at its own pace."""

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def headers(
    message_id: str, timestamp: datetime, body: str, secrets_in_use: Sequence[str]
) -> dict[str, str]:
    signatures = " ".join(
        Webhook(secret).sign(message_id, timestamp, body) for secret in secrets_in_use
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }
