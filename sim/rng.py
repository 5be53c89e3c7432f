"""Named random streams, so that switching one mechanism off leaves every other draw unchanged.

Two kinds of draw:
- `generator(mechanism, *key)`: a numpy Generator seeded from the run's SeedSequence and a
  stable hash of (mechanism, key), for draws whose shape does not depend on other mechanisms
  (traffic arrivals of an hour, world generation, a retrain's sample).
- `uniform(mechanism, counters)`: counter-based uniforms, one per counter (a session/slot id),
  so a draw belongs to its session and slot, not to its place in an array. A fault that changes
  how many pages one session views leaves every other session's draws untouched: this is what
  keeps counterfactual runs on common random numbers.
"""

from __future__ import annotations

import zlib

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def stable_hash(name: str) -> int:
    """A process-independent 32-bit hash (Python's hash() is salted per process)."""
    return zlib.crc32(name.encode())


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def splitmix64_int(x: int) -> int:
    """The splitmix64 finaliser on one Python int (for salts)."""
    mask = 0xFFFFFFFFFFFFFFFF
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


class Streams:
    """The run's random streams, all derived from one seed (and a luck number: see `lucky`)."""

    def __init__(self, seed: int, luck: int = 0) -> None:
        self.seed = int(seed)
        self.luck = int(luck)
        self._root = np.random.SeedSequence(self.seed)
        self._salts: dict[str, int] = {}

    def lucky(self, luck: int) -> Streams:
        """The same world's streams with other luck: every draw differs, none is shared."""
        return Streams(self.seed, luck)

    def generator(self, mechanism: str, *key: int) -> np.random.Generator:
        extra = (self.luck,) if self.luck else ()
        seq = np.random.SeedSequence(
            entropy=self._root.entropy,
            spawn_key=(stable_hash(mechanism), *(int(k) for k in key), *extra),
        )
        return np.random.Generator(np.random.PCG64(seq))

    def salt(self, mechanism: str) -> int:
        """The mechanism's 64-bit salt (cached: a run asks for the same few thousands of times)."""
        salts = self.__dict__.setdefault("_salts", {})  # (a Streams pickled before salts)
        salt = salts.get(mechanism)
        if salt is None:
            mix = self.seed * 0x1000193 + stable_hash(mechanism) + self.luck * 0x9E3779B1
            salt = salts[mechanism] = splitmix64_int(mix % 2**64)
        return salt

    def _counters(self, counters: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(counters, dtype=np.uint64).reshape(-1)

    def _bits(self, mechanism: str, counters: np.ndarray) -> np.ndarray:
        from sim import kernels

        flat = kernels.bits(self._counters(counters), np.uint64(self.salt(mechanism)))
        return flat.reshape(np.shape(counters))

    def uniform(self, mechanism: str, counters: np.ndarray) -> np.ndarray:
        """Uniform floats in [0, 1), one per counter, fixed by (seed, mechanism, counter)."""
        from sim import kernels

        flat = kernels.uniform(self._counters(counters), np.uint64(self.salt(mechanism)))
        return flat.reshape(np.shape(counters))

    def uniform_pair(self, mechanism: str, counters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two independent uniforms per counter from one hash (32 bits each): half the cost."""
        from sim import kernels

        salt = np.uint64(self.salt(mechanism))
        low, high = kernels.uniform_pair(self._counters(counters), salt)
        return low.reshape(np.shape(counters)), high.reshape(np.shape(counters))

    def row_salts(self, mechanism: str, k: int) -> np.ndarray:
        """The salts of `uniform_rows`' k rows: one per pair of rows."""
        return np.array([self.salt(f"{mechanism}.{i}") for i in range((k + 1) // 2)], np.uint64)

    def uniform_rows(self, mechanism: str, counters: np.ndarray, k: int) -> np.ndarray:
        """`k` independent uniforms per counter (32-bit each), shape (k, n): two per hash."""
        from sim import kernels

        return kernels.uniform_rows(self._counters(counters), self.row_salts(mechanism, k), k)


def slot_counter(session_key: np.ndarray, slot: np.ndarray | int) -> np.ndarray:
    """A counter for (session, slot): session keys are < 2**40, slots < 2**16."""
    return (session_key.astype(np.uint64) << np.uint64(16)) | np.asarray(slot, np.uint64)
