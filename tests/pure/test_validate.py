"""Property tests of the validators: what they accept is what the kernel / iproute2 accept."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vnettop.actions import validate as v
from vnettop.errors import ValidationError

SAFE = st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x7F) | st.sampled_from("-_.@+")
FORBIDDEN_IFNAME = st.sampled_from(["/", ":", "%", " ", "\t", "\n", "\x00", "\x7f", "\u00a0"])


def _ifname_ok(text: str) -> bool:
    """The kernel's dev_valid_name(), plus no control characters."""
    return (0 < len(text.encode("utf-8", "surrogatepass")) <= 15 and text not in (".", "..")
            and not any(c in "/:%" or c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text)
            and 0xA0 not in text.encode("utf-8", "surrogatepass"))


@given(st.text(max_size=20))
def test_ifname_accepts_exactly_the_kernel_rule(text: str) -> None:
    if _ifname_ok(text):
        assert v.check_ifname(text) == text
    else:
        with pytest.raises(ValidationError):
            v.check_ifname(text)


@given(st.text(SAFE, min_size=1, max_size=15).filter(lambda s: s not in (".", "..")))
def test_ifname_accepts_plain_names_up_to_15_bytes(text: str) -> None:
    assert v.check_ifname(text) == text


@given(st.text(SAFE, min_size=0, max_size=14), FORBIDDEN_IFNAME, st.text(SAFE, max_size=5))
def test_ifname_rejection_says_why(head: str, bad: str, tail: str) -> None:
    name = head + bad + tail
    with pytest.raises(ValidationError) as info:
        v.check_ifname(name, "peer name")
    msg = str(info.value)
    assert msg.startswith("peer name")
    assert any(word in msg for word in ("'/'", "':'", "'%'", "whitespace", "control", "bytes", "0xa0"))


@given(st.text(SAFE, min_size=16, max_size=40))
def test_ifname_too_long_reports_the_length(name: str) -> None:
    with pytest.raises(ValidationError, match=f"is {len(name.encode())} bytes long"):
        v.check_ifname(name)


def test_ifname_counts_bytes_not_characters() -> None:
    assert v.check_ifname("é" * 7) == "é" * 7  # 14 bytes
    with pytest.raises(ValidationError, match="0xa0"):
        v.check_ifname("voilà")  # 'à' is C3 A0 in UTF-8: the kernel sees a space
    with pytest.raises(ValidationError, match="16 bytes"):
        v.check_ifname("é" * 8)
    for bad in (".", "..", ""):
        with pytest.raises(ValidationError):
            v.check_ifname(bad)


@given(st.text(max_size=300))
def test_netns_name_follows_iproute2(text: str) -> None:
    ok = (text not in ("", ".", "..") and "/" not in text
          and len(text.encode("utf-8", "surrogatepass")) <= 255
          and not any(ord(c) < 32 or ord(c) == 127 for c in text))
    if ok:
        assert v.check_netns_name(text) == text
    else:
        with pytest.raises(ValidationError):
            v.check_netns_name(text)


def test_optional_netns_none_is_root() -> None:
    assert v.check_optional_netns(None) is None
    with pytest.raises(ValidationError, match="empty"):
        v.check_optional_netns("")


@given(st.integers(min_value=-(2**40), max_value=2**40))
def test_mtu_range(value: int) -> None:
    if 68 <= value <= 65535:
        assert v.check_mtu(value) == value
    else:
        with pytest.raises(ValidationError, match="between 68 and 65535"):
            v.check_mtu(value)


@pytest.mark.parametrize("value", [True, 1500.0, "1500", None])
def test_mtu_must_be_an_int(value: object) -> None:
    with pytest.raises(ValidationError, match="whole number"):
        v.check_mtu(value)


@given(st.binary(min_size=6, max_size=6), st.booleans())
def test_mac(raw: bytes, upper: bool) -> None:
    text = ":".join(f"{b:02x}" for b in raw)
    if upper:
        text = text.upper()
    if raw[0] & 1:
        with pytest.raises(ValidationError, match="multicast"):
            v.check_mac(text)
    elif not any(raw):
        with pytest.raises(ValidationError, match="zeros"):
            v.check_mac(text)
    else:
        assert v.check_mac(text) == text.lower()


@pytest.mark.parametrize("text", ["02:00:00:00:00", "02-00-00-00-00-01", "0200.0000.0001", "zz:00:00:00:00:01"])
def test_mac_shape(text: str) -> None:
    with pytest.raises(ValidationError, match="six two-digit hex bytes"):
        v.check_mac(text)


@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_address_with_prefix(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int) -> None:
    text = f"{addr}/{prefix}"
    if prefix <= addr.max_prefixlen:
        assert v.check_address(text) == ipaddress.ip_interface(text).with_prefixlen
    else:
        with pytest.raises(ValidationError, match=f"between 0 and {addr.max_prefixlen}"):
            v.check_address(text)


@given(st.ip_addresses())
def test_address_without_prefix_is_refused(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    with pytest.raises(ValidationError, match="needs a prefix length"):
        v.check_address(str(addr))


@pytest.mark.parametrize(("text", "fragment"), [
    ("10.0.0.256/24", "not an IPv4 or IPv6"), ("host/24", "not an IPv4 or IPv6"),
    ("10.0.0.1/x", "must be a number"), ("10.0.0.1/", "must be a number"),
])
def test_address_errors(text: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        v.check_address(text)


@given(st.integers(min_value=-5, max_value=2**33))
def test_ids(value: int) -> None:
    if 0 <= value <= 2**32 - 2:
        assert v.check_id(value, "owner") == value
    else:
        with pytest.raises(ValidationError, match="owner"):
            v.check_id(value, "owner")


@pytest.mark.parametrize("bad", [" 10.99.0.2/24 ", "10.99.0.2 /24", "fe80::1%eth0/64", "", "10.0.0.1/24\n"])
def test_addresses_with_spaces_or_zones_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        v.check_address(bad)
    assert "address" in str(exc.value)
