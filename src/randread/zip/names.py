"""Name lookup for big central directories without a Python object per entry.

Names live in one buffer (each followed by a NUL; see :class:`NameTable`).
:class:`NameIndex` is a hash index over them: entries sorted by bucket, one
array of bucket starts, so a lookup touches one bucket and compares the bytes
of the few names in it. The hash is a Karp-Rabin fingerprint, the name's bytes
read as one big-endian integer modulo a prime chosen at random when the index
is built: in Python that is ``int.from_bytes(key, "big") % prime``, and numpy
computes the same value for every name at once. Because the prime is secret,
an archive cannot be crafted to put many names into one bucket (two different
names of ``L`` bytes share a fingerprint for fewer than ``8 * L / 31`` of the
about 10**8 primes the index draws from).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from typing_extensions import Buffer

__all__ = ["NameIndex", "NameTable", "fingerprint", "fingerprints", "random_prime"]

#: names longer than this are fingerprinted one by one in Python (rare, and a
#: vectorised step per byte of the longest name would cost more)
_LONG_NAME = 512
#: bytes folded into a fingerprint between two reductions: a value below the
#: prime (< 2**31) shifted by 4 bytes stays below 2**63
_STEPS_PER_REDUCTION = 4


def _is_prime(number: int) -> bool:
    """Miller-Rabin with the bases that are exact below 2**32."""
    if number < 2:
        return False
    for small in (2, 3, 5, 7, 11, 13):
        if number % small == 0:
            return number == small
    odd, twos = number - 1, 0
    while odd % 2 == 0:
        odd //= 2
        twos += 1
    for base in (2, 7, 61):
        value = pow(base, odd, number)
        if value in (1, number - 1):
            continue
        for _ in range(twos - 1):
            value = value * value % number
            if value == number - 1:
                break
        else:
            return False
    return True


def random_prime() -> int:
    """Return a random prime between 2**30 and 2**31."""
    generator = random.SystemRandom()
    while True:
        candidate = generator.randrange(2**30 + 1, 2**31, 2)
        if _is_prime(candidate):
            return candidate


def fingerprint(key: bytes, prime: int) -> int:
    """Return the fingerprint of one name (its bytes as a big-endian integer, mod ``prime``)."""
    return int.from_bytes(key, "big") % prime


def fingerprints(
    buffer: NDArray[np.uint8], starts: NDArray[np.int64], lengths: NDArray[np.int64], prime: int
) -> NDArray[np.uint64]:
    """Return :func:`fingerprint` of ``buffer[starts[i] : starts[i] + lengths[i]]`` for every i.

    Horner's rule runs over all names at once, one byte position per step,
    longest names first so that the names still going are a prefix.
    """
    count = len(starts)
    result = np.zeros(count, dtype=np.uint64)
    if count == 0:
        return result
    longest_first = int(lengths.max()) - lengths
    if len(longest_first) and longest_first.max() < 2**16:  # radix-sorted as 16-bit
        longest_first = longest_first.astype(np.uint16)
    order = np.argsort(longest_first, kind="stable")
    lengths_sorted = lengths[order]
    long_count = int(np.searchsorted(-lengths_sorted, -_LONG_NAME, side="left"))
    raw = buffer.tobytes() if long_count else b""
    for position in order[:long_count].tolist():
        start = int(starts[position])
        result[position] = fingerprint(raw[start : start + int(lengths[position])], prime)
    short = order[long_count:]
    if len(short):
        starts_sorted = starts[short]
        lengths_short = lengths_sorted[long_count:]
        # going[j]: how many names are longer than j bytes
        longest = int(lengths_short[0])
        going = np.searchsorted(-lengths_short, -np.arange(longest), side="left")
        values = np.zeros(len(short), dtype=np.uint64)
        big_prime = np.uint64(prime)
        shift = np.uint64(8)
        for step in range(longest):
            active = int(going[step])
            head = values[:active]
            head <<= shift
            head += buffer[starts_sorted[:active] + step]
            if step % _STEPS_PER_REDUCTION == _STEPS_PER_REDUCTION - 1:
                head %= big_prime
        values %= big_prime
        result[short] = values
    return result


@dataclass(frozen=True, slots=True)
class NameTable:
    """Decoded entry names, UTF-8, each followed by a NUL, in one buffer.

    Name ``i`` is ``buffer[offsets[i] : offsets[i + 1] - 1]``; ``offsets`` has
    one element more than there are names. A parsed name never holds a NUL
    (zipfile cuts a name there), so the buffer splits back into the names.
    """

    buffer: bytes | NDArray[np.uint8]
    offsets: NDArray[np.uint64]
    #: the offsets as a memoryview: Python ints per item, faster than numpy scalars
    _bounds: memoryview = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_bounds", np.ascontiguousarray(self.offsets).data)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def key(self, index: int) -> bytes:
        """Return the bytes of name ``index``."""
        bounds = self._bounds
        return bytes(self.buffer[bounds[index] : bounds[index + 1] - 1])

    def names(self) -> list[str]:
        """Return every name, in entry order."""
        if len(self) == 0:
            return []
        names = str(cast("Buffer", self.buffer), "utf-8", "surrogatepass").split("\x00")
        names.pop()  # after the last NUL
        return names

    def fingerprints(self, prime: int) -> NDArray[np.uint64]:
        """Return the :func:`fingerprint` of every name."""
        offsets = self.offsets.astype(np.int64)
        return fingerprints(
            np.frombuffer(self.buffer, dtype=np.uint8), offsets[:-1], self.lengths(), prime
        )

    def lengths(self) -> NDArray[np.int64]:
        """Return the byte length of every name."""
        lengths: NDArray[np.int64] = np.diff(self.offsets.astype(np.int64)) - np.int64(1)
        return lengths


@dataclass(frozen=True, slots=True)
class NameIndex:
    """A hash index over a :class:`NameTable` (see the module docstring).

    The entries of bucket ``b`` are ``order[bucket_starts[b] : bucket_starts[b + 1]]``,
    in ascending entry order; the bucket of a name is its fingerprint masked
    to the bucket count (a power of two).
    """

    prime: int
    bucket_starts: NDArray[np.uint32] | NDArray[np.uint64]
    order: NDArray[np.uint32] | NDArray[np.uint64]

    @classmethod
    def build(cls, table: NameTable, prime: int | None = None) -> NameIndex:
        """Index every name of ``table``."""
        prime = random_prime() if prime is None else prime
        return cls.from_fingerprints(table.fingerprints(prime), prime)

    @classmethod
    def from_fingerprints(cls, keys: NDArray[np.uint64], prime: int) -> NameIndex:
        """Index names whose fingerprints modulo ``prime`` are ``keys``, in entry order."""
        count = len(keys)
        buckets = 1 << max(count - 1, 1).bit_length()
        index_type = np.uint32 if count < 2**32 else np.uint64
        bucket_of = (keys & np.uint64(buckets - 1)).astype(index_type)
        order = np.argsort(bucket_of, kind="stable").astype(index_type)
        starts = np.zeros(buckets + 1, dtype=index_type)
        np.cumsum(np.bincount(bucket_of, minlength=buckets), out=starts[1:])
        return cls(prime, starts, order)

    @property
    def bucket_count(self) -> int:
        """The number of buckets (a power of two)."""
        return len(self.bucket_starts) - 1

    def candidates(self, key: bytes) -> NDArray[np.uint32] | NDArray[np.uint64]:
        """Return the entries whose names may be ``key``, in ascending entry order."""
        bucket = fingerprint(key, self.prime) & (self.bucket_count - 1)
        starts = self.bucket_starts
        return self.order[int(starts[bucket]) : int(starts[bucket + 1])]
