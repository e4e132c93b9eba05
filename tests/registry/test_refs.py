import pytest

from tinyops.errors import ReferenceSyntaxError
from tinyops.registry.refs import Ref, parse_ref


@pytest.mark.parametrize("text,ref", [
    ("digits", Ref("digits", alias="latest")),
    ("digits@3", Ref("digits", version=3)),
    ("digits@production", Ref("digits", alias="production")),
    ("digits@3:int8", Ref("digits", version=3, variant="int8")),
    ("kws-v2.1@canary:float16", Ref("kws-v2.1", alias="canary", variant="float16")),
])
def test_parse(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize("bad", ["", "@3", "a@", "a@@1", "a@1:", "a b", "a@0", "a@1:int8:x", "-x"])
def test_bad_syntax(bad: str) -> None:
    with pytest.raises(ReferenceSyntaxError, match="NAME@VERSION"):
        parse_ref(bad)


def test_variant_not_allowed() -> None:
    with pytest.raises(ReferenceSyntaxError, match="variant"):
        parse_ref("d@1:int8", allow_variant=False)


def test_str_round_trip() -> None:
    assert str(parse_ref("m@2:int8")) == "m@2:int8"
    assert str(parse_ref("m")) == "m@latest"
