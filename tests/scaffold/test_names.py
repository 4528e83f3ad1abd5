"""Service names (DNS-1123 labels) and the package names derived from them."""

from __future__ import annotations

import pytest

from toolkit import InvalidNameError
from toolkit.scaffold import package_name_for, validate_service_name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a", id="one-letter"),
        pytest.param("orders", id="word"),
        pytest.param("orders-api-2", id="dashes-digits"),
        pytest.param("a" * 63, id="63-chars"),
    ],
)
def test_valid_names_are_accepted(name: str) -> None:
    assert validate_service_name(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("../x", "DNS-1123", id="path-traversal"),
        pytest.param("a/b", "DNS-1123", id="slash"),
        pytest.param("A", "DNS-1123", id="uppercase"),
        pytest.param("-a", "DNS-1123", id="leading-dash"),
        pytest.param("a-", "DNS-1123", id="trailing-dash"),
        pytest.param("1abc", "DNS-1123", id="leading-digit"),
        pytest.param("a_b", "DNS-1123", id="underscore"),
        pytest.param("a.b", "DNS-1123", id="dot"),
        pytest.param("a b", "DNS-1123", id="space"),
        pytest.param("ö", "DNS-1123", id="non-ascii"),
        pytest.param("a" * 64, "at most 63", id="64-chars"),
    ],
)
def test_invalid_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidNameError, match=reason):
        validate_service_name(name)


@pytest.mark.parametrize(
    ("service", "package"),
    [
        pytest.param("orders", "orders", id="plain"),
        pytest.param("orders-api", "orders_api", id="dash-to-underscore"),
        pytest.param("json", "json_service", id="shadows-stdlib"),
        pytest.param("import", "import_service", id="keyword"),
        pytest.param("fastapi", "fastapi_service", id="shadows-dependency"),
    ],
)
def test_package_names(service: str, package: str) -> None:
    assert package_name_for(service) == package
