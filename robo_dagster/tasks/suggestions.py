"""Suggestions for a misspelt job, asset or option name: "did you mean …?" (plain Python).

An asset is matched on its whole key (``portfolio/positions``) and on its name alone
(``positions``), so a name typed without its group, or with the wrong one, still finds it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_SUGGESTIONS = 3
# difflib's default: below it, a "suggestion" is usually a different word altogether.
CUTOFF = 0.6
# How much less alike than the best match a further suggestion may be.
MARGIN = 0.1


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def close_matches(name: str, candidates: Iterable[str], n: int = MAX_SUGGESTIONS) -> list[str]:
    """The candidates closest to ``name``, best first (case ignored); [] when none is close.

    A candidate with a ``group/`` prefix is also compared by its last part, so
    ``postions`` finds ``portfolio/positions``, and so is ``market_data/positions``. Only matches nearly as close as the best
    one are kept: one clear answer is not drowned in near misses.
    """
    wanted = name.strip().lower()
    wanted_name = wanted.rsplit("/", 1)[-1]
    scores: dict[str, float] = {}
    for candidate in set(candidates):
        full = candidate.lower()
        bare = full.rsplit("/", 1)[-1]
        scores[candidate] = max(
            _similarity(wanted, full),
            _similarity(wanted, bare),
            # The right name in the wrong group.
            _similarity(wanted_name, bare) if wanted_name != wanted else 0.0,
        )
    close = sorted(
        (c for c, score in scores.items() if score >= CUTOFF), key=lambda c: (-scores[c], c)
    )
    if not close:
        return []
    best = scores[close[0]]
    return [c for c in close if scores[c] >= best - MARGIN][:n]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """The hint "; did you mean a, b or c?" for ``name``, or "" when nothing is close."""
    matches = close_matches(name, candidates)
    if not matches:
        return ""
    if len(matches) == 1:
        return f"; did you mean {matches[0]}?"
    return f"; did you mean {', '.join(matches[:-1])} or {matches[-1]}?"


def unknown_target(name: str, jobs: Iterable[str], assets: Iterable[str]) -> str:
    """The refusal of an unknown job or asset name: the closest names, then every job and
    every asset, one kind per line."""
    job_names, asset_keys = sorted(set(jobs)), sorted(set(assets))
    hint = did_you_mean(name, [*job_names, *asset_keys])
    return (
        f"no job or asset named {name!r}{hint}\n"
        f"Jobs: {', '.join(job_names)}\n"
        f"Assets (group/name): {', '.join(asset_keys)}"
    )
