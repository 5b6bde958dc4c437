"""The vertices of the identity graph and the identifiers each carries.

Customer-source records are nodes 0..n-1 (their `node` in the identity records). Fact sources
(orders, events, surveys, tickets) add one node per distinct *identity* they mention:

- `ref`:  a customer reference (`customer_ref`). With `customer_ref_source` the reference is
          that customer source's record id, so the fact joins the record's node itself; a
          reference to a record that does not exist (or without a reference source) is a node
          of its own, keyed by the reference value;
- `ids`:  a fact row with no reference but identifiers (email key, phone, loyalty id);
- `anon`: an anonymous (cookie) id of an events source. An event that carries both an
          anonymous id and a reference or identifiers links the two (a login or identify).

Facts are summarised before they get here: `combos` holds each source's distinct
(customer_ref, email_key, phone, loyalty_id, anonymous_id) combinations, so that millions of
events become a few hundred thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdp_assets.config import CDPConfig
from cdp_assets.identity.key_join import distinct_sorted, first_positions
from cdp_assets.warehouse import coerce_frame

FACT_KEY_COLUMNS: tuple[str, ...] = (
    "customer_ref",
    "email_key",
    "phone",
    "loyalty_id",
    "anonymous_id",
)
IDENTIFIER_TYPES: tuple[str, ...] = ("email_key", "phone", "loyalty_id")

NODE_DTYPES: dict[str, str] = {
    "node": "int64",
    "kind": "string",  # record | ref | ids | anon
    "source": "string",  # customer source (record, ref with a reference source) or fact source
    "source_record_id": "string",  # record id, reference value, identifier set or anonymous id
}
OCCURRENCE_DTYPES: dict[str, str] = {"node": "int64", "type": "string", "value": "string"}
LINK_DTYPES: dict[str, str] = {"left": "int64", "right": "int64", "rule": "string"}
COMBO_DTYPES: dict[str, str] = {"source": "string"} | {c: "string" for c in FACT_KEY_COLUMNS}


@dataclass
class GraphNodes:
    """All vertices, the identifiers they carry, fact-side links, and each combo's node."""

    nodes: pd.DataFrame  # NODE_DTYPES, node = row position
    occurrences: pd.DataFrame  # OCCURRENCE_DTYPES: node carries identifier (type, value)
    links: pd.DataFrame  # LINK_DTYPES: anonymous id seen with a known identity
    combo_nodes: pd.DataFrame  # COMBO_DTYPES + node (Int64, null for a fully anonymous combo)


def empty(dtypes: dict[str, str]) -> pd.DataFrame:
    return coerce_frame(pd.DataFrame(), dtypes)


def identifier_set_key(combos: pd.DataFrame) -> pd.Series:
    """A readable key of an identifier set: `email:a@x.com|phone:+44…|loyalty:L1`."""
    key = pd.Series("", index=combos.index, dtype="string")
    for column, label in (("email_key", "email"), ("phone", "phone"), ("loyalty_id", "loyalty")):
        value = combos[column]
        part = (label + ":" + value).fillna("")
        key = key.str.cat(part, sep="|")
    return key.str.replace(r"\|+", "|", regex=True).str.strip("|")


def _record_nodes(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    nodes = pd.DataFrame(
        {
            "node": records["node"].to_numpy(dtype="int64"),
            "kind": "record",
            "source": records["source"].to_numpy(),
            "source_record_id": records["record_id"].to_numpy(),
        }
    )
    occurrences = [
        pd.DataFrame({"node": records["node"], "type": column, "value": records[column]})
        for column in IDENTIFIER_TYPES
    ]
    occ = pd.concat(occurrences, ignore_index=True)
    return nodes, occ[occ["value"].notna()]


def _primary_keys(combos: pd.DataFrame, config: CDPConfig) -> pd.DataFrame:
    """Per combo: the kind, source and source_record_id of the node it belongs to."""
    ref_source = combos["source"].map(
        {s.name: s.customer_ref_source or s.name for s in config.sources}
    )
    has_ref = combos["customer_ref"].notna()
    has_ids = combos[list(IDENTIFIER_TYPES)].notna().any(axis=1)
    has_anon = combos["anonymous_id"].notna()
    kind = np.select([has_ref, has_ids, has_anon], ["ref", "ids", "anon"], default="")
    source = np.where(has_ref, ref_source, combos["source"])
    # The identifier set's key only where it is the node's key (a fraction of the combos).
    by_ids = (~has_ref & has_ids).to_numpy(dtype=bool)
    ids_key = combos["anonymous_id"].to_numpy(dtype=object).copy()
    ids_key[by_ids] = identifier_set_key(combos[by_ids]).to_numpy(dtype=object)
    record_id = np.where(has_ref, combos["customer_ref"], ids_key)
    return pd.DataFrame(
        {"kind": kind, "source": source, "source_record_id": record_id}, index=combos.index
    ).astype("string")


def graph_nodes(records: pd.DataFrame, combos: pd.DataFrame, config: CDPConfig) -> GraphNodes:
    """Builds the node table from customer records and the fact sources' identity combos."""
    record_nodes, record_occ = _record_nodes(records)
    combos = combos.astype(COMBO_DTYPES).reset_index(drop=True)
    primary = _primary_keys(combos, config)

    # A reference to an existing customer record is that record's node.
    record = first_positions(primary, record_nodes, ["source", "source_record_id"])
    referenced = np.full(len(combos), np.nan)
    found = record >= 0  # none at all when there is no customer record (an orders-only brand)
    referenced[found] = record_nodes["node"].to_numpy(dtype=np.float64)[record[found]]
    existing = pd.Series(referenced, index=combos.index).where(primary["kind"] == "ref")

    key = ["kind", "source", "source_record_id"]
    new_keys = distinct_sorted(primary[existing.isna() & (primary["kind"] != "")], key)
    first_new = len(record_nodes)
    new_keys.insert(0, "node", np.arange(first_new, first_new + len(new_keys)))
    nodes = pd.concat([record_nodes, new_keys], ignore_index=True).astype(NODE_DTYPES)

    keyed = first_positions(primary, new_keys, key)
    keyed_node = np.where(keyed >= 0, first_new + keyed, np.nan)
    node = existing.fillna(pd.Series(keyed_node, index=combos.index))
    combo_nodes = combos.assign(node=node.astype("Int64"))

    known = combo_nodes[combo_nodes["node"].notna()]
    fact_occ = pd.concat(
        [
            pd.DataFrame({"node": known["node"], "type": column, "value": known[column]})
            for column in IDENTIFIER_TYPES
        ],
        ignore_index=True,
    )
    fact_occ = fact_occ[fact_occ["value"].notna()]
    occurrences = (
        pd.concat([record_occ, fact_occ], ignore_index=True)
        .astype(OCCURRENCE_DTYPES)
        .drop_duplicates(ignore_index=True)
    )
    links = _anonymous_links(combo_nodes, new_keys)
    return GraphNodes(nodes, occurrences, links, combo_nodes)


def _anonymous_links(combo_nodes: pd.DataFrame, new_keys: pd.DataFrame) -> pd.DataFrame:
    """An anonymous id seen together with a known identity: anon node — identity node."""
    anon_keys = new_keys[new_keys["kind"] == "anon"]
    seen = combo_nodes[combo_nodes["anonymous_id"].notna() & combo_nodes["node"].notna()]
    seen = seen.merge(
        anon_keys.rename(columns={"node": "anon_node", "source_record_id": "anonymous_id"})[
            ["source", "anonymous_id", "anon_node"]
        ],
        on=["source", "anonymous_id"],
        how="inner",
    )
    seen = seen[seen["anon_node"] != seen["node"]]
    links = pd.DataFrame(
        {"left": seen["anon_node"], "right": seen["node"].astype("int64"), "rule": "login"}
    )
    return links.drop_duplicates(ignore_index=True).astype(LINK_DTYPES)
