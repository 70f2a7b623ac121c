import pytest

from har.train.recipes.amfi import SPEC as AMFI
from har.train.spec import ModelSpec, check_dotted_key


def test_late_keys_are_checked_against_the_config_when_the_spec_is_built():
    fields = {k: getattr(AMFI, k) for k in ("name", "paper", "inputs", "config_type", "build", "make_inputs",
                                            "recipe")}
    assert ModelSpec(**fields, late_keys=("fuse", "model.gate_lambda")).late_keys == ("fuse", "model.gate_lambda")
    with pytest.raises(ValueError, match="'model.fusoin' is not a key of AmfiTrain.*no field 'fusoin'"):
        ModelSpec(**fields, late_keys=("fuse", "model.fusoin"))
    with pytest.raises(ValueError, match="'fusion' is not a key of AmfiTrain"):  # the phase is `fuse`
        ModelSpec(**fields, late_keys=("fusion",))
    with pytest.raises(ValueError, match="no field 'lr'"):  # a leaf has no sub-keys
        check_dotted_key(AMFI.config_type, "seed.lr", "test")
    check_dotted_key(AMFI.config_type, "fuse.optim.lr", "test")
