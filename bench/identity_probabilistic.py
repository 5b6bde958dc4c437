"""Benchmark: probabilistic matching (`probabilistic_links`) speed, memory and accuracy.

    .venv/bin/python bench/identity_probabilistic.py --records 200000
    .venv/bin/python bench/identity_probabilistic.py --records 50000 --population link
    .venv/bin/python bench/identity_probabilistic.py --records 1000000 --population dedupe

Populations (issue #13): `dedupe` is one source with duplicates (about 80% distinct people,
some people on up to four records); `link` is two sources, each without duplicates of its own,
that share about half of their people (the records of a person are one per source).

Generates synthetic customer records at the given size (seeded): people with Zipf-distributed
first names, surnames and cities, households sharing surname and address, and duplicate
records with typos, nicknames, swapped names, day/month transposed or mistyped birth dates,
missing fields and moves to a new address. No emails or phones: names, addresses and birth
dates only, the hardest case. The records are written to a parquet file and matched in a
child process, so the reported peak RSS is the matcher's own. Prints records/s, candidate
pairs, peak RSS and precision/recall/F1 against the generator's truth, twice: on the links
themselves ("pairs") and on the clusters they form (connected components; every two records
of a cluster count as a predicted pair, as the identity graph uses them), then a JSON record.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

_SYLLABLES_TEXT = (
    "an ber car dal el fen gar hol in jor kel lan mar nor ol per quin ros sten tal ur val "
    "wen yor zel bro cha dun fitz gold hart ley mann son berg ford wood field ton"
)
_SYLLABLES = tuple(_SYLLABLES_TEXT.split())
_STREET_WORDS_TEXT = (
    "main high church park station mill oak elm king queen bridge green school north "
    "south west east victoria albert garden lake river hill forest"
)
_STREET_WORDS = tuple(_STREET_WORDS_TEXT.split())
_STREET_TYPES = ("Street", "Road", "Avenue", "Lane", "Drive")
_ABBREVIATIONS = {"Street": "St", "Road": "Rd", "Avenue": "Ave", "Lane": "Ln", "Drive": "Dr"}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _zipf_weights(size: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    return weights / weights.sum()


def _syllable_names(rng: np.random.Generator, count: int) -> np.ndarray:
    names: set[str] = set()
    while len(names) < count:
        parts = rng.choice(_SYLLABLES, size=(count, 3))
        lengths = rng.integers(2, 4, size=count)
        names.update("".join(row[:k]).capitalize() for row, k in zip(parts, lengths, strict=True))
    # Shuffled so that Zipf ranks are not alphabetical (initials would all be "A").
    return rng.permutation(np.array(sorted(names)[:count], dtype=object))


def _first_name_pool() -> tuple[np.ndarray, dict[str, list[str]]]:
    """Formal first names with their nicknames, from the nicknames package."""
    from nicknames import NickNamer

    namer = NickNamer()
    formal = sorted(name for name in namer.nickname_lookup if len(name) >= 5)
    nicknames = {
        name: sorted(nick for nick in namer.nicknames_of(name) if len(nick) < len(name))
        for name in formal
    }
    pool = np.array([name.capitalize() for name in formal], dtype=object)
    return np.random.default_rng(0).permutation(pool), nicknames


def _typo(rng: np.random.Generator, value: str) -> str:
    if len(value) < 3:
        return value
    position = int(rng.integers(1, len(value)))
    kind = rng.integers(0, 3)
    if kind == 0:  # substitution
        letter = chr(int(rng.integers(97, 123)))
        return value[:position] + letter + value[position + 1 :]
    if kind == 1:  # deletion
        return value[:position] + value[position + 1 :]
    return value[: position - 1] + value[position] + value[position - 1] + value[position + 1 :]


def _people(rng: np.random.Generator, people: int) -> pd.DataFrame:
    first_pool, _ = _first_name_pool()
    surnames = _syllable_names(rng, max(2_000, people // 40))
    cities = _syllable_names(rng, max(50, people // 500))
    city_weights = _zipf_weights(len(cities), 1.0)
    first = first_pool[rng.choice(len(first_pool), people, p=_zipf_weights(len(first_pool), 0.8))]
    last = surnames[rng.choice(len(surnames), people, p=_zipf_weights(len(surnames), 0.7))]
    city_index = rng.choice(len(cities), people, p=city_weights)
    # About 60 people per postal code; the city's codes share the city's 2-digit area.
    postal_in_city = (
        rng.random(people) * np.maximum(city_weights[city_index] * people / 60, 1)
    ).astype(np.int64)
    postal = (city_index % 90 + 10) * 1000 + (city_index // 90 * 97 + postal_in_city) % 1000
    births = np.datetime64("1940-01-01") + rng.integers(0, 68 * 365, people).astype(
        "timedelta64[D]"
    )
    frame = pd.DataFrame(
        {
            "person": np.arange(people, dtype=np.int64),
            "first_name": first,
            "last_name": last,
            "birth_date": births.astype("datetime64[us]"),
            "street": _streets(rng, people),
            "city": cities[city_index],
            "postal_code": pd.Series(postal).astype(str).str.zfill(5).to_numpy(object),
        }
    )
    return _households(rng, frame)


def _streets(rng: np.random.Generator, count: int) -> np.ndarray:
    numbers = rng.integers(1, 300, count).astype(str)
    words = rng.choice(_STREET_WORDS, count)
    types = rng.choice(_STREET_TYPES, count)
    return (
        pd.Series(numbers) + " " + pd.Series(words).str.capitalize() + " " + pd.Series(types)
    ).to_numpy(object)


def _households(rng: np.random.Generator, people: pd.DataFrame) -> pd.DataFrame:
    """15% of people live with someone: same surname and address, own first name and birth."""
    members = np.flatnonzero(rng.random(len(people)) < 0.15)
    heads = rng.integers(0, len(people), len(members))
    for column in ("last_name", "street", "city", "postal_code"):
        people.loc[members, column] = people[column].to_numpy()[heads]
    return people


def _duplicates(rng: np.random.Generator, people: pd.DataFrame, records: int) -> pd.DataFrame:
    """Copies of random people with realistic damage, to reach `records` rows in total."""
    extra = records - len(people)
    copies = people.iloc[rng.integers(0, len(people), extra)].reset_index(drop=True)
    return _damage(rng, copies, people)


def _damage(rng: np.random.Generator, copies: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """Typos, nicknames, swapped names, date errors, missing fields and moves (to the address
    of someone in `people`) applied to `copies` in place."""
    _, nicknames = _first_name_pool()
    extra = len(copies)
    p = rng.random((extra, 10))
    first = copies["first_name"].to_numpy(object)
    last = copies["last_name"].to_numpy(object)
    for i in np.flatnonzero(p[:, 0] < 0.15):
        options = nicknames.get(first[i].lower())
        if options:
            first[i] = options[int(rng.integers(0, len(options)))].capitalize()
    for i in np.flatnonzero((p[:, 0] >= 0.15) & (p[:, 0] < 0.25)):
        first[i] = _typo(rng, first[i])
    for i in np.flatnonzero(p[:, 1] < 0.10):
        last[i] = _typo(rng, last[i])
    swap = p[:, 2] < 0.02
    first[swap], last[swap] = last[swap], first[swap].copy()
    first[p[:, 3] < 0.03] = None
    last[p[:, 3] > 0.98] = None
    copies["first_name"], copies["last_name"] = first, last
    copies["first_name"] = copies["first_name"].where(
        p[:, 4] >= 0.05, copies["first_name"].str.upper()
    )

    births = copies["birth_date"]
    day, month = births.dt.day, births.dt.month
    transpose = (p[:, 5] < 0.05) & (day <= 12).to_numpy() & (day != month).to_numpy()
    transposed = pd.to_datetime(
        {"year": births.dt.year, "month": day, "day": month}, errors="coerce"
    )
    births = births.where(~transpose, transposed)
    shift_year = (p[:, 5] >= 0.05) & (p[:, 5] < 0.09)
    births = births.where(~shift_year, births + pd.DateOffset(years=1))
    births = births.where(p[:, 5] < 0.90, pd.NaT)  # 10% missing
    copies["birth_date"] = births.astype("datetime64[us]")

    moved = p[:, 6] < 0.15
    movers = people.iloc[rng.integers(0, len(people), int(moved.sum()))]
    for column in ("city", "postal_code"):
        copies.loc[moved, column] = movers[column].to_numpy()
    copies.loc[moved, "street"] = _streets(rng, int(moved.sum()))
    street = copies["street"].to_numpy(object)
    for i in np.flatnonzero(p[:, 7] < 0.15):
        if street[i] is not None:
            for full, short in _ABBREVIATIONS.items():
                street[i] = street[i].replace(full, short)
    copies["street"] = street
    copies.loc[p[:, 8] < 0.05, "postal_code"] = None
    copies.loc[p[:, 9] < 0.05, "street"] = None
    return copies


def generate_records(records: int, seed: int = 7, population: str = "dedupe") -> pd.DataFrame:
    """Synthetic identity records with a `person` truth column.

    dedupe: about 80% distinct people, duplicates drawn at random (a person may have several).
    link: two sources of records/2 each, no duplicates within a source; a third of the people
    are in both (source B holds a damaged copy), so true pairs are all across the sources.
    """
    rng = np.random.default_rng(seed)
    if population == "link":
        return _finish(rng, _link_population(rng, records))
    if population != "dedupe":
        raise ValueError(f"unknown population {population!r}: dedupe or link")
    people = _people(rng, int(records * 0.8))
    frame = pd.concat([people, _duplicates(rng, people, records)], ignore_index=True)
    frame["source"] = "a"
    return _finish(rng, frame)


def _link_population(rng: np.random.Generator, records: int) -> pd.DataFrame:
    """Source A: `records/2` people. Source B: damaged copies of a third of A's people (each
    once) plus people of its own."""
    half = records // 2
    shared = records // 6
    people = _people(rng, records - shared)
    side_a = people.iloc[:half].copy()
    chosen = people.iloc[rng.choice(half, shared, replace=False)].reset_index(drop=True)
    copies = _damage(rng, chosen, people)
    side_b = pd.concat([copies, people.iloc[half:]], ignore_index=True)
    side_a["source"], side_b["source"] = "a", "b"
    return pd.concat([side_a, side_b], ignore_index=True)


def _finish(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    frame.insert(0, "node", np.arange(len(frame), dtype=np.int64))
    for column in ("email_key", "phone", "country"):
        frame[column] = pd.Series(None, index=frame.index, dtype="string")
    for column in ("first_name", "last_name", "street", "city", "postal_code"):
        frame[column] = frame[column].astype("string")
    return frame


def _true_pairs(person: np.ndarray) -> int:
    sizes = np.bincount(person)
    return int((sizes * (sizes - 1) // 2).sum())


def _scores(found: int, predicted: int, true_pairs: int) -> dict[str, float | int]:
    precision = found / max(predicted, 1)
    recall = found / max(true_pairs, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return {
        "predicted": predicted,
        "true_links": found,
        "false_links": predicted - found,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def pair_accuracy(edges: pd.DataFrame, person: np.ndarray) -> dict[str, float | int]:
    """Precision/recall/F1 of the links as pairs (left_node, right_node are row positions)."""
    same = person[edges["left_node"].to_numpy()] == person[edges["right_node"].to_numpy()]
    return _scores(int(same.sum()), len(edges), _true_pairs(person))


def cluster_accuracy(edges: pd.DataFrame, person: np.ndarray) -> dict[str, float | int]:
    """Precision/recall/F1 of the clusters (connected components) the links form: every two
    records in one cluster are a predicted pair."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(person)
    graph = coo_matrix(
        (np.ones(len(edges)), (edges["left_node"].to_numpy(), edges["right_node"].to_numpy())),
        shape=(n, n),
    )
    _, cluster = connected_components(graph, directed=False)
    both = pd.DataFrame({"cluster": cluster, "person": person})
    predicted = _true_pairs(cluster)
    found = int((both.groupby(["cluster", "person"]).size().pipe(lambda s: s * (s - 1) // 2)).sum())
    return _scores(found, predicted, _true_pairs(person))


def match_with_ours(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    from cdp_assets.identity.probabilistic import probabilistic_links

    result = probabilistic_links(frame)
    stats = {
        key: result.stats[key]
        for key in ("candidate_pairs", "pairs_by_rule", "blocks_skipped", "em_iterations")
    }
    stats["lambda"] = result.stats["lambda"]
    return result.edges, stats


def match_with_splink(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The Splink 5 prototype (bench/identity_splink.py; needs splink importable)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from identity_splink import match_with_splink as splink_matcher

    return splink_matcher(frame)


MATCHERS = {"ours": match_with_ours, "splink": match_with_splink}


def run_matching(path: Path, matcher: str) -> dict:
    frame = pd.read_parquet(path)
    person = frame.pop("person").to_numpy()
    frame.pop("source")
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    edges, stats = MATCHERS[matcher](frame)
    seconds = time.perf_counter() - start
    pairs = pair_accuracy(edges, person)
    clusters = cluster_accuracy(edges, person)
    return {
        "matcher": matcher,
        "records": len(frame),
        "seconds": round(seconds, 2),
        "records_per_second": round(len(frame) / seconds),
        **stats,
        "links": len(edges),
        "peak_rss_mb_after_load": round(rss_before),
        "peak_rss_mb": round(_peak_rss_mb()),
        "true_pairs": _true_pairs(person),
        "pairs": pairs,
        "clusters": clusters,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--population", choices=("dedupe", "link"), default="dedupe")
    parser.add_argument("--matcher", choices=tuple(MATCHERS), default="ours")
    parser.add_argument("--match-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.match_file:
        print(json.dumps(run_matching(args.match_file, args.matcher)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.parquet"
        start = time.perf_counter()
        generate_records(args.records, args.seed, args.population).to_parquet(path)
        generated = time.perf_counter() - start
        child = subprocess.run(
            [sys.executable, __file__, "--match-file", str(path), "--matcher", args.matcher],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["population"] = args.population
    result["generation_seconds"] = round(generated, 2)
    print(
        f"population={args.population}  matcher={args.matcher}  records={result['records']:,}  "
        f"time={result['seconds']}s  records/s={result['records_per_second']:,}  "
        f"links={result['links']:,}  peak_rss={result['peak_rss_mb']:,} MB  "
        f"(true pairs {result['true_pairs']:,})"
    )
    for level in ("pairs", "clusters"):
        scores = result[level]
        print(
            f"  {level:8s} precision={scores['precision']:.4f}  recall={scores['recall']:.4f}  "
            f"f1={scores['f1']:.4f}  false={scores['false_links']:,}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
