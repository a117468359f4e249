#!/usr/bin/env python3
"""Writes the seed corpus of hk_fuzz (test/fuzz/corpus/).

Each seed is an op stream in the format fuzz_api.c decodes; the seeds only
make sure every op and the interesting config corners are reached from the
start. Run from anywhere: python3 test/fuzz/make_corpus.py
"""
import os
import struct

# Op numbers: the first byte of an op, taken modulo 16 (see fuzz_api.c).
CREATE, DESTROY, MALLOC, CALLOC, REALLOC, ALIGNED, POSIX = 0, 1, 2, 4, 5, 7, 8
FREE, TRIM, STATS, MISC, HUGE, EXTRA = 9, 11, 12, 13, 14, 15
DEFAULT = 4  # heap selector meaning "the default heap"


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def size(n):
    """Encodes n for in_size(): the size class byte picks the width."""
    if n < 256:
        return bytes([0, n])
    if n < 65536:
        return bytes([4]) + u16(n)
    if n <= 1 << 20:
        return bytes([6]) + u32(n)
    return bytes([7]) + u32(n)


def malloc(heap, n):
    return bytes([MALLOC, heap]) + size(n)


def calloc(heap, count, n):
    return bytes([CALLOC, heap, count]) + size(n)


def realloc(idx, n, heap_api=False):
    how = 0 if heap_api else 1
    out = bytes([REALLOC]) + u16(idx) + size(n) + bytes([how])
    return out + (bytes([DEFAULT]) if heap_api else b"")


def aligned(heap, align_byte, n, posix=False):
    return bytes([POSIX if posix else ALIGNED, heap, align_byte]) + size(n)


def free(idx):
    return bytes([FREE]) + u16(idx)


def create(slot, prof, f, g, extra=b""):
    """extra: the field bytes in_config() reads for the flags set in f."""
    return bytes([CREATE, slot, prof, f, g]) + extra


SEEDS = {
    "basic": b"".join([malloc(DEFAULT, n) for n in (0, 1, 16, 100, 1000, 5000, 70000)]
                      + [free(0), free(3), malloc(DEFAULT, 24), bytes([STATS, DEFAULT, 1])]
                      + [free(0)] * 4),
    "heaps": b"".join([
        create(0, 3, 0, 0), create(1, 1, 0, 0), create(2, 2, 0, 0),
        malloc(0, 64), malloc(1, 3000), malloc(2, 200000), malloc(DEFAULT, 40),
        realloc(0, 9000), realloc(1, 10, heap_api=True), bytes([TRIM, 2]),
        bytes([STATS, 1, 1]), bytes([DESTROY, 2]), free(0), bytes([EXTRA, 1, 0]),
        bytes([DESTROY, 0]), bytes([TRIM, DEFAULT, 1])]),
    # max_bytes = 2 MiB (choice 1), then allocations that exhaust it.
    "budget": b"".join([create(0, 0, 32, 0, bytes([1]))]
                       + [malloc(0, 600000)] * 4 + [malloc(0, 3000)] * 8
                       + [free(0), malloc(0, 900000), bytes([STATS, 0, 0])]),
    "aligned": b"".join([aligned(DEFAULT, a, 100) for a in (0, 3, 4, 6, 12, 16, 20, 21, 205, 230)]
                        + [aligned(DEFAULT, a, 70000, posix=True) for a in (1, 3, 8, 19)]
                        + [create(1, 0, 0, 0), aligned(1, 17, 5000), aligned(1, 8, 300000)]),
    "realloc": b"".join([malloc(DEFAULT, 10)]
                        + [realloc(0, n) for n in (20, 200, 2000, 20000, 200000, 3 << 20, 50, 0)]),
    # Hooked heap whose every third map call fails; decommit DONTNEED.
    "hooks": b"".join([create(0, 2, 64 | 4, 2, bytes([2, 1, 3]))]
                      + [malloc(0, n) for n in (100, 70000, 2 << 20, 500, 9000)]
                      + [free(1), free(0), bytes([TRIM, 0]), bytes([STATS, 0, 1]),
                         bytes([DESTROY, 0])]),
    "configs": b"".join([
        create(0, 0, 128, 0, bytes([0])),            # struct_size wrong
        create(0, 0, 128, 0, bytes([2])),            # version wrong
        create(0, 0, 32, 0, bytes([6])),             # max_bytes = 1
        create(0, 0, 4, 0, bytes([3])),              # decommit out of range
        create(0, 0, 16, 0, bytes([3, 70, 5])),      # region_cache_slots > 64
        create(0, 0, 1 | 32, 0, bytes([2, 1])),      # prewarm 4 MiB > max 2 MiB
        create(2, 0, 1 | 32, 0, bytes([4, 2])),      # prewarm 2 MiB+1 (rounds up), max 3 MiB
        create(0, 0, 64, 0, bytes([1])),             # map hook without unmap
        create(1, 1, 1 | 2 | 8, 0, bytes([1]) + u16(7)),
        malloc(1, 77), bytes([MISC, 9, 0, 0])]),
    # Trim decommits the free slabs of a SuperSlab still in use, then the
    # SuperSlab empties and a second trim unmaps it: committed_bytes must
    # stay <= mapped_bytes (it once went negative here).
    "trim_committed": b"".join([malloc(DEFAULT, 32), malloc(DEFAULT, 4000), free(1),
                                bytes([TRIM, DEFAULT, 1]), free(0), bytes([TRIM, DEFAULT, 1]),
                                bytes([STATS, DEFAULT, 0])]),
    "huge": b"".join([bytes([HUGE, DEFAULT, i, j]) for i in range(4) for j in range(4)]
                     + [create(0, 0, 32, 0, bytes([3])), bytes([HUGE, 0, 0, 1])]),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(SEEDS)} seeds written to {out}")


if __name__ == "__main__":
    main()
