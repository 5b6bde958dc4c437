"""The `cdp.yaml` schema: pydantic models validated when the file is loaded."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from cdp_assets.contracts.canonical import RETENTION_FIELD, SOURCE_KINDS, SourceKind, field_names
from cdp_assets.contracts.customer_360 import CUSTOMER_360_DTYPES

SourceFormat = Literal["csv", "jsonl", "parquet", "sql"]
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# scheme://user:password@host — a password written into cdp.yaml.
_URL_PASSWORD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]+@")


def _no_password(url: str | None, instead: str) -> str | None:
    """Credentials come from environment variables only, never from cdp.yaml."""
    if url is not None and _URL_PASSWORD_RE.match(url):
        raise ValueError(f"the URL holds a password: remove it from cdp.yaml and set {instead}")
    return url


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
        ) from exc
    return value


def _check_currency(value: str) -> str:
    code = value.strip().upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError(f"unknown ISO 4217 currency code {value!r}")
    return code


def _check_country(value: str) -> str:
    code = value.strip().upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"unknown ISO 3166 alpha-2 country code {value!r}")
    return code


class WarehouseConfig(_Strict):
    url: str = Field(
        default="duckdb:///warehouse/cdp.duckdb",
        description="SQLAlchemy URL; a relative DuckDB path is relative to cdp.yaml. "
        "CDP_WAREHOUSE_URL overrides it (and is where a password belongs).",
    )

    @field_validator("url")
    @classmethod
    def _url_without_password(cls, url: str) -> str:
        _no_password(url, "CDP_WAREHOUSE_URL (an environment variable) instead")
        return url


class QualityConfig(_Strict):
    """Thresholds of the validation rules and of the quarantine-share checks."""

    quarantine_warn_share: float = Field(0.05, ge=0, le=1)
    quarantine_fail_share: float = Field(0.25, ge=0, le=1)
    max_order_amount: float = Field(25_000.0, gt=0, description="in the base currency")
    max_unit_price: float = Field(10_000.0, gt=0, description="in the base currency")
    max_quantity: int = Field(1_000, gt=0)
    min_age_years: int = Field(13, ge=0)
    max_age_years: int = Field(110, gt=0)
    earliest_date: dt.date = Field(
        dt.date(1990, 1, 1), description="facts before this are implausible"
    )
    future_tolerance_hours: float = Field(24.0, ge=0)
    test_email_patterns: tuple[str, ...] = Field(
        default=(),
        description="extra regexes (matched against the whole address) that mark test emails",
    )
    disposable_email_domains: tuple[str, ...] = Field(
        default=(), description="extra disposable domains, added to the built-in list"
    )
    duplicate_identifier_limit: int = Field(
        1,
        ge=1,
        description="records of one customer source that may share an email or phone before "
        "the value is flagged",
    )

    @field_validator("test_email_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _warn_below_fail(self) -> QualityConfig:
        if self.quarantine_warn_share > self.quarantine_fail_share:
            raise ValueError("quarantine_warn_share must not exceed quarantine_fail_share")
        return self


IdentifierType = Literal["email_key", "phone", "loyalty_id"]


def _record_ref(value: str) -> str:
    source, sep, record_id = value.partition(":")
    if not sep or not _NAME_RE.match(source) or not record_id:
        raise ValueError(f"{value!r} is not 'source:record_id' (e.g. 'shop_accounts:A0000003')")
    return value


class RecordPair(_Strict):
    """Two records named `source:record_id`, for manual must-link and cannot-link overrides."""

    left: str
    right: str
    reason: str = ""

    @field_validator("left", "right")
    @classmethod
    def _ref(cls, value: str) -> str:
        return _record_ref(value)


class ProbabilisticConfig(_Strict):
    """Fellegi-Sunter matching of records that share no strong identifier."""

    enabled: bool = True
    threshold: float = Field(0.99, gt=0, lt=1, description="match probability for a link")
    max_block_size: int = Field(500, ge=2)
    u_sample_pairs: int = Field(200_000, ge=1_000)
    seed: int = 42


class ProfileLimits(_Strict):
    """What one person plausibly has; a cluster over a limit is split along its weakest links."""

    emails: int = Field(4, ge=1)
    phones: int = Field(4, ge=1)
    birth_dates: int = Field(2, ge=1, description="distinct, day/month transpositions folded")
    records: int = Field(1_000, ge=2, description="customer-source records")


class IdentityConfig(_Strict):
    """Identity resolution: identifier sharing limits, blocked values, overrides, matching."""

    id_prefix: str = Field("C", pattern=r"^[A-Z]{1,4}$")
    identifier_limits: dict[IdentifierType, int] = Field(
        default_factory=lambda: {"email_key": 20, "phone": 10, "loyalty_id": 5},
        description="customer records that may share one value before it counts as shared",
    )
    max_fact_rows_per_day: int = Field(
        6,
        ge=1,
        description="fact rows on one day carrying one identifier value before it is "
        "treated as shared (a store's own phone typed at the till)",
    )
    blocked_values: dict[IdentifierType, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "email_key": (r"^(test|noreply|no-reply|none|null|info|admin)@", r"@example\."),
            "phone": (r"^\+\d*(\d)\1{6,}$", r"^\+1\d{3}55501\d{2}$"),
        },
        description="regular expressions; matching values are never used for linking",
    )
    probabilistic: ProbabilisticConfig = Field(default_factory=ProbabilisticConfig)
    profile_limits: ProfileLimits = Field(default_factory=ProfileLimits)
    must_link: tuple[RecordPair, ...] = ()
    cannot_link: tuple[RecordPair, ...] = ()
    max_cluster_growth: float = Field(
        0.5, ge=0, description="warn when the largest cluster grows by more than this share"
    )

    @field_validator("blocked_values")
    @classmethod
    def _patterns_compile(cls, values: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for kind, patterns in values.items():
            for i, pattern in enumerate(patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{kind}[{i}]: invalid regex {pattern!r}: {exc}") from exc
        return values


def _score_range(value: str) -> tuple[int, int]:
    low, _, high = str(value).partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise ValueError(f"{value!r} is not a score or a range of scores like '2-3'") from None
    if not 1 <= bounds[0] <= bounds[1] <= 5:
        raise ValueError(f"{value!r}: scores run from 1 to 5")
    return bounds


class RfmSegmentRule(_Strict):
    """A named RFM segment: the recency and frequency scores (1-5, or a range) it covers."""

    name: str
    recency: str
    frequency: str

    @field_validator("recency", "frequency")
    @classmethod
    def _range(cls, value: str) -> str:
        _score_range(value)
        return str(value)

    def covers(self, r: int, f: int) -> bool:
        r_low, r_high = _score_range(self.recency)
        f_low, f_high = _score_range(self.frequency)
        return r_low <= r <= r_high and f_low <= f <= f_high


# The standard R x F map; the first rule that covers a cell names it.
DEFAULT_RFM_SEGMENTS: tuple[dict[str, str], ...] = (
    {"name": "Champions", "recency": "5", "frequency": "4-5"},
    {"name": "Loyal Customers", "recency": "3-4", "frequency": "4-5"},
    {"name": "Can't Lose Them", "recency": "1-2", "frequency": "5"},
    {"name": "At Risk", "recency": "1-2", "frequency": "3-4"},
    {"name": "Lost", "recency": "1", "frequency": "1"},
    {"name": "Hibernating", "recency": "1-2", "frequency": "1-2"},
    {"name": "Need Attention", "recency": "3", "frequency": "3"},
    {"name": "About to Sleep", "recency": "3", "frequency": "1-2"},
    {"name": "Potential Loyalists", "recency": "4-5", "frequency": "2-3"},
    {"name": "New Customers", "recency": "5", "frequency": "1"},
    {"name": "Promising", "recency": "4", "frequency": "1"},
)


class HolidayWindow(_Strict):
    """A yearly acquisition window: `start` and `end` as MM-DD (inclusive), or the US Black
    Friday to Cyber Monday weekend with `black_friday: true`."""

    name: str
    start: str | None = Field(None, pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    end: str | None = Field(None, pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    black_friday: bool = False

    @model_validator(mode="after")
    def _dates_or_black_friday(self) -> HolidayWindow:
        if self.black_friday == (self.start is not None or self.end is not None):
            raise ValueError("give either start and end (MM-DD) or black_friday: true")
        if not self.black_friday and (self.start is None or self.end is None):
            raise ValueError("give both start and end (MM-DD)")
        return self


class AudienceRule(_Strict):
    """A named audience: a rule over customer features, RFM segments and scores."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    rule: str
    description: str = ""


DEFAULT_AUDIENCES: tuple[dict[str, str], ...] = (
    {
        "name": "champions",
        "rule": "rfm_segment == 'Champions'",
        "description": "bought recently, often and the most",
    },
    {
        "name": "at_risk_high_spenders",
        "rule": "rfm_segment in ('At Risk', \"Can't Lose Them\") and monetary >= 500",
        "description": "valuable customers who have not bought for a while",
    },
    {
        "name": "abandoned_cart_24h",
        "rule": "hours_since_abandoned_cart <= 24",
        "description": "left a cart without ordering in the last 24 hours",
    },
    {
        "name": "lapsed_vips",
        "rule": "(loyalty_tier in ('gold', 'platinum') or monetary >= 1000) "
        "and recency_days between 180 and 540",
        "description": "top customers whose last order is 6 to 18 months old",
    },
    {
        "name": "new_customers_30d",
        "rule": "tenure_days <= 30",
        "description": "first order in the last 30 days",
    },
    {
        "name": "detractors",
        "rule": "latest_nps is not null and latest_nps <= 6",
        "description": "gave an NPS of 0 to 6 in their latest survey",
    },
)


class AnalyticsConfig(_Strict):
    """RFM segments, acquisition windows, service levels and audiences."""

    rfm_segments: tuple[RfmSegmentRule, ...] = Field(
        default_factory=lambda: tuple(RfmSegmentRule(**s) for s in DEFAULT_RFM_SEGMENTS)
    )
    holiday_windows: tuple[HolidayWindow, ...] = Field(
        default_factory=lambda: (
            HolidayWindow(name="Black Friday-Cyber Monday", black_friday=True),
            HolidayWindow(name="11.11", start="11-11", end="11-11"),
            HolidayWindow(name="December", start="12-01", end="12-31"),
        )
    )
    value_horizons_days: tuple[int, ...] = (60, 90, 180)
    support_sla_hours: float = Field(24.0, gt=0)
    audiences: tuple[AudienceRule, ...] = Field(
        default_factory=lambda: tuple(AudienceRule(**a) for a in DEFAULT_AUDIENCES)
    )
    audience_change_warn_share: float = Field(
        0.5, ge=0, description="warn when an audience's size moves by more than this share"
    )

    @model_validator(mode="after")
    def _map_complete(self) -> AnalyticsConfig:
        missing = [
            f"R{r}F{f}"
            for r in range(1, 6)
            for f in range(1, 6)
            if not any(rule.covers(r, f) for rule in self.rfm_segments)
        ]
        if missing:
            raise ValueError(f"rfm_segments: no segment covers {', '.join(missing)}")
        names = [a.name for a in self.audiences]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"audiences: names used twice: {', '.join(duplicated)}")
        return self


class SnapshotConfig(_Strict):
    """Point-in-time training: features at several past cutoffs, labels from the window after."""

    training_cutoffs: int = Field(4, ge=1, le=24, description="past cutoffs to train on")
    cutoff_spacing_days: int = Field(60, ge=7)
    min_customers: int = Field(200, ge=10, description="below this: 'not enough data'")
    min_positives: int = Field(20, ge=1, description="of each class, per training set")


class ChurnConfig(SnapshotConfig):
    horizon_days: int = Field(90, ge=7, description="no purchase in this window = churned")
    auc_floor: float = Field(0.65, ge=0.5, le=1, description="a model below it is not promoted")
    max_calibration_error: float = Field(0.1, gt=0, le=1)
    psi_warn: float = Field(0.2, gt=0, description="score drift against the previous run")


class LtvConfig(SnapshotConfig):
    horizon_days: int = Field(365, ge=30)


class LeadsConfig(SnapshotConfig):
    horizon_days: int = Field(90, ge=7, description="first order within this window")


class RecommendationsConfig(_Strict):
    top_n: int = Field(10, ge=1, le=100)
    consumable_categories: tuple[str, ...] = Field(
        (), description="categories bought again and again: already-bought items stay eligible"
    )
    holdout_days: int = Field(60, ge=7, description="later period the evaluation holds out")


class ModelsConfig(_Strict):
    """Predictive models: where versions are kept and each model's settings."""

    store_dir: str = Field("models", description="model store folder, relative to cdp.yaml")
    churn: ChurnConfig = Field(default_factory=ChurnConfig)
    ltv: LtvConfig = Field(default_factory=LtvConfig)
    leads: LeadsConfig = Field(default_factory=LeadsConfig)
    recommendations: RecommendationsConfig = Field(default_factory=RecommendationsConfig)


Channel = Literal["email", "sms", "ads"]
EXPORT_KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "email": ("customer_id", "email", "first_name"),
    "sms": ("customer_id", "phone"),
    "ads": ("email_sha256", "phone_sha256"),
}


class ExportDestination(_Strict):
    """Where an audience goes: a channel decides the columns and the consent rule."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    channel: Channel
    format: Literal["csv", "parquet"] = "csv"
    audiences: tuple[str, ...] = Field(
        (), description="audiences sent to this destination; empty: every audience"
    )
    fields: tuple[str, ...] = Field(
        (), description="email channel only: extra activation.customer_360 columns"
    )

    @model_validator(mode="after")
    def _fields(self) -> ExportDestination:
        if self.fields and self.channel != "email":
            raise ValueError(f"fields: only email destinations take extra fields ({self.channel})")
        for i, name in enumerate(self.fields):
            if name not in CUSTOMER_360_DTYPES:
                raise ValueError(
                    f"fields[{i}]: {name!r} is not a column of activation.customer_360"
                )
            if name in EXPORT_KEY_COLUMNS["email"]:
                raise ValueError(f"fields[{i}]: {name!r} is always exported")
        return self


class ExportsConfig(_Strict):
    """Audience exports: files per audience and destination, under `dir`."""

    dir: str = Field("exports", description="export folder, relative to cdp.yaml")
    destinations: tuple[ExportDestination, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> ExportsConfig:
        names = [d.name for d in self.destinations]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"destinations: names used twice: {', '.join(duplicated)}")
        return self


class PrivacyConfig(_Strict):
    """Erasure and suppression. Identifiers of erased people are kept only as salted hashes."""

    salt_env: str = Field(
        "CDP_PRIVACY_SALT",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the suppression-list salt",
    )
    salt_file: str = Field(
        ".cdp_privacy_salt",
        description="where a random salt is kept when the environment variable is unset "
        "(relative to cdp.yaml; created on first use, readable by its owner only)",
    )


class SourceConfig(_Strict):
    """One configured source: where it is, how to read it, how its columns map."""

    name: str
    kind: SourceKind
    format: SourceFormat
    path: str | None = Field(None, description="glob under the landing folder (file formats)")
    url: str | None = Field(None, description="SQLAlchemy URL (sql); {landing_dir} is expanded")
    url_env: str | None = Field(None, description="environment variable holding the URL (sql)")
    table: str | None = None
    query: str | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    date_formats: dict[str, str] = Field(default_factory=dict)
    timezone: str | None = None
    default_country: str | None = None
    trust: int = Field(1, ge=0, le=100)
    encoding: str | None = Field(None, description="file encoding; detected when absent")
    delimiter: str | None = Field(None, description="CSV delimiter; detected when absent")
    quotechar: str = '"'
    customer_ref_source: str | None = Field(
        None, description="name of the customers source whose ids customer_ref holds"
    )
    quarantine_warn_share: float | None = Field(None, ge=0, le=1)
    quarantine_fail_share: float | None = Field(None, ge=0, le=1)
    retention_days: int | None = Field(
        None,
        ge=1,
        description="raw and staged rows whose event time is older than this many days are "
        "deleted nightly (kinds: " + ", ".join(sorted(RETENTION_FIELD)) + ")",
    )

    _index: int = PrivateAttr(default=-1)

    @property
    def key_path(self) -> str:
        """Where this source stands in cdp.yaml, for error messages: `sources[3]`."""
        return f"sources[{self._index}]" if self._index >= 0 else f"source {self.name!r}"

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not _NAME_RE.match(name):
            raise ValueError(
                f"{name!r} is not a valid source name (lower-case letters, digits and _, "
                "starting with a letter)"
            )
        return name

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @field_validator("url")
    @classmethod
    def _url_without_password(cls, url: str | None) -> str | None:
        return _no_password(url, "`url_env` (the name of an environment variable) instead")

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, name: str | None) -> str | None:
        if name is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ValueError(f"{name!r} is not an environment variable name")
        return name

    @field_validator("default_country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else _check_country(value)

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        canonical = set(field_names(self.kind))
        for section in ("columns", "defaults", "date_formats"):
            for key in getattr(self, section):
                if key not in canonical:
                    raise ValueError(
                        f"{section}.{key}: {key!r} is not a canonical field of kind "
                        f"{self.kind!r} (expected one of: {', '.join(sorted(canonical))})"
                    )
        if self.format == "sql":
            if not (self.url or self.url_env):
                raise ValueError("a sql source needs `url` or `url_env`")
            if bool(self.table) == bool(self.query):
                raise ValueError("a sql source needs exactly one of `table` or `query`")
        else:
            if not self.path:
                raise ValueError(f"a {self.format} source needs `path` (a glob under landing_dir)")
            if self.url or self.url_env or self.table or self.query:
                raise ValueError("url/url_env/table/query only apply to format: sql")
        if (
            self.quarantine_warn_share is not None
            and self.quarantine_fail_share is not None
            and self.quarantine_warn_share > self.quarantine_fail_share
        ):
            raise ValueError("quarantine_warn_share must not exceed quarantine_fail_share")
        if self.retention_days is not None and self.kind not in RETENTION_FIELD:
            raise ValueError(
                f"retention_days: sources of kind {self.kind!r} are kept while configured "
                f"(retention applies to kinds: {', '.join(sorted(RETENTION_FIELD))})"
            )
        return self

    def source_column(self, field: str) -> str | None:
        return self.columns.get(field)


class CDPConfig(_Strict):
    """The whole `cdp.yaml`."""

    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    landing_dir: str = Field("data/landing", description="relative to cdp.yaml")
    base_currency: str = "USD"
    fx_rates: dict[str, float] = Field(
        default_factory=dict, description="base-currency units per unit of each currency"
    )
    timezone: str = "UTC"
    default_country: str = "US"
    as_of: dt.date | None = Field(None, description="analysis date; CDP_AS_OF overrides it")
    quality: QualityConfig = Field(default_factory=QualityConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    exports: ExportsConfig = Field(default_factory=ExportsConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    sources: tuple[SourceConfig, ...] = ()

    # Set by the loader: the folder of cdp.yaml, against which relative paths resolve.
    _base_dir: str = PrivateAttr(default=".")

    @field_validator("base_currency")
    @classmethod
    def _base_currency(cls, value: str) -> str:
        return _check_currency(value)

    @field_validator("fx_rates")
    @classmethod
    def _fx(cls, rates: dict[str, float]) -> dict[str, float]:
        checked: dict[str, float] = {}
        for code, rate in rates.items():
            if rate is None or rate <= 0:
                raise ValueError(f"{code}: rate must be a positive number, got {rate!r}")
            try:
                checked[_check_currency(code)] = float(rate)
            except ValueError as exc:
                raise ValueError(f"{code}: {exc}") from None
        return checked

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)  # type: ignore[return-value]

    @field_validator("default_country")
    @classmethod
    def _country(cls, value: str) -> str:
        return _check_country(value)

    @model_validator(mode="after")
    def _sources_consistent(self) -> CDPConfig:
        seen: dict[str, int] = {}
        for i, source in enumerate(self.sources):
            source._index = i
            if source.name in seen:
                raise ValueError(
                    f"sources[{i}].name: {source.name!r} is already used by sources[{seen[source.name]}]"
                )
            seen[source.name] = i
        by_name = {s.name: s for s in self.sources}
        for i, source in enumerate(self.sources):
            ref = source.customer_ref_source
            if ref is not None:
                target = by_name.get(ref)
                if target is None:
                    raise ValueError(f"sources[{i}].customer_ref_source: no source named {ref!r}")
                if target.kind != "customers":
                    raise ValueError(
                        f"sources[{i}].customer_ref_source: {ref!r} is of kind {target.kind!r}, "
                        "not 'customers'"
                    )
            currency = source.defaults.get("currency")
            if currency is not None:
                try:
                    _check_currency(str(currency))
                except ValueError as exc:
                    raise ValueError(f"sources[{i}].defaults.currency: {exc}") from exc
        customer_sources = {s.name for s in self.sources if s.kind == "customers"}
        for section in ("must_link", "cannot_link"):
            for i, pair in enumerate(getattr(self.identity, section)):
                for side in ("left", "right"):
                    name = getattr(pair, side).partition(":")[0]
                    if name not in customer_sources:
                        raise ValueError(
                            f"identity.{section}[{i}].{side}: {name!r} is not a customers source"
                        )
        audiences = {a.name for a in self.analytics.audiences}
        for i, destination in enumerate(self.exports.destinations):
            for j, name in enumerate(destination.audiences):
                if name not in audiences:
                    raise ValueError(
                        f"exports.destinations[{i}].audiences[{j}]: no audience named {name!r} "
                        "in analytics.audiences"
                    )
        return self

    # -- helpers ---------------------------------------------------------------------------

    @property
    def base_dir(self) -> str:
        return self._base_dir

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source named {name!r} in cdp.yaml")

    def sources_of_kind(self, kind: str) -> tuple[SourceConfig, ...]:
        return tuple(s for s in self.sources if s.kind == kind)

    def fx_rate(self, currency: str) -> float | None:
        """Base-currency units per unit of `currency`; None when no rate is configured."""
        if currency == self.base_currency:
            return 1.0
        return self.fx_rates.get(currency)

    def source_timezone(self, source: SourceConfig) -> str:
        return source.timezone or self.timezone

    def source_country(self, source: SourceConfig) -> str:
        country = source.default_country or source.defaults.get("country") or self.default_country
        return str(country).upper()


__all__ = [
    "AnalyticsConfig",
    "ExportDestination",
    "ExportsConfig",
    "PrivacyConfig",
    "ModelsConfig",
    "CDPConfig",
    "IdentityConfig",
    "QualityConfig",
    "SOURCE_KINDS",
    "SourceConfig",
    "WarehouseConfig",
]
