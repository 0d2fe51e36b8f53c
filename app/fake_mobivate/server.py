"""Run the fake as a real HTTP server, for trying the whole flow by hand."""

import uvicorn

from app.fake_mobivate.core import FakeMobivate


def run_fake_mobivate(
    host: str = "127.0.0.1",
    port: int = 8900,
    api_key: str = "test-key",
    auto_receipts: bool = False,
) -> None:
    """Serve Mobivate's API on host:port until interrupted. Besides the API, POST
    /_fake/incoming {"originator", "body"}, /_fake/click {"messageId"} and /_fake/receipt
    {"messageId", "status"} make it call the registered webhooks; GET /_fake/requests and
    /_fake/messages show what it has seen."""
    fake = FakeMobivate(api_key=api_key, auto_receipts=auto_receipts, receipt_delay=1.0)
    uvicorn.run(fake.app, host=host, port=port)
