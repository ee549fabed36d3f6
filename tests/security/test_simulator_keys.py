"""The simulator refuses wrong keys on every route it serves, trading, market data and its own admin
routes alike: 401 without keys, 403 with keys that are not its own (however close), and a refused
request changes nothing."""

from __future__ import annotations

import re

import pytest
import requests


def routes(sim) -> list[tuple[str, str]]:
    """(method, path) of every route of the simulator, path parameters filled in."""
    spec = requests.get(f"{sim.url}/openapi.json", timeout=10).json()
    return [(method.upper(), re.sub(r"\{[^}]+\}", "AAPL", path)) for path, ops in spec["paths"].items() for method in ops]


def wrong_keys(sim) -> dict[str, dict[str, str]]:
    key, secret = sim.key, sim.secret
    return {
        "wrong secret": {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": "not-the-secret"},
        "wrong key id": {"APCA-API-KEY-ID": "PKNOTTHEKEY000000000", "APCA-API-SECRET-KEY": secret},
        "swapped": {"APCA-API-KEY-ID": secret, "APCA-API-SECRET-KEY": key},
        "key id in another case": {"APCA-API-KEY-ID": key.lower(), "APCA-API-SECRET-KEY": secret},
        "secret cut short": {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret[:-1]},
        "secret with one more character": {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret + "x"},
        "secret in the key id's header": {"APCA-API-KEY-ID": f"{key}:{secret}", "APCA-API-SECRET-KEY": secret},
    }


def test_every_route_serves_under_v2_or_sim(sim):
    """The middleware guards /v2 and /sim: a route elsewhere would be open (only the API's own
    description is)."""
    found = routes(sim)
    assert len(found) > 30 and all(path.startswith(("/v2/", "/sim/")) for _, path in found)


def test_every_route_refuses_a_request_without_keys(sim):
    statuses = {(m, p): requests.request(m, f"{sim.url}{p}", json={}, timeout=10).status_code for m, p in routes(sim)}
    assert set(statuses.values()) == {401}, {k: v for k, v in statuses.items() if v != 401}


def test_every_route_refuses_a_request_with_only_one_of_the_keys(sim):
    for header, value in (("APCA-API-KEY-ID", sim.key), ("APCA-API-SECRET-KEY", sim.secret)):
        statuses = {(m, p): requests.request(m, f"{sim.url}{p}", json={}, headers={header: value}, timeout=10).status_code
                    for m, p in routes(sim)}
        assert set(statuses.values()) == {401}, (header, statuses)


@pytest.mark.parametrize("kind", ["wrong secret", "wrong key id", "swapped", "key id in another case",
                                  "secret cut short", "secret with one more character",
                                  "secret in the key id's header"])
def test_every_route_refuses_keys_that_are_not_the_simulators(sim, kind):
    headers = wrong_keys(sim)[kind]
    statuses = {(m, p): requests.request(m, f"{sim.url}{p}", json={}, headers=headers, timeout=10)
                for m, p in routes(sim)}
    refused = {k: r.json() for k, r in statuses.items() if r.status_code == 403}
    assert len(refused) == len(statuses), {k: r.status_code for k, r in statuses.items() if r.status_code != 403}
    assert set(map(str, refused.values())) == {str({"code": 40310000, "message": "forbidden"})}


def test_an_order_sent_with_a_wrong_secret_is_not_placed(sim):
    order = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day",
             "client_order_id": "wrong-keys-1"}
    refused = requests.post(f"{sim.url}/v2/orders", json=order, headers=wrong_keys(sim)["wrong secret"], timeout=10)
    assert refused.status_code == 403
    placed = requests.get(f"{sim.url}/v2/orders", params={"status": "all"}, headers=sim.headers, timeout=10).json()
    assert placed == []


def test_an_admin_call_with_a_wrong_secret_changes_nothing(sim):
    before = requests.get(f"{sim.url}/v2/clock", headers=sim.headers, timeout=10).json()["timestamp"]
    refused = requests.post(f"{sim.url}/sim/clock", json={"to": "2030-01-02T15:00:00Z"},
                            headers=wrong_keys(sim)["wrong secret"], timeout=10)
    assert refused.status_code == 403
    assert requests.get(f"{sim.url}/v2/clock", headers=sim.headers, timeout=10).json()["timestamp"] == before


def test_a_refusal_does_not_echo_the_keys_it_was_given(sim):
    headers = wrong_keys(sim)["wrong secret"]
    refused = requests.get(f"{sim.url}/v2/account", headers=headers, timeout=10)
    assert "not-the-secret" not in refused.text and sim.key not in refused.text
    assert not any("not-the-secret" in value or sim.key in value for value in refused.headers.values())
