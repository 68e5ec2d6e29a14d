"""API fuzzing: Schemathesis generates requests from the app's own OpenAPI schema for every
JSON API operation, sent in-process (ASGI) with an admin's bearer token against a small world
with data. Checks: never a 5xx, and every documented response matches its schema and media type.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.factories import build_world

MAX_EXAMPLES = 25
EXAMPLES: dict[str, int] = {}  # operation -> examples sent, printed at the end (pytest -s)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module", autouse=True)
def _count_examples():
    yield
    print(f"\nfuzz: {sum(EXAMPLES.values())} examples over {len(EXAMPLES)} operations")


@pytest.fixture
def fuzz_world(session, settings, region):
    return build_world(session, settings, region)


@pytest.fixture
def api_schema(app, fuzz_world):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


# The JSON API (pages, PDFs and exports are covered by their own tests and the authorisation matrix).
schema = schemathesis.pytest.from_fixture("api_schema").include(path_regex=r"^/(api/v1/|healthz$)")


@schema.parametrize()
# No shrinking: a failure is reported as found (shrinking through the app is slow and the
# Reproduce-with curl line is already minimal enough to read).
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_operation_never_fails_and_answers_as_documented(case, fuzz_world):
    label = case.operation.label
    EXAMPLES[label] = EXAMPLES.get(label, 0) + 1
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzz_world['tokens']['admin']}"}, checks=CHECKS
    )
