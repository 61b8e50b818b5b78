"""Property test of the JSON API against its own OpenAPI schema (schemathesis): for requests
generated from the schema — valid ones and, in the coverage phase, invalid ones — the app never
answers 5xx, and every answer conforms to the documented status codes, content types and
response schemas. Every operation of the schema is included, against a registry with data (so
the registry routes find rows), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from carbonlink.api import create_app
from carbonlink.registry import Registry
from tests.api.conftest import ledger_copy
from tests.registry.conftest import acting

# Every check runs (no 5xx; documented status codes, content types, headers and response
# schemas; 405 for undocumented methods …), two of them adjusted to what a document API is:
# * negative_data_rejection is off: documents are validated in pydantic's lax mode, as on the
#   command line, so a value outside the schema's JSON type that converts unambiguously
#   (``"2.5"`` or ``false`` for a number) is accepted, where that check wants every
#   schema-violating request rejected;
# * positive_data_acceptance accepts 422 (and 404) besides 2xx: a document can satisfy the JSON
#   Schema and still break a rule it cannot express (unique market ids, links between known
#   markets, jurisdiction ids of the reference data). A schema-valid request answered 400 (a
#   refusal such as a solver failure) still fails it. The registry routes act for a logged-in
#   user (an administrator's token is sent with every request): a schema-valid request its role
#   does not allow is 403, and a login with generated credentials 401 — rules of the access
#   table, not of the schema.
CONFIG = SchemathesisConfig.from_dict({"checks": {
    "negative_data_rejection": {"enabled": False},
    "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "422"]},
}})
# The schema does not depend on the database: read it from an app whose registry is never
# opened. Each test sends its requests to an app on a registry built for it (``app=`` below).
# (schemathesis.pytest.from_fixture would take the app from a fixture directly, but schemathesis
# 4.32 reads a private pytest attribute that pytest 9 no longer has.)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app("sqlite://"), config=CONFIG)


@pytest.fixture
def api_app(request: pytest.FixtureRequest, database_url: str) -> Iterator[tuple[FastAPI, str]]:
    url = ledger_copy(request, database_url).url
    with Registry(url) as raw:
        token = acting(raw).as_("admin").issue_token("write", name="schemathesis")
    yield create_app(url), token


@schema.exclude(path_regex="^/api/assess").parametrize()
@settings(max_examples=25, deadline=None, derandomize=os.environ.get("CI") == "true",
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_schema(case: schemathesis.Case,
                                    api_app: tuple[FastAPI, str]) -> None:
    app, token = api_app
    if case.path != "/api/registry/logout":     # keep the token for the other examples
        case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"})
    else:
        case.call_and_validate(app=app)


# POST /api/assess (and its jobs) does not read the registry, and each valid document runs a whole assessment
# (seconds): it is checked once, on SQLite, on a few generated requests (no coverage phase, whose
# many valid documents would each run an assessment); tests/api/test_assess.py covers its
# refusals one by one.
ASSESS_CONFIG = SchemathesisConfig.from_dict({
    "checks": {"negative_data_rejection": {"enabled": False},
               "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422", "429"]}},
    "phases": {"coverage": {"enabled": False}},
})
assess_schema = schemathesis.openapi.from_asgi("/openapi.json", create_app("sqlite://"),
                                               config=ASSESS_CONFIG)


@assess_schema.include(path_regex="^/api/assess").parametrize()
@settings(max_examples=6, deadline=None, derandomize=os.environ.get("CI") == "true",
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_assess_conforms_to_its_schema(case: schemathesis.Case, tmp_path_factory: pytest.TempPathFactory) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('assess') / 'never-created.db'}"
    case.call_and_validate(app=create_app(url))
