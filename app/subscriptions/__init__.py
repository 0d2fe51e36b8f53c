"""Event subscriptions: events pushed to the systems that want them, signed per the Standard
Webhooks specification, retried until they are taken."""
