"""Fellegi–Sunter match weights with u from random pairs and m, λ by expectation maximisation.

For each field f and comparison level l:

    m[f][l] = P(level l | the two records are the same person)
    u[f][l] = P(level l | they are not)

u is estimated from a seeded random sample of record pairs (almost all non-matches) with
additive smoothing. m is estimated by EM on the candidate pairs with u held fixed and fields
conditionally independent, one training session per blocking rule as in Splink: a rule's
pairs agree on the rule's fields by construction (and are full of households when the rule
is "same postal code + surname initial"), so a session learns only the other fields, and the
expected match counts of all sessions are pooled into m. A field that no session could
learn (every rule selects on it) is then learnt on all candidate pairs with the other m
fixed. Then λ, the prior that two random records match, is estimated by EM on all candidate
pairs with m and u fixed. Level 0 ("null") carries no evidence: it is left out of m and u.

    match weight = log2(λ / (1 - λ)) + Σ_f log2(m[f][l_f] / u[f][l_f])   (non-null levels)
    probability  = 2^w / (1 + 2^w)

Fields that describe one fact (postal code, city and street all say where someone lives) are
not independent: summing their weights would count a shared address three times. A group of
such `correlated` fields (listed most specific first) counts once: when its most specific field
present on both sides disagrees, that field's weight (two streets in one postal code are two
addresses); when it agrees, the strongest agreement weight of the group. The strongest, not
the most specific: a street name recurs in every town, so its u does not fall as the file
grows, while the u of a postal code falls with the number of codes; taking the street's weight
where both agree under-counted a shared home at 1,000,000 records by 5 bits.

EM runs on the distinct comparison patterns with their counts (a few thousand), not on the
pairs, so it costs milliseconds whatever the number of pairs.

Per-pair `offsets` (the term frequency adjustment of exact names, in bits) take part in the
E-step: a pair that agrees on "Smith" is a weaker match candidate than one that agrees on a
rare surname. Without them, EM in a session that sees only first name and birth date takes
the many chance agreements on common first names for matches and learns that a match's birth
date is "different" 50 times more often than it is. Offsets are rounded to
1/`OFFSET_STEPS_PER_BIT` bit so that pairs still group into a few thousand patterns.

The pairs are grouped into patterns `PATTERN_BATCH_PAIRS` at a time (`Patterns.counted`): a
million records make tens of millions of candidate pairs, and one int64 key per pair with its
hash table and inverse cost GBs. Counts are integers, so the patterns, their counts and every
EM estimate are exactly those of grouping all pairs at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NULL_LEVEL = 0
SMOOTHING = 1.0  # additive smoothing of u: one pseudo pair per level
M_PRIOR_PAIRS = 1.0
INITIAL_CANDIDATE_SHARE = 0.1
MIN_EXPECTED_MATCHES = 1.0  # a field learnt from fewer expected matches counts as untrained
_PRIOR_BOUNDS = (1e-15, 0.5)
_SHARE_BOUNDS = (1e-9, 1 - 1e-9)
OFFSET_STEPS_PER_BIT = 4
PATTERN_BATCH_PAIRS = 1_000_000  # pairs keyed at once: 8 MB of keys, a few ms of hashing


@dataclass(frozen=True)
class Patterns:
    """Distinct rows of a pairs × fields level matrix: `levels[inverse]` gives the pairs back."""

    levels: np.ndarray
    counts: np.ndarray
    inverse: np.ndarray | None  # None from `counted`
    offsets: np.ndarray | None = None

    @classmethod
    def of(
        cls, levels: np.ndarray, level_counts: Sequence[int], offsets: np.ndarray | None = None
    ) -> Patterns:
        """Group identical level rows (mixed-radix code + bincount: linear in the pairs); with
        per-pair `offsets`, rows are grouped by levels and rounded offset."""
        radix = np.cumprod([1, *level_counts[:-1]]).astype(np.int64)
        codes = _pattern_codes(levels, radix)
        if offsets is not None:
            return cls._with_offsets(codes, radix, level_counts, offsets)
        counts = np.bincount(codes, minlength=int(np.prod(level_counts)))
        present = np.flatnonzero(counts)
        position = np.full(len(counts), -1, dtype=np.int64)
        position[present] = np.arange(len(present))
        digits = (present[:, None] // radix[None, :]) % np.asarray(level_counts)[None, :]
        return cls(digits.astype(np.int8), counts[present], position[codes])

    @classmethod
    def counted(
        cls,
        levels: np.ndarray,
        level_counts: Sequence[int],
        offset_parts: Sequence[np.ndarray] = (),
        batch_pairs: int = PATTERN_BATCH_PAIRS,
    ) -> Patterns:
        """The patterns and counts of `of` (no `inverse`), keyed `batch_pairs` pairs at a time.

        `offset_parts`: per-pair offsets of several fields, summed per pair as `of`'s caller
        sums them (`np.sum(parts, axis=0)`); none: grouped by levels alone. Equal to
        `of(levels, level_counts, sum of parts)` but for the inverse, whatever the batch size.
        """
        radix = np.cumprod([1, *level_counts[:-1]]).astype(np.int64)
        batches = [
            slice(start, start + batch_pairs) for start in range(0, len(levels), batch_pairs)
        ]
        low, width = 0, 1
        if offset_parts:
            high = 0
            for rows in batches:  # the range of all steps first: one key space for all batches
                steps = _offset_steps(_summed(offset_parts, rows))
                low = min(low, int(steps.min(initial=0)))
                high = max(high, int(steps.max(initial=0)))
            width = high - low + 1
        keys: list[np.ndarray] = []
        key_counts: list[np.ndarray] = []
        for rows in batches:
            codes = _pattern_codes(levels[rows], radix)
            if offset_parts:
                steps = _offset_steps(_summed(offset_parts, rows))
                steps -= low
                codes *= width
                codes += steps
            inverse, distinct = pd.factorize(codes)
            keys.append(distinct)
            key_counts.append(np.bincount(inverse, minlength=len(distinct)))
        if not keys:
            keys, key_counts = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        distinct, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        counts = np.zeros(len(distinct), dtype=np.int64)
        np.add.at(counts, inverse, np.concatenate(key_counts))
        level_codes = distinct // width
        digits = (level_codes[:, None] // radix[None, :]) % np.asarray(level_counts)[None, :]
        pattern_offsets = (distinct % width + low) / OFFSET_STEPS_PER_BIT if offset_parts else None
        return cls(digits.astype(np.int8), counts, None, pattern_offsets)

    @classmethod
    def _with_offsets(
        cls,
        codes: np.ndarray,
        radix: np.ndarray,
        level_counts: Sequence[int],
        offsets: np.ndarray,
    ) -> Patterns:
        steps = _offset_steps(np.asarray(offsets))
        low = int(steps.min(initial=0))
        width = int(steps.max(initial=0)) - low + 1
        steps -= low
        codes *= width
        codes += steps
        # Hash grouping (not np.unique's sort): one int64 per pair besides the codes.
        inverse, distinct = pd.factorize(codes, sort=True)
        counts = np.bincount(inverse, minlength=len(distinct))
        level_codes = distinct // width
        digits = (level_codes[:, None] // radix[None, :]) % np.asarray(level_counts)[None, :]
        pattern_offsets = (distinct % width + low) / OFFSET_STEPS_PER_BIT
        return cls(digits.astype(np.int8), counts, inverse, pattern_offsets)

    def offset(self) -> np.ndarray | float:
        return 0.0 if self.offsets is None else self.offsets


@dataclass(frozen=True)
class FellegiSunterModel:
    """m, u per field level (index 0 = null, NaN) and the match prior λ of two random records."""

    fields: tuple[str, ...]
    level_names: tuple[tuple[str, ...], ...]
    m: tuple[np.ndarray, ...]
    u: tuple[np.ndarray, ...]
    match_prior: float
    correlated: tuple[tuple[int, ...], ...] = ()
    iterations: int = 0
    converged: bool = False

    def level_weights(self) -> tuple[np.ndarray, ...]:
        """log2(m / u) per field level; 0 for the null level."""
        return tuple(_level_weights(m, u) for m, u in zip(self.m, self.u, strict=True))

    def prior_weight(self) -> float:
        return _logit2(self.match_prior)

    def pattern_weights(self, levels: np.ndarray) -> np.ndarray:
        """Match weight (prior included) of each row of a level matrix."""
        return self.prior_weight() + _evidence(levels, self.level_weights(), self.correlated)

    def parameters(self) -> pd.DataFrame:
        """One row per field level: field, level, m, u, weight = log2(m/u)."""
        weights = self.level_weights()
        rows = [
            (field, name, self.m[f][level], self.u[f][level], weights[f][level])
            for f, field in enumerate(self.fields)
            for level, name in enumerate(self.level_names[f])
        ]
        frame = pd.DataFrame(rows, columns=["field", "level", "m", "u", "weight"])
        return frame.astype(
            {"field": "str", "level": "str", "m": "float64", "u": "float64", "weight": "float64"}
        )


def _offset_steps(offsets: np.ndarray) -> np.ndarray:
    """Offsets (bits) rounded to 1/`OFFSET_STEPS_PER_BIT` bit, as int32 steps."""
    return np.round(offsets * OFFSET_STEPS_PER_BIT).astype(np.int32)


def _summed(parts: Sequence[np.ndarray], rows: slice) -> np.ndarray:
    """Σ of the offset parts for `rows`, summed as `np.sum(parts, axis=0)` sums them."""
    return np.sum([part[rows] for part in parts], axis=0)


def pattern_code_lookup(patterns: Patterns, level_counts: Sequence[int]) -> np.ndarray:
    """The level codes of `patterns` (grouped without offsets; sorted), in the code space of
    `pattern_codes`."""
    return _pattern_codes(patterns.levels, _radix(level_counts))


def pattern_codes(levels: np.ndarray, level_counts: Sequence[int]) -> np.ndarray:
    """One int64 code per row of a level matrix (mixed radix), as `Patterns` orders them."""
    return _pattern_codes(levels, _radix(level_counts))


def _radix(level_counts: Sequence[int]) -> np.ndarray:
    return np.cumprod([1, *level_counts[:-1]]).astype(np.int64)


def _pattern_codes(levels: np.ndarray, radix: np.ndarray) -> np.ndarray:
    """levels @ radix, one column at a time: the matrix product would first copy the whole
    pairs × fields matrix to int64 (64 bytes a pair)."""
    codes = np.zeros(len(levels), dtype=np.int64)
    for f, weight in enumerate(radix):
        codes += levels[:, f].astype(np.int64) * weight
    return codes


def match_probability(weights: np.ndarray) -> np.ndarray:
    """2^w / (1 + 2^w), computed without overflow."""
    return 1.0 / (1.0 + np.exp2(-np.clip(weights, -1000, 1000)))


def random_pairs(n: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` random distinct record pairs (left < right); all pairs when there are fewer."""
    if n < 2 or count <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n * (n - 1) // 2 <= count:
        left, right = np.triu_indices(n, k=1)
        return left.astype(np.int64), right.astype(np.int64)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=count, dtype=np.int64)
    b = rng.integers(0, n - 1, size=count, dtype=np.int64)
    b[b >= a] += 1  # uniform over the other records
    return np.minimum(a, b), np.maximum(a, b)


def estimate_u(
    levels: np.ndarray, level_counts: Sequence[int], smoothing: float = SMOOTHING
) -> tuple[np.ndarray, ...]:
    """u per field level from the levels of random pairs (additive smoothing; null = NaN)."""
    ones = np.ones(len(levels), dtype=np.float64)
    return tuple(
        _smoothed(np.bincount(levels[:, f], weights=ones, minlength=count), smoothing)
        for f, count in enumerate(level_counts)
    )


@dataclass(frozen=True)
class TrainingSession:
    """Candidate pairs to learn m from (`pairs`: indexes), and the fields not to learn from
    them because they selected the pairs (a blocking rule's fields)."""

    name: str
    pairs: np.ndarray
    blocked_fields: tuple[int, ...] = ()


@dataclass(frozen=True)
class SessionResult:
    """How an EM session went: pairs, expected share of matches, iterations, convergence."""

    name: str
    pairs: int
    match_share: float
    iterations: int
    converged: bool


def fit_model(
    levels: np.ndarray,
    sessions: Sequence[TrainingSession],
    u: tuple[np.ndarray, ...],
    fields: tuple[str, ...],
    level_names: tuple[tuple[str, ...], ...],
    total_pairs: int,
    correlated: tuple[tuple[int, ...], ...] = (),
    max_iterations: int = 50,
    tolerance: float = 1e-4,
    offsets: Sequence[np.ndarray | None] | None = None,
    batch_pairs: int = PATTERN_BATCH_PAIRS,
) -> tuple[FellegiSunterModel, list[SessionResult]]:
    """Learn m by EM per training session (pooled), then λ over all candidate pairs.

    `offsets[f]`: per-pair weight adjustment of field f (term frequencies) or None; a session
    uses those of the fields it does not block.

    `levels` are the candidate pairs' comparison levels. λ is the prior of a match between
    two records drawn at random among all `total_pairs` (n(n-1)/2): the expected number of
    matches among the candidates divided by `total_pairs` (blocking is assumed to find nearly
    all matches). A prior over the candidates instead would count their agreement on the
    blocking keys twice, once in λ and once in the field weights.
    """
    m, results = _learn_m(
        levels, sessions, u, correlated, max_iterations, tolerance, offsets, batch_pairs
    )
    return _with_prior(
        FellegiSunterModel(fields, level_names, m, u, 0.5, correlated),
        levels,
        total_pairs,
        results,
        max_iterations,
        tolerance,
        _offset_parts(offsets, ()),
        batch_pairs,
    )


def _offset_parts(
    offsets: Sequence[np.ndarray | None] | None, blocked: Sequence[int]
) -> list[np.ndarray]:
    """The per-pair offsets of the unblocked fields, to be summed per pair (`Patterns.counted`)."""
    return [
        field_offsets
        for f, field_offsets in enumerate(offsets or ())
        if field_offsets is not None and f not in blocked
    ]


def _with_prior(
    model: FellegiSunterModel,
    candidate_levels: np.ndarray,
    total_pairs: int,
    results: list[SessionResult],
    max_iterations: int,
    tolerance: float,
    offset_parts: Sequence[np.ndarray] = (),
    batch_pairs: int = PATTERN_BATCH_PAIRS,
) -> tuple[FellegiSunterModel, list[SessionResult]]:
    """The model with λ estimated over the candidates (m, u fixed), and the session results."""
    level_counts = [len(names) for names in model.level_names]
    patterns = Patterns.counted(candidate_levels, level_counts, offset_parts, batch_pairs)
    prior, lambda_result = _estimate_prior(model, patterns, total_pairs, max_iterations, tolerance)
    results = [*results, lambda_result]
    fitted = dataclasses.replace(
        model,
        match_prior=prior,
        iterations=max(result.iterations for result in results),
        converged=all(result.converged for result in results),
    )
    return fitted, results


def fit_model_from_labels(
    labelled_levels: np.ndarray,
    excluded: np.ndarray,
    candidate_levels: np.ndarray,
    u: tuple[np.ndarray, ...],
    fields: tuple[str, ...],
    level_names: tuple[tuple[str, ...], ...],
    total_pairs: int,
    correlated: tuple[tuple[int, ...], ...] = (),
    max_iterations: int = 50,
    tolerance: float = 1e-4,
    offsets: Sequence[np.ndarray | None] | None = None,
    batch_pairs: int = PATTERN_BATCH_PAIRS,
) -> tuple[FellegiSunterModel, list[SessionResult]]:
    """m from pairs known to match (linked by a strong identifier), then λ by EM.

    `labelled_levels`: comparison levels of the known matches; `excluded[i, f]` is True where
    pair i must not teach field f (the identifier that linked it agrees by construction). EM on
    unlabelled candidates can mistake a household (same surname, same address) for one person;
    labelled matches cannot.
    """
    level_counts = [len(names) for names in level_names]
    counts = []
    for f, count in enumerate(level_counts):
        values = labelled_levels[~excluded[:, f], f].astype(np.int64)
        counts.append(np.bincount(values, minlength=count).astype(np.float64))
    m = tuple(_shrunk_to_u(c, u_f) for c, u_f in zip(counts, u, strict=True))
    labels = SessionResult("labelled_matches", len(labelled_levels), 1.0, 0, True)
    return _with_prior(
        FellegiSunterModel(fields, level_names, m, u, 0.5, correlated),
        candidate_levels,
        total_pairs,
        [labels],
        max_iterations,
        tolerance,
        _offset_parts(offsets, ()),
        batch_pairs,
    )


def _learn_m(
    levels: np.ndarray,
    sessions: Sequence[TrainingSession],
    u: tuple[np.ndarray, ...],
    correlated: tuple[tuple[int, ...], ...],
    max_iterations: int,
    tolerance: float,
    offsets: Sequence[np.ndarray | None] | None = None,
    batch_pairs: int = PATTERN_BATCH_PAIRS,
) -> tuple[tuple[np.ndarray, ...], list[SessionResult]]:
    """m from the pooled expected match counts of the sessions, then the fill-in session."""
    level_counts = [len(u_f) for u_f in u]
    pooled = [np.zeros(count) for count in level_counts]
    results: list[SessionResult] = []
    for session in sessions:
        if len(session.pairs) == 0:
            continue
        masked = levels[session.pairs]
        masked[:, list(session.blocked_fields)] = NULL_LEVEL
        if _evidence_sources(masked, correlated) < 2:
            continue  # one source of evidence cannot tell m from the match share
        m_start = tuple(_initial_m(count) for count in level_counts)
        session_offsets = [
            part[session.pairs] for part in _offset_parts(offsets, session.blocked_fields)
        ]
        counts, share, iterations, converged = _em_session(
            Patterns.counted(masked, level_counts, session_offsets, batch_pairs),
            u,
            m_start,
            correlated,
            max_iterations,
            tolerance,
        )
        for f, field_counts in enumerate(counts):
            pooled[f] += field_counts
        results.append(
            SessionResult(session.name, len(session.pairs), share, iterations, converged)
        )
    m = tuple(_shrunk_to_u(counts, u_f) for counts, u_f in zip(pooled, u, strict=True))
    untrained = _untrained_fields(levels, pooled)
    if untrained:
        m, result = _fill_in_session(
            levels, m, u, untrained, correlated, max_iterations, tolerance, offsets, batch_pairs
        )
        results.append(result)
    return m, results


def _em_session(
    patterns: Patterns,
    u: tuple[np.ndarray, ...],
    m_start: tuple[np.ndarray, ...],
    correlated: tuple[tuple[int, ...], ...],
    max_iterations: int,
    tolerance: float,
    learn: Sequence[int] | None = None,
) -> tuple[list[np.ndarray], float, int, bool]:
    """EM for m (of the `learn` fields; default all) and the match share of a set of pairs.

    u is fixed, and so is m of the fields not learnt. Starts from `m_start` and
    `INITIAL_CANDIDATE_SHARE`; stops when no m or share moves by more than `tolerance`, or
    after `max_iterations`. Returns the expected match counts per field level, the share, the
    iterations and whether it converged.
    """
    level_counts = [len(u_f) for u_f in u]
    learnt = set(range(len(u)) if learn is None else learn)
    m = m_start
    share = INITIAL_CANDIDATE_SHARE
    counts = patterns.counts.astype(np.float64)
    expected_counts: list[np.ndarray] = [np.zeros(count) for count in level_counts]
    for iteration in range(1, max_iterations + 1):
        evidence = _evidence(patterns.levels, _weights(m, u), correlated)
        weight = _logit2(share) + evidence + patterns.offset()
        expected = counts * match_probability(weight)
        expected_counts = [
            np.bincount(patterns.levels[:, f], weights=expected, minlength=count)
            for f, count in enumerate(level_counts)
        ]
        new_share = float(np.clip(expected.sum() / counts.sum(), *_SHARE_BOUNDS))
        new_m = tuple(
            _shrunk_to_u(expected_counts[f], u[f]) if f in learnt else m[f] for f in range(len(u))
        )
        change = max(
            abs(new_share - share), *(_max_change(a, b) for a, b in zip(new_m, m, strict=True))
        )
        m, share = new_m, new_share
        if change < tolerance:
            return expected_counts, share, iteration, True
    return expected_counts, share, max_iterations, False


def _evidence_sources(levels: np.ndarray, correlated: tuple[tuple[int, ...], ...]) -> int:
    """Fields with any non-null level, a correlated group counting once."""
    present = {f for f in range(levels.shape[1]) if (levels[:, f] != NULL_LEVEL).any()}
    sources = len(present)
    for group in correlated:
        sources -= max(len(present.intersection(group)) - 1, 0)
    return sources


def _untrained_fields(levels: np.ndarray, pooled: list[np.ndarray]) -> list[int]:
    """Fields with data among the candidates that no session could learn (every blocking
    rule selects on them, e.g. birth date when only birth-date rules found pairs)."""
    return [
        f
        for f, counts in enumerate(pooled)
        if counts[1:].sum() < MIN_EXPECTED_MATCHES and (levels[:, f] != NULL_LEVEL).any()
    ]


def _fill_in_session(
    levels: np.ndarray,
    m: tuple[np.ndarray, ...],
    u: tuple[np.ndarray, ...],
    untrained: list[int],
    correlated: tuple[tuple[int, ...], ...],
    max_iterations: int,
    tolerance: float,
    offsets: Sequence[np.ndarray | None] | None = None,
    batch_pairs: int = PATTERN_BATCH_PAIRS,
) -> tuple[tuple[np.ndarray, ...], SessionResult]:
    """Learn the untrained fields on all candidate pairs, the other fields' m held fixed."""
    level_counts = [len(u_f) for u_f in u]
    m_start = tuple(_initial_m(level_counts[f]) if f in untrained else m[f] for f in range(len(u)))
    counts, share, iterations, converged = _em_session(
        Patterns.counted(levels, level_counts, _offset_parts(offsets, ()), batch_pairs),
        u,
        m_start,
        correlated,
        max_iterations,
        tolerance,
        learn=untrained,
    )
    m = tuple(_shrunk_to_u(counts[f], u[f]) if f in untrained else m[f] for f in range(len(u)))
    return m, SessionResult("fill_in", len(levels), share, iterations, converged)


def _estimate_prior(
    model: FellegiSunterModel,
    patterns: Patterns,
    total_pairs: int,
    max_iterations: int,
    tolerance: float,
) -> tuple[float, SessionResult]:
    """EM for λ alone (m, u fixed): λ = expected matches among the candidates / all pairs.

    Converged when λ moves by less than `tolerance` relative to its size."""
    evidence = _evidence(patterns.levels, model.level_weights(), model.correlated)
    evidence = evidence + patterns.offset()
    counts = patterns.counts.astype(np.float64)
    prior = _clip_prior(INITIAL_CANDIDATE_SHARE * counts.sum() / total_pairs)
    iterations, converged = max_iterations, False
    for iteration in range(1, max_iterations + 1):
        expected = counts * match_probability(_logit2(prior) + evidence)
        new_prior = _clip_prior(expected.sum() / total_pairs)
        change = abs(new_prior - prior) / prior
        prior = new_prior
        if change < tolerance:
            iterations, converged = iteration, True
            break
    share = prior * total_pairs / max(counts.sum(), 1.0)
    return prior, SessionResult("lambda", int(counts.sum()), share, iterations, converged)


def _logit2(probability: float) -> float:
    return float(np.log2(probability / (1 - probability)))


def _weights(m: tuple[np.ndarray, ...], u: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(_level_weights(m_f, u_f) for m_f, u_f in zip(m, u, strict=True))


def _max_change(new: np.ndarray, old: np.ndarray) -> float:
    return float(np.nanmax(np.abs(new - old), initial=0.0))


def _clip_prior(prior: float) -> float:
    return float(np.clip(prior, *_PRIOR_BOUNDS))


def _initial_m(level_count: int) -> np.ndarray:
    """0.9 on the best (first non-null) level, the rest halving down to the worst."""
    others = 0.5 ** np.arange(level_count - 2)
    m = np.r_[np.nan, 0.9, 0.1 * others / others.sum() if len(others) else []]
    return m.astype(np.float64)


def _smoothed(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Probabilities over the non-null levels with additive smoothing; NaN for null."""
    present = counts[1:] + smoothing
    return np.r_[np.nan, present / present.sum()]


def _shrunk_to_u(counts: np.ndarray, u: np.ndarray) -> np.ndarray:
    """m over the non-null levels from expected match counts, plus `M_PRIOR_PAIRS` pseudo
    pairs distributed like u: a level never seen among matches gets m < u (weight below 0,
    strongly so when there are many matches), never an invented large positive weight."""
    present = counts[1:] + M_PRIOR_PAIRS * u[1:]
    return np.r_[np.nan, present / present.sum()]


def _level_weights(m: np.ndarray, u: np.ndarray) -> np.ndarray:
    weights = np.log2(m / u)
    weights[NULL_LEVEL] = 0.0
    return weights


def _evidence(
    levels: np.ndarray,
    level_weights: tuple[np.ndarray, ...],
    correlated: tuple[tuple[int, ...], ...],
) -> np.ndarray:
    """Σ of field weights, each correlated group counted once (see the module docstring)."""
    field_weights = np.column_stack(
        [level_weights[f][levels[:, f]] for f in range(levels.shape[1])]
    )
    grouped = {f for group in correlated for f in group}
    independent = [f for f in range(levels.shape[1]) if f not in grouped]
    total = field_weights[:, independent].sum(axis=1)
    for group in correlated:
        total += _group_evidence(field_weights[:, list(group)], levels[:, list(group)] != 0)
    return total


def _group_evidence(weights: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The weight of the group's most specific field present on both sides (groups list their
    fields from most to least specific) when it is not positive: two addresses on different
    streets of one postal code are different addresses, however well the postal code agrees.
    When it agrees, the strongest agreement weight in the group (agreeing on street and postal
    code is at least as specific as either). 0 when no field is present."""
    first = np.argmax(present, axis=1)
    specific = weights[np.arange(len(weights)), first]
    strongest = np.where(present, weights, -np.inf).max(axis=1, initial=-np.inf)
    evidence = np.where(specific > 0, strongest, specific)
    return np.where(present.any(axis=1), evidence, 0.0)
