"""A faithful fake of Mobivate's v1 JSON API, for tests and local runs."""

from app.mobivate.fake.core import FakeMobivate
from app.mobivate.fake.records import FakeMessage, NoWebhook, OptoutEntry, RecordedRequest
from app.mobivate.fake.server import run_fake_mobivate

__all__ = [
    "FakeMessage",
    "FakeMobivate",
    "NoWebhook",
    "OptoutEntry",
    "RecordedRequest",
    "run_fake_mobivate",
]
