"""The reference solver: a baseline diagnosis from what a candidate can see.

It reads only the run's tables and the brief (case.yaml), never the answer key or the
scenario. The steps are the ones a strong analyst takes:

1. reconcile tracked orders with the server-side ledger (a tracking bug shows as a gap);
2. date the drop and match it to the change log;
3. decompose the funnel (CTR, add-to-cart per click, orders per cart);
4. split each dimension's change into mix and rate, and localise the rate part to segments
   by explanatory power and surprise (in the manner of Adtributor);
5. check latency by segment and feed-attribute drift (PSI between feed snapshots);
6. compare with last year's reference weeks;
then estimate shares and order the menu by estimated share per cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl
import yaml

from grading.scoring import MENU, MENU_BY_ID
from grading.solver_tables import RunTables, near_ids
from readout.decompose import mix_rate
from readout.drift import psi_samples
from readout.tables import CONVERTED, CONVERTED_LEDGER

T = TypeVar("T")
DIMENSIONS = ("platform", "app_version", "city_tier", "device", "network", "tenure", "source")
CASE_FILE = "case.yaml"
PRICE_PSI = 0.02  # a price shift in a category the solver calls a cause (list prices
# move only when something moves them: an unchanged category reads 0)
RELEASE_RISE = 0.05  # a platform's median latency rise on every tier, with a new app version
STOCK_FALL = 0.05  # a fall in a category's in-stock share it calls a cause
BOT_MIN_SESSIONS = 20  # an account with this many sessions in a window, all paging without a
BOT_NO_CLICK = 0.95  # click (this share at least) through nearly every page, is a crawler
EMPTY_RISE = 0.01  # a rise in the share of sessions with no feed page it calls a definition change
REPEAT_RISE = 0.005  # a rise in the share of session rows repeating an id it calls a logging bug
UNPAID_RISE = 0.01  # a rise in a client segment's unpaid share of orders: payment failing ...
UNPAID_Z = 3.0  # ... beyond chance (a two-proportion z score; small segments move by luck)
DRAWN_SESSIONS = -0.05  # a segment's share of sessions falling this much (relative) ...
DRAWN_RATE = -0.03  # ... and its conversion falling this much more than the whole's
SERVED_FALL = -0.025  # the items the feed shows after converted this much worse before
SERVED_FUNNEL_FALL = -0.02  # ... while add-to-cart per impression fell this much
ARM_GAP = -0.05  # an experiment's treatment arm falling this much against control (relative)
ARM_Z = -3.0  # ... by this many standard errors (a neutral test's arms stay within 2)
PRICE_ACCOUNTS = 0.75  # a price rise, at the price sensitivity buyers showed before it,
# accounting for less than this share of its categories' fall in add-to-cart per click (the
# single-cause price runs read 0.81-1.30) ...
BROWSERS_Z = -1.0  # ... while those categories' browsers come less often than other users
# (z of their sessions against the rest's; a price does not change how often people come)


@dataclass
class SolverResult:
    """A submission plus the reasoning that produced it."""

    submission: dict[str, Any]
    reasoning: list[str] = field(default_factory=list)
    evidence: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    before: tuple[date, date]  # inclusive
    after: tuple[date, date]


def read_window(run_dir: Path) -> Window:
    case = yaml.safe_load((run_dir / CASE_FILE).read_text())
    start = date.fromisoformat(str(case["start"]))
    days = int(case["days"])
    w = case["windows"]
    after_start = start + timedelta(days=days - w["after_days"])
    before_start = after_start - timedelta(days=w["before_days"])
    return Window(
        (before_start, after_start - timedelta(days=1)),
        (after_start, start + timedelta(days=days - 1)),
    )


def _label(frame: pl.LazyFrame, window: Window, col: str = "date") -> pl.LazyFrame:
    (b0, b1), (a0, a1) = window.before, window.after
    return frame.with_columns(
        side=pl.when(pl.col(col).is_between(b0, b1))
        .then(pl.lit("before"))
        .when(pl.col(col).is_between(a0, a1))
        .then(pl.lit("after"))
        .otherwise(None)
    ).filter(pl.col("side").is_not_null())


def _rel(after: float, before: float) -> float:
    return after / before - 1 if before else 0.0


class Evidence:
    """Each check of the procedure, computed from the tables only."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.window = read_window(self.run_dir)
        self.tables = RunTables(self.run_dir)
        self._memo: dict[Hashable, Any] = {}  # checks of the tables alone
        (b0, _), (_, a1) = self.window.before, self.window.after
        current = self.tables.lazy("sessions").filter(
            (pl.col("period") == "current") & pl.col("date").is_between(b0, a1)
        )  # the days _label keeps (the windows are adjacent), read alone
        self.sessions = self.tables.session_outcomes(_label(current, self.window))
        self.notes: list[str] = []

    @property
    def sessions(self) -> pl.DataFrame:
        """The compared windows' sessions; solve narrows them (no empty sessions, each
        session once, no crawlers), and the checks kept for them are dropped then."""
        return self._sessions

    @sessions.setter
    def sessions(self, frame: pl.DataFrame) -> None:
        self._sessions = frame
        self._per_sessions: dict[Hashable, Any] = {}

    def _for_sessions(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, once for the sessions as they are (solve narrows them)."""
        if key not in self._per_sessions:
            self._per_sessions[key] = compute()
        return self._per_sessions[key]

    def _once(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` of the tables alone, once per run."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- 1. the metric, observed and ledger ------------------------------------------------
    def change(self) -> tuple[float, float, dict[str, float]]:
        by = (
            self.sessions.group_by("side")
            .agg(
                n=pl.len(),
                tracked=CONVERTED.sum(),
                ledger=CONVERTED_LEDGER.sum(),
                impressions=pl.col("impressions").sum(),
                clicks=pl.col("clicks").sum(),
                carts=pl.col("carts").sum(),
                orders=pl.col("ledger_orders").sum(),
            )
            .sort("side")
        )
        rows = {r["side"]: r for r in by.iter_rows(named=True)}
        b, a = rows["before"], rows["after"]
        observed = _rel(a["tracked"] / a["n"], b["tracked"] / b["n"])
        business = _rel(a["ledger"] / a["n"], b["ledger"] / b["n"])
        funnel = {
            "ctr": _rel(a["clicks"] / a["impressions"], b["clicks"] / b["impressions"]),
            "cart_per_click": _rel(a["carts"] / a["clicks"], b["carts"] / b["clicks"]),
            "orders_per_cart": _rel(a["orders"] / a["carts"], b["orders"] / b["carts"]),
            "impressions_per_session": _rel(a["impressions"] / a["n"], b["impressions"] / b["n"]),
            "sessions": _rel(a["n"], b["n"]),
        }
        return observed, business, funnel

    def noise_level(self) -> float:
        """Week-over-week sd of the metric (relative), from day-to-day variation within each
        window, so that the change itself does not inflate it."""
        daily = self.sessions.group_by("date", "side").agg(cr=CONVERTED.mean()).sort("date")
        within = daily.with_columns(dev=pl.col("cr") - pl.col("cr").mean().over("side"))
        rel_sd = float(within["dev"].std(ddof=2) / daily["cr"].mean())
        return rel_sd * math.sqrt(2 / 7)

    # -- 2. date the drop ------------------------------------------------------------------
    def onset(self) -> date | None:
        """The split of the comparison days that best separates two levels of the metric."""
        daily = self.sessions.group_by("date").agg(cr=CONVERTED.mean()).sort("date")
        values = daily["cr"].to_numpy()
        if len(values) < 4:
            return None
        best, where = 0.0, None
        for k in range(2, len(values) - 1):
            gap = values[:k].mean() - values[k:].mean()
            score = gap * math.sqrt(k * (len(values) - k))
            if score > best:
                best, where = score, k
        return daily["date"][where] if where is not None else None

    def changes_near(self, day: date | None) -> pl.DataFrame:
        log = pl.read_parquet(self.run_dir / "tables" / "changelog.parquet")
        if day is None:
            return log.head(0)
        return log.filter(pl.col("ts").dt.date().is_between(day - timedelta(days=1), day))

    # -- 4. mix and rate by dimension --------------------------------------------------------
    def mix_rate(self, dim: str) -> tuple[float, float, pl.DataFrame]:
        """Mix and rate parts of the conversion change (absolute), and per-segment rate parts."""
        return self._for_sessions(("mix_rate", dim), lambda: self._mix_rate(dim))

    def _mix_rate(self, dim: str) -> tuple[float, float, pl.DataFrame]:
        counts = (
            self.sessions.group_by(dim, "side")
            .agg(den=pl.len(), num=CONVERTED.sum())
            .pivot(on="side", index=dim, values=["num", "den"])
        )
        for col in ("num_before", "num_after", "den_before", "den_after"):
            if col not in counts.columns:
                counts = counts.with_columns(pl.lit(0).alias(col))
        seg = mix_rate(counts.fill_null(0), dim).rename(
            {"w_before": "wb", "w_after": "wa", "rate": "rate_part", "mix": "mix_part"}
        )
        return float(seg["mix_part"].sum()), float(seg["rate_part"].sum()), seg

    def localise(self) -> list[tuple[str, str, float, float]]:
        """Adtributor: segments with high explanatory power and surprise, per dimension."""
        found = []
        for dim in DIMENSIONS:
            _, rate, seg = self.mix_rate(dim)
            if rate == 0:
                continue
            seg = seg.with_columns(
                power=pl.col("rate_part") / rate,
                surprise=_js(pl.col("wb"), pl.col("wa")),
            )
            for row in seg.sort("power", descending=True).iter_rows(named=True):
                share = (row["wb"] + row["wa"]) / 2
                if row["power"] > 0.5 and row["power"] > 1.5 * share:
                    found.append((dim, str(row[dim]), float(row["power"]), float(share)))
        return found

    # -- categories: where did orders fall? -------------------------------------------------
    def category_contributions(self) -> pl.DataFrame:
        items = self.tables.lazy("items").select("item_id", "category")
        orders = (
            self.tables.lazy("events")
            .filter(pl.col("event") == "order")
            .join(items, on="item_id")
            .with_columns(date=pl.col("ts").dt.date())
        )
        orders = _label(orders, self.window).group_by("category", "side").agg(n=pl.len())
        sess = self.sessions.group_by("side").len().rename({"len": "sessions"})
        per = (
            orders.collect()
            .join(sess, on="side")
            .with_columns(rate=pl.col("n") / pl.col("sessions"))
            .sort("category", "side")  # the same sums in the same order, run after run
            .pivot(on="side", index="category", values="rate")
            .fill_null(0.0)
        )
        total_before = per["before"].sum()
        return per.with_columns(
            delta=(pl.col("after") - pl.col("before")) / total_before,
            weight=pl.col("before") / total_before,
        ).sort("delta")

    def share_of_change(self, where: pl.Expr) -> float:
        """The share of the change in the tracked rate carried by the sessions matching
        `where`: the rate's change splits exactly over any partition of the sessions."""
        by = self.sessions.group_by("side").agg(
            n=pl.len(), every=CONVERTED.sum(), part=CONVERTED.filter(where).sum()
        )
        rows = {r["side"]: r for r in by.iter_rows(named=True)}
        b, a = rows["before"], rows["after"]
        total = a["every"] / a["n"] - b["every"] / b["n"]
        part = a["part"] / a["n"] - b["part"] / b["n"]
        return max(0.0, min(1.0, part / total)) if total else 0.0

    def new_app_versions(self, platforms: set[str]) -> list[str]:
        """App versions of these platforms that were (almost) absent before and carry a real
        share of their sessions after: a release being adopted."""
        key = ("new_app_versions", frozenset(platforms))
        return list(self._for_sessions(key, lambda: self._new_app_versions(platforms)))

    def _new_app_versions(self, platforms: set[str]) -> list[str]:
        shares = (
            self.sessions.filter(pl.col("platform").is_in(sorted(platforms)))
            .group_by("side", "app_version")
            .len()
            .with_columns(share=pl.col("len") / pl.col("len").sum().over("side"))
            .pivot(on="side", index="app_version", values="share")
            .fill_null(0.0)
        )
        if "before" not in shares.columns or "after" not in shares.columns:
            return []
        grown = shares.filter((pl.col("before") < 0.01) & (pl.col("after") > 0.1))
        return sorted(str(v) for v in grown["app_version"])

    # -- 5. feed drift and latency ------------------------------------------------------------
    def feed_drift(self, onset: date | None) -> pl.DataFrame:
        """Per category: PSI of feed attributes between a snapshot before the comparison and
        the last one, and the share of items whose feed category disagrees with the catalogue."""
        pair = self._snapshot_pair(onset)
        return self._once(("feed_drift", pair), lambda: self._feed_drift(*pair))

    def _snapshot_times(self) -> pl.Series:
        snaps = self.tables.lazy("feed_snapshots")
        times = snaps.select(pl.col("taken_at").unique())
        return self._once("snapshot_times", lambda: times.collect().sort("taken_at")["taken_at"])

    def _snapshot_pair(self, onset: date | None) -> tuple[Any, Any]:
        """The snapshots a feed comparison reads: the last one before the change (no later
        than the before window's end: an onset estimate a day late would otherwise compare
        two drifted snapshots), and the last one."""
        times = self._snapshot_times()
        cut = self.window.before[1]
        if onset is not None:
            cut = min(cut, onset - timedelta(days=1))
        early = [t for t in times if t.date() <= cut]
        return (early[-1] if early else times[0]), times[-1]

    def _feed_drift(self, ref_time: Any, last_time: Any) -> pl.DataFrame:
        snaps = self.tables.lazy("feed_snapshots")
        items = self.tables.lazy("items").select("item_id", true_category="category")
        rows = (
            snaps.filter(pl.col("taken_at").is_in([ref_time, last_time]))
            .join(items, on="item_id")
            .with_columns(
                late=pl.col("taken_at") == last_time,
                mismatch=pl.col("category").cast(pl.String) != pl.col("true_category"),
            )
            .collect()
        )
        out = []
        for cat, frame in rows.group_by("true_category"):
            early_f, late_f = frame.filter(~pl.col("late")), frame.filter(pl.col("late"))
            out.append(
                {
                    "category": cat[0],
                    "mismatch": float(late_f["mismatch"].mean())
                    - float(early_f["mismatch"].mean()),
                    "psi_image": psi_samples(early_f["image_score"], late_f["image_score"]),
                    "psi_price": psi_samples(early_f["price"].log(), late_f["price"].log()),
                    "in_stock_shift": float(late_f["in_stock"].mean() - early_f["in_stock"].mean()),
                }
            )
        frame = pl.DataFrame(out)
        # What the pipeline publishes wrongly (categories, image signal, a stock flag that no
        # longer updates) is the feed's own drift; prices and real stock-outs are other causes.
        return frame.with_columns(
            drift=pl.max_horizontal(
                pl.col("mismatch") * 4,
                pl.col("psi_image"),
                pl.col("in_stock_shift").clip(lower_bound=0) * 4,
            )
        ).sort(  # ties (no drift) in a fixed order: the price shifts first
            ["drift", "psi_price", "category"], descending=[True, True, False]
        )

    def price_moved(self, onset: date | None) -> list[str]:
        """Categories whose feed prices shifted (PSI of log price) since before the onset."""
        drift = self.feed_drift(onset)
        return drift.filter(pl.col("psi_price") > PRICE_PSI)["category"].to_list()

    def stock_fell(self, onset: date | None) -> list[str]:
        """Categories whose share of in-stock items fell since before the onset."""
        drift = self.feed_drift(onset)
        return drift.filter(pl.col("in_stock_shift") < -STOCK_FALL)["category"].to_list()

    def empty_sessions(self) -> pl.DataFrame:
        """Platform and app version segments whose share of logged sessions with no feed page
        rose (a pipeline counting sessions it did not count before)."""
        return self._client_share_rise("empty", EMPTY_RISE)

    def duplicate_sessions(self) -> pl.DataFrame:
        """Platform and app version segments whose session rows repeat a session id more than
        before (a client logging the same session twice)."""
        return self._client_share_rise("repeated", REPEAT_RISE)

    def _client_shares(self) -> pl.DataFrame:
        """Per platform, app version and window: the shares of session rows with no feed page
        and repeating an id (one grouping for both checks, kept for these sessions)."""
        return self._for_sessions(
            "client_shares",
            lambda: self.sessions.group_by("platform", "app_version", "side").agg(
                empty=(pl.col("pages") == 0).mean(),
                repeated=1 - pl.col("session_id").n_unique() / pl.len(),
            ),
        )

    def _client_share_rise(self, share: str, bound: float) -> pl.DataFrame:
        """Platform and app version segments whose `share` of session rows rose by more than
        `bound` from the before window to the after window, largest rise first."""
        return (
            self._client_shares()
            .pivot(on="side", index=["platform", "app_version"], values=share)
            .fill_null(0.0)
            .with_columns(rise=pl.col("after") - pl.col("before"))
            .filter(pl.col("rise") > bound)
            .sort("rise", descending=True)
        )

    def unpaid_rise(self) -> pl.DataFrame:
        """Platform and app version segments whose share of ledger orders left unpaid rose
        beyond chance: the payment step failing for those clients."""
        unpaid = pl.col("status").cast(pl.String) == "unpaid"
        orders = self.tables.frame("orders").select("session_id", unpaid=unpaid)
        n_b, n_a, u_b, u_a = (pl.col(c) for c in ("n_before", "n_after", "u_before", "u_after"))
        pooled = (u_b + u_a) / (n_b + n_a)
        rise = u_a / n_a - u_b / n_b
        se = (pooled * (1 - pooled) * (1 / n_b + 1 / n_a)).sqrt()
        return (
            self.sessions.select("session_id", "platform", "app_version", "side")
            .join(orders, on="session_id")
            .group_by("platform", "app_version", "side")
            .agg(n=pl.len(), u=pl.col("unpaid").sum())
            .pivot(on="side", index=["platform", "app_version"], values=["n", "u"])
            .drop_nulls()
            .with_columns(rise=rise, z=rise / se)
            .filter((pl.col("rise") > UNPAID_RISE) & (pl.col("z") > UNPAID_Z))
            .with_columns(pl.col("platform", "app_version").cast(pl.String))
            .sort("rise", descending=True)
        )

    def segment_drawn_away(self) -> list[tuple[str, str, float]]:
        """Segments (city tier, platform) whose sessions and conversion fall together against
        the rest (buyers going elsewhere), each with its part of the conversion change."""
        return list(self._for_sessions("segment_drawn_away", self._segment_drawn_away))

    def _segment_drawn_away(self) -> list[tuple[str, str, float]]:
        found = []
        for dim in ("city_tier", "platform"):
            mix, rate, seg = self.mix_rate(dim)
            total = mix + rate
            if total >= 0:
                continue
            whole = float((seg["wa"] * seg["r_after"]).sum() / (seg["wb"] * seg["r_before"]).sum())
            seg = seg.with_columns(
                sessions=pl.col("wa") / pl.col("wb") - 1,
                conversion=pl.col("r_after") / pl.col("r_before") - whole,
                part=pl.col("total") / total,
            )
            for row in seg.filter(
                (pl.col("sessions") < DRAWN_SESSIONS)
                & (pl.col("conversion") < DRAWN_RATE)
                & (pl.col("part") > 0.5)
            ).iter_rows(named=True):
                found.append((dim, str(row[dim]), min(1.0, float(row["part"]))))
        return found

    def price_sensitivity(self) -> float:
        """How much add-to-cart per click falls per unit of log price, from the clicks up to
        the before window's end: a logistic fit of carting on an item's log price against its
        category's mean (one intercept per category), over items' clicks and carts."""
        seen = self.tables.lazy("sessions").filter(
            (pl.col("period") == "current") & (pl.col("date") <= self.window.before[1])
        )
        events = self.tables.lazy("events").join(seen.select("session_id"), on="session_id")
        pair = ["session_id", "item_id"]
        carts = events.filter(pl.col("event") == "add_to_cart").select(pair).unique()
        items = self.tables.lazy("items").select("item_id", "category", lp=pl.col("price").log())
        per = (
            events.filter(pl.col("event") == "click")
            .select(pair)
            .unique()
            .join(carts.with_columns(c=pl.lit(1)), on=pair, how="left")
            .group_by("item_id")
            .agg(n=pl.len(), k=pl.col("c").fill_null(0).sum())
            .join(items, on="item_id")
            .with_columns(x=pl.col("lp") - pl.col("lp").mean().over("category"))
            .collect()
        )
        cats = sorted(per["category"].unique().to_list())
        dummies = [(per["category"] == c).to_numpy().astype(float) for c in cats]
        design = np.column_stack([*dummies, per["x"].to_numpy()])
        n, k = per["n"].to_numpy().astype(float), per["k"].to_numpy().astype(float)
        beta = np.zeros(design.shape[1])
        beta[:-1] = math.log(k.sum() / max(1.0, n.sum() - k.sum()))
        for _ in range(30):  # Newton steps on the binomial likelihood
            p = 1 / (1 + np.exp(-design @ beta))
            hess = (design * (n * p * (1 - p))[:, None]).T @ design
            step = np.linalg.solve(hess, design.T @ (k - n * p))
            beta += step
            if np.abs(step).max() < 1e-8:
                break
        return float(-beta[-1])

    def price_rise(self, cats: list[str], onset: date | None) -> float:
        """Mean change of log feed price of these categories' items, between the snapshots
        feed_drift compares (the last one before the change, and the last one)."""
        snaps = self.tables.lazy("feed_snapshots")
        items = self.tables.lazy("items").select("item_id", "category")
        means = (
            snaps.filter(pl.col("taken_at").is_in(list(self._snapshot_pair(onset))))
            .join(items.filter(pl.col("category").is_in(cats)), on="item_id")
            .group_by("taken_at")
            .agg(lp=pl.col("price").log().mean())
            .collect()
            .sort("taken_at")["lp"]
        )
        return float(means[-1] - means[0]) if means.len() == 2 else 0.0

    def cart_per_click_change(self, cats: list[str]) -> float:
        """Log change of add-to-cart per click on these categories' items, after over before."""
        sides = self.sessions.select("session_id", "side").unique().lazy()
        items = self.tables.lazy("items").select("item_id", "category")
        rows = (
            self.tables.lazy("events")
            .join(items.filter(pl.col("category").is_in(cats)), on="item_id")
            .join(sides, on="session_id")
            .group_by("side")
            .agg(
                clicks=(pl.col("event") == "click").sum(),
                carts=(pl.col("event") == "add_to_cart").sum(),
            )
            .collect()
        )
        rate = {r["side"]: r["carts"] / max(1, r["clicks"]) for r in rows.iter_rows(named=True)}
        if not rate.get("after") or not rate.get("before"):
            return 0.0
        return math.log(rate["after"] / rate["before"])

    def category_browsers_sessions(self, cats: list[str]) -> float:
        """Whether users who browse these categories came less often than other users: a z
        score (negative: they did). Each user's share of feed impressions in the categories is
        read before the before window (so a window's luck does not pick the groups), and their
        sessions in each window are compared, weighted by that share against the rest's
        (a score test of sessions falling in proportion to the share)."""
        b0 = self.window.before[0]
        early = self.tables.lazy("sessions").filter(
            (pl.col("period") == "current") & (pl.col("date") < b0)
        )
        if early.select(pl.len()).collect().item() == 0:  # no days before: the before window
            early = self.tables.lazy("sessions").filter(pl.col("session_id").is_in(
                self.sessions.filter(pl.col("side") == "before")["session_id"].implode()
            ))  # fmt: skip
        early = early.select("session_id", "user_id").collect()
        items = self.tables.lazy("items").select("item_id", shown=pl.col("category").is_in(cats))
        # A user's share: their impressions in the categories over all their impressions,
        # counted per session first (a session's impressions join its user once, not each).
        per_session = (
            self.tables.lazy("impressions")
            .filter(near_ids(early["session_id"]))  # their row groups alone
            .join(items, on="item_id")
            .group_by("session_id")
            .agg(n=pl.col("shown").count(), k=pl.col("shown").sum())
        )
        mix = (
            early.lazy()
            .join(per_session, on="session_id")
            .group_by("user_id")
            .agg(n=pl.col("n").sum(), k=pl.col("k").sum())
            .select("user_id", w=pl.when(pl.col("n") > 0).then(pl.col("k") / pl.col("n")))
            .sort("user_id")  # the sums below in the same order, run after run
            .collect()
        )
        counts = (
            self.sessions.group_by("user_id", "side")
            .len()
            .pivot(on="side", index="user_id", values="len")
        )
        if "before" not in counts.columns or "after" not in counts.columns:
            return 0.0
        j = mix.join(counts, on="user_id", how="left", maintain_order="left").fill_null(0)
        after, before, w = (j[c].to_numpy().astype(float) for c in ("after", "before", "w"))
        if before.sum() == 0:
            return 0.0
        ratio = after.sum() / before.sum()
        dev = w - (w * (after + before)).sum() / max(1.0, (after + before).sum())
        score = (dev * (after - ratio * before)).sum()
        var = (dev**2 * (after + ratio**2 * before)).sum()
        return float(score / math.sqrt(var)) if var > 0 else 0.0

    def bot_sessions(self) -> pl.DataFrame:
        """Sessions of accounts that behave like crawlers: many sessions in a window, nearly
        all of them fetching every feed page without a click."""
        max_pages = self.sessions["pages"].max() or 0
        accounts = (
            self.sessions.group_by("user_id", "side")
            .agg(
                n=pl.len(),
                no_click=(pl.col("clicks") == 0).mean(),
                full=(pl.col("pages") >= max_pages).mean(),
            )
            .filter(
                (pl.col("n") >= BOT_MIN_SESSIONS)
                & (pl.col("no_click") >= BOT_NO_CLICK)
                & (pl.col("full") >= 0.8)
            )
        )
        return self.sessions.join(accounts.select("user_id", "side"), on=["user_id", "side"])

    def experiment_arms(self) -> pl.DataFrame:
        """Per experiment: how its treatment arm's conversion moved against control's from
        the before window to the after window (the same hashed users in both, so the arms'
        own differences cancel), and the share of the change that widening gap carries."""
        schema = {"experiment_id": pl.String, "gap": pl.Float64, "z": pl.Float64,
                  "share": pl.Float64}  # fmt: skip
        assigned = self.tables.frame("assignments")
        if assigned.is_empty():
            return pl.DataFrame(schema=schema)
        treated = pl.when(pl.col("arm") == "control").then(pl.lit("c")).otherwise(pl.lit("t"))
        cells = (
            self.sessions.join(assigned, on="user_id")
            .with_columns(arm=treated)
            .group_by("experiment_id", "arm", "side")
            .agg(n=pl.len(), conv=CONVERTED.sum())
        )
        whole = self.sessions.group_by("side").agg(n=pl.len(), conv=CONVERTED.sum())
        total = {r["side"]: r for r in whole.iter_rows(named=True)}
        after_n = total["after"]["n"]
        change = total["after"]["conv"] / after_n - total["before"]["conv"] / total["before"]["n"]
        rows = []
        for (eid,), frame in cells.group_by("experiment_id"):
            cell = {(r["arm"], r["side"]): r for r in frame.iter_rows(named=True)}
            if len(cell) < 4 or min(r["conv"] for r in cell.values()) == 0:
                continue
            rate = {k: r["conv"] / r["n"] for k, r in cell.items()}
            ratio_after = rate[("t", "after")] / rate[("c", "after")]
            gap = ratio_after / (rate[("t", "before")] / rate[("c", "before")]) - 1
            se = math.sqrt(sum(1 / r["conv"] for r in cell.values()))
            lost = cell[("t", "after")]["conv"] * (1 / (1 + gap) - 1) / after_n
            share = max(0.0, min(1.0, -lost / change)) if change < 0 else 0.0
            rows.append({"experiment_id": eid, "gap": gap, "z": math.log1p(gap) / se,
                         "share": share})  # fmt: skip
        return pl.DataFrame(rows, schema=schema)

    def latency_shift(self) -> pl.DataFrame:
        """Median total latency before and after, by platform and city tier."""
        (b0, _), (_, a1) = self.window.before, self.window.after
        start, end = (datetime.combine(day, time()) for day in (b0, a1 + timedelta(days=1)))
        req = self.tables.lazy("requests").filter((pl.col("ts") >= start) & (pl.col("ts") < end))
        req = _label(
            req.with_columns(
                date=pl.col("ts").dt.date(), total=pl.col("server_ms") + pl.col("client_ms")
            ),
            self.window,
        )
        req = req.select("session_id", "side", "total", "status").collect()
        sessions = (  # those sessions' row groups alone; in id order, the join builds quicker
            self.tables.lazy("sessions")
            .select("session_id", "platform", "city_tier")
            .filter(near_ids(req["session_id"]))
            .sort("session_id")
        )
        return (
            req.lazy()
            .join(sessions, on="session_id")
            .group_by("platform", "city_tier", "side")
            .agg(p50=pl.col("total").median(), errors=(pl.col("status") >= 500).mean())
            .collect()
            .pivot(on="side", index=["platform", "city_tier"], values=["p50", "errors"])
            .with_columns(
                rise=pl.col("p50_after") / pl.col("p50_before") - 1,
                error_rise=pl.col("errors_after") - pl.col("errors_before"),
            )
            .sort("rise", descending=True)
        )

    # -- 6. last year ------------------------------------------------------------------------
    def last_year_change(self) -> float | None:
        """The metric's change between last year's weeks of the two windows (364 days back,
        the same weekdays), or None when last year has no sessions in either."""
        shift = timedelta(days=364)
        (b0, b1), (a0, a1) = self.window.before, self.window.after
        ref = self.tables.session_outcomes(
            self.tables.lazy("sessions")
            .filter(pl.col("period") == "reference")
            .select("session_id", "date"),
            parts=("events",),
        ).lazy()
        rates = []
        for lo, hi in ((b0, b1), (a0, a1)):
            days = pl.col("date").is_between(lo - shift, hi - shift)
            rates += [days.sum().alias(f"n{lo}"), CONVERTED.filter(days).mean().alias(f"r{lo}")]
        n_before, before, n_after, after = ref.select(rates).collect().row(0)
        if not n_before or not n_after:
            return None
        return _rel(float(after), float(before))

    def calendar_events(self) -> list[str]:
        """The events the calendar names in this year's windows, paydays aside (they fall in
        every month, and a window holding one more of them is ordinary variance)."""
        cal = pl.read_parquet(self.run_dir / "tables" / "calendar.parquet")
        (b0, _), (_, a1) = self.window.before, self.window.after
        days = cal.filter((pl.col("period") == "current") & pl.col("date").is_between(b0, a1))
        names = {
            name.strip()
            for text in days["events"].drop_nulls().to_list()
            for name in text.split(",")
            if name.strip() and name.strip() != "payday"
        }
        return sorted(names)

    def served_conversion(self) -> float:
        """How well the items the feed shows after had converted before: each item's orders
        per impression in the before window (shrunk toward the whole), averaged over each
        window's impressions, after relative to before. A ranker that serves worse items
        reads negative, with no input of its (feed, prices, stock) or weights moving."""
        sides = self.sessions.select("session_id", before=pl.col("side") == "before").lazy()
        # Impressions per window and item, counted once (each impression row once per
        # session row it joins, as the sessions are listed).
        shown = (
            self.tables.lazy("impressions")
            .filter(near_ids(self.sessions["session_id"]))  # their row groups alone
            .join(sides, on="session_id")
            .group_by("before", "item_id")
            .agg(shown=pl.len())
        )
        orders = (
            self.tables.lazy("events")
            .filter(pl.col("event") == "order")
            .join(sides.filter("before"), on="session_id")
            .group_by("item_id")
            .agg(o=pl.len())
        )
        shown, orders = pl.collect_all([shown, orders])
        shown = shown.sort("before", "item_id")  # the same sums in the same order, run after run
        rate = (
            shown.filter("before")
            .select("item_id", n="shown")
            .join(orders, on="item_id", how="left")
            .with_columns(pl.col("o").fill_null(0))
        )
        whole = rate.select(pl.col("o").sum() / pl.col("n").sum()).item() or 0.0
        rate = rate.select("item_id", r=(pl.col("o") + 20 * whole) / (pl.col("n") + 20))
        by = (  # each window's mean over its impressions of their item's rate
            shown.join(rate, on="item_id", how="left", maintain_order="left")
            .group_by("before")
            .agg(r=(pl.col("r").fill_null(whole) * pl.col("shown")).sum() / pl.col("shown").sum())
        )
        means = dict(zip(by["before"], by["r"], strict=True))
        return _rel(means.get(False, 0.0), means.get(True, 0.0))

    def reward_weights_moved(self) -> float:
        runs = (
            pl.read_parquet(self.run_dir / "tables" / "ranker_runs.parquet")
            .filter(pl.col("period") == "current")
            .sort("trained_at")
        )
        if runs.height < 2:
            return 0.0
        click = runs["reward_click"].to_numpy()
        conv = runs["reward_conversion"].to_numpy()
        return float(max(click.max() - click.min(), conv.max() - conv.min()))


def _js(p: pl.Expr, q: pl.Expr) -> pl.Expr:
    """Per-segment Jensen-Shannon surprise term (Adtributor)."""
    m = (p + q) / 2
    eps = 1e-12
    return 0.5 * (p * ((p + eps) / (m + eps)).log() + q * ((q + eps) / (m + eps)).log())


def solve(run_dir: Path) -> SolverResult:
    """Diagnose a run from its tables; returns a submission and the reasoning."""
    ev = Evidence(Path(run_dir))
    why: list[str] = []
    observed, business, funnel = ev.change()
    sd = ev.noise_level()
    why.append(
        f"Feed session conversion changed {observed:+.2%} (ledger {business:+.2%}); "
        f"week-over-week noise is about ±{sd:.1%}."
    )
    est: dict[str, float] = {}
    if abs(observed) < 1.5 * sd:
        why.append("The change is within 1.5 standard errors of ordinary variance: NOISE first.")
        return SolverResult(
            {"order": ["NOISE", "DEPLOY", "DATA", "MIX"], "shares": {"unexplained": 1.0}},
            why,
            {"observed": observed, "noise_sd": sd},
        )
    remaining = observed
    # 0. the denominator: sessions with no feed page that were not logged before
    empty = ev.empty_sessions()
    if observed < 0 and empty.height:
        ev.sessions = ev.sessions.filter(pl.col("pages") > 0)
        fed = ev.change()[0]
        segs = ", ".join(f"{r['platform']} {r['app_version']}" for r in empty.head(3).to_dicts())
        if (observed - fed) / observed > 0.1:
            est["DEF"] = (observed - fed) / observed
            remaining -= observed - fed
            why.append(
                f"Sessions with no feed page appeared in {segs}; without them conversion "
                f"changed {fed:+.2%}: the denominator grew."
            )
    # 0b. the same session logged twice: count each session once
    repeated = ev.duplicate_sessions()
    if observed < 0 and repeated.height:
        ev.sessions = ev.sessions.unique("session_id", keep="first", maintain_order=True)
        once = ev.change()[0]
        segs = ", ".join(f"{r['platform']} {r['app_version']}" for r in repeated.head(3).to_dicts())
        if (observed - once) / observed > 0.1:
            est["DATA"] = (observed - once) / observed
            remaining -= observed - once
            why.append(
                f"Session ids appear twice in {segs}; counting each session once, conversion "
                f"changed {once:+.2%}: duplicated logging."
            )
    # 1. tracking gap
    gap = observed - business
    if observed < 0 and gap < -max(0.01, sd) and gap / observed > 0.2:
        est["DATA"] = est.get("DATA", 0.0) + gap / observed
        remaining -= gap
        why.append(f"Tracked orders fell {gap:+.2%} more than the ledger: a tracking problem.")
    # 1b. crawler sessions: measure the change without them, then look at people only
    bots = ev.bot_sessions()
    if bots.height and observed < 0:
        ev.sessions = ev.sessions.join(bots.select("session_id"), on="session_id", how="anti")
        human, _, _ = ev.change()
        est["BOT"] = max(0.0, min(1.0, (observed - human) / observed))
        remaining -= observed - human
        accounts = bots["user_id"].n_unique()
        why.append(
            f"{bots.height} sessions from {accounts} accounts page through the feed without a "
            f"click; without them conversion changed {human:+.2%}."
        )
    # 2. onset and change log
    onset = ev.onset()
    near = ev.changes_near(onset)
    if onset is not None:
        why.append(f"The drop dates to about {onset}; {near.height} change-log entries nearby.")
    # 2b. experiments: a treatment arm falling against its control from one window to the next
    for arm in ev.experiment_arms().iter_rows(named=True):
        if remaining < 0 and arm["gap"] < ARM_GAP and arm["z"] < ARM_Z:
            est["DEPLOY"] = max(est.get("DEPLOY", 0.0), arm["share"])
            remaining -= arm["share"] * observed
            why.append(
                f"In experiment {arm['experiment_id']} the treatment arm's conversion moved "
                f"{arm['gap']:+.0%} against control; its users carry {arm['share']:.0%} of the "
                "fall."
            )
    # 6. seasonality: last year's same weeks moved too, and the calendar names an event
    last_year = ev.last_year_change()
    events = ev.calendar_events()
    if last_year is not None and remaining < 0 and last_year < -sd and events:
        share = min(1.0, last_year / observed)
        est["SEASON"] = share
        remaining -= last_year
        why.append(
            f"Last year's same weeks moved {last_year:+.2%}, and the calendar names "
            f"{', '.join(events)}: a seasonal pattern."
        )
    elif last_year is not None and last_year < -sd:
        why.append(
            f"Last year's same weeks moved {last_year:+.2%}, but the calendar names no event "
            "in the windows: chance, not a season."
        )
    # 3. funnel and ranker
    moved = ev.reward_weights_moved()
    if moved > 0.05 and remaining < 0:
        est["RANK"] = 0.0  # sized below with the category split
        why.append(
            f"The ranker's reward weights moved by {moved:.2f}; CTR {funnel['ctr']:+.1%}, "
            f"add-to-cart per click {funnel['cart_per_click']:+.1%}."
        )
    elif funnel["ctr"] > -0.01 and funnel["cart_per_click"] < -0.04 and remaining < 0:
        priced = ev.price_moved(onset)
        if priced:  # the same funnel signature, with the prices to show for it
            why.append("CTR held while add-to-cart per click fell, and prices rose with it.")
        elif ev.segment_drawn_away():  # one segment's buyers, not what the ranker serves
            why.append("CTR held while add-to-cart per click fell in one segment only.")
        else:
            est["RANK"] = 0.0
            why.append("CTR held while add-to-cart per click fell: the ranker serves clickbait.")
    # The ranker acts between the impression and the cart: a worse model loses clicks as well
    # as carts (how the fall splits between CTR and add-to-cart per click varies by world), so
    # the gate is their product, add-to-cart per impression.
    per_impression = (1 + funnel["ctr"]) * (1 + funnel["cart_per_click"]) - 1
    if "RANK" not in est and remaining < 0 and per_impression < SERVED_FUNNEL_FALL:
        served = ev.served_conversion()
        if served < SERVED_FALL and not ev.stock_fell(onset) and not ev.price_moved(onset):
            est["RANK"] = 0.0  # sized below with the category split
            why.append(
                f"The items the feed shows now had converted {served:+.1%} against last week's "
                "mix, with its inputs (feed, prices, stock) and reward weights unchanged: the "
                "ranker."
            )
    # 5. feed drift, localised to categories
    drift = ev.feed_drift(onset)
    drifted = drift.filter(pl.col("drift") > 0.1)["category"].to_list()
    contrib = ev.category_contributions()
    if remaining < 0:
        total_delta = float(contrib["delta"].sum()) or -1e-9
        feed_part = float(contrib.filter(pl.col("category").is_in(drifted))["delta"].sum())
        feed_share = max(0.0, min(1.0, feed_part / total_delta)) if drifted else 0.0
        if drifted and feed_share > 0.1:
            est["FEED"] = feed_share * remaining / observed
            why.append(
                f"Feed attributes drifted in {', '.join(drifted)}; those categories carry "
                f"{feed_share:.0%} of the fall in orders."
            )
        if "RANK" in est:
            est["RANK"] = max(0.0, (1 - feed_share)) * remaining / observed
    # 5a. prices and stock, localised to categories the same way
    for hypothesis, cats, what in (
        ("PRICE", ev.price_moved(onset), "Prices rose"),
        ("SUPPLY", ev.stock_fell(onset), "In-stock shares fell"),
    ):
        if cats and remaining < 0:
            total_delta = float(contrib["delta"].sum()) or -1e-9
            part = float(contrib.filter(pl.col("category").is_in(cats))["delta"].sum())
            share = max(0.0, min(1.0, part / total_delta))
            if share > 0.1:
                est[hypothesis] = share * remaining / observed
                why.append(
                    f"{what} in {', '.join(cats)}; those categories carry {share:.0%} of the "
                    "fall in orders."
                )
    # 5a'. does the price rise account for its categories' whole fall? Buyers' price
    # sensitivity (measured on the clicks before) times the rise predicts the fall in
    # add-to-cart per click there; a competitor selling the same categories takes purchase
    # intent on the same step, so when the prediction falls well short AND those categories'
    # browsers also come less often, the categories' part is split in log terms: the part the
    # price predicts is PRICE's, the rest COMP's (the competitor's skipped sessions leave the
    # numerator and the denominator together, so they are not sized apart).
    priced = ev.price_moved(onset) if est.get("PRICE", 0.0) > 0 else []
    fall = ev.cart_per_click_change(priced) if priced else 0.0
    if fall < 0:
        predicted = -ev.price_sensitivity() * ev.price_rise(priced, onset)
        accounted = max(0.0, min(1.0, predicted / fall))
        browsers = ev.category_browsers_sessions(priced) if accounted < PRICE_ACCOUNTS else 0.0
        if browsers < BROWSERS_Z:
            part = est["PRICE"]
            est["PRICE"] = part * accounted
            est["COMP"] = max(est.get("COMP", 0.0), part * (1 - accounted))
            why.append(
                f"At the price sensitivity buyers showed before, the rise predicts "
                f"{predicted:+.0%} in add-to-cart per click there, {accounted:.0%} of the "
                f"{fall:+.0%} seen; and users who browse {', '.join(priced)} came less often "
                f"than others (z {browsers:+.1f}): a competitor draws those buyers away too."
            )
    # 5b. latency
    lat = ev.latency_shift()
    slow = lat.filter((pl.col("rise") > 0.15) | (pl.col("error_rise") > 0.01))
    if slow.height:
        segs = ", ".join(f"{r['platform']}/tier {r['city_tier']}" for r in slow.head(3).to_dicts())
        cells = pl.lit(False)
        for r in slow.to_dicts():
            cells |= (pl.col("platform") == r["platform"]) & (pl.col("city_tier") == r["city_tier"])
        part = ev.share_of_change(cells)
        releases = ev.new_app_versions(set(slow["platform"].to_list()))
        # A new client version taking over where it got slow: the release, not the servers.
        est["PLATFORM" if releases else "PERF"] = part * max(0.0, remaining / observed)
        why.append(
            f"Latency or errors rose in {segs}, which carry {part:.0%} of the fall"
            + (f"; app version {', '.join(releases)} is new there." if releases else ".")
        )
    # 5b'. a release taking over one platform, its pages slower on every tier (render time
    # adds to each request a little: a rise below the slow-segment bar, but everywhere there)
    if remaining < 0 and "PLATFORM" not in est:
        for platform in ("ios", "android"):
            rises = lat.filter(pl.col("platform") == platform)["rise"]
            releases = ev.new_app_versions({platform})
            if releases and rises.len() and float(rises.min()) > RELEASE_RISE:
                part = ev.share_of_change(pl.col("platform") == platform)
                est["PLATFORM"] = part * max(0.0, remaining / observed)
                why.append(
                    f"App version {', '.join(releases)} took over {platform}, whose pages got "
                    f"slower on every city tier; {platform} carries {part:.0%} of the fall."
                )
    # 5b''. payments failing for some clients: their unpaid share of orders jumped
    if remaining < 0 and "PLATFORM" not in est:
        failing = ev.unpaid_rise()
        cells = pl.lit(False)
        for r in failing.to_dicts():
            cells |= (pl.col("platform") == r["platform"]) & (
                pl.col("app_version") == r["app_version"]
            )
        part = ev.share_of_change(cells) if failing.height else 0.0
        if part > 0.1:
            est["PLATFORM"] = part * max(0.0, remaining / observed)
            top = failing.head(3).to_dicts()
            segs = ", ".join(f"{r['platform']} {r['app_version']}" for r in top)
            why.append(
                f"Orders left unpaid rose in {segs}, which carry {part:.0%} of the fall: "
                "checkout failing on those clients."
            )
    # 5c. a segment drawn away, with nothing on the platform's side to show for it
    slow_tiers = {str(r["city_tier"]) for r in slow.to_dicts()}
    for dim, segment, part in ev.segment_drawn_away():
        if remaining < 0 and not (dim == "city_tier" and segment in slow_tiers):
            est["COMP"] = max(est.get("COMP", 0.0), part * remaining / observed)
            why.append(
                f"Sessions and conversion fell together in {dim}={segment} ({part:.0%} of the "
                "change) with prices, stock and latency there unchanged: buyers went elsewhere."
            )
    # 4. mix
    mix_total = sum(ev.mix_rate(dim)[0] for dim in ("platform", "source", "tenure"))
    before_rate = float(
        ev.sessions.filter(pl.col("side") == "before").select(CONVERTED.mean()).item()
    )
    mix_rel = mix_total / before_rate
    if observed < 0 and mix_rel < -0.3 * abs(observed):
        est["MIX"] = min(1.0, mix_rel / observed)
        why.append(f"Traffic mix alone moves conversion {mix_rel:+.2%}.")
    if not near.is_empty():
        est.setdefault("DEPLOY", 0.0)
    for dim, segment, power, share in ev.localise()[:3]:
        why.append(
            f"{dim}={segment} explains {power:.0%} of the rate change ({share:.0%} of traffic)."
        )
    # Noise's expected share of the change: the positive part of N(0, sd), E = 0.4 sd.
    noise = 0.4 * sd / abs(observed)
    return _submission(
        est, noise, why, {"observed": observed, "business": business, "noise_sd": sd}
    )


def _submission(
    est: dict[str, float], noise: float, why: list[str], evidence: dict[str, float]
) -> SolverResult:
    """Order by estimated share per cost; claim shares, the rest unexplained."""
    est = {k: max(0.0, v) for k, v in est.items()}
    total = sum(est.values())
    if total > 1:
        est = {k: v / total for k, v in est.items()}
    ranking = {**est, "NOISE": noise}
    ranked = sorted(ranking, key=lambda h: (-ranking[h] / MENU_BY_ID[h].cost, MENU_BY_ID[h].cost))
    rest = [h.id for h in sorted(MENU, key=lambda h: h.cost) if h.id not in ranked]
    shares = {k: round(v, 3) for k, v in est.items() if v > 0.005}
    excess = round(sum(shares.values()) - 1, 3)
    if excess > 0:  # rounding pushed the claims past the whole: trim the largest
        top = max(shares, key=shares.__getitem__)
        shares[top] = round(shares[top] - excess, 3)
    shares["unexplained"] = round(max(0.0, 1 - sum(shares.values())), 3)
    notes = {h: "estimated from the tables" for h in shares if h != "unexplained"}
    why.append("Order: " + " > ".join(ranked) + " (by estimated share per cost), then the rest.")
    return SolverResult({"order": ranked + rest, "shares": shares, "notes": notes}, why, evidence)
