"""Calico's host-side veth names: which pod a `cali…` device is for, checked by recomputing the name.

Calico's CNI plugin names the host end of a pod's veth pair after the pod, not after a random id:
`cali` + the first 11 hex digits of sha1("<Kubernetes namespace>.<pod name>") (libcalico-go,
`VethNameForWorkload`; the prefix is Felix's `FELIX_INTERFACEPREFIX`, `cali` by default; 4 + 11 = 15
characters, IFNAMSIZ's limit). The name is therefore computable from a pod, never the other way round:
this is a check, not a source. The pod sources (`cri`) call `check` for the pods they found exactly, so
a pod owner carries its Calico veth (even when its peer could not be resolved) and says whether the
device that IS its peer has the name Calico would give it (a mismatch means a rename, another prefix, or
a device that only looks like Calico's).

Kept beside the pod source rather than as a source of its own: a source sees only the kernel picture,
not the other sources' owners, and without the pod's name and namespace a `cali` name says nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from vnettop.model import Link, LinkKey

PREFIX = "cali"
#: Hex digits of the hash in the name (IFNAMSIZ 16 - NUL - len("cali")).
HASH_DIGITS = 11
MATCH = "veth name matches pod"


def veth_name(namespace: str, pod: str, prefix: str = PREFIX) -> str:
    """The host-side veth name Calico gives pod `pod` of Kubernetes namespace `namespace`."""
    import hashlib  # only with pods to match (~3 ms to import: most dumps never need it)

    digest = hashlib.sha1(f"{namespace}.{pod}".encode(), usedforsecurity=False).hexdigest()
    return f"{prefix}{digest[:HASH_DIGITS]}"


def check(namespace: str, pod: str, peers: Iterable[Link],
          by_name: dict[str, list[Link]]) -> tuple[list[LinkKey], str | None]:
    """The pod's Calico host veths and what to say about them (None: Calico plays no part here).

    `peers`: the host-side peers of the pod's devices; `by_name`: every device of the picture by name.
    A device named as Calico would name this pod is the pod's (found by name even when no peer link
    points at it); a `cali…` peer with another name is reported, not claimed by the name.
    """
    expected = veth_name(namespace, pod)
    found = [link.key for link in by_name.get(expected, []) if link.kind == "veth"]
    wrong = sorted({link.name for link in peers if link.name.startswith(PREFIX) and link.name != expected})
    if wrong:
        return found, f"{', '.join(wrong)} is the pod's peer but Calico would name it {expected}"
    if found:
        return found, MATCH
    return [], None
