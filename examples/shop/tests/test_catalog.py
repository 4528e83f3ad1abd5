from __future__ import annotations

import pytest
from conftest import unique


def test_created_product_can_be_read_back(client, make_product):
    product = make_product(price_cents=1999, stock=3)
    assert product["id"].startswith("prd_")
    assert product["price"] == "19.99 EUR"
    assert product["stock"] == 3
    assert client.get(f"/catalog/products/{product['id']}").json() == product


def test_duplicate_sku_is_a_conflict(client, make_product):
    product = make_product()
    body = {"sku": product["sku"], "name": "Other", "price_cents": 5}
    assert client.post("/catalog/products", json=body).status_code == 409


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"currency": "XYZ"}, 422),
        ({"price_cents": -1}, 422),
        ({"stock": -5}, 422),
        ({"category_id": "cat_missing"}, 404),
        ({"price_cents": "lots"}, 422),
    ],
    ids=["unknown-currency", "negative-price", "negative-stock", "unknown-category", "non-numeric-price"],
)
def test_product_validation(client, change, status):
    body = {"sku": unique("sku"), "name": "Bad", "price_cents": 100, **change}
    assert client.post("/catalog/products", json=body).status_code == status


def test_unknown_product_is_404(client):
    assert client.get(f"/catalog/products/{unique('prd')}").status_code == 404


def test_products_filtered_by_category(client, make_product):
    category = client.post("/catalog/categories", json={"name": unique("books")}).json()
    inside = make_product(category_id=category["id"])
    make_product()
    listed = client.get("/catalog/products", params={"category_id": category["id"]}).json()
    assert [p["id"] for p in listed] == [inside["id"]]


def test_category_names_are_unique(client):
    name = unique("toys")
    assert client.post("/catalog/categories", json={"name": name}).status_code == 201
    assert client.post("/catalog/categories", json={"name": name}).status_code == 409


def test_full_listing_contains_new_product(client, make_product):
    product = make_product()
    assert product["id"] in {p["id"] for p in client.get("/catalog/products").json()}
