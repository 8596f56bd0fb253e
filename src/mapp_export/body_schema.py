"""What Mapp's contract says a query body holds: its keys and their types.

The table below follows the schemas of Mapp's OpenAPI description
(``AnalysisQuery``, ``TableQuery``, ``KpiQuery``, ``Container``, ``Filter``,
``ViewMode`` and the objects inside them). It serves two checks made while a
manifest is loaded: a value the contract types as text (a filter's ``value1``,
a column's ``name``, ...) must reach the API as text, a value the contract
types as an integer, a boolean or one of listed words (an enum) must be one,
and a key the contract does not know is reported as a warning, since Mapp's
schema grows faster than its description and such keys are sent unchanged.

Two keys that Mapp's own examples send although its schemas leave them out
are known too: a column's ``variant`` and a comparison sorting's
``resultColumn``.

.. note::
   ``queryObject`` is either a ``TableQuery`` or a ``KpiQuery``; the keys of
   both are accepted there, so a KPI key inside a table query is not flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Text:
    """A field the contract types as ``string``."""


@dataclass(frozen=True)
class TextList:
    """A field the contract types as an array of strings."""


@dataclass(frozen=True)
class Integer:
    """A field the contract types as ``integer``."""


@dataclass(frozen=True)
class Boolean:
    """A field the contract types as ``boolean``."""


@dataclass(frozen=True)
class Choice:
    """A text field the contract limits to listed words (an enum)."""

    allowed: tuple[str, ...]


@dataclass(frozen=True)
class Object:
    """A field holding one object of the named schema."""

    schema: str


@dataclass(frozen=True)
class ObjectList:
    """A field holding an array of objects of the named schema."""

    schema: str


Field = Text | TextList | Integer | Boolean | Choice | Object | ObjectList

TEXT = Text()
TEXT_LIST = TextList()
INTEGER = Integer()
BOOLEAN = Boolean()

FILTER_PREDICATE = Choice(
    (
        "EQUAL",
        "UNEQUAL",
        "LESS",
        "LESSEQUAL",
        "GREATER",
        "GREATEREQUAL",
        "BETWEEN",
        "LIKE",
        "NOT_LIKE",
    )
)
CONNECTOR = Choice(("AND", "OR"))
IN_OR_NOT_IN = Choice(("IN", "NOT_IN"))
CONTEXT = Choice(("VISITOR", "SESSION", "PAGE", "ACTION", "ATOMIC", "NONE", ""))
"""ContextEnum; the contract says an empty context means the object's default."""
SCOPE = Choice(("OBJECT", "NONE"))
COLUMN_PERIOD = Choice(("ANALYSIS", "COLUMN", "ELEMENT"))
SORT_DIRECTION = Choice(("ASCENDING", "DESCENDING"))
OPTIONAL_SORT_DIRECTION = Choice(("ASCENDING", "DESCENDING", ""))


def _schema(**fields: Field) -> Mapping[str, Field]:
    return MappingProxyType(fields)


SCHEMAS: Mapping[str, Mapping[str, Field]] = MappingProxyType(
    {
        "AnalysisQuery": _schema(
            resultType=Choice(("DATA_ONLY",)), queryObject=Object("QueryObject")
        ),
        "QueryObject": _schema(
            columns=ObjectList("Column"),
            variant=Choice(("LIST", "PIVOT", "PIVOT_AS_LIST", "COMPARISON")),
            predefinedContainer=Object("Container"),
            predefinedSegmentConnections=ObjectList("Filter"),
            viewMode=Object("ViewMode"),
            elementPeriod=Choice(("ELEMENT", "MONAD")),
            type=Choice(("KPI", "SPARKLINE")),
            metricName=TEXT,
            dimensionName=TEXT,
            comparison=Object("Comparison"),
        ),
        "Column": _schema(
            name=TEXT,
            sortDirection=SORT_DIRECTION,
            sortIndex=INTEGER,
            lowerLimit=INTEGER,
            upperLimit=INTEGER,
            inTimeSeries=BOOLEAN,
            columnPeriod=COLUMN_PERIOD,
            scope=SCOPE,
            context=CONTEXT,
            predefinedContainer=Object("Container"),
            variant=TEXT,
        ),
        "Container": _schema(
            filters=ObjectList("Filter"),
            containers=ObjectList("Container"),
            connector=CONNECTOR,
            context=CONTEXT,
            type=Choice(("NORMAL", "TIME_ORDER")),
            inOrNotIn=IN_OR_NOT_IN,
        ),
        "Filter": _schema(
            name=TEXT,
            filterPredicate=FILTER_PREDICATE,
            connector=CONNECTOR,
            caseSensitive=BOOLEAN,
            context=CONTEXT,
            intern=BOOLEAN,
            value1=TEXT,
            value2=TEXT,
            values1=TEXT_LIST,
            values2=TEXT_LIST,
        ),
        "Comparison": _schema(
            type=Choice(("NONE", "PERIOD", "LIMIT", "SLIDING_WINDOW")),
            slidingWindowWeekdayAdjust=BOOLEAN,
            slidingWindowTimeShift=Choice(
                ("PRECEDING", "PREVIOUS_MONTH", "PREVIOUS_QUARTER", "PREVIOUS_YEAR")
            ),
            filter=Object("Filter"),
        ),
        "ViewMode": _schema(
            active=Choice(("comparison", "timeSeries", "path", "crossTable")),
            comparison=Object("ViewModeComparison"),
            timeSeries=Object("ViewModeTimeSeries"),
            path=Object("ViewModePath"),
            crossTable=Object("ViewModeCrossTable"),
        ),
        "ViewModeComparison": _schema(
            type=Choice(("time", "segment")),
            values=Object("ComparisonValues"),
            sorting=Object("ComparisonSorting"),
        ),
        "ComparisonValues": _schema(
            time=ObjectList("Filter"), segment=ObjectList("SegmentContainer")
        ),
        "ComparisonSorting": _schema(
            time=ObjectList("SortingItem"), segment=ObjectList("SortingItem")
        ),
        "SortingItem": _schema(alias=TEXT, direction=SORT_DIRECTION, resultColumn=TEXT),
        "SegmentContainer": _schema(
            segmentID=TEXT,
            connectorPredicate=TEXT,
            inOrNotInPredicate=TEXT,
            context=CONTEXT,
            position=INTEGER,
        ),
        "ViewModeTimeSeries": _schema(
            timeName=TEXT,
            viewType=Choice(("top", "values")),
            top=INTEGER,
            values=TEXT_LIST,
        ),
        "ViewModePath": _schema(
            metricName=TEXT,
            dimensionContext=Choice(CONTEXT.allowed[:-1]),
            reverse=BOOLEAN,
            distinct=BOOLEAN,
            pathLength=INTEGER,
        ),
        "ViewModeCrossTable": _schema(
            metricName=TEXT,
            crossDimensionName=TEXT,
            mainDimensionSortDirection=OPTIONAL_SORT_DIRECTION,
            metricSortDirection=OPTIONAL_SORT_DIRECTION,
            dimensionUpperLimit=INTEGER,
            crossDimensionSortDirection=OPTIONAL_SORT_DIRECTION,
        ),
    }
)
"""Each schema's known keys and what each key holds."""
