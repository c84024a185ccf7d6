import pytest
from pydantic import ValidationError

from services.core.settings import Settings


def test_api_keys_parse():
    assert Settings(api_keys="k1:alice, k2:bob").tenants_by_key == {"k1": "alice", "k2": "bob"}
    assert Settings(api_keys="").tenants_by_key == {}


def test_malformed_api_keys_refused():
    with pytest.raises(ValueError, match="key1:tenant1"):
        Settings(api_keys="just-a-key").tenants_by_key


def test_time_limit_below_visibility_timeout():
    with pytest.raises(ValidationError):
        Settings(visibility_timeout=100, task_time_limit=200)


def test_broker_defaults_to_redis():
    assert Settings(redis_url="redis://h:1/0").effective_broker_url == "redis://h:1/0"
    assert Settings(redis_url="redis://h:1/0", broker_url="amqp://guest@h//").effective_broker_url.startswith("amqp://")
