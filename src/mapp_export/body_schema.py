"""What Mapp's contract says a query body holds: its keys, and which are text.

The table below follows the schemas of Mapp's OpenAPI description
(``AnalysisQuery``, ``TableQuery``, ``KpiQuery``, ``Container``, ``Filter``,
``ViewMode`` and the objects inside them). It serves two checks made while a
manifest is loaded: a value the contract types as text (a filter's ``value1``,
a column's ``name``, ...) must reach the API as text, and a key the contract
does not know is reported as a warning, since Mapp's schema grows faster than
its description and such keys are sent unchanged.

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
class Other:
    """A field of another type (integer, boolean, free object): left as written."""


@dataclass(frozen=True)
class Object:
    """A field holding one object of the named schema."""

    schema: str


@dataclass(frozen=True)
class ObjectList:
    """A field holding an array of objects of the named schema."""

    schema: str


Field = Text | TextList | Other | Object | ObjectList

TEXT = Text()
TEXT_LIST = TextList()
OTHER = Other()


def _schema(**fields: Field) -> Mapping[str, Field]:
    return MappingProxyType(fields)


SCHEMAS: Mapping[str, Mapping[str, Field]] = MappingProxyType(
    {
        "AnalysisQuery": _schema(resultType=TEXT, queryObject=Object("QueryObject")),
        "QueryObject": _schema(
            columns=ObjectList("Column"),
            variant=TEXT,
            predefinedContainer=Object("Container"),
            predefinedSegmentConnections=ObjectList("Filter"),
            viewMode=Object("ViewMode"),
            elementPeriod=TEXT,
            type=TEXT,
            metricName=TEXT,
            dimensionName=TEXT,
            comparison=Object("Comparison"),
        ),
        "Column": _schema(
            name=TEXT,
            sortDirection=TEXT,
            sortIndex=OTHER,
            lowerLimit=OTHER,
            upperLimit=OTHER,
            inTimeSeries=OTHER,
            columnPeriod=TEXT,
            scope=TEXT,
            context=TEXT,
            predefinedContainer=Object("Container"),
            variant=TEXT,
        ),
        "Container": _schema(
            filters=ObjectList("Filter"),
            containers=ObjectList("Container"),
            connector=TEXT,
            context=TEXT,
            type=TEXT,
            inOrNotIn=TEXT,
        ),
        "Filter": _schema(
            name=TEXT,
            filterPredicate=TEXT,
            connector=TEXT,
            caseSensitive=OTHER,
            context=TEXT,
            intern=OTHER,
            value1=TEXT,
            value2=TEXT,
            values1=TEXT_LIST,
            values2=TEXT_LIST,
        ),
        "Comparison": _schema(
            type=TEXT,
            slidingWindowWeekdayAdjust=OTHER,
            slidingWindowTimeShift=TEXT,
            filter=Object("Filter"),
        ),
        "ViewMode": _schema(
            active=TEXT,
            comparison=Object("ViewModeComparison"),
            timeSeries=Object("ViewModeTimeSeries"),
            path=Object("ViewModePath"),
            crossTable=Object("ViewModeCrossTable"),
        ),
        "ViewModeComparison": _schema(
            type=TEXT,
            values=Object("ComparisonValues"),
            sorting=Object("ComparisonSorting"),
        ),
        "ComparisonValues": _schema(
            time=ObjectList("Filter"), segment=ObjectList("SegmentContainer")
        ),
        "ComparisonSorting": _schema(
            time=ObjectList("SortingItem"), segment=ObjectList("SortingItem")
        ),
        "SortingItem": _schema(alias=TEXT, direction=TEXT, resultColumn=TEXT),
        "SegmentContainer": _schema(
            segmentID=TEXT,
            connectorPredicate=TEXT,
            inOrNotInPredicate=TEXT,
            context=TEXT,
            position=OTHER,
        ),
        "ViewModeTimeSeries": _schema(
            timeName=TEXT, viewType=TEXT, top=OTHER, values=TEXT_LIST
        ),
        "ViewModePath": _schema(
            metricName=TEXT,
            dimensionContext=TEXT,
            reverse=OTHER,
            distinct=OTHER,
            pathLength=OTHER,
        ),
        "ViewModeCrossTable": _schema(
            metricName=TEXT,
            crossDimensionName=TEXT,
            mainDimensionSortDirection=TEXT,
            metricSortDirection=TEXT,
            dimensionUpperLimit=OTHER,
            crossDimensionSortDirection=TEXT,
        ),
    }
)
"""Each schema's known keys and what each key holds."""
