"""compose.yaml is valid and every service runs a real docenrich command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
WORKERS = {"worker-language": "language", "worker-entities": "entities", "worker-summary": "summary", "worker-webhooks": "webhooks"}
MONITORING = {"prometheus", "grafana", "flower"}


@pytest.fixture(scope="module")
def config() -> dict:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's package: apt-get install docker-compose)")
    result = subprocess.run([binary, "-f", str(REPO / "compose.yaml"), "config"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_services_present(config):
    default = {name for name, service in config["services"].items() if not service.get("profiles")}
    assert default == {"redis", "api", *WORKERS}


def test_monitoring_profile(config):
    profiled = {name for name, service in config["services"].items() if service.get("profiles")}
    assert profiled == MONITORING
    for name in MONITORING:
        assert config["services"][name]["profiles"] == ["monitoring"]
    prometheus = yaml.safe_load((REPO / "docker" / "prometheus.yml").read_text())
    targets = [c for job in prometheus["scrape_configs"] for c in job.get("dns_sd_configs", [])]
    assert targets and targets[0]["names"] == ["api"] and targets[0]["port"] == 8000
    for name in MONITORING:
        for volume in config["services"][name].get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith(("/", ".")):
                assert Path(source).exists(), (name, source)


def test_dashboard_uses_only_metrics_the_api_exposes():
    import json
    import re

    from prometheus_client import generate_latest

    from services.api.app import get_application
    from services.core.settings import Settings

    app = get_application(Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0"))
    exposed = set(re.findall(r"^# TYPE (\S+) (\S+)", generate_latest(app.state.metrics.registry).decode(), re.M))
    names = set()
    for name, kind in exposed:
        names |= {name, f"{name}_total"} if kind == "counter" else {name, f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    dashboard = json.loads((REPO / "docker" / "grafana" / "dashboards" / "docenrich.json").read_text())
    used = {m for panel in dashboard["panels"] for target in panel["targets"] for m in re.findall(r"docenrich_\w+", target["expr"])}
    assert used and used <= names, used - names


def test_commands_are_real_docenrich_commands(config):
    parser = build_parser()
    for name, service in config["services"].items():
        if name == "redis" or name in MONITORING:
            continue
        command = service["command"]
        assert command[0] == "docenrich", (name, command)
        args = parser.parse_args(command[1:])
        if name in WORKERS:
            assert args.command == "worker" and args.queues == [WORKERS[name]]
        else:
            assert args.command == "api"


def test_workers_are_scalable(config):
    for name in WORKERS:
        service = config["services"][name]
        assert "container_name" not in service and "ports" not in service, name


def test_redis_persists_and_everything_waits_for_it(config):
    redis_service = config["services"]["redis"]
    assert "healthcheck" in redis_service
    assert "appendonly yes" in (REPO / "docker" / "redis.conf").read_text()
    for name in ("api", *WORKERS):
        assert config["services"][name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in config["services"]["api"]


def test_health_checks_are_probe_commands(config):
    parser = build_parser()
    for name in ("api", *WORKERS):
        test = config["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "docenrich", (name, test)
        args = parser.parse_args(test[2:])
        assert args.command == "probe" and args.target == ("live" if name == "api" else "worker"), (name, test)


def test_dockerfile_runs_as_non_root():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "\nUSER docenrich" in dockerfile
