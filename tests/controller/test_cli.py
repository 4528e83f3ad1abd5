"""`toolkit autoscale` through click: bad input exits 2 with one line, --once --json prints
one document (against FakeKubernetesAPI, the one backend that needs no engine)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from backends.fake_kubernetes import FakeKubernetesAPI, deployment, pod
from click.testing import CliRunner

from toolkit.cli import main

POLICY = "version: 1\nservices:\n  orders: {algorithm: hpa, target: 10}\n"


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "scaling.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeKubernetesAPI]:
    api = FakeKubernetesAPI()
    api.start()
    api.add_deployment(deployment("orders", "shop", replicas=2, ready=2, labels={}))
    api.pods += [
        pod("orders-a", "shop", "orders", "127.0.0.1"),
        pod("orders-b", "shop", "orders", "127.0.0.2"),
    ]
    yield api
    api.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--backend", "nomad"], "Invalid value for '--backend'", id="unknown-backend"),
        pytest.param(["--metrics", "statsd"], "Invalid value for '--metrics'", id="unknown-source"),
        pytest.param([], "the compose backend needs --project", id="compose-without-project"),
        pytest.param(["-p", "x", "--listen", "nowhere"], "--listen must be HOST:PORT", id="bad-listen"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(policy: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["autoscale", "--policy", str(policy), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_promql_metric_needs_prometheus(tmp_path: Path, fake: FakeKubernetesAPI) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("version: 1\nservices:\n  orders: {metric: promql, query: 'sum(up)', target: 1}\n")
    kubeconfig = fake.kubeconfig(tmp_path / "kubeconfig")
    args = ["autoscale", "--backend", "kubernetes", "--kubeconfig", str(kubeconfig), "--policy", str(policy)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "services.orders.metric" in result.output and "--metrics prometheus" in result.output


def test_once_dry_run_json_holds_without_metrics(
    policy: Path, tmp_path: Path, fake: FakeKubernetesAPI
) -> None:
    kubeconfig = fake.kubeconfig(tmp_path / "kubeconfig")
    args = ["autoscale", "--backend", "kubernetes", "--kubeconfig", str(kubeconfig), "--namespace", "shop"]
    args += ["--policy", str(policy), "--metrics-port", "9", "--once", "--dry-run", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["command"], doc["backend"], doc["dry_run"], doc["ticks"]) == (
        "autoscale",
        "kubernetes",
        True,
        1,
    )
    [orders] = doc["last_tick"]["services"]
    # Nothing answers on port 9: no metrics, so the count is held, never lowered.
    assert (orders["current"], orders["desired"], orders["reason"]) == (2, 2, "metrics-missing")
    assert not orders["metrics_ok"] and not orders["acted"]
    assert not [r for r in fake.requests if r.method == "PATCH"]
    assert not [r for r in fake.requests if "leases" in r.path]  # a dry run takes no lease
