"""compose.yaml is valid and every service runs a real docenrich command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
WORKERS = {"worker-language": "language", "worker-entities": "entities", "worker-summary": "summary"}


@pytest.fixture(scope="module")
def config() -> dict:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's package: apt-get install docker-compose)")
    result = subprocess.run([binary, "-f", str(REPO / "compose.yaml"), "config"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_services_present(config):
    assert set(config["services"]) == {"redis", "api", *WORKERS}


def test_commands_are_real_docenrich_commands(config):
    parser = build_parser()
    for name, service in config["services"].items():
        if name == "redis":
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


def test_dockerfile_runs_as_non_root():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "\nUSER docenrich" in dockerfile
