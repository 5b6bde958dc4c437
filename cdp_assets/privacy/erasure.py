"""Erasure: remove a person from every table of every layer, by any of their identifiers.

A request names a person by email, phone, customer id or a source record id. Resolution finds
their customer ids (through the identity tables) and gathers every identifier they have: their
records, emails, phones, loyalty cards, cookie ids, facts (orders, events, survey responses,
tickets) and the ad-platform hashes of their email and phone. Every table is then read as
identifier values per row (`tables.each_table`) and the rows holding any of them are deleted,
raw rows and quarantined lines included. The identifiers go, salted and hashed, into the
suppression list, and each request is logged in `ops.erasure_log` without any identifier in
clear. Processed requests are deleted from the erasure source's own tables.

Identifiers listed in core.shared_identifiers (a household landline, a shared family inbox), or
carried by staged customer records of two people, belong to other people too: they are never
erased from them nor suppressed; the person's own rows carrying them go anyway, by their
record, fact or customer id. A request whose identifiers name more than one person is
ambiguous: nobody is erased and it stays pending. Requests wait until identity has run.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sqlalchemy as sa

from cdp_assets.activation.ad_hashing import hash_email, hash_phone
from cdp_assets.config import CDPConfig, SourceConfig
from cdp_assets.privacy.candidates import CandidateFilter
from cdp_assets.privacy.identifiers import (
    KINDS,
    STRING,
    Identifiers,
    Values,
    matches,
    named_values,
    record_of,
    source_field_values,
    staged_columns,
)
from cdp_assets.privacy.suppression import SUPPRESSION, SUPPRESSION_DTYPES, salt_fingerprint
from cdp_assets.privacy.tables import TableValues, personal_tables, table_values, xref_values
from cdp_assets.quality.emails import normalise_emails
from cdp_assets.warehouse import TableRef, WarehouseSession, coerce_frame
from cdp_assets.warehouse.versions import read_versions, table_name
from cdp_assets.warehouse.warehouse import quote_ident

ERASURE_LOG = TableRef("ops", "erasure_log")
KEYS = TableRef("ops", "_erasure_keys")
ERASURE_LOG_DTYPES: dict[str, str] = {
    "request_id": "string",
    "request_source": "string",
    "identifier_hashes": "string",  # JSON list of the salted hashes erased and suppressed
    "identifiers": "Int64",
    "customers_erased": "Int64",
    "requested_at": "datetime64[us, UTC]",
    "completed_at": "datetime64[us, UTC]",
    "status": "string",  # erased | no_match | ambiguous
    "rows_deleted": "Int64",
    "tables_touched": "string",  # JSON {table: rows deleted}
    "export_rows_removed": "Int64",
    "run_id": "string",
    "people_matched": "Int64",  # people the request's identifiers name (ambiguous when > 1)
    "resolution_hint": "string",  # what would settle an ambiguous request (no identifier)
}

# How to read the erasure counts side by side (a request can delete rows and no profile).
ERASURE_COUNTS_NOTE = (
    "customers_erased (profiles_erased in the summary) counts customer profiles; rows_deleted "
    "counts every row that held the identifiers (raw, staged, quarantined, facts, profiles), "
    "so a request whose person never reached a profile (or was erased before) deletes rows "
    "with 0 profiles."
)

XREF = TableRef("core", "customer_xref")
MERGES = TableRef("core", "identity_merges")
# A staged customer record no identity run has resolved yet counts as a person of its own.
UNRESOLVED = "unresolved record "
FACT_TABLES: dict[str, str] = {
    "orders": "order_id",
    "events": "event_id",
    "survey_responses": "response_id",
    "support_tickets": "ticket_id",
    "campaign_events": "event_id",
}


@dataclass
class ErasureRequest:
    request_id: str
    source: str  # the erasure_requests source it came from
    requested_at: pd.Timestamp | None
    seeds: Identifiers


@dataclass
class Subject:
    """The person one request names, as found in the warehouse."""

    request: ErasureRequest
    customer_ids: set[str]
    identifiers: Identifiers
    shared_kept: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table → rows deleted
    people_matched: int = 0
    hint: str | None = None  # set when the request is ambiguous: what would settle it

    @property
    def ambiguous(self) -> bool:
        return self.hint is not None

    @property
    def matched(self) -> bool:
        """Found in the warehouse: a customer, or rows beyond the request's own."""
        own = f".{self.request.source}"
        return bool(self.customer_ids) or any(
            n for t, n in self.rows.items() if not t.endswith(own)
        )

    @property
    def status(self) -> str:
        if self.ambiguous:
            return "ambiguous"
        return "erased" if self.matched else "no_match"

    @property
    def every_customer_id(self) -> set[str]:
        """Current ids, their aliases and the ids merges absorbed: every id the person had."""
        return self.customer_ids | self.identifiers.values["customer_id"]


# --------------------------------------------------------------------------- requests


def pending_requests(session: WarehouseSession, config: CDPConfig) -> list[ErasureRequest]:
    """Requests staged by every erasure_requests source (processed ones are deleted)."""
    requests: list[ErasureRequest] = []
    for source in config.sources_of_kind("erasure_requests"):
        ref = TableRef("staging", source.name)
        if not session.table_exists(ref):
            continue
        frame = session.query(f"SELECT * FROM {ref.sql} ORDER BY record_id").reset_index(drop=True)
        mapping = staged_columns(
            c for c in ("email", "email_key", "phone", "customer_id") if c in frame.columns
        )
        values = source_field_values(frame, source, config, mapping)
        for i, row in frame.iterrows():
            seeds = Identifiers()
            for kind, series in values:
                if i in series.index:
                    seeds.add(kind, series.loc[[i]].tolist())
            named = _named_record(row)
            if named:
                seeds.add("record", [named])
            requests.append(
                ErasureRequest(
                    request_id=str(row["record_id"]),
                    source=source.name,
                    requested_at=_timestamp(row.get("requested_at")),
                    seeds=seeds,
                )
            )
    return requests


def _named_record(row: pd.Series) -> str | None:
    source, record_id = row.get("record_source"), row.get("source_record_id")
    if source is None or record_id is None or pd.isna(source) or pd.isna(record_id):
        return None
    return record_of(str(source).strip(), record_id)


def _timestamp(value: object) -> pd.Timestamp | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else None


# --------------------------------------------------------------------------- resolution


@dataclass
class IdentityTables:
    """What resolution reads once for all requests."""

    xref: pd.DataFrame
    facts: pd.DataFrame
    aliases: pd.DataFrame
    shared: Identifiers
    records: dict[str, pd.DataFrame]  # customers source → staged identifier columns
    # The identifier values of the frames above, normalised once for all requests.
    xref_values: Values = field(default_factory=list)
    fact_values: Values = field(default_factory=list)
    record_values: dict[str, Values] = field(default_factory=dict)
    merges: pd.DataFrame = field(default_factory=pd.DataFrame)
    # `<source>:<record id>` of each resolved customer record → its customer id
    person_of_record: dict[str, str] = field(default_factory=dict)
    # Partial: xref, facts and records hold only the rows the requests may need, read from the
    # warehouse step by step (`extend`); the shared identifiers from core only, until
    # `extend_sharing` adds those of the staged records.
    partial: bool = False
    core_shared: Identifiers = field(default_factory=Identifiers)

    def person_of(self, record: str) -> str | None:
        """The customer a staged customer record belongs to; unresolved ones are their own."""
        person = self.person_of_record.get(record)
        if person is not None:
            return person
        source = record.partition(":")[0]
        return UNRESOLVED + record if source in self.records else None


def _table(session: WarehouseSession, ref: TableRef, columns: list[str]) -> pd.DataFrame:
    """Identifier columns of `ref` as text (no rows when the table is not built yet)."""
    return session.read_table(ref, columns=columns, dtypes=dict.fromkeys(columns, STRING))


def identity_built(session: WarehouseSession) -> bool:
    """Has identity resolution run? Without it no one can tell who is one person."""
    return session.table_exists(XREF)


XREF_COLUMNS = ["source", "source_record_id", "identity_kind", "customer_id"]
FACT_IDENTITIES = TableRef("core", "fact_identities")
FACT_COLUMNS = [
    "source",
    "customer_ref",
    "email_key",
    "phone",
    "loyalty_id",
    "anonymous_id",
    "customer_id",
]
RECORD_COLUMNS = ["record_id", "email", "email_key", "phone", "loyalty_id"]


def _rows_of(
    session: WarehouseSession,
    ref: TableRef,
    columns: list[str],
    where: str,
    params: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Identifier columns of the rows of `ref` that satisfy `where`, as text."""
    return session.read_table(
        ref, columns=columns, dtypes=dict.fromkeys(columns, STRING), where=where, params=params
    )


def _record_columns(session: WarehouseSession, ref: TableRef) -> list[str]:
    present = set(session.columns(ref))
    return [c for c in RECORD_COLUMNS if c in present]


def _customer_sources(session: WarehouseSession, config: CDPConfig) -> dict[str, TableRef]:
    refs = {s.name: TableRef("staging", s.name) for s in config.sources_of_kind("customers")}
    return {name: ref for name, ref in refs.items() if session.table_exists(ref)}


def read_identity_tables(
    session: WarehouseSession,
    config: CDPConfig,
    requests: list[ErasureRequest] | None = None,
) -> IdentityTables:
    """The identity tables resolution reads: whole, or with `requests` only the rows those
    requests may need (`partial`: selected in the warehouse, then extended by `resolve_all`
    as resolution finds the people and their identifiers)."""
    if requests is not None:
        return _partial_identity_tables(session, config, requests)
    xref = _table(session, XREF, XREF_COLUMNS)
    facts = _table(session, FACT_IDENTITIES, FACT_COLUMNS)
    aliases = _table(session, TableRef("core", "customer_id_aliases"), ["alias_id", "customer_id"])
    merges = _table(session, MERGES, ["event", "customer_id", "other_customer_id"])
    shared_frame = _table(session, TableRef("core", "shared_identifiers"), ["type", "value"])
    shared = Identifiers()
    for type_, kind in (("email_key", "email"), ("phone", "phone"), ("loyalty_id", "loyalty_id")):
        shared.add(kind, shared_frame.loc[shared_frame["type"] == type_, "value"])
    records = {}
    for source in config.sources_of_kind("customers"):
        ref = TableRef("staging", source.name)
        if session.table_exists(ref):
            present = set(session.columns(ref))
            wanted = ["record_id", "email", "email_key", "phone", "loyalty_id"]
            records[source.name] = _table(session, ref, [c for c in wanted if c in present])
    is_record = xref["identity_kind"] == "record"
    person_of_record = dict(
        zip(
            (xref.loc[is_record, "source"] + ":" + xref.loc[is_record, "source_record_id"]),
            xref.loc[is_record, "customer_id"],
            strict=True,
        )
    )
    tables = IdentityTables(
        xref,
        facts,
        aliases,
        shared,
        records,
        xref_values=xref_values(xref, config),
        fact_values=_fact_values(facts, config),
        record_values={s: _record_values(s, f, config) for s, f in records.items()},
        merges=merges,
        person_of_record=person_of_record,
    )
    tables.shared.update(_shared_by_staged_records(tables))
    return tables


def _core_shared(session: WarehouseSession) -> Identifiers:
    shared_frame = _table(session, TableRef("core", "shared_identifiers"), ["type", "value"])
    shared = Identifiers()
    for type_, kind in (("email_key", "email"), ("phone", "phone"), ("loyalty_id", "loyalty_id")):
        shared.add(kind, shared_frame.loc[shared_frame["type"] == type_, "value"])
    return shared


def _partial_identity_tables(
    session: WarehouseSession, config: CDPConfig, requests: list[ErasureRequest]
) -> IdentityTables:
    """The rows any of `requests` may name a person by: the staged customer records holding
    one of their identifiers, then the xref and fact identity rows holding one of those or
    of the records found."""
    seeds = Identifiers()
    for request in requests:
        seeds.update(request.seeds)
    tables = IdentityTables(
        pd.DataFrame(columns=XREF_COLUMNS, dtype=STRING),
        pd.DataFrame(columns=FACT_COLUMNS, dtype=STRING),
        _table(session, TableRef("core", "customer_id_aliases"), ["alias_id", "customer_id"]),
        _core_shared(session),
        {},
        merges=_table(session, MERGES, ["event", "customer_id", "other_customer_id"]),
        partial=True,
    )
    tables.core_shared.update(tables.shared)
    records = _records_holding(session, config, seeds)
    probe = Identifiers()
    probe.update(seeds)
    for source, frame in records.items():
        probe.add("record", source + ":" + frame["record_id"].astype(STRING))
    _extend(tables, session, config, records=records, **_identity_rows_holding(session, probe))
    return tables


def _records_holding(
    session: WarehouseSession, config: CDPConfig, wanted: Identifiers
) -> dict[str, pd.DataFrame]:
    rows = CandidateFilter(wanted, session.dialect)
    found = {}
    for name, ref in _customer_sources(session, config).items():
        columns = _record_columns(session, ref)
        where = rows.where(columns, ["phone"])
        frame = _rows_of(session, ref, columns, where, rows.params_for(where))
        values = _record_values(name, frame, config)
        found[name] = frame[matches(values, wanted, frame.index)].reset_index(drop=True)
    return found


def _identity_rows_holding(session: WarehouseSession, wanted: Identifiers) -> dict:
    rows = CandidateFilter(wanted, session.dialect)
    if rows.empty:
        return {}
    where = rows.where(["source_record_id", "customer_id"], ["source_record_id"])
    xref = _rows_of(session, XREF, XREF_COLUMNS, where, rows.params_for(where))
    facts = pd.DataFrame(columns=FACT_COLUMNS, dtype=STRING)
    if session.table_exists(FACT_IDENTITIES):
        where = rows.where(FACT_COLUMNS[1:], ["phone"])
        facts = _rows_of(session, FACT_IDENTITIES, FACT_COLUMNS, where, rows.params_for(where))
    return {"xref": xref, "facts": facts}


def _rows_of_customers(session: WarehouseSession, customers: set[str]) -> dict:
    """xref and fact identity rows of these customers (joined from a keys table)."""
    if not customers:
        return {}
    session.replace_table(KEYS, pd.DataFrame({"customer_id": sorted(customers)}, dtype=STRING))
    where = f"customer_id IN (SELECT customer_id FROM {KEYS.sql})"
    found = {"xref": _rows_of(session, XREF, XREF_COLUMNS, where)}
    if session.table_exists(FACT_IDENTITIES):
        found["facts"] = _rows_of(session, FACT_IDENTITIES, FACT_COLUMNS, where)
    return found


def _records_named(
    session: WarehouseSession, config: CDPConfig, records: set[str]
) -> dict[str, pd.DataFrame]:
    """The staged customer records named `<source>:<record id>`."""
    found = {}
    for name, ref in _customer_sources(session, config).items():
        ids = sorted({r.partition(":")[2] for r in records if r.partition(":")[0] == name})
        if not ids:
            continue
        session.replace_table(KEYS, pd.DataFrame({"record_id": ids}, dtype=STRING))
        columns = _record_columns(session, ref)
        where = f"CAST(record_id AS VARCHAR) IN (SELECT record_id FROM {KEYS.sql})"
        found[name] = _rows_of(session, ref, columns, where)
    return found


def _extend(
    tables: IdentityTables,
    session: WarehouseSession,
    config: CDPConfig,
    xref: pd.DataFrame | None = None,
    facts: pd.DataFrame | None = None,
    records: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Add rows to partial identity tables (duplicates dropped) and recompute their values."""

    def union(old: pd.DataFrame, new: pd.DataFrame | None) -> pd.DataFrame:
        if new is None or not len(new):
            return old
        both = pd.concat([old, new.astype(STRING)], ignore_index=True) if len(old) else new
        return both.astype(STRING).drop_duplicates().reset_index(drop=True)

    tables.xref = union(tables.xref, xref)
    tables.facts = union(tables.facts, facts)
    for name, frame in (records or {}).items():
        old = tables.records.get(name, pd.DataFrame(columns=frame.columns, dtype=STRING))
        tables.records[name] = union(old, frame)
    for name, ref in _customer_sources(session, config).items():
        if name not in tables.records:
            columns = _record_columns(session, ref)
            tables.records[name] = pd.DataFrame(columns=columns, dtype=STRING)
    tables.xref_values = xref_values(tables.xref, config)
    tables.fact_values = _fact_values(tables.facts, config)
    tables.record_values = {s: _record_values(s, f, config) for s, f in tables.records.items()}
    xref_frame = tables.xref
    is_record = (xref_frame["identity_kind"] == "record").fillna(False).to_numpy(dtype=bool)
    tables.person_of_record = dict(
        zip(
            (
                xref_frame.loc[is_record, "source"]
                + ":"
                + xref_frame.loc[is_record, "source_record_id"]
            ),
            xref_frame.loc[is_record, "customer_id"],
            strict=True,
        )
    )


def _shared_by_staged_records(tables: IdentityTables) -> Identifiers:
    """Values the staged customer records of two or more people carry: shared even when the
    last identity run has not seen one of the records yet (it arrived since)."""
    pairs = []
    for source, frame in tables.records.items():
        record = source + ":" + frame["record_id"].astype(str)
        people = record.map(tables.person_of)
        for kind, series in tables.record_values[source]:
            if kind in ("email", "phone", "loyalty_id"):
                person = people.reindex(series.index).to_numpy()
                pairs.append(pd.DataFrame({"kind": kind, "value": series, "person": person}))
    shared = Identifiers()
    if not pairs:
        return shared
    carried = pd.concat(pairs, ignore_index=True).dropna().drop_duplicates()
    counts = carried.groupby(["kind", "value"])["person"].nunique()
    for (kind, value), n in counts.items():
        if n > 1:
            shared.add(str(kind), [value])
    return shared


def _people_named(seeds: Identifiers, tables: IdentityTables) -> dict[str, set[str]]:
    """The people `seeds` name, each with the staged customer records of theirs it named."""
    alias_of = dict(zip(tables.aliases["alias_id"], tables.aliases["customer_id"], strict=True))
    people: dict[str, set[str]] = {alias_of.get(c, c): set() for c in seeds.values["customer_id"]}
    records = set(seeds.values["record"])
    for source, frame in tables.records.items():
        hit = matches(tables.record_values[source], seeds, frame.index)
        records |= set(source + ":" + frame.loc[hit, "record_id"].astype(str))
    probe = Identifiers()
    probe.update(seeds)
    probe.add("record", records)
    xref_hit = matches(tables.xref_values, probe, tables.xref.index)
    fact_hit = matches(tables.fact_values, probe, tables.facts.index)
    for customer in (
        *tables.xref.loc[xref_hit, "customer_id"],
        *tables.facts.loc[fact_hit, "customer_id"],
    ):
        if customer is not None and not pd.isna(customer):
            people.setdefault(str(customer), set())
    for record in records:
        person = tables.person_of(record)
        if person is not None:
            people.setdefault(person, set()).add(record)
    return people


@dataclass
class Identification:
    """Who a request names: one person (with the staged records it named), or ambiguous."""

    people: dict[str, set[str]]
    matched: int

    @property
    def ambiguous(self) -> bool:
        return len(self.people) > 1


def identify(seeds: Identifiers, tables: IdentityTables) -> Identification:
    """Each kind of identifier a request gives names a set of people; the request names the
    one person every kind agrees on. A shared identifier alone (a household phone, a family
    inbox) names all who hold it: then, or when the kinds disagree, it is ambiguous."""
    by_kind = []
    for kind in KINDS:
        if seeds.values[kind]:
            only = Identifiers()
            only.add(kind, seeds.values[kind])
            if named := _people_named(only, tables):
                by_kind.append(named)
    everyone: dict[str, set[str]] = {}
    for named in by_kind:
        for person, records in named.items():
            everyone.setdefault(person, set()).update(records)
    if len(everyone) <= 1:
        return Identification(everyone, len(everyone))
    common = set.intersection(*(set(named) for named in by_kind))
    if len(common) == 1:
        return Identification({p: everyone[p] for p in common}, len(everyone))
    return Identification(everyone, len(everyone))


def resolution_hint(seeds: Identifiers, matched: int) -> str:
    """What an operator adds to an ambiguous request (names kinds, never values)."""
    given = [k for k in ("email", "phone", "customer_id", "record") if seeds.values[k]]
    names = {"email": "email", "phone": "phone", "customer_id": "customer_id", "record": "record"}
    return (
        f"the request's {' and '.join(names[k] for k in given) or 'identifiers'} match "
        f"{matched} people (a shared or conflicting identifier): add the customer's "
        "customer_id, or an email, phone or source record id of their own"
    )


def resolve(
    session: WarehouseSession,
    config: CDPConfig,
    request: ErasureRequest,
    tables: IdentityTables,
) -> Subject:
    """The customer a request names and every identifier of theirs; nobody when it names
    more than one person (an ambiguous request: see `identify`)."""
    return resolve_all(session, config, [request], tables)[0]


def resolve_all(
    session: WarehouseSession,
    config: CDPConfig,
    requests: list[ErasureRequest],
    tables: IdentityTables,
) -> list[Subject]:
    """`resolve` for every request; the staged facts are searched once for all of them."""
    whos = [identify(r.seeds, tables) for r in requests]
    if tables.partial:
        _extend_for(session, config, tables, requests, whos)
    subjects = [
        _resolve_in_core(session, config, r, who, tables)
        for r, who in zip(requests, whos, strict=True)
    ]
    erasing = [s for s in subjects if not s.ambiguous]
    _add_facts(session, erasing)
    _add_staged_facts(session, config, erasing)
    for subject in erasing:
        _add_ad_hashes(subject.identifiers)
    return subjects


def _extend_for(
    session: WarehouseSession,
    config: CDPConfig,
    tables: IdentityTables,
    requests: list[ErasureRequest],
    whos: list[Identification],
) -> None:
    """Read what resolving the identified people needs into partial tables: the identity
    rows of their customer ids, the staged records those name, and every staged record (with
    its person) holding one of their emails, phones or loyalty ids — to tell which of those
    other people share."""
    named = [(r, w) for r, w in zip(requests, whos, strict=True) if not w.ambiguous]
    customers = {p for _, w in named for p in w.people if not p.startswith(UNRESOLVED)}
    _extend(tables, session, config, **_rows_of_customers(session, customers))
    gathered = [_gather(r, w, tables) for r, w in named]
    records = set().union(*(found.values["record"] for found, _ in gathered))
    _extend(tables, session, config, records=_records_named(session, config, records))
    values = Identifiers()
    for request, who in named:
        found, _ = _gather(request, who, tables)
        for kind in ("email", "phone", "loyalty_id"):
            values.add(kind, found.values[kind])
    holding = _records_holding(session, config, values)
    carrying = Identifiers()
    for source, frame in holding.items():
        carrying.add("record", source + ":" + frame["record_id"].astype(STRING))
    rows = _identity_rows_holding(session, carrying) if len(carrying) else {}
    _extend(tables, session, config, records=holding, xref=rows.get("xref"))
    tables.shared = Identifiers()
    tables.shared.update(tables.core_shared)
    tables.shared.update(_shared_by_staged_records(tables))


def _gather(
    request: ErasureRequest, who: Identification, tables: IdentityTables
) -> tuple[Identifiers, set[str]]:
    """The identifiers the identity tables give the person `who` names, and their customer
    ids (shared identifiers not removed yet)."""
    customers = {p for p in who.people if not p.startswith(UNRESOLVED)}
    found = Identifiers()
    found.update(request.seeds)
    for records in who.people.values():
        found.add("record", records)
    xref_ids, fact_ids = tables.xref_values, tables.fact_values
    found.add("customer_id", customers)
    former = former_ids(customers, tables.aliases, tables.merges)
    found.add("customer_id", former)  # a snapshot or ledger row may predate a merge
    _add_rows(found, xref_ids, tables.xref["customer_id"].isin(customers).to_numpy())
    _add_rows(found, fact_ids, tables.facts["customer_id"].isin(customers).to_numpy())
    for source, frame in tables.records.items():
        mine = (source + ":" + frame["record_id"].astype(str)).isin(found.values["record"])
        _add_rows(found, tables.record_values[source], mine.to_numpy())
    return found, customers


def _resolve_in_core(
    session: WarehouseSession,
    config: CDPConfig,
    request: ErasureRequest,
    who: Identification,
    tables: IdentityTables,
) -> Subject:
    """The person a request names, with the identifiers the identity tables and the core
    facts give (the staged facts and ad hashes are added by `resolve_all`)."""
    if who.ambiguous:
        hint = resolution_hint(request.seeds, who.matched)
        return Subject(request, set(), Identifiers(), people_matched=who.matched, hint=hint)
    found, customers = _gather(request, who, tables)
    # Before facts are gathered by identifier: another person's order with the household
    # phone is not the requester's.
    kept = _discard_shared(found, tables.shared)
    # Their facts in core are added by `_add_facts`, for every subject at once.
    return Subject(request, customers, found, kept, people_matched=who.matched)


def former_ids(customers: set[str], aliases: pd.DataFrame, merges: pd.DataFrame) -> set[str]:
    """Every id these customers had: aliases and ids absorbed by merges, transitively."""
    olds = [aliases["alias_id"]]
    news = [aliases["customer_id"]]
    if len(merges):
        merged = merges[merges["event"] == "merge"]
        olds.append(merged["other_customer_id"])
        news.append(merged["customer_id"])
    links = pd.DataFrame({"old": pd.concat(olds), "new": pd.concat(news)}).dropna()
    absorbed = links.groupby("new")["old"].agg(set).to_dict() if len(links) else {}
    ids, frontier = set(customers), set(customers)
    while frontier:
        frontier = {str(o) for c in frontier for o in absorbed.get(c, ())} - ids
        ids |= frontier
    return ids - customers


def _discard_shared(found: Identifiers, shared: Identifiers) -> int:
    """Leave out identifiers other people share, even when the request names them: they are
    not the requester's to erase. An address is shared when its matching key is
    (`the.smiths@gmail.com` ~ `thesmiths@gmail.com`)."""
    kept = 0
    for kind in ("email", "phone", "loyalty_id"):
        forms = _email_forms if kind == "email" else (lambda values: {v: {v} for v in values})
        doomed = {
            value
            for value, variants in forms(found.values[kind]).items()
            if variants & shared.values[kind]
        }
        kept += len(doomed)
        found.discard(kind, doomed)
    return kept


def _email_forms(values: set[str]) -> dict[str, set[str]]:
    """Each address with its matching key."""
    ordered = sorted(values)
    keys = normalise_emails(pd.Series(ordered, dtype=STRING)).key
    return {
        v: {v} | ({str(k)} if pd.notna(k) else set()) for v, k in zip(ordered, keys, strict=True)
    }


def _record_values(source: str, frame: pd.DataFrame, config: CDPConfig) -> list:
    return source_field_values(frame, config.source(source), config, staged_columns(frame.columns))


def _fact_values(facts: pd.DataFrame, config: CDPConfig) -> list:
    ref_source = (
        facts["source"]
        .map({s.name: s.customer_ref_source for s in config.sources if s.customer_ref_source})
        .astype(STRING)
    )
    values = named_values(facts.drop(columns=["source", "customer_ref"]))
    values.append(
        ("record", (ref_source + ":" + facts["customer_ref"].astype(STRING)).astype(STRING))
    )
    return values


def _add_rows(found: Identifiers, values: list, rows: np.ndarray) -> None:
    for kind, series in values:
        if kind == "customer_id":
            continue  # customer ids come from resolution, not from neighbouring rows
        picked = series[_per_row_index(series, rows)]
        found.add(kind, picked.dropna().tolist())


def _per_row_index(series: pd.Series, rows: np.ndarray) -> np.ndarray:
    positions = np.flatnonzero(rows)
    return series.index.isin(positions)


def _add_facts(session: WarehouseSession, subjects: list[Subject]) -> None:
    """Each person's facts in core (orders, events, ...), by their customer ids, as records
    of their sources: one join per fact table for every subject at once. The ids are joined
    from a keys table: values never go into the SQL text. (After `_discard_shared`: another
    person's order with the household phone is not the requester's.)"""
    customers = set().union(*(s.customer_ids for s in subjects)) if subjects else set()
    if not customers:
        return
    session.replace_table(KEYS, pd.DataFrame({"customer_id": sorted(customers)}, dtype=STRING))
    for table, id_column in FACT_TABLES.items():
        ref = TableRef("core", table)
        if not session.table_exists(ref):
            continue
        frame = session.query(
            f"SELECT t.customer_id, t.source, t.{quote_ident(id_column)} AS fact_id "
            f"FROM {ref.sql} AS t JOIN {KEYS.sql} AS k ON k.customer_id = t.customer_id"
        )
        owner = frame["customer_id"].astype(str)
        record = frame["source"].astype(str) + ":" + frame["fact_id"].astype(str)
        for subject in subjects:
            mine = owner.isin(subject.customer_ids).to_numpy(bool)
            if not mine.any():
                continue
            subject.identifiers.add("record", record[mine])
            if table == "orders":
                subject.identifiers.add("order", frame.loc[mine, "fact_id"])


def _staged_facts(
    session: WarehouseSession, config: CDPConfig, wanted: Identifiers
) -> Iterator[tuple[SourceConfig, pd.DataFrame, Values]]:
    """The identifier columns and values of the staged facts that may hold one of `wanted`
    (selected in the warehouse: a superset, see `candidates`)."""
    rows = CandidateFilter(wanted, session.dialect)
    if rows.empty:
        return
    for source in config.sources:
        ref = TableRef("staging", source.name)
        if source.kind not in FACT_TABLES or not session.table_exists(ref):
            continue
        present = set(session.columns(ref))
        columns = ["record_id", "email", "email_key", "phone", "loyalty_id", "customer_ref"]
        columns += ["anonymous_id", FACT_TABLES[source.kind]]
        columns = [c for c in dict.fromkeys(columns) if c in present]
        frame = session.read_table(
            ref,
            columns=columns,
            dtypes=dict.fromkeys(columns, STRING),
            where=rows.where(columns, ["phone"]),
            params=rows.params_for(rows.where(columns, ["phone"])),
        )
        if len(frame):
            values = source_field_values(frame, source, config, staged_columns(frame.columns))
            yield source, frame, values


def _add_staged_facts(
    session: WarehouseSession, config: CDPConfig, subjects: list[Subject]
) -> None:
    """Facts staged with one of each person's identifiers, and what they reveal: the order
    ids their items hang on, and the cookie ids their logins stitched — known even before (or
    without) a core build. One search for every subject at once."""
    union = Identifiers()
    for subject in subjects:
        union.update(subject.identifiers)
    for source, frame, values in _staged_facts(session, config, union):
        for subject in subjects:
            found = subject.identifiers
            mine = matches(values, found, frame.index)
            if not mine.any():
                continue
            found.add("record", (source.name + ":" + frame.loc[mine, "record_id"].astype(str)))
            if source.kind == "orders":
                found.add("order", frame.loc[mine, "order_id"])
            if "anonymous_id" in frame.columns:
                found.add("anonymous_id", frame.loc[mine, "anonymous_id"])


def _add_ad_hashes(found: Identifiers) -> None:
    """The unsalted hashes ad-platform exports carry, so exports can be checked too."""
    found.add("email_sha256", (hash_email(e) for e in sorted(found.values["email"])))
    found.add("phone_sha256", (hash_phone(p) for p in sorted(found.values["phone"])))


# --------------------------------------------------------------------------- deletion


def delete_rows(session: WarehouseSession, ref: TableRef, keys: pd.DataFrame) -> int:
    """Delete the rows of `ref` whose key columns equal a row of `keys` (nulls equal)."""
    keys = keys.drop_duplicates()
    if keys.empty:
        return 0
    before = session.row_count(ref)
    session.replace_table(KEYS, keys.reset_index(drop=True))
    # A key column with no value at all is stored untyped: compare it by nullness only.
    condition = " AND ".join(
        f"t.{quote_ident(c)} IS NULL"
        if keys[c].isna().all()
        else f"k.{quote_ident(c)} IS NOT DISTINCT FROM t.{quote_ident(c)}"
        for c in keys.columns
    )
    session.conn.execute(
        sa.text(
            f"DELETE FROM {ref.sql} AS t WHERE EXISTS "
            f"(SELECT 1 FROM {KEYS.sql} AS k WHERE {condition})"
        )
    )
    deleted = before - session.row_count(ref)
    if deleted:
        session.mark_changed(ref, deletions_only=True)
    return deleted


@dataclass
class CandidatesLeft:
    """What the deletion's search left, per table: the candidate rows it read (those that may
    hold an identifier of the people erased or of a processed request) less the rows it
    deleted — None for a table with no identifier column — and every table's version when the
    search began. A table whose version is still that one (no other transaction wrote it)
    holds, of the rows the trace check's search for the people just erased would select, only
    these: that search is a subset of the deletion's (`CandidateFilter` of fewer values)."""

    tables: dict[str, TableValues | None] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def erase_subjects(
    session: WarehouseSession,
    config: CDPConfig,
    subjects: list[Subject],
    processed: Identifiers,
    left: CandidatesLeft | None = None,
) -> dict[str, int]:
    """Delete every row holding an identifier of a subject (or naming a processed request)
    from every table; per subject, the rows each table lost. Returns rows deleted per table.
    With `left`, records there the candidate rows each table kept (see `CandidatesLeft`)."""
    union = Identifiers()
    union.update(processed)
    for subject in subjects:
        union.update(subject.identifiers)
    deleted: dict[str, int] = {}
    owners = owners_of(subjects)
    if len(union):
        # Only the rows that may hold one of their identifiers are read (selected in the
        # warehouse); the readers decide on those.
        rows = CandidateFilter(union, session.dialect)
        refs = personal_tables(session)
        if left is not None:
            left.versions = read_versions(session, [table_name(r) for r in refs])
        for ref in refs:
            table = table_values(session, config, ref, rows)
            if left is not None:
                left.tables[str(ref)] = table
            if table is None or not len(table.keys):
                continue
            doomed = matches(table.values, union, table.index)
            if not doomed.any():
                continue
            _attribute(table, subjects, doomed, owners)
            deleted[str(table.ref)] = delete_rows(session, table.ref, table.keys[doomed])
            if left is not None:
                left.tables[str(ref)] = table.subset(~doomed)
    if session.table_exists(KEYS):
        session.conn.execute(sa.text(f"DROP TABLE {KEYS.sql}"))
    return deleted


def _attribute(
    table: TableValues,
    subjects: list[Subject],
    doomed: np.ndarray,
    owners: dict[str, dict[str, list[int]]] | None = None,
) -> None:
    """Each subject's share of the rows deleted (matched on those rows only). `owners`
    (`owners_of(subjects)`) names, per kind and value, the subjects holding it."""
    owners = owners_of(subjects) if owners is None else owners
    gone = table.subset(doomed)
    theirs = np.zeros((len(subjects), len(gone.index)), dtype=bool)
    for kind, series in gone.values:
        held = owners.get(kind)
        if not held or series.empty:
            continue
        rows = gone.index.get_indexer(series.index)
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        for code, value in enumerate(uniques):
            if isinstance(value, str) and value in held:
                theirs[np.ix_(held[value], rows[codes == code])] = True
    for subject, rows in zip(subjects, theirs.sum(axis=1).tolist(), strict=True):
        if rows:
            subject.rows[str(table.ref)] = rows


def owners_of(subjects: list[Subject]) -> dict[str, dict[str, list[int]]]:
    """Per identifier kind and value, the positions in `subjects` of those holding it."""
    owners: dict[str, dict[str, list[int]]] = {}
    for position, subject in enumerate(subjects):
        for kind, values in subject.identifiers.values.items():
            for value in values:
                owners.setdefault(kind, {}).setdefault(value, []).append(position)
    return owners


# --------------------------------------------------------------------------- bookkeeping


def suppression_rows(subjects: list[Subject], salt: bytes, added_at: pd.Timestamp) -> pd.DataFrame:
    parts = []
    for subject in subjects:
        hashed = subject.identifiers.hashes(salt)
        hashed["request_id"] = subject.request.request_id
        parts.append(hashed)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame = frame.assign(added_at=added_at, salt_fingerprint=salt_fingerprint(salt))
    return coerce_frame(frame, SUPPRESSION_DTYPES)


def append_suppression(session: WarehouseSession, rows: pd.DataFrame) -> int:
    """Add hashes not listed yet; returns how many were new."""
    if session.table_exists(SUPPRESSION):
        known = set(
            session.query(f"SELECT identifier_hash FROM {SUPPRESSION.sql}")["identifier_hash"]
        )
        rows = rows[~rows["identifier_hash"].isin(known)]
    rows = rows.drop_duplicates("identifier_hash")
    session.append(SUPPRESSION, coerce_frame(rows, SUPPRESSION_DTYPES))
    return len(rows)


def log_rows(
    subjects: list[Subject],
    salt: bytes,
    completed_at: pd.Timestamp,
    run_id: str,
    export_rows: dict[str, int],
) -> pd.DataFrame:
    rows = []
    for subject in subjects:
        hashes = subject.identifiers.hashes(salt)["identifier_hash"].tolist()
        rows.append(
            {
                "request_id": subject.request.request_id,
                "request_source": subject.request.source,
                "identifier_hashes": json.dumps(hashes),
                "identifiers": len(hashes),
                "customers_erased": len(subject.customer_ids),
                "requested_at": subject.request.requested_at,
                "completed_at": completed_at,
                "status": subject.status,
                "rows_deleted": sum(subject.rows.values()),
                "tables_touched": json.dumps(dict(sorted(subject.rows.items()))),
                "export_rows_removed": export_rows.get(subject.request.request_id, 0),
                "run_id": run_id,
                "people_matched": subject.people_matched,
                "resolution_hint": subject.hint,
            }
        )
    return coerce_frame(pd.DataFrame(rows), ERASURE_LOG_DTYPES)


def now_utc() -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.now(dt.UTC)).floor("us")


# --------------------------------------------------------------------------- one pass


@dataclass
class ErasurePass:
    """What one pass over the pending requests did."""

    requests: list[ErasureRequest]
    held: list[ErasureRequest]  # left pending: identity has not run yet
    subjects: list[Subject]
    deleted: dict[str, int]
    added: int
    exported: dict[str, int]
    log: pd.DataFrame
    left: CandidatesLeft = field(default_factory=CandidatesLeft)

    @property
    def erasing(self) -> list[Subject]:
        return [s for s in self.subjects if not s.ambiguous]


# Rows to remove from files outside the warehouse (export files, training snapshots), per
# request id: called inside the warehouse transaction, to count them for the log. The asset
# rewrites the files after the commit (a crash before the commit leaves the requests pending
# and the files untouched; one after it leaves rows its next run removes by their hashes).
FileScrubber = Callable[[list[Subject]], dict[str, int]]


def erase_pending(
    session: WarehouseSession,
    config: CDPConfig,
    salt: bytes,
    run_id: str,
    scrub_files: FileScrubber,
) -> ErasurePass:
    """Process the pending requests in `session` (one transaction: all or nothing). Requests
    wait while identity has never run (nobody can tell who shares a household phone); an
    ambiguous request erases nobody, is logged, and stays pending until amended."""
    requests = pending_requests(session, config)
    held: list[ErasureRequest] = []
    if requests and not identity_built(session):
        requests, held = [], requests
    identity = read_identity_tables(session, config, requests) if requests else None
    subjects = resolve_all(session, config, requests, identity) if identity else []
    erasing = [s for s in subjects if not s.ambiguous]
    processed = Identifiers()
    processed.add("record", (f"{s.request.source}:{s.request.request_id}" for s in erasing))
    left = CandidatesLeft()
    deleted = erase_subjects(session, config, erasing, processed, left)
    added = append_suppression(session, suppression_rows(erasing, salt, now_utc()))
    exported = scrub_files(erasing)
    log = log_rows(subjects, salt, now_utc(), run_id, exported)
    session.append(ERASURE_LOG, coerce_frame(log, ERASURE_LOG_DTYPES))
    return ErasurePass(requests, held, subjects, deleted, added, exported, log, left)
