"""`generate_demo`: the whole demo set — people, the 11 sources and the ground truth.

Everything is drawn from generators spawned from the one seed, in a fixed order, so the same
arguments give byte-identical files. Each source gets its own child generator (`SeedSequence.spawn`), so a
change in one source does not reshuffle the others.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from cdp_assets.demo import activity_src as activity
from cdp_assets.demo import customers_src as customers
from cdp_assets.demo.catalogue import Catalogue, build_catalogue
from cdp_assets.demo.commerce import Orders, make_orders
from cdp_assets.demo.delivery import DUPLICATE_FILE, DefectLog, SourceTable, deliver, duplicate_file
from cdp_assets.demo.inventory import write_inventory
from cdp_assets.demo.people import Population, make_population
from cdp_assets.demo.places import COUNTRIES
from cdp_assets.demo.seasonality import build_calendar
from cdp_assets.demo.settings import HISTORY_DAYS, LEGACY_DAYS, DemoSettings
from cdp_assets.demo.truth_files import write_defects, write_identity, write_people, write_readme

DEFECT_COLUMNS = (
    "source",
    "file",
    "line",
    "source_record_id",
    "field",
    "rule",
    "expected_action",
    "value",
)


@dataclass
class DemoSummary:
    """What was generated: rows per source and per file, defects, seconds taken."""

    people: int
    seed: int
    end_date: dt.date
    out: Path
    history_days: int = HISTORY_DAYS
    rows: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, source: str, rows: int, files: int, defects: int) -> None:
        self.rows[source] = self.rows.get(source, 0) + rows
        self.files[source] = self.files.get(source, 0) + files
        self.defects[source] = self.defects.get(source, 0) + defects

    def text(self) -> str:
        lines = [
            f"demo set: {self.people} people, seed {self.seed}, {self.history_days} days "
            f"to {self.end_date} → {self.out}"
        ]
        for name, rows in self.rows.items():
            lines.append(
                f"  {name:<18} {rows:>10,} rows in {self.files[name]:>3} file(s), {self.defects[name]:>5} defects"
            )
        lines.append(f"  total defects {sum(self.defects.values()):,}; {self.seconds:.1f} s")
        return "\n".join(lines)


Delivery = Callable[[], SourceTable | Iterator[SourceTable]]


def _plan(
    rngs: list[np.random.Generator],
    pop: Population,
    settings: DemoSettings,
    stock: Callable[[Orders, Catalogue], None] | None = None,
) -> list[Delivery]:
    """The 11 sources, in delivery order, each built only when it is delivered; `stock` is
    handed the orders and catalogue (the inventory file is written from them)."""
    calendar = build_calendar(
        settings.start_date - dt.timedelta(days=LEGACY_DAYS), settings.end_date
    )
    catalogue = build_catalogue()
    orders = make_orders(rngs[0], pop, settings, calendar, catalogue)
    if stock is not None:
        stock(orders, catalogue)
    cards = customers.loyalty_card_numbers(pop)
    tickets, contacted = activity.support_tickets(rngs[1], pop, orders, settings)
    crm = np.zeros(pop.n, dtype=bool)
    crm[contacted] = rngs[2].random(len(contacted)) < 0.8
    crm |= rngs[2].random(pop.n) < 0.08
    shop = lambda: activity.shop_orders(rngs[3], pop, orders, catalogue)  # noqa: E731
    pos = lambda: activity.pos_sales(rngs[4], pop, orders, catalogue, cards)  # noqa: E731
    pending: dict[str, SourceTable] = {}

    def first(pair: Callable[[], tuple[SourceTable, SourceTable]], key: str) -> SourceTable:
        table, items = pair()
        pending[key] = items
        return table

    return [
        lambda: customers.shop_accounts(rngs[5], pop, settings),
        lambda: customers.crm_contacts(rngs[6], pop, crm, settings),
        lambda: customers.loyalty_members(rngs[7], pop, cards),
        lambda: first(shop, "shop"),
        lambda: pending.pop("shop"),
        lambda: first(pos, "pos"),
        lambda: pending.pop("pos"),
        lambda: activity.web_events(rngs[8], pop, orders, settings, catalogue),
        lambda: activity.surveys(rngs[9], pop, orders, settings),
        lambda: tickets,
        lambda: activity.erasure_requests(rngs[10], pop, settings),
    ]


def _deliver_duplicate_file(table: SourceTable, landing: Path, log: DefectLog) -> str | None:
    """The same file delivered again under another name (the middle file of the source)."""
    if not table.files:
        return None
    original = table.files[len(table.files) // 2]
    copy = original.replace(".csv", "_resent.csv")
    duplicate_file(landing, original, copy)
    log.add(
        source=table.name,
        file=copy,
        line="",
        source_record_id="",
        field="",
        rule=DUPLICATE_FILE,
        expected_action=DUPLICATE_FILE,
        value="",
    )
    return copy


def generate_demo(
    people: int,
    seed: int,
    end_date: dt.date,
    out: Path,
    history_days: int = HISTORY_DAYS,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Writes `out/landing/...` (the 11 sources and the inventory) and `out/ground_truth/` (see
    its README), with `history_days` of orders and activity up to `end_date`. `progress`, when
    given, hears each step as it ends (people drawn, each source written, ground truth)."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    out = Path(out)
    settings = DemoSettings(people=people, seed=seed, end_date=end_date, history_days=history_days)
    landing, truth = out / "landing", out / "ground_truth"
    for folder in (landing, truth):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    root = np.random.SeedSequence(seed)
    # A fourth child for the inventory: the first three are the same as ever.
    pop_seq, source_seq, defect_seq, stock_seq = root.spawn(4)
    pop = make_population(np.random.default_rng(pop_seq), settings)
    say(f"{people:,} people drawn")
    summary = DemoSummary(people, seed, end_date, out, history_days)

    def stock(orders: Orders, catalogue: Catalogue) -> None:
        rows = write_inventory(
            np.random.default_rng(stock_seq), orders, catalogue, settings, landing
        )
        summary.add("stock_levels", rows, 1, 0)
        say(f"stock_levels: {rows:,} stock counts")

    plan = _plan([np.random.default_rng(s) for s in source_seq.spawn(11)], pop, settings, stock)
    log = DefectLog()
    identity: list[tuple[str, pa.Array, np.ndarray]] = []
    for build, seq in zip(plan, defect_seq.spawn(len(plan)), strict=True):
        rng = np.random.default_rng(seq)
        built = build()
        for table in [built] if isinstance(built, SourceTable) else built:
            counts = deliver(rng, table, landing, log)
            summary.add(table.name, counts["rows"], len(table.files), counts["defects"])
            say(f"{table.name}: {counts['rows']:,} rows in {len(table.files)} file(s)")
            if table.identity:
                identity.append((table.name, table.record_id, table.person))
            if table.name == "shop_orders" and _deliver_duplicate_file(table, landing, log):
                summary.add(table.name, 0, 1, 1)
    write_identity(truth / "identity.csv", identity, pop.person_id)
    write_defects(truth / "defects.csv", log.rows, DEFECT_COLUMNS)
    write_people(truth / "people.csv", pop, COUNTRIES)
    write_readme(truth / "README.md", settings)
    say("ground truth written")
    summary.seconds = time.perf_counter() - started
    return summary
