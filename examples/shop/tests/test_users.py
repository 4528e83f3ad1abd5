from __future__ import annotations

import pytest
from conftest import unique


def test_register_returns_the_new_user(client, make_user):
    user = make_user(name="Grace")
    assert user["id"].startswith("usr_")
    assert user["name"] == "Grace"
    assert client.get(f"/users/{user['id']}").json() == user


def test_email_is_unique_case_insensitively(client):
    email = f"{unique('dup')}@example.com"
    assert client.post("/users", json={"email": email, "name": "A"}).status_code == 201
    response = client.post("/users", json={"email": email.upper(), "name": "B"})
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "not-an-email", "name": "X"}, 422),
        ({"name": "X"}, 422),
        ({"email": "x@example.com"}, 422),
    ],
    ids=["invalid-email", "missing-email", "missing-name"],
)
def test_register_rejects_bad_input(client, body, status):
    assert client.post("/users", json=body).status_code == status


def test_unknown_user_is_404(client):
    assert client.get(f"/users/{unique('usr')}").status_code == 404


def test_addresses_are_listed_in_creation_order(client, make_user):
    user = make_user()
    for city in ("Lyon", "Paris"):
        body = {"line1": "1 rue X", "city": city, "country": "fr"}
        response = client.post(f"/users/{user['id']}/addresses", json=body)
        assert response.status_code == 201
        assert response.json()["country"] == "FR"
    listed = client.get(f"/users/{user['id']}/addresses").json()
    assert sorted(a["city"] for a in listed) == ["Lyon", "Paris"]


@pytest.mark.parametrize(
    ("country", "known_user", "status"),
    [("FRA", True, 422), ("FR", False, 404)],
    ids=["three-letter-country", "unknown-user"],
)
def test_address_errors(client, make_user, country, known_user, status):
    user_id = make_user()["id"] if known_user else unique("usr")
    body = {"line1": "1 Main St", "city": "X", "country": country}
    assert client.post(f"/users/{user_id}/addresses", json=body).status_code == status
