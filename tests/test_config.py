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


@dataclass(frozen=True)
class Renamed:
    size: int = 3
    bound: float | None = field(default=None, metadata={"params": False, "why": "read from the store's attrs"})

    moved_keys = {"old_size": "the size now lives in section `other`"}  # a plain class attribute works too


def test_moved_keys_and_code_filled_fields_are_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"params.yaml:s: key 'old_size' was removed: the size now lives in"):
        from_mapping(Renamed, {"old_size": 4}, "params.yaml:s")
    with pytest.raises(ConfigError, match=r"params.yaml:s: key 'bound' is not a params key: read from the store"):
        from_mapping(Renamed, {"bound": 1.0}, "params.yaml:s")
    with pytest.raises(ConfigError, match=r"unknown key 'typo' \(known keys: size\)"):
        from_mapping(Renamed, {"typo": 1}, "params.yaml:s")
    assert from_mapping(Renamed, {"size": 5}, "w") == Renamed(size=5, bound=None)
