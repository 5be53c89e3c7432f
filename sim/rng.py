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


class Streams:
    """The run's random streams, all derived from one seed (and a luck number: see `lucky`)."""

    def __init__(self, seed: int, luck: int = 0) -> None:
        self.seed = int(seed)
        self.luck = int(luck)
        self._root = np.random.SeedSequence(self.seed)

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

    def _bits(self, mechanism: str, counters: np.ndarray) -> np.ndarray:
        mix = self.seed * 0x1000193 + stable_hash(mechanism) + self.luck * 0x9E3779B1
        salt = _splitmix64(np.array([mix % 2**64], np.uint64))
        with np.errstate(over="ignore"):
            state = (counters.astype(np.uint64, copy=False) ^ salt[0]) * _GOLDEN
        return _splitmix64(state)

    def uniform(self, mechanism: str, counters: np.ndarray) -> np.ndarray:
        """Uniform floats in [0, 1), one per counter, fixed by (seed, mechanism, counter)."""
        bits = self._bits(mechanism, counters)
        return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))

    def uniform_pair(self, mechanism: str, counters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two independent uniforms per counter from one hash (32 bits each): half the cost."""
        bits = self._bits(mechanism, counters)
        scale = 1.0 / (1 << 32)
        low = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) * scale
        high = (bits >> np.uint64(32)).astype(np.float64) * scale
        return low, high

    def uniform_rows(self, mechanism: str, counters: np.ndarray, k: int) -> np.ndarray:
        """`k` independent uniforms per counter (32-bit each), shape (k, n): two per hash."""
        out = np.empty((k, len(counters)))
        for i in range(0, k, 2):
            low, high = self.uniform_pair(f"{mechanism}.{i // 2}", counters)
            out[i] = low
            if i + 1 < k:
                out[i + 1] = high
        return out


def slot_counter(session_key: np.ndarray, slot: np.ndarray | int) -> np.ndarray:
    """A counter for (session, slot): session keys are < 2**40, slots < 2**16."""
    return (session_key.astype(np.uint64) << np.uint64(16)) | np.asarray(slot, np.uint64)
