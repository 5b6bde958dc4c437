"""`stage_source`: a raw frame → the canonical staging frame, its quarantine and its issues.

Steps, for a source of any kind:

1. Order the raw rows by recency (`_ingested_at`, `_file`, `_line`, `_batch_id`); map canonical
   fields from `source.columns`, fill `source.defaults`; fold unmapped columns into
   `attributes`; read the record id or derive it from file and line.
2. Type and normalise every field (see `cdp_assets.staging.fields`), then the kind's own rules
   (`cdp_assets.staging.kinds`). A field failing a rule is nulled and remembers the first rule.
3. A row with a failing *required* field is quarantined, under the first such field in
   canonical order (reason: a sentence naming field and value; payload: its raw columns).
4. Customers: unconfirmed opt-ins are set false (double opt-in).
5. Among the rows left, the latest version of each record key is staged, the others are
   superseded (`superseded_record` issues).
6. Issues are written for staged rows only: nulled optional fields, consent changes and, for
   customers, email keys or phones shared by more than `quality.duplicate_identifier_limit`
   records (`duplicate_identifier`, flagged, value kept).

Conservation: rows in = staged + quarantined + superseded. Deterministic: the output depends on
the rows' content and lineage only (not their order in `raw`, nor the clock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.contracts.canonical import (
    ISSUE_DTYPES,
    QUARANTINE_DTYPES,
    RECORD_ID_FIELD,
    staging_contract,
)
from cdp_assets.quality.catalog import (
    ACTION_FLAGGED,
    ACTION_NULLED,
    ACTION_SET_FALSE,
    ACTION_SUPERSEDED,
)
from cdp_assets.quality.checked import STRING
from cdp_assets.quality.consent import DOUBLE_OPT_IN_FIELDS, UNCONFIRMED_OPT_IN
from cdp_assets.staging.fields import EMAIL_KEY, FieldSettings, validate_fields
from cdp_assets.staging.kinds import apply_kind_rules, consent_changes
from cdp_assets.staging.mapping import (
    SourceFrame,
    attributes_json,
    compose_record_ids,
    in_recency_order,
    map_fields,
    raw_payloads,
)
from cdp_assets.staging.reasons import ReasonContext, quoted, sentence
from cdp_assets.staging.validation import Validation
from cdp_assets.staging.versions import shared_identifier_rows, supersede

STAGE = "staging"
SUPERSEDED_RECORD = "superseded_record"
DUPLICATE_IDENTIFIER = "duplicate_identifier"
# The issue rules incremental staging appends for rows of batches staged before (a record a
# new batch supersedes; an identifier new records now share with old ones): every other issue
# and quarantined line is appended with the batch of the row it is about, in the run that
# stages that batch. The erasure check reads these rules' issues whatever their batch
# (`cdp_assets.privacy.tables`); a new rule written for old batches must be listed here.
REISSUED_RULES: tuple[str, ...] = (SUPERSEDED_RECORD, DUPLICATE_IDENTIFIER)
_ISSUE_WORK_COLUMNS = ("position", "order", "field", "value", "rule", "action", "reason")
# (identifier column, the field it comes from, its name in reasons)
SHARED_IDENTIFIERS = ((EMAIL_KEY, "email", "email key"), ("phone", "phone", "phone"))
# `identifier_rows` of a customers chunk: staged rows with an email key or phone.
IDENTIFIER_DTYPES: dict[str, str] = {
    "identifier": "string",  # email_key | phone
    "key": "string",  # the normalised identifier counted across records
    "value": "string",  # the raw value of the field, as the issue shows it
    "record_id": "string",
    "file": "string",
    "line": "Int64",
    "batch_id": "string",
}


@dataclass
class StagingResult:
    """What staging made of one source's raw rows."""

    staged: pd.DataFrame  # columns/dtypes of staging_contract(kind)
    quarantine: pd.DataFrame  # QUARANTINE_DTYPES, stage='staging'
    issues: pd.DataFrame  # ISSUE_DTYPES
    rows_in: int = 0
    superseded: int = 0
    derived_record_ids: bool = False
    unmapped_columns: tuple[str, ...] = field(default_factory=tuple)
    missing_columns: tuple[str, ...] = field(default_factory=tuple)
    # Customers staged with shared_identifiers=False: rows for `shared_identifier_issues`.
    identifier_rows: pd.DataFrame | None = None

    @property
    def rows_staged(self) -> int:
        return len(self.staged)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    def quarantine_by_rule(self) -> dict[str, int]:
        counts = self.quarantine["rule"].value_counts()
        return {str(k): int(v) for k, v in sorted(counts.items())}

    def issues_by_rule(self) -> dict[str, int]:
        counts = self.issues["rule"].value_counts()
        return {str(k): int(v) for k, v in sorted(counts.items())}

    def issues_by_field_and_rule(self) -> dict[tuple[str, str], int]:
        counts = self.issues.groupby(["field", "rule"]).size()
        return {(str(f), str(r)): int(v) for (f, r), v in sorted(counts.items())}

    def summary(self) -> dict[str, object]:
        """Figures for asset metadata."""
        return {
            "rows_in": self.rows_in,
            "rows_staged": self.rows_staged,
            "rows_quarantined": self.rows_quarantined,
            "records_superseded": self.superseded,
            "field_issues": len(self.issues) - self.superseded,
            "quarantine_by_rule": self.quarantine_by_rule(),
            "issues_by_rule": self.issues_by_rule(),
            "derived_record_ids": self.derived_record_ids,
            "unmapped_columns": list(self.unmapped_columns),
            "missing_columns": list(self.missing_columns),
        }


def _reason_context(config: CDPConfig, today: dt.date) -> ReasonContext:
    q = config.quality
    return ReasonContext(
        today=today.isoformat(),
        tolerance_hours=f"{q.future_tolerance_hours:g}",
        earliest=q.earliest_date.isoformat(),
        min_age=q.min_age_years,
        max_age=q.max_age_years,
        max_quantity=q.max_quantity,
        base_currency=config.base_currency,
        max_order_amount=q.max_order_amount,
        max_unit_price=q.max_unit_price,
    )


def _first_required_failure(validation: Validation) -> tuple[pd.Series, pd.Series]:
    rule = pd.Series(pd.NA, index=validation.index, dtype=STRING)
    reason = pd.Series(pd.NA, index=validation.index, dtype=STRING)
    required = sorted((s for s in validation.fields.values() if s.required), key=lambda s: s.order)
    for state in required:
        take = rule.isna() & state.rule.notna()
        if take.any():
            rule = rule.mask(take, state.rule)
            reason = reason.mask(take, state.reason)
    return rule, reason


def _issue_rows(
    rows: np.ndarray,
    order: int,
    field_name: str,
    value: pd.Series,
    rule: pd.Series | str,
    action: str,
    reason: pd.Series,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "position": rows,
            "order": np.full(len(rows), order),
            "field": field_name,
            "value": value.iloc[rows].to_numpy(object) if len(rows) else [],
            "rule": rule.iloc[rows].to_numpy(object) if isinstance(rule, pd.Series) else rule,
            "action": action,
            "reason": reason.iloc[rows].to_numpy(object) if len(rows) else [],
        }
    )


def _field_issues(validation: Validation, staged: np.ndarray) -> list[pd.DataFrame]:
    parts = []
    for state in sorted(validation.fields.values(), key=lambda s: s.order):
        if state.required:
            continue
        rows = np.flatnonzero(state.rule.notna().to_numpy(bool) & staged)
        if len(rows):
            parts.append(
                _issue_rows(
                    rows,
                    state.order,
                    state.name,
                    state.raw,
                    state.rule,
                    ACTION_NULLED,
                    state.reason,
                )
            )
    return parts


def _consent_issues(
    validation: Validation, changed: dict[str, pd.Series], staged: np.ndarray
) -> list[pd.DataFrame]:
    parts = []
    for opt_in, rows_changed in changed.items():
        rows = np.flatnonzero(rows_changed.to_numpy(bool) & staged)
        if not len(rows):
            continue
        state = validation.fields[opt_in]
        reason = pd.Series(pd.NA, index=validation.index, dtype=STRING)
        mask = pd.Series(False, index=validation.index)
        mask.iloc[rows] = True
        reason[mask] = sentence(
            UNCONFIRMED_OPT_IN,
            opt_in,
            state.raw[mask],
            validation.context,
            confirmation=DOUBLE_OPT_IN_FIELDS[opt_in],
        )
        parts.append(
            _issue_rows(
                rows, state.order, opt_in, state.raw, UNCONFIRMED_OPT_IN, ACTION_SET_FALSE, reason
            )
        )
    return parts


def superseded_reason(record_id: object, file: object, line: object, batch_id: object) -> str:
    """The reason of a `superseded_record` issue: the version kept, by its lineage."""
    return (
        f"record {record_id!r} is superseded by its latest version, in {file} line {line} "
        f"(batch {batch_id})"
    )


def _superseded_issues(
    frame: SourceFrame,
    record_ids: pd.Series,
    superseded: np.ndarray,
    winner: np.ndarray,
    id_field: str,
    order: int,
) -> list[pd.DataFrame]:
    rows = np.flatnonzero(superseded)
    if not len(rows):
        return []
    kept = winner[rows]
    files = frame.raw["_file"].to_numpy(object)[kept]
    lines = frame.raw["_line"].to_numpy(object)[kept]
    batches = frame.raw["_batch_id"].to_numpy(object)[kept]
    reasons = [
        superseded_reason(rid, f, ln, b)
        for rid, f, ln, b in zip(
            record_ids.to_numpy(object)[rows], files, lines, batches, strict=True
        )
    ]
    reason = pd.Series(pd.NA, index=frame.index, dtype=STRING)
    reason.iloc[rows] = reasons
    return [
        _issue_rows(rows, order, id_field, record_ids, SUPERSEDED_RECORD, ACTION_SUPERSEDED, reason)
    ]


def _shared_reason(label: str, values: pd.Series, counts: pd.Series, limit: int) -> pd.Series:
    return (
        label
        + " "
        + quoted(values)
        + " is shared by "
        + counts.astype(STRING)
        + f" records of this source (more than {limit})"
    ).astype(STRING)


def _duplicate_identifier_issues(
    validation: Validation, staged: np.ndarray, limit: int
) -> list[pd.DataFrame]:
    parts = []
    for identifier, field_name, label in SHARED_IDENTIFIERS:
        if identifier not in validation or field_name not in validation:
            continue
        values = validation.values(identifier).astype(STRING).where(staged)
        flagged, counts = shared_identifier_rows(values, limit)
        rows = np.flatnonzero(flagged.to_numpy(bool))
        if not len(rows):
            continue
        reason = _shared_reason(label, values, counts, limit)
        state = validation.fields[field_name]
        parts.append(
            _issue_rows(
                rows,
                state.order,
                field_name,
                state.raw,
                DUPLICATE_IDENTIFIER,
                ACTION_FLAGGED,
                reason,
            )
        )
    return parts


def _identifier_rows(
    frame: SourceFrame, validation: Validation, record_ids: pd.Series, staged: np.ndarray
) -> pd.DataFrame:
    """Staged rows with an email key or phone, for `shared_identifier_issues` (IDENTIFIER_DTYPES)."""
    parts = []
    for identifier, field_name, _ in SHARED_IDENTIFIERS:
        if identifier not in validation or field_name not in validation:
            continue
        key = validation.values(identifier).astype(STRING)
        rows = np.flatnonzero(staged & key.notna().to_numpy(bool))
        data = {
            "identifier": pd.Series(identifier, index=range(len(rows))),
            "key": key.iloc[rows],
            "value": validation.fields[field_name].raw.iloc[rows],
            "record_id": record_ids.iloc[rows],
            "file": frame.raw["_file"].iloc[rows],
            "line": frame.raw["_line"].iloc[rows],
            "batch_id": frame.raw["_batch_id"].iloc[rows],
        }
        parts.append(
            pd.DataFrame({name: _column(data[name], d) for name, d in IDENTIFIER_DTYPES.items()})
        )
    if not parts:
        return pd.DataFrame({name: pd.Series([], dtype=d) for name, d in IDENTIFIER_DTYPES.items()})
    return pd.concat(parts, ignore_index=True)


def shared_identifier_issues(rows: pd.DataFrame, source_name: str, limit: int) -> pd.DataFrame:
    """Customers staged in chunks: the `duplicate_identifier` issues (ISSUE_DTYPES) over the
    `identifier_rows` of every chunk — an email key or phone held by more than `limit` staged
    records of the source flags each of them, as `stage_source` does in one piece."""
    parts = []
    field_of = {identifier: field_name for identifier, field_name, _ in SHARED_IDENTIFIERS}
    for identifier, _, label in SHARED_IDENTIFIERS:
        held = rows[(rows["identifier"] == identifier).to_numpy(bool)]
        flagged, counts = shared_identifier_rows(held["key"], limit)
        take = flagged.to_numpy(bool)
        if not take.any():
            continue
        hit = held[take].reset_index(drop=True)
        parts.append(
            pd.DataFrame(
                {
                    "source": source_name,
                    "record_id": hit["record_id"],
                    "file": hit["file"],
                    "line": hit["line"],
                    "batch_id": hit["batch_id"],
                    "field": field_of[identifier],
                    "value": hit["value"],
                    "rule": DUPLICATE_IDENTIFIER,
                    "action": ACTION_FLAGGED,
                    "reason": _shared_reason(
                        label, hit["key"], counts[take].reset_index(drop=True), limit
                    ),
                }
            )
        )
    if not parts:
        return pd.DataFrame({name: pd.Series([], dtype=d) for name, d in ISSUE_DTYPES.items()})
    found = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({name: _column(found[name], d) for name, d in ISSUE_DTYPES.items()})


def _staged_frame(
    frame: SourceFrame, validation: Validation, record_ids: pd.Series, staged: np.ndarray
) -> pd.DataFrame:
    every = bool(staged.all())

    def kept(column: pd.Series) -> pd.Series:
        return column if every else column[staged]

    n = int(staged.sum())
    contract = staging_contract(frame.source.kind)
    columns: dict[str, object] = {}
    for name, dtype in contract.items():
        if name == "source":
            column = pd.Series(frame.source.name, index=range(n), dtype=STRING)
        elif name == "record_id":
            column = kept(record_ids)
        elif name == "attributes":
            column = attributes_json(
                frame.raw if every else frame.raw[staged], frame.unmapped_columns
            )
        elif name in ("_file", "_line", "_batch_id", "_ingested_at"):
            column = kept(frame.raw[name])
        else:
            column = kept(validation.values(name))
        columns[name] = _column(column, dtype)
    return pd.DataFrame(columns)


def _column(values: pd.Series | np.ndarray, dtype: str) -> pd.Series:
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    series = series.reset_index(drop=True)
    return series if str(series.dtype) == dtype else series.astype(dtype)


def _quarantine_frame(
    frame: SourceFrame,
    record_ids: pd.Series,
    rule: pd.Series,
    reason: pd.Series,
    quarantined: np.ndarray,
) -> pd.DataFrame:
    rows = np.flatnonzero(quarantined)
    raw = frame.raw
    data = {
        "source": pd.Series(frame.source.name, index=range(len(rows))),
        "stage": pd.Series(STAGE, index=range(len(rows))),
        "file": raw["_file"].iloc[rows],
        "line": raw["_line"].iloc[rows],
        "batch_id": raw["_batch_id"].iloc[rows],
        "record_id": record_ids.iloc[rows],
        "raw_payload": raw_payloads(raw, frame.source_columns, rows),
        "rule": rule.iloc[rows],
        "reason": reason.iloc[rows],
        "quarantined_at": raw["_ingested_at"].iloc[rows],
    }
    return pd.DataFrame(
        {name: _column(data[name], dtype) for name, dtype in QUARANTINE_DTYPES.items()}
    )


def _issues_frame(
    frame: SourceFrame, record_ids: pd.Series, parts: list[pd.DataFrame]
) -> pd.DataFrame:
    if parts:
        work = pd.concat(parts, ignore_index=True)
        work = work.sort_values(["position", "order", "rule"], kind="stable")
    else:
        work = pd.DataFrame({c: [] for c in _ISSUE_WORK_COLUMNS})
    positions = work["position"].to_numpy(np.int64)
    raw = frame.raw
    data = {
        "source": pd.Series(frame.source.name, index=range(len(work))),
        "record_id": record_ids.iloc[positions],
        "file": raw["_file"].iloc[positions],
        "line": raw["_line"].iloc[positions],
        "batch_id": raw["_batch_id"].iloc[positions],
        "field": work["field"],
        "value": work["value"],
        "rule": work["rule"],
        "action": work["action"],
        "reason": work["reason"],
    }
    return pd.DataFrame({name: _column(data[name], dtype) for name, dtype in ISSUE_DTYPES.items()})


def versions_use_updated_at(source: SourceConfig) -> bool:
    """Whether the latest version of a record is the one with the largest `updated_at`
    (customers mapping or defaulting it) before the most recent raw row."""
    if source.kind != "customers":
        return False
    return "updated_at" in source.columns or "updated_at" in source.defaults


def _versions_updated_at(source: SourceConfig, validation: Validation) -> pd.Series | None:
    return validation.values("updated_at") if versions_use_updated_at(source) else None


def stage_source(
    raw: pd.DataFrame,
    source: SourceConfig,
    config: CDPConfig,
    now: dt.datetime,
    *,
    shared_identifiers: bool = True,
) -> StagingResult:
    """Type, normalise, validate and de-duplicate one source's raw rows.

    `now` is the wall clock at staging (UTC): a fact later than it plus
    `quality.future_tolerance_hours` is a `future_date`. The analysis date plays no part, so
    a warehouse staged once serves every as-of date.

    A chunk of a source (see `cdp_assets.staging.chunks`) stages on its own, except that
    customers' shared identifiers count across the whole source: with
    `shared_identifiers=False` their issues are left out and the result's `identifier_rows`
    carry what `shared_identifier_issues` needs to find them over every chunk.
    """
    kind = source.kind
    frame = map_fields(in_recency_order(raw, source), source)
    settings = FieldSettings(source, config, now)
    validation = Validation(frame.index, _reason_context(config, settings.today))
    validate_fields(frame, settings, validation)
    apply_kind_rules(validation, settings)
    changed = consent_changes(validation) if kind == "customers" else {}

    record_ids = compose_record_ids(kind, validation.values)
    q_rule, q_reason = _first_required_failure(validation)
    quarantined = q_rule.notna().to_numpy(bool)
    versions = supersede(record_ids, ~quarantined, _versions_updated_at(source, validation))
    staged = ~quarantined & ~versions.superseded

    id_field = RECORD_ID_FIELD[kind]
    issues = _field_issues(validation, staged)
    issues += _consent_issues(validation, changed, staged)
    issues += _superseded_issues(
        frame,
        record_ids,
        versions.superseded,
        versions.winner,
        id_field,
        validation.fields[id_field].order,
    )
    identifier_rows = None
    if kind == "customers" and shared_identifiers:
        issues += _duplicate_identifier_issues(
            validation, staged, config.quality.duplicate_identifier_limit
        )
    elif kind == "customers":
        identifier_rows = _identifier_rows(frame, validation, record_ids, staged)

    return StagingResult(
        staged=_staged_frame(frame, validation, record_ids, staged),
        quarantine=_quarantine_frame(frame, record_ids, q_rule, q_reason, quarantined),
        issues=_issues_frame(frame, record_ids, issues),
        rows_in=len(frame),
        superseded=int(versions.superseded.sum()),
        derived_record_ids=frame.derived_ids,
        unmapped_columns=frame.unmapped_columns,
        missing_columns=frame.missing_columns,
        identifier_rows=identifier_rows,
    )
