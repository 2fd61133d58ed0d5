"""The registry's search index: one set of agent ids per criterion value, and a sorted id list.

A query intersects the sets of its criteria, starting from the smallest, so its cost follows
the size of the smallest matching set, not the size of the registry. Results are ordered by
agent id and paged with the last id of a page as the cursor; the page is picked with a
bounded heap (``heapq.nsmallest``) instead of sorting the candidates. A query without
criteria, or with one criterion matched by many agents, walks the sorted id list from the
cursor instead, so paging through the whole registry stays cheap.

Capabilities are indexed under every dotted prefix: ``vision.defect-detection`` is found by
``vision`` and by ``vision.defect-detection``, but not by ``vision.defect``.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Final

from agentlink.model import AgentCard, UsageError

__all__ = ["CRITERIA", "AgentIndex", "Key", "card_keys"]

#: The search criteria, in the order of ``registry/search``'s params.
CRITERIA: Final = ("role", "capability", "tool", "asset", "tag", "profile")

#: One index entry: (criterion, value).
Key = tuple[str, str]


def card_keys(card: AgentCard) -> frozenset[Key]:
    """Every (criterion, value) pair under which ``card`` is found."""
    keys: set[Key] = {("role", card.role)}
    for capability in card.capabilities:
        parts = capability.split(".")
        keys.update(("capability", ".".join(parts[:n])) for n in range(1, len(parts) + 1))
    keys.update(("tool", tool.name) for tool in card.tools)
    keys.update(("asset", asset) for asset in card.assets)
    keys.update(("tag", tag) for tag in card.tags)
    keys.update(("profile", profile) for profile in card.profiles)
    return frozenset(keys)


class _SortedIds:
    """A sorted set of strings kept in blocks: insert and remove cost O(sqrt n) moves,
    reading ``k`` items after a key costs O(log n + k).

    One flat list would move half of its items on every insert (seconds to fill with
    100,000 ids); blocks of at most ``2 * _LOAD`` keep every move short.
    """

    _LOAD: Final = 500

    def __init__(self) -> None:
        self._blocks: list[list[str]] = []
        self._maxes: list[str] = []
        self._len = 0

    def add(self, key: str) -> None:
        """Insert ``key``, which must not be present."""
        self._len += 1
        if not self._blocks:
            self._blocks.append([key])
            self._maxes.append(key)
            return
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            i -= 1
            block = self._blocks[i]
            block.append(key)
            self._maxes[i] = key
        else:
            block = self._blocks[i]
            insort(block, key)
        if len(block) > 2 * self._LOAD:
            head, tail = block[: self._LOAD], block[self._LOAD :]
            self._blocks[i : i + 1] = [head, tail]
            self._maxes[i : i + 1] = [head[-1], tail[-1]]

    def discard(self, key: str) -> None:
        """Remove ``key`` if present."""
        i = bisect_left(self._maxes, key)
        if i == len(self._maxes):
            return
        block = self._blocks[i]
        j = bisect_left(block, key)
        if j == len(block) or block[j] != key:
            return
        del block[j]
        self._len -= 1
        if not block:
            del self._blocks[i]
            del self._maxes[i]
        elif j == len(block):
            self._maxes[i] = block[-1]

    def after(self, key: str | None) -> Iterator[str]:
        """The keys greater than ``key`` (all keys when None), in order."""
        i = 0 if key is None else bisect_right(self._maxes, key)
        if i == len(self._blocks):
            return
        j = 0 if key is None else bisect_right(self._blocks[i], key)
        yield from islice(self._blocks[i], j, None)
        for block in islice(self._blocks, i + 1, None):
            yield from block

    def __len__(self) -> int:
        return self._len


class AgentIndex:
    """Agent ids by criterion value, plus all ids in order.

    The index holds ids only; the registry keeps the cards. ``add`` and ``remove`` must be
    given the same keys for an id (the registry remembers them per entry). A value held by
    more than ``SMALL`` agents also keeps its ids sorted, so that a page of it is read from
    the cursor on instead of being picked out of the whole set.
    """

    SMALL: Final = 32

    def __init__(self) -> None:
        self._sets: dict[Key, set[str]] = {}
        self._sorted: dict[Key, _SortedIds] = {}
        self._ids = _SortedIds()

    def add(self, agent_id: str, keys: frozenset[Key]) -> None:
        """Index a new ``agent_id`` under ``keys``."""
        self._ids.add(agent_id)
        for key in keys:
            bucket = self._sets.get(key)
            if bucket is None:
                self._sets[key] = {agent_id}
                continue
            bucket.add(agent_id)
            ordered = self._sorted.get(key)
            if ordered is not None:
                ordered.add(agent_id)
            elif len(bucket) > self.SMALL:
                ordered = self._sorted[key] = _SortedIds()
                for member in sorted(bucket):
                    ordered.add(member)

    def remove(self, agent_id: str, keys: frozenset[Key]) -> None:
        """Forget ``agent_id``, indexed under ``keys``."""
        self._ids.discard(agent_id)
        for key in keys:
            bucket = self._sets.get(key)
            if bucket is None:
                continue
            bucket.discard(agent_id)
            ordered = self._sorted.get(key)
            if ordered is not None:
                ordered.discard(agent_id)
            if not bucket:
                # Empty buckets would leak memory under churn of one-off tags and assets.
                del self._sets[key]
                self._sorted.pop(key, None)

    def count(self, key: Key) -> int:
        """How many agents are indexed under ``key``."""
        bucket = self._sets.get(key)
        return 0 if bucket is None else len(bucket)

    def query(
        self,
        criteria: list[Key],
        *,
        limit: int,
        cursor: str | None,
        only: str | None = None,
    ) -> tuple[list[str], bool]:
        """The first ``limit`` ids after ``cursor`` that match every criterion, in order,
        and whether more follow. ``only``, an indexed id, narrows the match to that id."""
        if limit < 1:
            raise UsageError(f"limit must be at least 1, got {limit}")
        want = limit + 1
        keyed: list[tuple[Key | None, set[str]]] = [] if only is None else [(None, {only})]
        for key in criteria:
            bucket = self._sets.get(key)
            if bucket is None:
                return [], False
            keyed.append((key, bucket))
        if not keyed:
            found = list(islice(self._ids.after(cursor), want))
        else:
            keyed.sort(key=lambda item: len(item[1]))
            (first, smallest), rest = keyed[0], [bucket for _, bucket in keyed[1:]]
            ordered = None if first is None else self._sorted.get(first)
            if ordered is not None:
                # Walk the smallest value's ids in order from the cursor: a page costs about
                # want * |smallest| / |matches| steps, whatever the size of the registry.
                hits: Iterator[str] = ordered.after(cursor)
                for bucket in rest:
                    hits = filter(bucket.__contains__, hits)
                found = list(islice(hits, want))
            else:
                # A small set: set.intersection loops in C over the smaller operand.
                matched: Iterable[str] = smallest.intersection(*rest) if rest else smallest
                if cursor is not None:
                    matched = [i for i in matched if i > cursor]
                found = heapq.nsmallest(want, matched)
        more = len(found) > limit
        return found[:limit], more
