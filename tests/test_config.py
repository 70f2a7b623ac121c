from dataclasses import dataclass, field
from typing import Literal

import pytest

from har.config import ConfigError, from_mapping, to_mapping


@dataclass(frozen=True)
class Inner:
    rate: float = 0.1
    sizes: tuple[int, ...] = (1, 2)


@dataclass(frozen=True)
class Outer:
    name: str = "a"
    mode: Literal["x", "y"] = "x"
    count: int = 3
    address: str | None = None
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_nested_values():
    config = from_mapping(Outer, {"count": 5, "inner": {"rate": 1, "sizes": [3, 4]}}, "params.yaml:s")
    assert config == Outer(count=5, inner=Inner(rate=1.0, sizes=(3, 4)))
    assert from_mapping(Outer, None, "w") == Outer()
    assert to_mapping(config)["inner"]["sizes"] == [3, 4]


@pytest.mark.parametrize("data, message", [
    ({"cuont": 1}, "params.yaml:s: unknown key 'cuont'"),
    ({"inner": {"rat": 1}}, "params.yaml:s.inner: unknown key 'rat'"),
    ({"count": "3"}, "params.yaml:s.count: expected an integer"),
    ({"count": True}, "params.yaml:s.count: expected an integer"),
    ({"mode": "z"}, "params.yaml:s.mode: 'z' is not one of 'x', 'y'"),
    ({"inner": {"sizes": 3}}, "params.yaml:s.inner.sizes: expected a list"),
    ([1, 2], "params.yaml:s: expected a mapping"),
])
def test_bad_sections_name_the_key(data, message):
    with pytest.raises(ConfigError) as error:
        from_mapping(Outer, data, "params.yaml:s")
    assert message in str(error.value)
