"""FHIR ``POST /fhir/Patient/$match`` under wrk, on the lookup benchmark's register.

A small module used by ``bench/suite.py``: it turns ``bench/lookup.py``'s searches (whose INSi
code is known in advance) into FHIR ``Parameters`` bodies, checks a sample one by one, and drives
the server with wrk through ``lookup.py``'s Lua script, whose response handler here reads the INSi
response code from the OperationOutcome of the searchset Bundle
(``urn:carnet:insi-response-code``). With one first name and no birth place a $match makes one
register search, like the lookup: the difference between the two rows is FHIR's cost (parsing the
Parameters, building and validating the Bundle).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lookup

MATCH_PATH = "/fhir/Patient/$match"
_SEARCH_CODE = """body:match('"code":"(%%d%%d)"')"""
_MATCH_CODE = """body:match('insi%%-response%%-code","code":"(%%d%%d)"')"""
assert _SEARCH_CODE in lookup.LUA, "bench/lookup.py's Lua script changed: update fhir_match.py"
LUA = lookup.LUA.replace(_SEARCH_CODE, _MATCH_CODE)
GENDERS = {"M": "male", "F": "female"}


def match_body(search: dict[str, Any]) -> dict[str, Any]:
    """The ``$match`` Parameters asking what the INSi-like search body asks."""
    given = search["first_name"]
    given = given.split() if isinstance(given, str) else list(given)
    # 00 stands for an unknown month or day: FHIR says it with a shorter date.
    year, month, day = [*search["birth_date"].split("-"), "00", "00"][:3]
    birth_date = (
        year if month == "00" else f"{year}-{month}" if day == "00" else f"{year}-{month}-{day}"
    )
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": search["birth_name"], "given": given}],
        "gender": GENDERS.get(search["sex"], search["sex"]),
        "birthDate": birth_date,
    }
    return {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]}


def match_queries(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**q, "body": match_body(q["body"])} for q in queries]


def answer_code(bundle: dict[str, Any]) -> str | None:
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") == "OperationOutcome":
            for issue in resource.get("issue", []):
                for coding in issue.get("details", {}).get("coding", []):
                    if coding.get("system") == "urn:carnet:insi-response-code":
                        return str(coding.get("code"))
    return None


def check_answers(base: str, token: str, queries: list[dict[str, Any]], n: int) -> dict[str, int]:
    """Send ``n`` $match requests one by one: how many answered their expected INSi code."""
    import httpx2

    result = {"checked": 0, "as_expected": 0}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    with httpx2.Client(headers=headers, timeout=30) as client:
        for query in queries[:n]:
            response = client.post(base + MATCH_PATH, json=query["body"])
            result["checked"] += 1
            if response.status_code == 200 and answer_code(response.json()) == query["expected"]:
                result["as_expected"] += 1
    return result


def load(
    label: str,
    server: lookup.Server,
    token: str,
    queries: list[dict[str, Any]],
    args: argparse.Namespace,
    work: Path,
    wrk: str,
    seconds: int,
) -> dict[str, Any]:
    """Drive ``server``'s $match with wrk for ``seconds``: lookup.py's figures (codes included)."""
    lookup.say(f"{label}: $match for {seconds} s with wrk …")
    path = work / "match.lua"
    original = lookup.LUA
    try:  # lookup.lua_script formats lookup.LUA: hand it this module's variant
        lookup.LUA = LUA
        script = lookup.lua_script(queries, token, path)
    finally:
        lookup.LUA = original
    cpu_before = lookup.server_cpu_seconds(server)
    run = lookup.run_wrk(
        wrk, server.base + MATCH_PATH, script, threads=args.threads,
        connections=args.connections, seconds=seconds,
    )  # fmt: skip
    run["server_cpu_s"] = lookup.server_cpu_seconds(server) - cpu_before
    run["cpu_ms_per_request"] = 1000 * run["server_cpu_s"] / max(run["requests"], 1)
    return run
