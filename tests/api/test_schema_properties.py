"""Property test of the JSON API against its own OpenAPI schema (schemathesis): for requests
generated from the schema — valid ones and, in the coverage phase, invalid ones — the app never
answers 5xx, and every answer conforms to the documented status codes, content types and
response schemas. Every operation of the schema is included, against a registry with data (so
the registry routes find rows): the registry's on SQLite and PostgreSQL, the others (which never
open the registry) on SQLite."""

from __future__ import annotations

import os
from pathlib import Path

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


def _app_on_ledger(request: pytest.FixtureRequest, database_url: str) -> tuple[FastAPI, str]:
    url = ledger_copy(request, database_url).url
    with Registry(url) as raw:
        token = acting(raw).as_("admin").issue_token("write", name="schemathesis")
    return create_app(url), token


@pytest.fixture
def api_app(request: pytest.FixtureRequest, database_url: str) -> tuple[FastAPI, str]:
    """The app on a registry with data, on SQLite and on PostgreSQL, and an admin's token."""
    return _app_on_ledger(request, database_url)


@pytest.fixture
def sqlite_api_app(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[FastAPI, str]:
    """The same on SQLite only, for the operations that never open the registry."""
    return _app_on_ledger(request, f"sqlite:///{tmp_path / 'registry.db'}")


def _call_and_validate(case: schemathesis.Case, app: FastAPI, token: str) -> None:
    if case.path != "/api/registry/logout":     # keep the token for the other examples
        case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"})
    else:
        case.call_and_validate(app=app)


SETTINGS = settings(max_examples=25, deadline=None, derandomize=os.environ.get("CI") == "true",
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@schema.include(path_regex="^/api/registry").parametrize()
@SETTINGS
def test_api_conforms_to_its_schema(case: schemathesis.Case,
                                    api_app: tuple[FastAPI, str]) -> None:
    """The registry operations, on SQLite and on PostgreSQL."""
    _call_and_validate(case, *api_app)


# The document and reference-data operations (simulate, check, data, health) never open the
# registry (no dependency on it in carbonlink.api.routes): their answers cannot depend on the
# backend, so they run once, on SQLite, with the same token and checks. (Run on both backends
# they took 60 s of the suite, half of it repeating the coverage phase's ~4,600 requests to
# POST /api/check.)
@schema.exclude(path_regex="^/api/(assess|registry)").parametrize()
@SETTINGS
def test_documents_api_conforms_to_its_schema(case: schemathesis.Case,
                                              sqlite_api_app: tuple[FastAPI, str]) -> None:
    _call_and_validate(case, *sqlite_api_app)


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
