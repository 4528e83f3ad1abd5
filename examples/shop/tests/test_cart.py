from __future__ import annotations

import pytest
from conftest import unique


def test_adding_items_prices_them_from_the_catalog(client, make_user, make_product, fill_cart):
    user = make_user()
    cheap, dear = make_product(price_cents=250), make_product(price_cents=1000)
    fill_cart(user["id"], cheap["id"], 2)
    cart = fill_cart(user["id"], dear["id"], 1)
    assert cart["total_cents"] == 2 * 250 + 1000
    assert cart["currency"] == "EUR"
    assert {line["product_id"]: line["quantity"] for line in cart["items"]} == {cheap["id"]: 2, dear["id"]: 1}


def test_adding_the_same_product_accumulates(client, make_user, make_product, fill_cart):
    user, product = make_user(), make_product(price_cents=100)
    fill_cart(user["id"], product["id"], 1)
    cart = fill_cart(user["id"], product["id"], 4)
    assert cart["items"] == [
        {"product_id": product["id"], "quantity": 5, "unit_price_cents": 100, "line_total_cents": 500}
    ]


@pytest.mark.parametrize(
    ("known_user", "known_product", "quantity", "status"),
    [(True, False, 1, 404), (False, True, 1, 404), (True, True, 0, 422)],
    ids=["unknown-product", "unknown-user", "zero-quantity"],
)
def test_add_item_errors(client, make_user, make_product, known_user, known_product, quantity, status):
    user_id = make_user()["id"] if known_user else unique("usr")
    product_id = make_product()["id"] if known_product else unique("prd")
    response = client.post(f"/carts/{user_id}/items", json={"product_id": product_id, "quantity": quantity})
    assert response.status_code == status


def test_cart_keeps_one_currency(client, make_user, make_product, fill_cart):
    user = make_user()
    fill_cart(user["id"], make_product(currency="EUR")["id"])
    usd = make_product(currency="USD")
    response = client.post(f"/carts/{user['id']}/items", json={"product_id": usd["id"], "quantity": 1})
    assert response.status_code == 409


def test_new_user_has_an_empty_cart(client, make_user):
    user = make_user()
    assert client.get(f"/carts/{user['id']}").json() == {
        "user_id": user["id"],
        "currency": None,
        "items": [],
        "total_cents": 0,
    }


def test_remove_item(client, make_user, make_product, fill_cart):
    user, keep, drop = make_user(), make_product(), make_product()
    fill_cart(user["id"], keep["id"])
    fill_cart(user["id"], drop["id"])
    cart = client.delete(f"/carts/{user['id']}/items/{drop['id']}").json()
    assert [line["product_id"] for line in cart["items"]] == [keep["id"]]
    assert client.delete(f"/carts/{user['id']}/items/{drop['id']}").status_code == 404


def test_clear_cart(client, make_user, make_product, fill_cart):
    user = make_user()
    fill_cart(user["id"], make_product()["id"])
    assert client.delete(f"/carts/{user['id']}").status_code == 204
    assert client.get(f"/carts/{user['id']}").json()["items"] == []
