"""The process-wide pool of receive blocks that both parser twins lend to the loop.

A block is a writable ``memoryview`` of a ``bytearray`` of ``RECV_BLOCK_SIZE`` bytes.
A parser takes one in ``get_buffer`` and gives it back before ``buffer_updated``
returns, so a single-threaded loop needs one block; at most ``RECV_POOL_KEEP`` free
blocks are kept, any further one is left to the garbage collector.
"""

from __future__ import annotations

from typing import List

from pyre.protocol.h1.parsing import RECV_BLOCK_SIZE, RECV_POOL_KEEP

__all__ = ["FREE_BLOCKS", "free_blocks", "give", "take"]

#: The free blocks (the compiled parser pops and appends here directly).
FREE_BLOCKS: List[memoryview] = []


def take() -> memoryview:
    """A free block, or a new one."""
    if FREE_BLOCKS:
        return FREE_BLOCKS.pop()
    return memoryview(bytearray(RECV_BLOCK_SIZE))


def give(block: memoryview) -> None:
    """Return a block taken with :func:`take`."""
    if len(FREE_BLOCKS) < RECV_POOL_KEEP:
        FREE_BLOCKS.append(block)


def free_blocks() -> int:
    """How many free blocks the pool holds."""
    return len(FREE_BLOCKS)
