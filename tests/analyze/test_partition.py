"""Constraints of the partition on the shop: pins, service count, resolution, determinism."""

from __future__ import annotations

import pytest

from toolkit import UsageError
from toolkit.analyze import Analysis
from toolkit.analyze._partition import partition


def test_pinned_package_becomes_the_named_service(shop_analysis: Analysis) -> None:
    result = partition(shop_analysis.program, pins={"shop.payments": "billing"})
    payments = {m for m in shop_analysis.program.modules if m.startswith("shop.payments")}
    assert set(result.members("billing")) == payments
    assert "payments" not in result.services


def test_two_pins_in_one_domain_are_kept_apart(shop_analysis: Analysis) -> None:
    pins = {"shop.orders.api": "front", "shop.orders.service": "back"}
    result = partition(shop_analysis.program, pins=pins)
    assert result.assignment["shop.orders.api"] == "front"
    assert result.assignment["shop.orders.service"] == "back"


@pytest.mark.parametrize(
    ("pins", "message"),
    [
        ({"shop.nowhere": "x"}, "no module or package"),
        ({"shop.orders": "Bad_Name"}, "DNS-1123"),
        ({"shop.orders": "shared"}, "reserved"),
    ],
    ids=["unknown-module", "bad-name", "reserved-name"],
)
def test_bad_pins_are_usage_errors(shop_analysis: Analysis, pins: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        partition(shop_analysis.program, pins=pins)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6], ids=lambda n: f"{n}-services")
def test_requested_service_count_is_honoured(shop_analysis: Analysis, count: int) -> None:
    result = partition(shop_analysis.program, services=count)
    assert len(result.services) == count
    # every route handler still sits in exactly one service
    handlers = {r.handler_module for r in shop_analysis.program.routes}
    assert all(result.assignment[m] in result.services for m in handlers)


def test_higher_resolution_gives_no_fewer_services(shop_analysis: Analysis) -> None:
    coarse = partition(shop_analysis.program, resolution=0.2)
    fine = partition(shop_analysis.program, resolution=3.0)
    assert len(coarse.services) < len(fine.services)


def test_partition_is_deterministic(shop_analysis: Analysis) -> None:
    runs = {
        tuple(sorted(partition(shop_analysis.program, resolution=1.7).assignment.items())) for _ in range(3)
    }
    assert len(runs) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"services": 0}, "at least 1"), ({"resolution": -1.0}, "positive")],
    ids=["zero-services", "negative-resolution"],
)
def test_bad_numbers_are_usage_errors(
    shop_analysis: Analysis, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        partition(shop_analysis.program, **kwargs)  # type: ignore[arg-type]


def test_pin_into_an_existing_service_moves_only_that_module(shop_analysis: Analysis) -> None:
    result = partition(shop_analysis.program, pins={"shop.cart.service": "orders"})
    assert result.assignment["shop.cart.service"] == "orders"
    assert result.assignment["shop.orders.service"] == "orders"
    assert result.assignment["shop.cart.api"] == "cart"
