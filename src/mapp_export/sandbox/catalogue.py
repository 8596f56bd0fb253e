"""The object names the sandbox knows, and what kind of values each one holds.

Every name used in the examples of Mapp's OpenAPI file and in the bundled sample
query is here, plus the two time filter names. A column or filter name that is not
here is answered with a 422 ``UnmappedName`` error, as Mapp does.

The ``arrange_type`` of the names in the spec's example result (``time_days``,
``os_vendor``, ``visits``, ``pages_pageImpressions``, ``visits_newShare``,
``visit_duration_avg``, ``visits_bounceRate``) are Mapp's; the others are
plausible inventions, since Mapp publishes no table of them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType


class Role(enum.Enum):
    """Whether a name is a dimension, a metric, or can only be filtered on."""

    DIMENSION = "dimension"
    METRIC = "metric"
    FILTER = "filter"


class ValueKind(enum.Enum):
    """What the values of a name look like in a result."""

    DAY = "day"
    PAGE = "page"
    LONG_ID = "long_id"
    TEXT = "text"
    LISTED = "listed"
    COUNT = "count"
    RATE = "rate"
    DURATION = "duration"
    MONEY = "money"
    NONE = "none"


@dataclass(frozen=True)
class CatalogueEntry:
    """One object name: its role, Mapp's internal name and its kind of values."""

    name: str
    role: Role
    arrange_type: str
    kind: ValueKind
    values: tuple[str, ...] = ()


def _dimension(
    name: str, arrange_type: str, kind: ValueKind, values: tuple[str, ...] = ()
) -> CatalogueEntry:
    """Describe a dimension."""
    return CatalogueEntry(name, Role.DIMENSION, arrange_type, kind, values)


def _metric(name: str, arrange_type: str, kind: ValueKind) -> CatalogueEntry:
    """Describe a metric."""
    return CatalogueEntry(name, Role.METRIC, arrange_type, kind)


def _filter(name: str, arrange_type: str) -> CatalogueEntry:
    """Describe a name that can only appear in a filter."""
    return CatalogueEntry(name, Role.FILTER, arrange_type, ValueKind.NONE)


_NO_YES = ("No", "Yes")

_ENTRIES = (
    _filter("time_range", "times_internal_day"),
    _filter("time_dynamic", "times_dynamic"),
    _dimension("time_days", "time_id_categories_t_year_month_day", ValueKind.DAY),
    _dimension("pages", "content_name", ValueKind.PAGE),
    _dimension("session_id", "session_id", ValueKind.LONG_ID),
    _dimension("user_id", "urm_visitor_id", ValueKind.LONG_ID),
    _dimension(
        "os_vendor",
        "platform_vendor",
        ValueKind.LISTED,
        ("Unknown", "Microsoft", "Apple", "Google", "Canonical", "Samsung", "Huawei"),
    ),
    _dimension(
        "browser_fullName",
        "browser_full_name",
        ValueKind.LISTED,
        (
            "Chrome 126.0",
            "Safari 17.5",
            "Edge 126.0",
            "Firefox 127.0",
            "Samsung Internet 25.0",
            "Chrome Mobile 126.0",
            "Mobile Safari 17.5",
            "Opera 111.0",
            "Firefox Mobile 127.0",
            "Unknown",
        ),
    ),
    _dimension(
        "device_deviceClass",
        "device_class",
        ValueKind.LISTED,
        (
            "PC / Laptop",
            "Smartphone",
            "Tablet",
            "TV",
            "Console",
            "Smartwatch",
            "E-Reader",
            "Mediahub",
            "other",
            "unknown",
        ),
    ),
    _dimension(
        "device_model",
        "device_model",
        ValueKind.LISTED,
        ("iPhone", "iPad", "Galaxy S24", "Pixel 8", "Redmi Note 13", "unknown"),
    ),
    _dimension(
        "user_country",
        "urm_country",
        ValueKind.LISTED,
        ("Germany", "Österreich", "France", "España", "United Kingdom", "Türkiye"),
    ),
    _dimension(
        "user_gender", "urm_gender", ValueKind.LISTED, ("unknown", "Man", "Woman")
    ),
    _dimension("user_lastVisit", "urm_last_visit", ValueKind.LISTED, _NO_YES),
    _dimension(
        "user_lastVisitWithPurchase",
        "urm_last_visit_with_purchase",
        ValueKind.LISTED,
        _NO_YES,
    ),
    _dimension(
        "user_macroStatus",
        "urm_macro_status",
        ValueKind.LISTED,
        (
            "unknown",
            "Offsite",
            "Onsite",
            "Product view",
            "Abandoned basket",
            "Registration",
            "New Customer",
            "Returning buyer",
        ),
    ),
    _dimension(
        "visitors_newVsReturning",
        "visitor_new_vs_returning",
        ValueKind.LISTED,
        ("Returning", "New", "Unknown"),
    ),
    _dimension("attribution_1", "attribution_last_session_external", ValueKind.TEXT),
    _dimension("attribution_2", "attribution_multiple_external", ValueKind.TEXT),
    _dimension(
        "custom_paras_session_generic42",
        "custom_paras_session_generic42",
        ValueKind.TEXT,
    ),
    _metric("visits", "visits", ValueKind.COUNT),
    _metric("pages_pageImpressions", "page_impressions", ValueKind.COUNT),
    _metric("visits_newShare", "predefined_formula_new_visitor_rate", ValueKind.RATE),
    _metric(
        "visit_duration_avg",
        "predefined_formula_avg_visit_duration",
        ValueKind.DURATION,
    ),
    _metric("visits_bounceRate", "predefined_formula_bounce_rate", ValueKind.RATE),
    _metric(
        "pages_durationAvg", "predefined_formula_avg_page_duration", ValueKind.DURATION
    ),
    _metric("pages_exitRate", "predefined_formula_exit_rate", ValueKind.RATE),
    _metric("order_value", "order_value", ValueKind.MONEY),
    _metric("alexaRanking", "alexa_ranking", ValueKind.COUNT),
    _metric("attribution_1_order_qty", "attribution_1_order_qty", ValueKind.COUNT),
    _metric("custom_metric_1000853", "custom_metric_1000853", ValueKind.COUNT),
    _metric("media_chapter_1", "media_chapter_1", ValueKind.COUNT),
    _metric(
        "page_category_number_13_sum", "page_category_number_13_sum", ValueKind.COUNT
    ),
    _metric("products_viewed_qty", "products_viewed_qty", ValueKind.COUNT),
)

CATALOGUE: MappingProxyType[str, CatalogueEntry] = MappingProxyType(
    {entry.name: entry for entry in _ENTRIES}
)
"""Every known object name, mapped to its description."""

TIME_FILTER_NAMES = frozenset({"time_range", "time_dynamic"})
"""The filter names that give a query its time range."""
