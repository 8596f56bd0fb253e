"""The values of single cells: dimension strings, metric numbers and their totals.

Every value is drawn from a keyed hash of the query's seed, so the same query always
gets the same cells and any cell can be made without making the ones before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from mapp_export.sandbox.catalogue import CatalogueEntry, ValueKind

MAX_ROWS = 5_000_000
"""The most rows a dimension can have; Mapp's results go up to five million rows."""

Metric = int | float | None
"""One metric cell: a JSON number, or ``None`` for an empty value."""

_SHORT_CHANCE = 3
_LONG_TEXT = "Search results for " + "very long query " * 2100
_PAGES = (
    "Home",
    "Search",
    "=Cart",
    "Product Detail",
    "+Newsletter Signup",
    "Checkout",
    "-Sale-",
    "@Contact",
    "Category Overview",
    "Login",
    _LONG_TEXT,
    "Newsletter\x07Confirmation",
    "My Account",
    "Größentabelle",
    "Store Finder",
)
_PAGE_PATTERNS = (
    "en.shop.product.{rank}",
    "=search?q=item{rank}",
    "de.kategorie.artikel-{rank}",
    "+{rank} offers",
)
_CHANNELS = ("Newsletter", "SEA", "Affiliate", "Social", "Direct")
_NULL_PERCENT = {
    ValueKind.COUNT: 3,
    ValueKind.RATE: 8,
    ValueKind.DURATION: 5,
    ValueKind.MONEY: 30,
}


def draw(seed: bytes, *parts: object) -> int:
    """Return a 64-bit number fixed by the seed and the parts, never by chance."""
    text = "|".join(str(part) for part in parts).encode()
    digest = hashlib.blake2b(seed + text, digest_size=8).digest()
    return int.from_bytes(digest, "big")


class DimensionSource:
    """The values of one dimension column, ranked 1, 2, 3 and on."""

    def __init__(
        self, entry: CatalogueEntry, seed: bytes, days: Sequence[date]
    ) -> None:
        """Prepare the values of ``entry``; ``days`` are ranked for ``DAY`` kinds."""
        self.entry = entry
        self.seed = seed
        self.days = tuple(days)
        self.listed = tuple(
            sorted(entry.values, key=lambda value: draw(seed, "order", value))
        )

    @property
    def available(self) -> int:
        """How many distinct values the sandbox's data holds for this dimension."""
        if self.entry.kind is ValueKind.LISTED:
            return len(self.listed)
        if self.entry.kind is ValueKind.DAY:
            return len(self.days)

        choice = draw(self.seed, "available")
        if choice % _SHORT_CHANCE == 0:
            return 5 + (choice >> 8) % 60

        return MAX_ROWS

    def value(self, rank: int) -> str:
        """Return the value at ``rank`` (1-based); each rank has a value of its own."""
        kind = self.entry.kind
        if kind is ValueKind.LISTED:
            return self.listed[(rank - 1) % len(self.listed)]
        if kind is ValueKind.DAY:
            return self.days[(rank - 1) % len(self.days)].strftime("%Y%m%d")
        if kind is ValueKind.PAGE:
            return _page(rank)
        if kind is ValueKind.LONG_ID:
            return f"00{draw(self.seed, 'id', rank) % 10**8:08d}{rank:09d}"

        return f"{_CHANNELS[rank % len(_CHANNELS)]} / Campaign {rank:04d}"

    def any_value(self, *key: object) -> str:
        """Return one of the first fifty values, picked by ``key``."""
        reach = max(1, min(self.available, 50))
        return self.value(1 + draw(self.seed, "pick", *key) % reach)


def _page(rank: int) -> str:
    """Name a page; some names begin with ``=``, ``+``, ``-`` or ``@``."""
    if rank <= len(_PAGES):
        return _PAGES[rank - 1]

    pattern = _PAGE_PATTERNS[rank % len(_PAGE_PATTERNS)]
    return pattern.format(rank=rank)


@dataclass(frozen=True)
class MetricSource:
    """The values of one metric column.

    A column the result is sorted by gets values that follow its rank and is never
    empty; the others are drawn per row and are sometimes ``None``.
    """

    entry: CatalogueEntry
    seed: bytes
    sort_direction: str | None = None

    @cached_property
    def magnitude(self) -> float:
        """The size of this column's values."""
        spread = draw(self.seed, "magnitude")
        kind = self.entry.kind
        if kind is ValueKind.RATE:
            return 100.0
        if kind is ValueKind.DURATION:
            return 60.0 + spread % 900
        if kind is ValueKind.MONEY:
            return 1000.0 + spread % 1_000_000

        return 500.0 + spread % 100_000

    def value(self, rank: int, *key: object) -> Metric:
        """Return the cell of the row at ``rank``, drawn with ``key`` when unsorted."""
        if self.sort_direction == "DESCENDING":
            return self._shape(self.magnitude * rank**-0.8)
        if self.sort_direction == "ASCENDING":
            return self._shape(self.magnitude * rank / (rank + 10))

        return self._drawn(draw(self.seed, "cell", rank, *key))

    def _drawn(self, number: int) -> Metric:
        """Turn a drawn number into a cell of this column's kind."""
        kind = self.entry.kind
        if number % 100 < _NULL_PERCENT.get(kind, 0):
            return None

        number >>= 8
        if kind is ValueKind.RATE:
            whole = 1 + number % 997
            return (number >> 16) % (whole + 1) / whole * 100
        if kind is ValueKind.DURATION:
            return (number % 100_000) / (1 + (number >> 20) % 97)
        if kind is ValueKind.MONEY:
            return round((number % 10**8) / 100, 2)

        return number % (int(self.magnitude) + 1)

    def _shape(self, raw: float) -> Metric:
        """Round a raw value the way this column's kind is written."""
        if self.entry.kind is ValueKind.COUNT:
            return int(raw)
        if self.entry.kind is ValueKind.MONEY:
            return round(raw, 2)

        return raw


class Totals:
    """Sums counts and money, and averages rates and durations, column by column."""

    def __init__(self, kinds: Sequence[ValueKind]) -> None:
        """Start empty totals for metric columns of the given kinds."""
        self.kinds = tuple(kinds)
        self.sums = [0.0] * len(self.kinds)
        self.counts = [0] * len(self.kinds)

    def add(self, cells: Sequence[Metric]) -> None:
        """Take one row's metric cells into the totals."""
        for i, cell in enumerate(cells):
            if cell is not None:
                self.sums[i] += cell
                self.counts[i] += 1

    def cells(self) -> list[Metric]:
        """Return the total of each column; ``None`` where every cell was empty."""
        return [
            _total(kind, total, count)
            for kind, total, count in zip(
                self.kinds, self.sums, self.counts, strict=True
            )
        ]


def _total(kind: ValueKind, total: float, count: int) -> Metric:
    """Return a column's total from its sum and its number of filled cells."""
    if count == 0:
        return None
    if kind is ValueKind.COUNT:
        return int(total)
    if kind is ValueKind.MONEY:
        return round(total, 2)

    return total / count
