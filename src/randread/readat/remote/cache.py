"""The optional block cache of a remote source: aligned blocks, least recently used out first."""

from __future__ import annotations

from collections import OrderedDict

from randread._locks import TimedLock

__all__ = ["DEFAULT_BLOCK_SIZE", "BlockCache"]

#: the unit of the block cache
DEFAULT_BLOCK_SIZE = 256 * 1024


class BlockCache:
    """Blocks of a remote object, least recently used out first, at most ``capacity`` bytes.

    Block ``n`` holds bytes ``[n * block_size, (n + 1) * block_size)`` of the
    object (the last block may be shorter). The lock guards dictionary work
    only, never a fetch; ``bytes`` is only changed under it.
    """

    __slots__ = ("_blocks", "_lock", "block_size", "bytes", "capacity")

    def __init__(self, capacity: int, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        self.capacity = capacity
        self.block_size = block_size
        self.bytes = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._lock = TimedLock("RemoteReadAt.block_cache")

    def blocks_of(self, offset: int, length: int) -> range:
        """Return the numbers of the blocks that ``length > 0`` bytes at ``offset`` touch."""
        return range(offset // self.block_size, (offset + length - 1) // self.block_size + 1)

    def get(self, block: int) -> bytes | None:
        """Return block ``block`` if held (and mark it recently used), else None."""
        with self._lock:
            data = self._blocks.get(block)
            if data is not None:
                self._blocks.move_to_end(block)
            return data

    def put(self, block: int, data: bytes) -> None:
        """Keep ``data`` as block ``block``, dropping the least recently used beyond capacity."""
        if len(data) > self.capacity:
            return
        with self._lock:
            if block in self._blocks:
                return
            self._blocks[block] = data
            self.bytes += len(data)
            while self.bytes > self.capacity:
                _, evicted = self._blocks.popitem(last=False)
                self.bytes -= len(evicted)
