from __future__ import annotations

import pytest
from conftest import unique


def test_placing_an_order_charges_and_empties_the_cart(client, make_user, make_product, fill_cart):
    user, product = make_user(), make_product(price_cents=1000, stock=5)
    fill_cart(user["id"], product["id"], 2)
    response = client.post("/orders", json={"user_id": user["id"]})
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "paid"
    assert (order["subtotal_cents"], order["tax_cents"], order["total_cents"]) == (2000, 400, 2400)
    assert client.get(f"/catalog/products/{product['id']}").json()["stock"] == 3
    assert client.get(f"/carts/{user['id']}").json()["items"] == []
    payment = client.get(f"/payments/{order['payment_id']}").json()
    assert (payment["status"], payment["amount_cents"], payment["order_id"]) == (
        "captured",
        2400,
        order["id"],
    )


def test_tax_is_rounded_half_up(client, make_user, make_product, fill_cart):
    user, product = make_user(), make_product(price_cents=333)
    fill_cart(user["id"], product["id"], 1)
    order = client.post("/orders", json={"user_id": user["id"]}).json()
    assert order["tax_cents"] == 67  # 20% of 3.33 = 0.666


def test_empty_cart_cannot_be_ordered(client, make_user):
    assert client.post("/orders", json={"user_id": make_user()["id"]}).status_code == 422


def test_unknown_user_cannot_order(client):
    assert client.post("/orders", json={"user_id": unique("usr")}).status_code == 404


def test_insufficient_stock_reserves_nothing(client, make_user, make_product, fill_cart):
    user = make_user()
    plenty, scarce = make_product(stock=10), make_product(stock=1)
    fill_cart(user["id"], plenty["id"], 2)
    fill_cart(user["id"], scarce["id"], 2)
    assert client.post("/orders", json={"user_id": user["id"]}).status_code == 409
    assert client.get(f"/catalog/products/{plenty['id']}").json()["stock"] == 10
    assert len(client.get(f"/carts/{user['id']}").json()["items"]) == 2


def test_declined_card_keeps_cart_and_stock(client, make_user, make_product, fill_cart):
    user, product = make_user(), make_product(stock=4)
    fill_cart(user["id"], product["id"], 3)
    response = client.post("/orders", json={"user_id": user["id"], "card_token": "tok_decline"})
    assert response.status_code == 402
    orders = client.get("/orders", params={"user_id": user["id"]}).json()
    assert [o["status"] for o in orders] == ["payment_failed"]
    assert client.get(f"/catalog/products/{product['id']}").json()["stock"] == 4
    assert len(client.get(f"/carts/{user['id']}").json()["items"]) == 1


def test_order_can_be_read_and_listed(client, make_user, make_product, fill_cart):
    user, product = make_user(), make_product()
    fill_cart(user["id"], product["id"])
    order = client.post("/orders", json={"user_id": user["id"]}).json()
    assert client.get(f"/orders/{order['id']}").json() == order
    assert [o["id"] for o in client.get("/orders", params={"user_id": user["id"]}).json()] == [order["id"]]


def test_unknown_order_is_404(client):
    assert client.get(f"/orders/{unique('ord')}").status_code == 404


def test_cancel_refunds_and_restocks(client, make_user, make_product, fill_cart):
    user, product = make_user(), make_product(stock=2)
    fill_cart(user["id"], product["id"], 2)
    order = client.post("/orders", json={"user_id": user["id"]}).json()
    assert client.get(f"/catalog/products/{product['id']}").json()["stock"] == 0
    cancelled = client.post(f"/orders/{order['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"/catalog/products/{product['id']}").json()["stock"] == 2
    assert client.get(f"/payments/{order['payment_id']}").json()["status"] == "refunded"
    assert client.post(f"/orders/{order['id']}/cancel").status_code == 409


@pytest.mark.parametrize("card_token", ["tok_visa", "tok_decline"], ids=["captured", "declined"])
def test_payments_are_listed_per_order_with_events(client, make_user, make_product, fill_cart, card_token):
    user = make_user()
    fill_cart(user["id"], make_product()["id"])
    client.post("/orders", json={"user_id": user["id"], "card_token": card_token})
    order = client.get("/orders", params={"user_id": user["id"]}).json()[0]
    payments = client.get("/payments", params={"order_id": order["id"]}).json()
    expected = "captured" if card_token == "tok_visa" else "declined"
    assert [p["status"] for p in payments] == [expected]
    assert client.get(f"/payments/{payments[0]['id']}/events").json() == [expected]


def test_unknown_payment_is_404(client):
    assert client.get(f"/payments/{unique('pay')}").status_code == 404
