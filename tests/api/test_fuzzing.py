"""Every operation in /openapi.json, fuzzed with schemathesis: valid and invalid requests drawn
from the schema, sent authenticated (the API token, the right webhook secret) through the ASGI
app on both backends. No answer may be a 5xx, and every answer must match the schema.

The budget is fixed (EXAMPLES_PER_MODE valid and as many invalid examples per operation, drawn
derandomized), so every run sends the same cases: about 600 per backend, in well under a minute
each."""

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err

from tests.support.app import API_TOKEN, WEBHOOK_SECRET, RunningApp, make_settings, start_app
from tests.support.fake import FAKE_API_KEY, fake_mobivate
from tests.support.figures import record

EXAMPLES_PER_MODE = 12
# The checks that judge one answer; the others send requests of their own over the network.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
]


@pytest.fixture
async def fuzzed(database_url: str) -> AsyncIterator[RunningApp]:
    """The app with every feature on, Mobivate being the fake."""
    settings = make_settings(
        database_url,
        mobivate_api_key=FAKE_API_KEY,
        register_webhooks=False,
        outbox_poll_interval_seconds=0.05,
    )
    async with (
        fake_mobivate() as fake,
        start_app(settings, mobivate_transport=fake.transport()) as running,
    ):
        yield running


def draw_cases(operation: Any, mode: GenerationMode) -> list[Any]:
    cases: list[Any] = []

    @given(operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_MODE,
        database=None,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def collect(case: Any) -> None:
        cases.append(case)

    with contextlib.suppress(Unsatisfiable):  # nothing in this operation can be made invalid
        collect()
    return cases


def as_httpx(case: Any) -> dict[str, Any]:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {API_TOKEN}"}
    if "secret" in (case.path_parameters or {}):
        case.path_parameters["secret"] = WEBHOOK_SECRET
    kwargs: dict[str, Any] = case.as_transport_kwargs(base_url="http://testserver")
    data = kwargs.pop("data", None)
    if isinstance(data, bytes | str):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("files", None)
    if kwargs.pop("cookies", None):
        raise AssertionError("the schema declares no cookies")
    return kwargs


async def test_every_operation_answers_without_5xx_and_as_described(
    fuzzed: RunningApp, backend: str
) -> None:
    schema = schemathesis.openapi.from_dict(fuzzed.app.openapi())
    started = time.perf_counter()
    sent = server_errors = 0
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        if "text/event-stream" in str(operation.definition.raw.get("responses", {})):
            continue  # a live feed never ends; its filters are fuzzed by the list operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for case in draw_cases(operation, mode):
                label = f"{operation.method.upper()} {operation.path} ({mode.value})"
                sent += 1
                try:
                    response = await fuzzed.client.request(**as_httpx(case))
                except Exception as exc:  # raised out of the app: a 500 behind a real server
                    server_errors += 1
                    failures.setdefault(label, f"{type(exc).__name__}: {exc}"[:2000])
                    continue
                if response.status_code >= 500:
                    server_errors += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except (AssertionError, FailureGroup) as exc:
                    failures.setdefault(label, str(exc))
    seconds = round(time.perf_counter() - started, 1)
    record(f"schemathesis ({backend})", cases=sent, server_errors=server_errors, seconds=seconds)
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())
    assert server_errors == 0


async def test_integer_path_parameters_beyond_the_database_range_get_4xx(
    fuzzed: RunningApp,
) -> None:
    """Ids past 64 bits cannot reach the database (asyncpg and sqlite both fail on them)."""
    for path, item in fuzzed.app.openapi()["paths"].items():
        for method, operation in item.items():
            integers = [
                p["name"]
                for p in operation.get("parameters", ())
                if p["in"] == "path" and "integer" in str(p.get("schema"))
            ]
            for name in integers:
                for value in (2**63, 10**30, -(2**63) - 1):
                    url = path.replace("{" + name + "}", str(value))
                    response = await fuzzed.client.request(method.upper(), url, json={})
                    assert 400 <= response.status_code < 500, (method, url, response.text)
