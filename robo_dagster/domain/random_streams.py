"""Counter-based random numbers: the same key always gives the same draw.

The simulator must give the same bar for a (seed, symbol, day) however the days are
batched, backfilled or combined with other symbols. A stateful generator cannot promise
that; a hash of the key can. SplitMix64's finaliser mixes each 64-bit key, and numpy
applies it to whole arrays at once.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SECOND_DRAW = np.uint64(0xD1B54A32D192ED03)
_TWO_POW_53 = float(2**53)


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process (unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over an array of uint64 (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def stream_keys(seed: int, stream: str, entities: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Keys for a (counters × entities) grid of draws of one named stream.

    ``entities`` are per-symbol (or per-factor) 64-bit ids and ``counters`` are day
    ordinals, years or quarter numbers; the result has shape
    ``(len(counters), len(entities))``.
    """
    base = mix64(np.array([seed ^ stable_hash(stream)], dtype=np.uint64))
    ent = mix64(base ^ np.asarray(entities, dtype=np.uint64))
    with np.errstate(over="ignore"):
        ctr = np.asarray(counters, dtype=np.uint64) * _GOLDEN
    return mix64(ent[None, :] ^ mix64(ctr)[:, None])


def uniforms(keys: np.ndarray) -> np.ndarray:
    """Uniform draws in the open interval (0, 1), one per key."""
    return ((keys >> np.uint64(11)).astype(np.float64) + 0.5) / _TWO_POW_53


def normal_pair(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per key (Box–Muller on two uniforms)."""
    u1 = uniforms(keys)
    u2 = uniforms(mix64(keys ^ _SECOND_DRAW))
    radius = np.sqrt(-2.0 * np.log(u1))
    angle = 2.0 * np.pi * u2
    return radius * np.cos(angle), radius * np.sin(angle)


def normals(keys: np.ndarray) -> np.ndarray:
    """One standard normal per key."""
    return normal_pair(keys)[0]


def second_uniforms(keys: np.ndarray) -> np.ndarray:
    """A further uniform per key, independent of ``uniforms(keys)``."""
    return uniforms(mix64(keys ^ _GOLDEN))
