"""API fuzzing: Schemathesis generates requests from the app's own OpenAPI schema for every
JSON API operation (/api/v1 and /healthz), sent in-process (ASGI) as two roles, the safety
office and an inspector, each with its bearer token, against a small world with data.

ALL of Schemathesis' checks run: no 5xx; every status code, content type, header and body as
documented; invalid input refused and valid input accepted; unsupported methods answered 405 with
Allow; a request without the token refused (ignored_auth). MAX_EXAMPLES per operation and role
keeps this under ~2 minutes on a small machine; a bigger run is `scripts/fuzz` (README).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings

from tests.reliability import build_world

MAX_EXAMPLES = int(os.environ.get("INSPECT_FUZZ_EXAMPLES", "10"))
EXAMPLES: dict[str, int] = {}  # "role operation" -> examples sent, printed at the end (pytest -s)


@pytest.fixture(scope="module", autouse=True)
def _count_examples():
    yield
    print(f"\nfuzz: {sum(EXAMPLES.values())} examples over {len(EXAMPLES)} operation x role pairs")


@pytest.fixture
def fuzz_world(session, settings, region):
    return build_world(session, settings, region)


@pytest.fixture
def api_schema(app, fuzz_world):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# The JSON API (pages, PDFs and exports are covered by their own tests and the authorisation matrix).
schema = schemathesis.pytest.from_fixture("api_schema").include(path_regex=r"^/(api/v1/|healthz$)")


def fuzzed(test):
    """Schemathesis-parametrized over every operation, no shrinking (a failure is reported as
    found: shrinking through the app is slow and the Reproduce-with curl line is short enough)."""
    return schema.parametrize()(
        hypothesis_settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(test)
    )


def call_and_validate_as(role: str, case, world) -> None:
    label = f"{role} {case.operation.label}"
    EXAMPLES[label] = EXAMPLES.get(label, 0) + 1
    case.call_and_validate(headers={"Authorization": f"Bearer {world['tokens'][role]}"})


@fuzzed
def test_api_as_the_office_answers_exactly_as_documented(case, fuzz_world):
    call_and_validate_as("office", case, fuzz_world)


@fuzzed
def test_api_as_an_inspector_answers_exactly_as_documented(case, fuzz_world):
    call_and_validate_as("inspector", case, fuzz_world)
