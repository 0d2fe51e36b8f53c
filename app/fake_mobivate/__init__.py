"""A faithful fake of Mobivate's v1 JSON API, for tests and local runs."""

from app.fake_mobivate.core import FakeMobivate
from app.fake_mobivate.records import FakeMessage, NoWebhook, OptoutEntry, RecordedRequest
from app.fake_mobivate.server import run_fake_mobivate

__all__ = [
    "FakeMessage",
    "FakeMobivate",
    "NoWebhook",
    "OptoutEntry",
    "RecordedRequest",
    "run_fake_mobivate",
]
