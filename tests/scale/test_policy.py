"""The policy file: layering of defaults, and precise errors (file, service, field)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from toolkit import ConfigError
from toolkit.scale import (
    MetricKind,
    RatePolicy,
    RateType,
    SelectPolicy,
    default_service_policy,
    load_policy,
    parse_policy,
    policy_schema,
)

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
version: 1
defaults:
  max_replicas: 20
  target: 50
services:
  orders:
    algorithm: hpa
    target: 40
    scale_down:
      stabilization_window_s: 120
  cart:
    algorithm: kpa
    min_replicas: 0
    metric: promql
    query: sum by (instance) (rate(http_requests_total{service="cart"}[1m]))
    kpa: {panic_threshold: 3}
  search:
    scale_up:
      policies: [{type: pods, value: 2, period_s: 30}]
      select_policy: min
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scaling.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_layering_of_builtin_defaults_file_defaults_and_service(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    orders = policy.services["orders"]
    assert (orders.algorithm, orders.target, orders.max_replicas, orders.period_s) == ("hpa", 40.0, 20, 15.0)
    # only the window was overridden; HPA's scale-down policy stays
    assert orders.scale_down.stabilization_window_s == 120.0
    assert orders.scale_down.policies == (RatePolicy(RateType.PERCENT, 100, 15),)
    assert orders.scale_up == default_service_policy("hpa").scale_up
    cart = policy.services["cart"]
    assert (cart.metric, cart.min_replicas, cart.period_s) == (MetricKind.PROMQL, 0, 2.0)
    assert cart.kpa.panic_threshold == 3.0 and cart.kpa.stable_window_s == 60.0
    search = policy.services["search"]
    assert search.algorithm == "toolkit" and search.target == 50.0
    assert search.scale_up.policies == (RatePolicy(RateType.PODS, 2, 30),)
    assert search.scale_up.select_policy is SelectPolicy.MIN


def test_unlisted_service_falls_back_to_defaults(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, VALID))
    assert policy.policy_for("unknown") == policy.defaults
    assert policy.policy_for("orders") is policy.services["orders"]


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, ""))
    assert policy.defaults == default_service_policy("toolkit")
    assert dict(policy.services) == {}


def test_hpa_builtin_defaults_are_kubernetes_defaults() -> None:
    p = default_service_policy("hpa")
    assert (p.tolerance, p.period_s) == (0.1, 15.0)
    assert p.scale_up.stabilization_window_s == 0
    assert set(p.scale_up.policies) == {
        RatePolicy(RateType.PODS, 4, 15),
        RatePolicy(RateType.PERCENT, 100, 15),
    }
    assert p.scale_up.select_policy is SelectPolicy.MAX
    assert p.scale_down.stabilization_window_s == 300
    assert p.scale_down.policies == (RatePolicy(RateType.PERCENT, 100, 15),)


def test_kpa_builtin_defaults_are_knative_defaults() -> None:
    p = default_service_policy("kpa")
    assert (p.period_s, p.kpa.stable_window_s, p.kpa.panic_window_s, p.kpa.panic_threshold) == (
        2.0,
        60.0,
        6.0,
        2.0,
    )


INVALID = [
    # id, file text, expected location, fragment of the message
    ("unknown-top-level-key", "servics: {}\n", "servics", "unknown key 'servics'"),
    (
        "unknown-service-key",
        "services:\n  orders:\n    maxreplicas: 3\n",
        "services.orders.maxreplicas",
        "unknown key",
    ),
    (
        "unknown-nested-key",
        "services:\n  orders:\n    kpa: {panic: 2}\n",
        "services.orders.kpa.panic",
        "unknown key",
    ),
    (
        "max-below-1",
        "services:\n  orders:\n    max_replicas: 0\n",
        "services.orders.max_replicas",
        "less than the minimum",
    ),
    (
        "min-above-max",
        "services:\n  orders:\n    min_replicas: 5\n    max_replicas: 3\n",
        "services.orders.max_replicas",
        "below min_replicas",
    ),
    (
        "max-from-service-below-min-from-defaults",
        "defaults:\n  min_replicas: 5\nservices:\n  orders:\n    max_replicas: 3\n",
        "services.orders.max_replicas",
        "below min_replicas",
    ),
    (
        "inherited-max-below-service-min",
        "defaults:\n  max_replicas: 3\nservices:\n  orders:\n    min_replicas: 5\n",
        "defaults.max_replicas",
        "below min_replicas",
    ),
    (
        "defaults-min-above-max",
        "defaults:\n  min_replicas: 9\n  max_replicas: 3\n",
        "defaults.max_replicas",
        "below",
    ),
    (
        "negative-target",
        "services:\n  orders:\n    target: -1\n",
        "services.orders.target",
        "less than or equal",
    ),
    (
        "target-not-a-number",
        "services:\n  orders:\n    target: fast\n",
        "services.orders.target",
        "not of type",
    ),
    (
        "promql-without-query",
        "services:\n  orders:\n    metric: promql\n",
        "services.orders.query",
        "needs a 'query'",
    ),
    (
        "query-without-promql",
        "services:\n  orders:\n    query: up\n",
        "services.orders.query",
        "only used with metric promql",
    ),
    ("unknown-metric", "services:\n  orders:\n    metric: qps\n", "services.orders.metric", "is not one of"),
    (
        "unknown-algorithm",
        "services:\n  orders:\n    algorithm: magic\n",
        "services.orders.algorithm",
        "is not one of",
    ),
    (
        "bad-rate-policy-type",
        "services:\n  orders:\n    scale_up:\n      policies: [{type: replicas, value: 1, period_s: 15}]\n",
        "services.orders.scale_up.policies.0.type",
        "is not one of",
    ),
    (
        "rate-policy-missing-period",
        "services:\n  orders:\n    scale_down:\n      policies: [{type: pods, value: 1}]\n",
        "services.orders.scale_down.policies.0.period_s",
        "required key 'period_s'",
    ),
    (
        "rate-policy-period-too-long",
        "services:\n  orders:\n    scale_down:\n      policies: [{type: pods, value: 1, period_s: 3600}]\n",
        "services.orders.scale_down.policies.0.period_s",
        "greater than the maximum",
    ),
    (
        "bad-select-policy",
        "services:\n  orders:\n    scale_down: {select_policy: sometimes}\n",
        "services.orders.scale_down.select_policy",
        "is not one of",
    ),
    (
        "window-too-long",
        "services:\n  orders:\n    scale_down: {stabilization_window_s: 7200}\n",
        "services.orders.scale_down.stabilization_window_s",
        "greater than the maximum",
    ),
    (
        "tolerance-one",
        "services:\n  orders:\n    tolerance: 1\n",
        "services.orders.tolerance",
        "greater than or equal",
    ),
    (
        "panic-window-longer-than-stable",
        "services:\n  orders:\n    algorithm: kpa\n    kpa: {stable_window_s: 10, panic_window_s: 20}\n",
        "services.orders.kpa.panic_window_s",
        "must not exceed stable_window_s",
    ),
    (
        "hpa-to-zero",
        "services:\n  orders:\n    algorithm: hpa\n    min_replicas: 0\n",
        "services.orders.min_replicas",
        "cannot scale to zero",
    ),
    (
        "toolkit-capacity-below-target",
        "services:\n  orders:\n    target: 50\n    toolkit: {capacity: 40}\n",
        "services.orders.toolkit.capacity",
        "below target",
    ),
    (
        "toolkit-slo-without-capacity",
        "services:\n  orders:\n    toolkit: {slo_s: 0.5}\n",
        "services.orders.toolkit.slo_s",
        "needs toolkit.capacity",
    ),
    (
        "toolkit-slo-on-cpu",
        "services:\n  orders:\n    metric: cpu_percent\n    target: 60\n"
        "    toolkit: {slo_s: 0.5, capacity: 100}\n",
        "services.orders.toolkit.slo_s",
        "needs metric rps_per_replica",
    ),
    (
        "toolkit-slo-unreachable",
        "services:\n  orders:\n    toolkit: {slo_s: 0.05, capacity: 100, concurrency: 4}\n",
        "services.orders.toolkit.slo_s",
        "a request alone takes longer",
    ),
    (
        "toolkit-concurrency-not-whole",
        "services:\n  orders:\n    toolkit: {concurrency: 2.5}\n",
        "services.orders.toolkit.concurrency",
        "not of type 'integer'",
    ),
    (
        "toolkit-service-time-cv-negative",
        "services:\n  orders:\n    toolkit: {service_time_cv: -1}\n",
        "services.orders.toolkit.service_time_cv",
        "less than the minimum",
    ),
    ("service-name-not-dns", "services:\n  Orders_1: {}\n", "services.Orders_1", "DNS-1123"),
    ("service-not-a-mapping", "services:\n  orders: 3\n", "services.orders", "not of type 'object'"),
    ("version-2", "version: 2\n", "version", "1 was expected"),
    ("yaml-syntax", "services:\n  orders: {target: 1\n", "line 3", "not valid YAML"),
]


@pytest.mark.parametrize(
    ("text", "location", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_invalid_files_name_file_and_field(tmp_path: Path, text: str, location: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_policy(path)
    err = caught.value
    assert err.file == str(path)
    assert err.location == location
    assert fragment in err.detail
    assert str(err).startswith(f"{path}:{location}: ")
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        pytest.param([1, 2], "must be a mapping", id="list"),
        pytest.param("text", "must be a mapping", id="scalar"),
    ],
)
def test_top_level_must_be_a_mapping(document: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_policy(document, file="p.yaml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as caught:
        load_policy(tmp_path / "nope.yaml")
    assert caught.value.file == str(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("overrides", "location"),
    [
        pytest.param({"min_replicas": 4, "max_replicas": 2}, "max_replicas", id="min-above-max"),
        pytest.param({"metric": "promql"}, "query", id="promql-without-query"),
        pytest.param({"replicas": 3}, "replicas", id="unknown-field"),
        pytest.param({"metric": "qps"}, "metric", id="unknown-metric"),
    ],
)
def test_default_service_policy_checks_overrides(overrides: dict[str, object], location: str) -> None:
    with pytest.raises(ConfigError) as caught:
        default_service_policy("toolkit", **overrides)
    assert caught.value.location == location


def test_default_service_policy_unknown_algorithm() -> None:
    with pytest.raises(ConfigError, match="unknown algorithm"):
        default_service_policy("vpa")


def test_published_schema_is_the_package_schema() -> None:
    """docs/policy.schema.json is a copy of toolkit/scale/policy.schema.json; refresh it with
    ``cp toolkit/scale/policy.schema.json docs/policy.schema.json``."""
    published = json.loads((ROOT / "docs" / "policy.schema.json").read_text(encoding="utf-8"))
    assert published == policy_schema()
    jsonschema.Draft202012Validator.check_schema(published)


def test_schema_and_dataclasses_name_the_same_fields() -> None:
    """Every field the loader builds is in the schema and the other way round."""
    service = policy_schema()["$defs"]["service"]["properties"]
    assert set(service) == set(default_service_policy().__dataclass_fields__)
    for section, params in (("kpa", "kpa"), ("toolkit", "toolkit")):
        schema_fields = set(policy_schema()["$defs"][section]["properties"])
        assert schema_fields == set(getattr(default_service_policy(), params).__dataclass_fields__)


def test_policy_doc_examples_are_valid(tmp_path: Path) -> None:
    """Every ```yaml block in docs/policy.md loads."""
    text = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        load_policy(write(tmp_path, block))


def test_yaml_keys_are_taken_as_written(tmp_path: Path) -> None:
    """A service named with digits only is a string key, as the CLI will look it up."""
    policy = load_policy(write(tmp_path, "services:\n  1: {max_replicas: 4}\n"))
    assert policy.policy_for("1").max_replicas == 4


def test_toolkit_slo_settings_keep_their_types(tmp_path: Path) -> None:
    """YAML's 30 becomes 30.0 for float settings, but concurrency stays a whole number."""
    text = (
        "services:\n  orders:\n    toolkit: "
        "{capacity: 120, slo_s: 1, slo_quantile: 0.99, concurrency: 8, service_time_cv: 2}"
    )
    params = load_policy(write(tmp_path, text)).policy_for("orders").toolkit
    assert (params.capacity, params.slo_s, params.slo_quantile, params.concurrency) == (120.0, 1.0, 0.99, 8)
    assert isinstance(params.slo_s, float) and isinstance(params.concurrency, int)
    assert params.service_time_cv == 2.0 and isinstance(params.service_time_cv, float)
