"""The /api/v1 parameters' typed parsing (ntpd_ivr/api/params.py): each value is taken
exactly as its schema in the OpenAPI document says, and refused with a reason otherwise."""

from __future__ import annotations

import re

import pytest

from ntpd_ivr.api import params
from ntpd_ivr.api.params import BadParam
from ntpd_ivr.web.app import UNSTORABLE


@pytest.mark.parametrize(("param", "raw", "value"), [
    (params.LIMIT, "1", 1), (params.LIMIT, "500", 500), (params.LIMIT, "007", 7),
    (params.WITHIN, "3600", 3600), (params.INCIDENT_ID, str(params.MAX_ID), params.MAX_ID),
    (params.REGION, "palembang", "palembang"), (params.AGENCY_KEY, "palembang-damkar",
                                                "palembang-damkar"),
    (params.STATUS, "open", "open"), (params.BY, "calltaker", "calltaker"),
    (params.CALL_ID, "1732771200.42", "1732771200.42"),
    (params.CALL_ID, "node-a-1732771200.42", "node-a-1732771200.42"),
    (params.FROM, "2026-11-28", "2026-11-28"), (params.TO, "2026-11-28T07:00:00+07:00",
                                                "2026-11-28T07:00:00+07:00"),
    (params.TO, "2026-11-28 07:00:00.123456Z", "2026-11-28 07:00:00.123456Z"),
])
def test_values_the_schema_allows_are_taken_typed(param: params.Param, raw: str,
                                                  value: object) -> None:
    assert param.parse(raw) == value
    assert re.search(param.schema.get("pattern", ".*"), raw)


@pytest.mark.parametrize(("param", "raw"), [
    (params.LIMIT, "0"), (params.LIMIT, "501"), (params.LIMIT, "+5"), (params.LIMIT, " 5"),
    (params.LIMIT, "5\n"), (params.LIMIT, "\u0663"), (params.LIMIT, ""), (params.LIMIT, "1e2"),
    (params.INCIDENT_ID, str(params.MAX_ID + 1)), (params.INCIDENT_ID, "9" * 40),
    (params.REGION, ""), (params.REGION, "Palembang"), (params.REGION, "palembang\n"),
    (params.REGION, "a" * 41), (params.REGION, "a\x00"), (params.AGENCY_KEY, "x;drop"),
    (params.STATUS, "burning"), (params.BY, "hour"), (params.WITHIN, "0"),
    (params.CALL_ID, "-1.2"), (params.CALL_ID, "1" * 65), (params.CALL_ID, "1.2/../3"),
    (params.FROM, "yesterday"), (params.FROM, "0000-00-00"), (params.FROM, "2026-13-01"),
    (params.FROM, "2026-11-28T24:00"), (params.TO, "20261128"), (params.TO, "2026-W48-1"),
])
def test_values_the_schema_forbids_are_refused_with_the_parameters_name(
        param: params.Param, raw: str) -> None:
    with pytest.raises(BadParam, match=param.name):
        param.parse(raw)


def test_an_absent_parameter_is_its_default_and_an_empty_one_is_refused() -> None:
    assert params.REGION.get({}) is None
    assert params.LIMIT.get({}, 7) == 7
    with pytest.raises(BadParam):
        params.REGION.get({"region": ""})


def test_the_document_states_each_parameters_schema() -> None:
    spec = params.CALL_ID.spec()
    assert spec == {"name": "uniqueid", "in": "path", "required": True,
                    "description": params.CALL_ID.description,
                    "schema": params.CALL_ID.schema}
    assert params.LIMIT.spec()["required"] is False


@pytest.mark.parametrize("text", ["a\x00b", "\n", "\t", "\x7f", "\x1b[2J", "\ud800"])
def test_control_characters_and_lone_surrogates_are_unstorable(text: str) -> None:
    assert UNSTORABLE.search(text)


@pytest.mark.parametrize("text", ["palembang", "Ilir Barat I", "Jl. Merdeka 12", "é", "🚒"])
def test_ordinary_text_is_storable(text: str) -> None:
    assert not UNSTORABLE.search(text)
