"""Scoring: the menu, submission validation, and the order, diagnosis and rank metrics."""

from __future__ import annotations

import json
import math
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grading.scoring import (
    MENU,
    MENU_BY_ID,
    MENU_IDS,
    TOTAL_COST,
    Submission,
    SubmissionError,
    as_causes,
    best_loss,
    diag_score,
    expected_reach_cost,
    load_submission,
    ndcg_at,
    order_loss,
    order_score,
    parse_submission,
    random_loss,
    relevances,
    score,
    true_shares_by_id,
)


def cause(cid: str, share: float, *hits: str, decoy: bool = False) -> dict:
    return {"id": cid, "share": share, "hit_set": list(hits), "decoy": decoy}


# The worked example: a feed change, a latency regression shipped in a deploy, and noise.
KEY = [
    cause("feed_change", 0.6, "FEED"),
    cause("slow_release", 0.3, "PERF", "DEPLOY"),
    cause("noise", 0.1, "NOISE"),
]

# Several causes with overlapping hit sets, a decoy with an offsetting (negative) share.
BUSY_KEY = [
    cause("reward_shift", 0.45, "RANK", "DEPLOY"),
    cause("feed_stale", 0.25, "FEED", "DATA"),
    cause("cdn_outage", 0.15, "PERF", "DEPLOY"),
    cause("campaign_end", 0.10, "MIX", "SEASON"),
    cause("coupon_decoy", -0.05, "PRICE", decoy=True),
    cause("noise", 0.10, "NOISE"),
]


def submission(order: list[str], shares: dict[str, float] | None = None) -> Submission:
    return parse_submission({"order": order, "shares": shares or {"unexplained": 1.0}})


def brute_force_best(causes: list[dict]) -> float:
    """L* by trying every order of the ids that can confirm a cause (keys of ≤ 8 such ids)."""
    rel = relevances(causes)
    live = [(set(c["hit_set"]), rel[c["id"]]) for c in causes if rel[c["id"]] > 0]
    ids = sorted({h for hits, _ in live for h in hits})
    assert len(ids) <= 8
    best = math.inf
    for perm in permutations(ids):
        spent = {}
        total = 0.0
        for hid in perm:
            total += MENU_BY_ID[hid].cost
            spent[hid] = total
        best = min(best, sum(r * min(spent[h] for h in hits) for hits, r in live))
    return best if live else 0.0


# ------------------------------------------------------------------------------------------
# The menu
# ------------------------------------------------------------------------------------------


def test_menu_is_the_design_table():
    expected = {
        "NOISE": 0.5,
        "DEF": 0.5,
        "DATA": 1,
        "DEPLOY": 1,
        "MIX": 1.5,
        "BOT": 1,
        "SEASON": 1,
        "PERF": 2,
        "FEED": 2,
        "PRICE": 2,
        "SUPPLY": 2,
        "PLATFORM": 2,
        "RANK": 3,
        "COMP": 3,
    }
    assert [h.id for h in MENU] == list(expected)
    assert {h.id: h.cost for h in MENU} == expected
    assert MENU_BY_ID["FEED"].name == "upstream item-feed change"
    assert TOTAL_COST == 22.5
    with pytest.raises(AttributeError):
        MENU[0].cost = 9  # type: ignore[misc]


# ------------------------------------------------------------------------------------------
# Order score
# ------------------------------------------------------------------------------------------


def test_hand_computed_case():
    # Order FEED (2), RANK (3), PERF (2):
    #   T_feed = 2; T_slow = 2 + 3 + 2 = 7; noise never reached -> 22.5 (the whole menu).
    #   L = 0.6·2 + 0.3·7 + 0.1·22.5 = 1.2 + 2.1 + 2.25 = 5.55
    # Best: DEPLOY (1), FEED (2), NOISE (0.5): T = 1, 3, 3.5
    #   L* = 0.3·1 + 0.6·3 + 0.1·3.5 = 0.3 + 1.8 + 0.35 = 2.45
    # Random order of all 14 entries, E[T] = Σ_{i∉H} c_i/(h+1) + Σ_{j∈H} c_j/h:
    #   feed: 20.5/2 + 2 = 12.25; slow: 19.5/3 + 3/2 = 8.0; noise: 22/2 + 0.5 = 11.5
    #   L_rand = 0.6·12.25 + 0.3·8 + 0.1·11.5 = 7.35 + 2.4 + 1.15 = 10.9
    # S_order = (10.9 − 5.55) / (10.9 − 2.45) = 5.35 / 8.45
    # Claims FEED .5, PERF .3, unexplained .2 against truth FEED .6, PERF .3, NOISE .1:
    #   S_diag = 1 − ½(0.1 + 0 + 0.1) = 0.9
    # Ranks: feed at 1, slow at 3, noise never.
    #   AC@1 = 0.6; AC@3 = 0.9; Avg@5 = (0.6 + 0.6 + 0.9 + 0.9 + 0.9)/5 = 0.78
    #   MRR = 0.6/1 + 0.3/3 = 0.7
    #   DCG@5 = 0.6/log2(2) + 0.3/log2(4) = 0.75; ideal = 0.6 + 0.3/log2(3) + 0.1/log2(4)
    sub = submission(["FEED", "RANK", "PERF"], {"FEED": 0.5, "PERF": 0.3, "unexplained": 0.2})
    report = score(sub, KEY)
    assert report.loss == pytest.approx(5.55)
    assert report.best_loss == pytest.approx(2.45)
    assert report.random_loss == pytest.approx(10.9)
    assert report.order_score == pytest.approx(5.35 / 8.45)
    assert report.diag_score == pytest.approx(0.9)
    assert report.case_score == pytest.approx(0.7 * 5.35 / 8.45 + 0.3 * 0.9)
    assert report.ac1 == pytest.approx(0.6)
    assert report.ac3 == pytest.approx(0.9)
    assert report.avg5 == pytest.approx(0.78)
    assert report.mrr == pytest.approx(0.7)
    ideal = 0.6 + 0.3 / math.log2(3) + 0.1 / 2
    assert report.ndcg5 == pytest.approx(0.75 / ideal)
    by_id = {c.id: c for c in report.causes}
    assert (by_id["slow_release"].position, by_id["slow_release"].found_by) == (3, "PERF")
    assert by_id["slow_release"].cost == 7
    assert (by_id["noise"].position, by_id["noise"].cost) == (None, TOTAL_COST)


@pytest.mark.parametrize("key", [KEY, BUSY_KEY], ids=["small", "busy"])
def test_best_order_scores_one_and_is_truly_best(key):
    best, order = best_loss(key)
    assert sorted(order) == sorted(MENU_IDS)
    assert best == pytest.approx(brute_force_best(key))
    assert order_loss(order, key) == pytest.approx(best)
    assert order_score(order, key) == pytest.approx(1.0)
    assert score(submission(list(order)), key).ndcg5 <= 1.0


@pytest.mark.parametrize("key", [KEY, BUSY_KEY], ids=["small", "busy"])
def test_random_orders_of_the_whole_menu_average_zero(key):
    rng = np.random.default_rng(20260803)
    scores = np.array(
        [order_score(list(rng.permutation(MENU_IDS)), key) for _ in range(4000)], dtype=float
    )
    assert abs(scores.mean()) < 0.05
    assert abs(scores.mean()) < 4 * scores.std() / math.sqrt(len(scores))


@pytest.mark.parametrize("key", [KEY, BUSY_KEY], ids=["small", "busy"])
def test_closed_form_random_loss_matches_monte_carlo(key):
    rng = np.random.default_rng(7)
    losses = np.array([order_loss(list(rng.permutation(MENU_IDS)), key) for _ in range(20000)])
    se = losses.std() / math.sqrt(len(losses))
    assert random_loss(key) == pytest.approx(losses.mean(), abs=4 * se)


def test_expected_reach_cost_edge_cases():
    # One entry: it is always paid for, and each other entry precedes it half the time.
    assert expected_reach_cost(["RANK"]) == pytest.approx(3 + (TOTAL_COST - 3) / 2)
    # The whole menu: only the first entry is paid for, and it is uniform: the mean cost.
    assert expected_reach_cost(MENU_IDS) == pytest.approx(TOTAL_COST / len(MENU_IDS))


def test_expensive_irrelevant_entry_before_a_cause_lowers_the_score():
    base = ["DEPLOY", "FEED", "NOISE"]
    padded = ["DEPLOY", "COMP", "FEED", "NOISE"]
    assert order_score(padded, KEY) < order_score(base, KEY)
    cheap_pad = ["DEPLOY", "DEF", "FEED", "NOISE"]
    assert order_score(padded, KEY) < order_score(cheap_pad, KEY) < order_score(base, KEY)


def test_reordering_after_every_cause_is_reached_changes_nothing():
    head = ["DEPLOY", "FEED", "NOISE"]
    tails = [["COMP", "RANK", "DEF"], ["DEF", "RANK", "COMP"], ["SUPPLY"], []]
    losses = {order_loss(head + tail, KEY) for tail in tails}
    assert len(losses) == 1
    scores = {round(score(submission(head + tail), KEY).case_score, 12) for tail in tails}
    assert len(scores) == 1


def test_leaving_a_cause_out_costs_the_whole_menu():
    listed = ["FEED", "NOISE"]
    assert order_loss(listed, KEY) == pytest.approx(0.6 * 2 + 0.3 * TOTAL_COST + 0.1 * 2.5)
    rest = [h for h in MENU_IDS if h not in listed]
    assert order_loss(listed, KEY) >= order_loss(listed + rest, KEY)


def test_a_secondary_hit_set_entry_confirms_the_cause():
    assert order_loss(["DEPLOY"], [cause("x", 1.0, "PERF", "DEPLOY")]) == 1.0
    assert order_loss(["PERF"], [cause("x", 1.0, "PERF", "DEPLOY")]) == 2.0


def test_no_drop_control():
    key = [cause("noise", 1.0, "NOISE")]
    assert order_score(["NOISE"], key) == pytest.approx(1.0)
    assert order_score(["FEED", "NOISE"], key) < 1.0
    assert diag_score({"unexplained": 1.0}, key) == pytest.approx(1.0)
    assert diag_score({"NOISE": 1.0}, key) == pytest.approx(1.0)
    assert diag_score({"NOISE": 0.5, "unexplained": 0.5}, key) == pytest.approx(1.0)
    assert diag_score({"FEED": 1.0}, key) == pytest.approx(0.0)
    report = score(submission(["NOISE"]), key)
    assert report.case_score == pytest.approx(1.0)
    assert report.ac1 == report.mrr == report.ndcg5 == pytest.approx(1.0)


def test_noise_entry_without_hit_set_maps_to_noise():
    assert as_causes([{"id": "noise", "share": 1.0}])[0].hit_set == ("NOISE",)


# ------------------------------------------------------------------------------------------
# Relevances and the diagnosis score
# ------------------------------------------------------------------------------------------


def test_negative_shares_clip_and_renormalise():
    key = [cause("a", 0.9, "FEED"), cause("b", -0.3, "PRICE", decoy=True), cause("c", 0.3, "RANK")]
    rel = relevances(key)
    assert rel == pytest.approx({"a": 0.75, "b": 0.0, "c": 0.25})
    # The offsetting decoy is worth nothing: listing PRICE first only costs time.
    assert order_loss(["FEED", "RANK"], key) == pytest.approx(0.75 * 2 + 0.25 * 5)
    assert order_loss(["PRICE", "FEED", "RANK"], key) == pytest.approx(0.75 * 4 + 0.25 * 7)


def test_all_non_positive_shares_give_zero_relevance():
    key = [cause("a", -0.2, "FEED"), cause("b", 0.0, "RANK")]
    assert relevances(key) == {"a": 0.0, "b": 0.0}
    assert best_loss(key)[0] == 0.0
    assert order_score(["COMP"], key) == 1.0


def test_diag_credits_any_hit_set_entry():
    key = [cause("slow", 0.7, "PERF", "DEPLOY"), cause("noise", 0.3, "NOISE")]
    assert diag_score({"DEPLOY": 0.7, "unexplained": 0.3}, key) == pytest.approx(1.0)
    assert diag_score({"PERF": 0.7, "unexplained": 0.3}, key) == pytest.approx(1.0)
    # Splitting one cause across two of its labels: only one label can carry it.
    assert diag_score({"PERF": 0.35, "DEPLOY": 0.35, "NOISE": 0.3}, key) == pytest.approx(0.65)
    # Nothing claimed on the hit set: the truth sits on the primary id.
    assert true_shares_by_id({"FEED": 1.0}, key) == pytest.approx({"PERF": 0.7, "NOISE": 0.3})


def test_diag_picks_the_most_favourable_assignment_of_shared_labels():
    # Two causes share DEPLOY; the claim names both PERF and DEPLOY.
    key = [cause("a", 0.5, "DEPLOY", "PERF"), cause("b", 0.5, "DEPLOY")]
    assert diag_score({"PERF": 0.5, "DEPLOY": 0.5}, key) == pytest.approx(1.0)
    assert diag_score({"DEPLOY": 1.0}, key) == pytest.approx(1.0)


def test_diag_hand_computed():
    # Truth FEED .6, PERF .3, NOISE .1; claim FEED .2, RANK .4, unexplained .4:
    # ½(|.2−.6| + |0−.3| + |.4−.1| + |.4−0|) = ½(.4 + .3 + .3 + .4) = .7 -> S_diag = .3
    claim = {"FEED": 0.2, "RANK": 0.4, "unexplained": 0.4}
    assert diag_score(claim, KEY) == pytest.approx(0.3)


def test_bad_answer_keys_are_loud():
    with pytest.raises(ValueError, match="valid ids: NOISE"):
        relevances([cause("a", 1.0, "FEEDS")])
    with pytest.raises(ValueError, match="empty hit set"):
        relevances([cause("a", 1.0)])
    with pytest.raises(ValueError, match="more than once"):
        relevances([cause("a", 0.5, "FEED"), cause("a", 0.5, "RANK")])
    with pytest.raises(ValueError, match="lacks"):
        relevances([{"id": "a", "hit_set": ["FEED"]}])


def test_unknown_or_repeated_order_ids_are_rejected_by_the_pure_functions():
    with pytest.raises(ValueError, match="valid ids"):
        order_loss(["FOO"], KEY)
    with pytest.raises(ValueError, match="repeats"):
        order_loss(["FEED", "FEED"], KEY)


# ------------------------------------------------------------------------------------------
# Submissions
# ------------------------------------------------------------------------------------------


def problems_of(obj, source: str = "sub.json") -> str:
    with pytest.raises(SubmissionError) as info:
        parse_submission(obj, source)
    assert str(info.value).startswith(f"{source}: ")
    return str(info.value)


def test_good_submission_loads(tmp_path: Path):
    path = tmp_path / "sub.json"
    body = {
        "order": ["feed", " PERF "],
        "shares": {"FEED": 0.6, "perf": 0.3, "Unexplained": 0.1},
        "notes": {"FEED": "stale snapshot since Tuesday"},
    }
    path.write_text(json.dumps(body))
    sub = load_submission(path)
    assert sub.order == ["FEED", "PERF"]
    assert sub.shares == {"FEED": 0.6, "PERF": 0.3, "unexplained": 0.1}
    assert sub.notes["FEED"].startswith("stale")
    assert parse_submission({"order": ["NOISE"], "shares": {"unexplained": 1}}).notes == {}


def test_unknown_order_id_lists_valid_ids():
    msg = problems_of({"order": ["FEED", "WEATHER"], "shares": {"FEED": 1}})
    assert "'WEATHER'" in msg
    assert ", ".join(MENU_IDS) in msg


def test_unknown_share_key_lists_valid_keys():
    msg = problems_of({"order": ["FEED"], "shares": {"FEED": 0.5, "WEATHER": 0.5}})
    assert "'WEATHER'" in msg and "unexplained" in msg and "RANK" in msg


def test_duplicate_ids_are_rejected():
    assert "duplicate hypothesis id 'FEED'" in problems_of(
        {"order": ["FEED", "RANK", "feed"], "shares": {"FEED": 1}}
    )
    assert "more than once" in problems_of(
        {"order": ["FEED"], "shares": {"FEED": 0.5, "feed": 0.5}}
    )


@pytest.mark.parametrize("shares", [{"FEED": 0.5}, {"FEED": 0.6, "RANK": 0.6}])
def test_shares_must_sum_to_one(shares):
    assert "sum to 1 ± 0.01" in problems_of({"order": ["FEED"], "shares": shares})


def test_shares_within_tolerance_are_accepted():
    sub = parse_submission({"order": ["FEED"], "shares": {"FEED": 0.6, "RANK": 0.395}})
    assert diag_score(sub.shares, KEY) <= 1.0


@pytest.mark.parametrize("value", [-0.1, 1.5, "0.5", True, None])
def test_share_values_must_be_numbers_in_0_1(value):
    problems_of({"order": ["FEED"], "shares": {"FEED": value, "unexplained": 0.5}})


def test_empty_order_is_rejected():
    assert "order is empty" in problems_of({"order": [], "shares": {"unexplained": 1}})


def test_missing_fields_and_extra_fields_are_rejected():
    assert "shares: Field required" in problems_of({"order": ["FEED"]})
    msg = problems_of({"order": ["FEED"], "shares": {"FEED": 1}, "confidence": 0.9})
    assert "confidence: unknown field" in msg
    assert "expected a JSON object" in problems_of(["FEED"])


def test_bad_json_file_names_file_and_position(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('{"order": ["FEED"],\n "shares": {"FEED": 1,}}')
    with pytest.raises(SubmissionError) as info:
        load_submission(path)
    assert str(path) in str(info.value)
    assert "invalid JSON at line 2" in str(info.value)


def test_missing_file_names_the_file(tmp_path: Path):
    path = tmp_path / "nope.json"
    with pytest.raises(SubmissionError, match="cannot read file") as info:
        load_submission(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_report_to_dict_is_json_ready():
    report = score({"order": ["FEED"], "shares": {"FEED": 1}}, KEY)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) >= {
        "case_score",
        "order_score",
        "diag_score",
        "ndcg5",
        "ac1",
        "ac3",
        "avg5",
        "mrr",
        "loss",
        "best_loss",
        "random_loss",
        "best_order",
        "causes",
    }
    assert data["causes"][0] == {
        "id": "feed_change",
        "share": 0.6,
        "relevance": pytest.approx(0.6),
        "decoy": False,
        "hit_set": ["FEED"],
        "position": 1,
        "found_by": "FEED",
        "cost": 2.0,
    }


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

hit_sets = st.lists(st.sampled_from(MENU_IDS), min_size=1, max_size=3, unique=True)
keys = st.lists(
    st.tuples(st.floats(-0.3, 1.0, allow_nan=False), hit_sets), min_size=1, max_size=5
).map(lambda rows: [cause(f"c{i}", s, *h) for i, (s, h) in enumerate(rows)])
orders = st.permutations(MENU_IDS).flatmap(
    lambda perm: st.integers(1, len(perm)).map(lambda n: list(perm[:n]))
)
claims = st.dictionaries(
    st.sampled_from([*MENU_IDS, "unexplained"]), st.floats(0.01, 1.0), min_size=1, max_size=6
)


@settings(max_examples=200, deadline=None)
@given(keys, orders)
def test_order_score_never_exceeds_one(key, order):
    assert order_score(order, key) <= 1.0
    assert order_loss(order, key) >= best_loss(key)[0] - 1e-9
    assert 0.0 <= ndcg_at(order, key) <= 1.0


@settings(max_examples=200, deadline=None)
@given(keys, claims)
def test_diag_score_is_between_zero_and_one(key, claim):
    assert 0.0 <= diag_score(claim, key) <= 1.0


@settings(max_examples=60, deadline=None)
@given(keys)
def test_dynamic_programme_matches_brute_force(key):
    rel = relevances(key)
    ids = {h for c in key if rel[c["id"]] > 0 for h in c["hit_set"]}
    if len(ids) > 7:
        return
    assert best_loss(key)[0] == pytest.approx(brute_force_best(key))
