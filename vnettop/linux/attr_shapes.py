"""Where a message's wanted netlink attributes are, remembered by the shape of its attribute chain.

Why: a link message carries dozens of top-level attributes (37-42 for the veths, bridges and tuns of
kernel 6.18 measured here) of which the link parser wants about ten, and `netlink.attributes` finds them
by walking the chain in Python: 6.3 us a message, measured over the 5024 links of a 1000-namespace host
(warm, a 2-core Xeon VM). Those links came in 13 shapes: the kernel writes its attributes in one order,
so devices of one kind, with the same optional attributes (a master, a peer's nsid) and names of the
same padded length, give the same chain. So the offsets found by one walk are kept, keyed by the
chain's length, and a later message is read at them once its shape is proven the same: one `struct`
read of every attribute header at the remembered offsets, compared with the headers the walk met (2.9
us a message, measured the same way). Every header along the chain and its end being equal, the walk
would have gone the very same way, so the answer is exactly the walk's. Any other message is walked as
ever, after at most `PER_LENGTH` such reads that did not match, and its shape is learned, up to
`MAX_SHAPES`.
"""

from __future__ import annotations

import struct
import threading

from vnettop.linux.netlink import Buffer, attributes

_NLA = struct.Struct("=HH")
_HEAD = struct.Struct("=I")  # an attribute header whole (length and type): what a shape compares
#: A remembered shape: a struct reading every header of the chain at once, the headers a walk met, and
#: (type, offset from the chain's start, size) of each wanted attribute the walk found.
_Shape = tuple[struct.Struct, tuple[int, ...], tuple[tuple[int, int, int], ...]]


class AttributeShapes:
    """`attributes(buf, pos, end, wanted)` for one fixed `wanted`, from remembered shapes when one fits.

    Safe to share between threads: a shape is added whole (a new list under a lock) and never changed
    (the `hits` and `walks` counts may then miss some: they are only for tests and benchmarks).
    """

    #: Shapes remembered at most (a host with more kinds of messages walks the rest), each a struct and
    #: two tuples of a few dozen numbers.
    MAX_SHAPES = 256
    #: Shapes remembered at most for one chain length (messages of one length but other shapes).
    PER_LENGTH = 4

    def __init__(self, wanted: frozenset[int]) -> None:
        self.wanted = wanted
        self._by_length: dict[int, list[_Shape]] = {}  # by the chain's length in bytes
        self._count = 0
        self._lock = threading.Lock()
        #: How many messages a remembered shape answered, and how many were walked.
        self.hits = self.walks = 0

    def find(self, buf: Buffer, pos: int, end: int) -> dict[int, tuple[int, int]]:
        """Type -> (payload offset, size) of the first attribute of each wanted type in [pos, end).
        Raises ValueError on a malformed chain, as `attributes` does."""
        shapes = self._by_length.get(end - pos)
        if shapes:
            for reader, heads, where in shapes:
                if reader.unpack_from(buf, pos) == heads:
                    self.hits += 1
                    return {kind: (pos + at, size) for kind, at, size in where}
        found = attributes(buf, pos, end, self.wanted)
        self.walks += 1
        if self._count < self.MAX_SHAPES and (shapes is None or len(shapes) < self.PER_LENGTH):
            self._learn(buf, pos, end, found)
        return found

    def _learn(self, buf: Buffer, start: int, end: int, found: dict[int, tuple[int, int]]) -> None:
        """Remember the shape of the chain in [start, end), well-formed (`attributes` just walked it)."""
        fmt = ["="]
        heads: list[int] = []
        pos = read_to = start  # the next attribute; where the struct has read up to
        while pos + 4 <= end:  # (the walk's own steps)
            size = _NLA.unpack_from(buf, pos)[0]
            if pos > read_to:
                fmt.append(f"{pos - read_to}x")
            fmt.append("I")
            heads.append(_HEAD.unpack_from(buf, pos)[0])
            read_to = pos + 4
            pos += (size + 3) & ~3
        where = tuple((kind, offset - start, size) for kind, (offset, size) in found.items())
        shape = (struct.Struct("".join(fmt)), tuple(heads), where)
        length = end - start
        with self._lock:
            kept = self._by_length.get(length, ())
            if self._count < self.MAX_SHAPES and len(kept) < self.PER_LENGTH:
                self._by_length[length] = [*kept, shape]  # (a reader may be going through the old list)
                self._count += 1
