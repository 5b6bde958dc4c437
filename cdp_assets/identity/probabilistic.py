"""Probabilistic record linkage of customer records (Fellegi–Sunter with EM, Splink-style).

    result = probabilistic_links(records)        # records: the identity records (records.py)
    result.edges        # linked record pairs with weight, probability, rule and levels
    result.parameters   # m, u and weight of every comparison level, for the UI
    result.stats        # counts: records, candidate pairs, pairs by rule, EM iterations, ...

Steps: normalise and code the matching fields (`comparisons.prepare_features`); find candidate
pairs with blocking rules (`blocking`); estimate u on random pairs and m, λ by EM on the
candidates (`fellegi_sunter`); keep the pairs whose match probability reaches the threshold.
Works on names, addresses and birth dates alone: emails and phones are optional evidence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cdp_assets.identity import term_frequency
from cdp_assets.identity.blocking import (
    BLOCKING_RULES,
    DEFAULT_BLOCKING_RULES,
    CandidatePairs,
    blocks_changing_skip,
    blocks_near_limit,
    candidate_pairs,
    candidate_pairs_touching,
)
from cdp_assets.identity.comparisons import (
    FIELDS,
    LEVELS,
    MatchFeatures,
    PairLevels,
    compare_pairs,
    describe_levels,
    features_of_rows,
    prepare_features,
)
from cdp_assets.identity.fellegi_sunter import (
    PATTERN_BATCH_PAIRS,
    FellegiSunterModel,
    Patterns,
    TrainingSession,
    estimate_u,
    fit_model,
    fit_model_from_labels,
    match_probability,
    pattern_code_lookup,
    pattern_codes,
    random_pairs,
)
from cdp_assets.identity.match_parameters import MatchParameters, NameShares
from cdp_assets.identity.memory import release_memory

EDGE_COLUMNS = {
    "left_node": "int64",
    "right_node": "int64",
    "weight": "float64",
    "probability": "float64",
    "rule": "str",
    "levels": "str",
    "fields": "str",
    "name_frequency": "float64",
}
PARAMETER_COLUMNS = {
    "field": "str",
    "level": "str",
    "m": "float64",
    "u": "float64",
    "weight": "float64",
}


@dataclass(frozen=True)
class ProbabilisticSettings:
    """How records are matched; the defaults suit customer records of a few million rows.

    threshold: match probability from which a pair is linked. 0.98 (a weight of about 5.6
        bits) is the lowest of 0.9/0.95/0.98/0.99 that kept precision >= 0.998 on the clusters
        of all six identifier-poor bench populations (dedupe and link, 5,000 to 1,000,000
        records); 0.95 gains 1-2 points of recall but fell to 0.994-0.996 at 5,000 records
        (README, issue #13).
    max_block_size: blocks with more records are skipped (counted in stats) instead of
        compared; 500 records is 125k pairs, and larger blocks are common-name groups.
    u_sample_pairs: random pairs for u; 200k gives u down to ~1e-5 (a shared birth date).
    em_max_iterations, em_tolerance: EM stops when no parameter moves more than the tolerance.
    seed: the random pairs for u; the result is deterministic for a seed.
    blocking_rules: names from `blocking.BLOCKING_RULES`, credited in this order.
    correlated_fields: groups of fields describing one fact (the address), most specific first:
        each group adds one weight instead of the sum, so a shared home does not link a
        household: that of its most specific field present on both sides when it disagrees (a
        shared postal code does not outweigh different streets), else its strongest agreeing
        field's (street names recur in every town; postal codes get rarer as the file grows).
        A pair that shares a home gets no bonus for a rare shared surname (households).
    term_frequency: exact agreement on a first or last name weighs by how rare the name is
        in the records (`term_frequency`): a shared rare surname is strong evidence, a shared
        "Smith" weak.
    batch_pairs: candidate pairs grouped into comparison patterns (EM) and scored at once. A
        million customer records make tens of millions of pairs: keying, grouping and scoring
        them all at once cost GBs (README, "Memory of identity resolution"); the result does
        not depend on it.
    """

    threshold: float = 0.98
    max_block_size: int = 500
    u_sample_pairs: int = 200_000
    em_max_iterations: int = 50
    em_tolerance: float = 1e-4
    seed: int = 42
    blocking_rules: tuple[str, ...] = DEFAULT_BLOCKING_RULES
    correlated_fields: tuple[tuple[str, ...], ...] = (("street", "postal_code", "city"),)
    term_frequency: bool = True
    batch_pairs: int = PATTERN_BATCH_PAIRS


@dataclass
class ProbabilisticResult:
    """Links, model parameters and run statistics of `probabilistic_links`.

    edges: left_node < right_node (int64, records.node), weight (float64, bits), probability,
        rule (first blocking rule that found the pair), levels ("first_name=nickname;
        last_name=exact; ..." for the non-null fields), fields (those fields, comma list) and
        name_frequency (bits of the weight owed to how rare the shared names are; 0 when no
        name agrees exactly).
    parameters: field, level, m, u, weight (log2 m/u; 0 for "null").
    stats: records, candidate_pairs, pairs_by_rule (rule -> pairs credited to it),
        blocks_skipped, blocks_skipped_by_rule, u_sample_pairs, em_iterations (the longest
        EM session), em_converged (1 when every session converged), lambda (prior that two
        random records match), expected_matches (lambda x all pairs), links.
    """

    edges: pd.DataFrame
    parameters: pd.DataFrame
    stats: dict[str, float | int | dict[str, int]] = field(default_factory=dict)
    learnt: MatchParameters | None = None  # what a later run may score with (frozen)
    # Incremental (`frozen_links` with `touched`): the records whose pairs were found and
    # scored — those asked for, and every present record of a block whose size limit may
    # have been crossed (their previous links no longer hold).
    touched: np.ndarray | None = None


@dataclass(frozen=True)
class KnownMatches:
    """Record pairs already known to be one person (linked by a shared email, phone or loyalty
    id), to learn m from: `left`, `right` are record nodes, `identifier` the field that linked
    each pair (that field learns nothing from it)."""

    left: np.ndarray
    right: np.ndarray
    identifier: np.ndarray

    def __len__(self) -> int:
        return len(self.left)


EXACT_LEVEL = 1  # "exact" is level 1 of every name field, the closest level of every field
NULL_LEVEL = 0
MIN_KNOWN_MATCHES = 200  # fewer than this: learn m by EM instead


def probabilistic_links(
    records: pd.DataFrame,
    settings: ProbabilisticSettings = ProbabilisticSettings(),  # noqa: B008 - frozen
    known: KnownMatches | None = None,
) -> ProbabilisticResult:
    """Link the identity records that are probably the same person.

    `records` has the columns of `records.py` (node, first_name, last_name, birth_date,
    street, city, postal_code, country, email_key, phone); any of them may be all-null or
    absent. Only pairs with probability >= `settings.threshold` are returned as edges.
    """
    correlated = _field_groups(settings.correlated_fields)
    stats: dict[str, float | int | dict[str, int]] = {"records": len(records)}
    if len(records) < 2:
        return _empty_result(stats, settings)
    features = prepare_features(records.reset_index(drop=True))
    pairs = candidate_pairs(features, settings.blocking_rules, settings.max_block_size)
    stats.update(_blocking_stats(pairs))
    if len(pairs) == 0:
        return _empty_result(stats, settings)
    release_memory()  # blocking's per-rule pair codes

    u_left, u_right = random_pairs(features.size, settings.u_sample_pairs, settings.seed)
    u = estimate_u(compare_pairs(features, u_left, u_right).levels, _level_counts())
    compared = compare_pairs(features, pairs.left, pairs.right)
    release_memory()  # the comparison chunks' temporaries
    common = {
        "fields": FIELDS,
        "level_names": tuple(LEVELS[name] for name in FIELDS),
        "total_pairs": features.size * (features.size - 1) // 2,
        "correlated": correlated,
        "max_iterations": settings.em_max_iterations,
        "tolerance": settings.em_tolerance,
        "batch_pairs": settings.batch_pairs,
    }
    shares = _name_shares(features) if settings.term_frequency else None
    offsets = _name_frequency_offsets(features, pairs, u, shares, settings.batch_pairs)
    offsets = _household_offsets(offsets, compared.levels, correlated)
    common["offsets"] = offsets
    if known is not None and len(known) >= MIN_KNOWN_MATCHES:
        labelled, excluded = _known_levels(records, features, known)
        model, _ = fit_model_from_labels(labelled, excluded, compared.levels, u, **common)
        stats["m_learnt_from"] = f"{len(known):,} known matches"
    else:
        model, _ = fit_model(compared.levels, _training_sessions(pairs, correlated), u, **common)
        stats["m_learnt_from"] = "EM on candidate pairs"
    linked = _linked_pairs(
        model, compared.levels, offsets, settings.threshold, settings.batch_pairs
    )
    edges = _edges(records, pairs, compared, linked)
    stats["u_sample_pairs"] = len(u_left)
    stats["em_iterations"] = model.iterations
    stats["em_converged"] = int(model.converged)
    stats["lambda"] = model.match_prior
    stats["expected_matches"] = model.match_prior * features.size * (features.size - 1) / 2
    stats["links"] = len(edges)
    learnt = MatchParameters(
        model,
        None
        if shares is None
        else {
            name: NameShares.of(
                features.names, share, term_frequency.floor_share(getattr(features, name))
            )
            for name, share in shares.items()
        },
    )
    return ProbabilisticResult(edges, model.parameters(), stats, learnt)


def frozen_links(
    records: pd.DataFrame,
    parameters: MatchParameters,
    settings: ProbabilisticSettings = ProbabilisticSettings(),  # noqa: B008 - frozen
    touched: np.ndarray | None = None,
    vanished: int = 0,
) -> ProbabilisticResult:
    """The links of `probabilistic_links` scored with `parameters` learnt earlier instead of
    learning them (no u sample, no EM, no name counts): each pair's weight then depends on its
    two records only. With `touched` (bool per record), only the candidate pairs holding a
    touched record are found and scored (`blocking.candidate_pairs_touching`); records with
    `node` < 0 are the previous view of changed or removed records (`changed_records`): in no
    pair, but counted in their old blocks. When a block crossed `max_block_size` between the
    two, pairs of untouched records in it would be found or lost: its present records are
    touched too (`stats["blocks_changing_skip"]` blocks). `vanished` records are gone with
    no previous view (erased): the present records of every block so close to the limit that
    they may have held it over are touched too (`stats["blocks_near_limit"]`). The records
    touched in the end are `result.touched`."""
    correlated = _field_groups(settings.correlated_fields)
    stats: dict[str, float | int | dict[str, int]] = {"records": len(records)}
    if len(records) < 2:
        return _empty_result(stats, settings)
    frame = records.reset_index(drop=True)
    # Incremental: every record is blocked, but only the candidate pairs' records compared.
    features = prepare_features(frame, identifiers=touched is None)
    if touched is None:
        pairs = candidate_pairs(features, settings.blocking_rules, settings.max_block_size)
    else:
        present = _nodes(records) >= 0
        before = (present & ~touched) | ~present
        moved = blocks_changing_skip(
            features, before, present, settings.blocking_rules, settings.max_block_size
        )
        # An erased record is in no pair now, and the links it had are gone with it, but it
        # counted in its blocks.
        near = blocks_near_limit(
            features, present, vanished, settings.blocking_rules, settings.max_block_size
        )
        stats["blocks_changing_skip"] = moved.blocks
        stats["blocks_near_limit"] = near.blocks
        touched = (touched | moved.records | near.records) & present
        stats["records_in_suspect_blocks"] = int(((moved.records | near.records) & present).sum())
        pairs = candidate_pairs_touching(
            features, touched, present, settings.blocking_rules, settings.max_block_size
        )
    stats.update(_blocking_stats(pairs))
    if len(pairs) == 0:
        return dataclasses.replace(_empty_result(stats, settings), touched=touched)
    model = dataclasses.replace(parameters.model, correlated=correlated)
    scored = pairs
    if touched is not None:
        features, scored = _pair_records_features(frame, pairs, features)
    compared = compare_pairs(features, scored.left, scored.right)
    shares = None
    if parameters.name_shares is not None:
        shares = {name: s.lookup(features.names) for name, s in parameters.name_shares.items()}
    offsets = _name_frequency_offsets(features, scored, model.u, shares, settings.batch_pairs)
    offsets = _household_offsets(offsets, compared.levels, correlated)
    linked = _linked_pairs(
        model, compared.levels, offsets, settings.threshold, settings.batch_pairs
    )
    edges = _edges(records, pairs, compared, linked)
    stats["lambda"] = model.match_prior
    stats["links"] = len(edges)
    stats["m_learnt_from"] = "frozen: the last full resolution's parameters"
    return ProbabilisticResult(edges, model.parameters(), stats, touched=touched)


def _pair_records_features(
    records: pd.DataFrame, pairs: CandidatePairs, features: MatchFeatures
) -> tuple[MatchFeatures, CandidatePairs]:
    """The features of the records in `pairs` alone, and the pairs on them (same order):
    the blocking `features` of those rows, with emails and phones normalised for them only.
    Comparison levels and name frequency offsets read a pair's two records' values only
    (codes are compared for equality, or looked up as values), so they are those of the
    features of all records; normalising the identifiers of these records only is what an
    incremental night saves."""
    rows, inverse = np.unique(np.concatenate([pairs.left, pairs.right]), return_inverse=True)
    inverse = inverse.reshape(-1).astype(pairs.left.dtype)
    features = features_of_rows(features, rows, records.iloc[rows].reset_index(drop=True))
    count = len(pairs)
    return features, dataclasses.replace(pairs, left=inverse[:count], right=inverse[count:])


def _name_shares(features: MatchFeatures) -> dict[str, np.ndarray]:
    """Term frequency share of every vocabulary name, per name field."""
    return {
        name: term_frequency.frequencies(getattr(features, name), len(features.names))
        for name in ("first_name", "last_name")
    }


def _name_frequency_offsets(
    features: MatchFeatures,
    pairs: CandidatePairs,
    u: tuple[np.ndarray, ...],
    shares: dict[str, np.ndarray] | None,
    batch_pairs: int = PATTERN_BATCH_PAIRS,
) -> tuple[np.ndarray | None, ...] | None:
    """Per field (None for fields without one): the term frequency adjustment of exact first
    and last names of each candidate pair, `batch_pairs` pairs at a time (each pair's is its
    own: no name codes of every pair's two sides). None without `shares`."""
    if shares is None:
        return None
    offsets: list[np.ndarray | None] = [None] * len(FIELDS)
    for name in ("first_name", "last_name"):
        codes = getattr(features, name)
        u_exact = float(u[FIELDS.index(name)][EXACT_LEVEL])
        share = shares[name]
        field_offsets = np.empty(len(pairs), dtype=np.float32)
        for start in range(0, len(pairs), batch_pairs):
            rows = slice(start, start + batch_pairs)
            field_offsets[rows] = term_frequency.adjustment(
                codes[pairs.left[rows]], codes[pairs.right[rows]], share, u_exact
            )
        offsets[FIELDS.index(name)] = field_offsets
    return tuple(offsets)


def _household_offsets(
    offsets: tuple[np.ndarray | None, ...] | None,
    levels: np.ndarray,
    correlated: tuple[tuple[int, ...], ...],
) -> tuple[np.ndarray | None, ...] | None:
    """No bonus for a rare surname shared by two records that share a home.

    The term frequency adjustment says a rare surname is rarely shared by chance; but two
    records at one address that are not one person are mostly a household, which shares a
    rare surname as surely as a common one. Such pairs keep the penalty of a common surname
    and lose the bonus of a rare one (README "Recall at scale": without this, the stronger
    address weight at 1,000,000 records linked household members with rare names).
    """
    last = FIELDS.index("last_name")
    if offsets is None or offsets[last] is None:
        return offsets
    home = _shares_home(levels, correlated)
    last_offsets = offsets[last]
    last_offsets[home] = np.minimum(last_offsets[home], 0.0)  # in place: millions of pairs
    return offsets


def _shares_home(levels: np.ndarray, correlated: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Pairs whose most specific address field present on both sides agrees (its first
    non-null level), the group's least specific field (a shared city) excepted."""
    home = np.zeros(len(levels), dtype=bool)
    for group in correlated:
        if len(group) < 2:
            continue
        undecided = np.ones(len(levels), dtype=bool)
        for f in group[:-1]:
            present = undecided & (levels[:, f] != NULL_LEVEL)
            home |= present & (levels[:, f] == EXACT_LEVEL)
            undecided &= ~present
    return home


def _known_levels(
    records: pd.DataFrame,
    features,
    known: KnownMatches,  # noqa: ANN001 - MatchFeatures
) -> tuple[np.ndarray, np.ndarray]:
    """Comparison levels of the known matches, and which fields each may not teach."""
    position = pd.Series(np.arange(len(records)), index=_nodes(records))
    left = position.reindex(known.left).to_numpy()
    right = position.reindex(known.right).to_numpy()
    usable = ~(np.isnan(left) | np.isnan(right))
    levels = compare_pairs(
        features, left[usable].astype(np.int64), right[usable].astype(np.int64)
    ).levels
    identifier = np.asarray(known.identifier, dtype=object)[usable]
    excluded = np.column_stack([identifier == name for name in FIELDS])
    return levels, excluded


def readable_weights(parameters: pd.DataFrame) -> pd.DataFrame:
    """Field, level, m, u, weight (bits) of the comparison levels that carry evidence: the
    "null" levels (always 0) and fields without data in this run (m = u) are left out."""
    if len(parameters) == 0:
        return parameters
    informative = parameters["level"].ne("null") & parameters["m"].ne(parameters["u"])
    fields = parameters.loc[informative, "field"].unique()
    shown = parameters[parameters["field"].isin(fields) & parameters["level"].ne("null")]
    return shown.round({"m": 4, "u": 6, "weight": 2}).reset_index(drop=True)


def empty_edges() -> pd.DataFrame:
    """An edges frame with no rows and the result's column types."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in EDGE_COLUMNS.items()})


def _level_counts() -> list[int]:
    return [len(LEVELS[name]) for name in FIELDS]


def _field_groups(groups: tuple[tuple[str, ...], ...]) -> tuple[tuple[int, ...], ...]:
    unknown = sorted({name for group in groups for name in group} - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown correlated field(s) {unknown}; fields are {list(FIELDS)}")
    return tuple(tuple(FIELDS.index(name) for name in group) for group in groups)


def _training_sessions(
    pairs: CandidatePairs, correlated: tuple[tuple[int, ...], ...]
) -> list[TrainingSession]:
    """One EM session per blocking rule on the pairs it found, blind to the rule's fields
    (and to the fields correlated with them: a shared postal code implies a shared city)."""
    sessions = []
    for index, name in enumerate(pairs.rule_names):
        if not BLOCKING_RULES[name].trains:
            continue
        blocked = {FIELDS.index(field) for field in BLOCKING_RULES[name].fields}
        for group in correlated:
            if blocked.intersection(group):
                blocked.update(group)
        found = np.flatnonzero(pairs.found_by & pairs.found_by.dtype.type(1 << index))
        sessions.append(TrainingSession(name, found, tuple(sorted(blocked))))
    return sessions


def _blocking_stats(pairs: CandidatePairs) -> dict[str, int | dict[str, int]]:
    return {
        "candidate_pairs": len(pairs),
        "pairs_by_rule": dict(pairs.pairs_by_rule),
        "blocks_skipped": sum(pairs.blocks_skipped.values()),
        "blocks_skipped_by_rule": dict(pairs.blocks_skipped),
    }


@dataclass(frozen=True)
class LinkedPairs:
    """The candidate pairs whose match probability reaches the threshold: their indexes
    (ascending) with weight (bits, name frequency included), probability and name frequency."""

    index: np.ndarray
    weight: np.ndarray
    probability: np.ndarray
    name_frequency: np.ndarray


def _linked_pairs(
    model: FellegiSunterModel,
    levels: np.ndarray,
    offsets: tuple[np.ndarray | None, ...] | None,
    threshold: float,
    batch_pairs: int = PATTERN_BATCH_PAIRS,
) -> LinkedPairs:
    """Score the candidate pairs `batch_pairs` at a time and keep those at the threshold.

    Each pair's weight is its pattern's (computed once on the distinct patterns, sorted by
    code, as for all pairs at once, and looked up by the pattern's code) plus its name frequency offsets, summed in float64 in
    field order: the same numbers whatever the batch size. Only the linked pairs' figures
    are kept, not a weight and a probability for every candidate."""
    level_counts = _level_counts()
    patterns = Patterns.counted(levels, level_counts, batch_pairs=batch_pairs)
    # Every code's weight (172,800 codes for the 8 fields): a gather, not a search, per pair.
    table = np.full(int(np.prod(level_counts)), np.nan)
    table[pattern_code_lookup(patterns, level_counts)] = model.pattern_weights(patterns.levels)
    kept: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(levels), batch_pairs):
        rows = slice(start, start + batch_pairs)
        weight = table[pattern_codes(levels[rows], level_counts)]
        name_frequency = np.zeros(len(weight), dtype=np.float64)
        for field_offsets in offsets or ():
            if field_offsets is not None:
                name_frequency += field_offsets[rows]
        weight += name_frequency
        probability = match_probability(weight)
        linked = np.flatnonzero(probability >= threshold)
        kept.append((linked + start, weight[linked], probability[linked], name_frequency[linked]))
    if not kept:
        empty = np.zeros(0, np.float64)
        return LinkedPairs(np.zeros(0, np.int64), empty, empty, empty)
    return LinkedPairs(*(np.concatenate(column) for column in zip(*kept, strict=True)))


def _edges(
    records: pd.DataFrame,
    pairs: CandidatePairs,
    compared: PairLevels,
    scored: LinkedPairs,
) -> pd.DataFrame:
    linked = scored.index
    if len(linked) == 0:
        return empty_edges()
    nodes = _nodes(records)
    left_node, right_node = nodes[pairs.left[linked]], nodes[pairs.right[linked]]
    levels_text, fields_text = _explanations(compared, linked)
    edges = pd.DataFrame(
        {
            "left_node": np.minimum(left_node, right_node),
            "right_node": np.maximum(left_node, right_node),
            "weight": scored.weight,
            "probability": scored.probability,
            "rule": np.asarray(pairs.rule_names, dtype=object)[pairs.rule[linked]],
            "levels": levels_text,
            "fields": fields_text,
            "name_frequency": scored.name_frequency,
        }
    )
    edges = edges.astype(EDGE_COLUMNS)
    return edges.sort_values(["left_node", "right_node"], ignore_index=True)


def _nodes(records: pd.DataFrame) -> np.ndarray:
    if "node" in records.columns:
        return records["node"].to_numpy(dtype=np.int64)
    return np.arange(len(records), dtype=np.int64)


def _explanations(compared: PairLevels, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Readable levels and fields per pair, built once per distinct pattern."""
    levels = compared.levels[rows]
    keyed = np.column_stack([levels, compared.name_order[rows]])
    distinct, inverse = np.unique(keyed, axis=0, return_inverse=True)
    described = [describe_levels(row[:-1], int(row[-1])) for row in distinct]
    levels_text = np.asarray([text for text, _ in described], dtype=object)
    fields_text = np.asarray([text for _, text in described], dtype=object)
    inverse = inverse.reshape(-1)
    return levels_text[inverse], fields_text[inverse]


def _empty_result(
    stats: dict[str, float | int | dict[str, int]], settings: ProbabilisticSettings
) -> ProbabilisticResult:
    stats.setdefault("candidate_pairs", 0)
    stats.setdefault("pairs_by_rule", dict.fromkeys(settings.blocking_rules, 0))
    stats.setdefault("blocks_skipped", 0)
    stats.setdefault("blocks_skipped_by_rule", dict.fromkeys(settings.blocking_rules, 0))
    stats.update(u_sample_pairs=0, em_iterations=0, em_converged=0, links=0)
    stats["lambda"] = 0.0  # nothing to estimate it from
    stats["expected_matches"] = 0.0
    parameters = pd.DataFrame(
        {name: pd.Series(dtype=dtype) for name, dtype in PARAMETER_COLUMNS.items()}
    )
    return ProbabilisticResult(empty_edges(), parameters, stats)


__all__ = [
    "FellegiSunterModel",
    "KnownMatches",
    "ProbabilisticResult",
    "ProbabilisticSettings",
    "empty_edges",
    "frozen_links",
    "probabilistic_links",
    "readable_weights",
]
