"""Scoring a diagnosis: the hypothesis menu, submissions, and the order and diagnosis scores.

A candidate submits an ordered list of hypotheses from a fixed menu (each with a nominal
investigation cost) and the shares of the drop they attribute to them. The answer key lists
causes (real causes, decoys and the `noise` remainder), each with a share of the change and
a hit set: the menu entries whose investigation confirms it.

The scores reward finding the big causes cheaply, not merely naming them:

- loss L(π) = Σ_k r_k · T_k, with r_k the clipped, renormalised share and T_k the cumulative
  cost of π up to and including the first entry of H_k; a submission lists a prefix of the
  menu, and a cause none of whose entries is listed is charged the whole menu's cost
  (`TOTAL_COST`), which is never less than listing the missing entries at the end would cost,
  so leaving a real cause out can never pay;
- order score (L_rand − L) / (L_rand − L*): 1 for the best order, 0 for a random order of
  the whole menu (in expectation), negative for worse than chance;
- diagnosis score 1 − ½ Σ_h |ŝ_h − r_h|: one minus the total-variation distance between the
  claimed and the true shares over menu entries;
- case score 0.7 · order + 0.3 · diagnosis, reported beside the rank metrics of the
  root-cause-analysis literature (AC@k, Avg@5, MRR, NDCG@5).

Everything here is a pure function of its inputs except `load_submission`, which reads a file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from grading.hypotheses import HYPOTHESES

ORDER_WEIGHT = 0.7
DIAG_WEIGHT = 0.3
SHARE_TOLERANCE = 0.01
UNEXPLAINED = "unexplained"
NOISE_ID = "NOISE"
_EPS = 1e-12
_MAX_ASSIGNMENTS = 100_000


# --------------------------------------------------------------------------------------------
# The menu
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hypothesis:
    """One menu entry: what a candidate may investigate, and what investigating it costs."""

    id: str
    name: str
    cost: float


# The menu, in the order a candidate reads it, from the registry (grading.hypotheses).
MENU: tuple[Hypothesis, ...] = tuple(Hypothesis(h.id, h.words, h.cost) for h in HYPOTHESES)
MENU_BY_ID: dict[str, Hypothesis] = {h.id: h for h in MENU}
MENU_IDS: tuple[str, ...] = tuple(h.id for h in MENU)
TOTAL_COST: float = sum(h.cost for h in MENU)
_MENU_INDEX: dict[str, int] = {hid: i for i, hid in enumerate(MENU_IDS)}


def _valid_ids_text() -> str:
    return ", ".join(MENU_IDS)


# --------------------------------------------------------------------------------------------
# Submissions
# --------------------------------------------------------------------------------------------


class SubmissionError(ValueError):
    """A submission that cannot be scored; the message names the source and every problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _normalise_id(value: Any) -> Any:
    """Accept `perf` or ` PERF ` for PERF: hand-written JSON should not fail on case."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    return UNEXPLAINED if text.lower() == UNEXPLAINED else text.upper()


Share = Annotated[float, Field(ge=0.0, le=1.0, strict=True, allow_inf_nan=False)]


class Submission(BaseModel):
    """What a candidate commits to: hypotheses in investigation order, and claimed shares.

    `order` is a prefix of the menu in the order the candidate would investigate (entries
    left out are never reached). `shares` maps menu ids, and the `unexplained` bucket, to
    the fraction of the drop the candidate attributes to each; they sum to 1 ± 0.01.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    order: list[str]
    shares: dict[str, Share]
    notes: dict[str, str] = Field(default_factory=dict)

    @field_validator("order", mode="before")
    @classmethod
    def _normalise_order(cls, value: Any) -> Any:
        return [_normalise_id(v) for v in value] if isinstance(value, list) else value

    @field_validator("shares", mode="before")
    @classmethod
    def _normalise_shares(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[Any, Any] = {}
        for key, share in value.items():
            norm = _normalise_id(key)
            if norm in out:
                raise ValueError(f"{norm!r} is given more than once")
            out[norm] = share
        return out

    @field_validator("order")
    @classmethod
    def _check_order(cls, order: list[str]) -> list[str]:
        if not order:
            raise ValueError("order is empty; list at least one hypothesis id")
        problems = []
        unknown = [hid for hid in order if hid not in MENU_BY_ID]
        if unknown:
            names = ", ".join(repr(u) for u in unknown)
            problems.append(f"unknown hypothesis id {names}; valid ids: {_valid_ids_text()}")
        dups = [hid for i, hid in enumerate(order) if hid in order[:i]]
        if dups:
            problems.append(f"duplicate hypothesis id {', '.join(repr(d) for d in dups)}")
        if problems:
            raise ValueError("; ".join(problems))
        return order

    @field_validator("shares")
    @classmethod
    def _check_shares(cls, shares: dict[str, float]) -> dict[str, float]:
        unknown = [k for k in shares if k not in MENU_BY_ID and k != UNEXPLAINED]
        if unknown:
            names = ", ".join(repr(u) for u in unknown)
            raise ValueError(
                f"unknown share key {names}; valid keys: {_valid_ids_text()}, {UNEXPLAINED}"
            )
        total = sum(shares.values())
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise ValueError(
                f"shares sum to {total:.4g}; they must sum to 1 ± {SHARE_TOLERANCE} "
                f"(put what you cannot attribute under {UNEXPLAINED!r})"
            )
        return shares


def _format_pydantic(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (allowed: order, shares, notes)"
        problems.append(f"{loc}: {msg}")
    return problems


SUBMISSION_ABOUT = "about"  # the dashboard's record of who submitted, for which run and attempt


_MAX_PROBLEMS = 20
_MAX_PROBLEM_CHARS = 300


def parse_submission(obj: Any, source: str = "<submission>") -> Submission:
    """Validate a decoded submission, turning every problem into one `SubmissionError`.

    Oversized parts are refused before validation, and at most `_MAX_PROBLEMS` problems of
    bounded length are reported, so a hostile file costs linear time and a short message.
    """
    if not isinstance(obj, Mapping):
        raise SubmissionError(source, [f"expected a JSON object, got {type(obj).__name__}"])
    limits = {"order": len(MENU), "shares": len(MENU) + 1, "notes": len(MENU) + 1}
    for name, most in limits.items():
        part = obj.get(name)
        if isinstance(part, list | dict) and len(part) > most:
            raise SubmissionError(source, [f"{name}: {len(part)} entries; at most {most}"])
    data = {k: v for k, v in obj.items() if k != SUBMISSION_ABOUT}  # who/which run: not scored
    try:
        return Submission.model_validate(data)
    except ValidationError as exc:
        problems = [_clip(p) for p in _format_pydantic(exc)[:_MAX_PROBLEMS]]
        if exc.error_count() > _MAX_PROBLEMS:
            problems.append(f"... and {exc.error_count() - _MAX_PROBLEMS} more problems")
        raise SubmissionError(source, problems) from None
    except RecursionError:
        raise SubmissionError(source, ["nested too deeply"]) from None


def _clip(problem: str) -> str:
    if len(problem) <= _MAX_PROBLEM_CHARS:
        return problem
    return problem[: _MAX_PROBLEM_CHARS - 1] + "…"


def load_submission(path: str | Path) -> Submission:
    """Read and validate a submission JSON file; errors name the file and the problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SubmissionError(source, [f"cannot read file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise SubmissionError(source, [f"not UTF-8 text: {exc.reason}"]) from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise SubmissionError(source, [problem]) from None
    return parse_submission(obj, source)


# --------------------------------------------------------------------------------------------
# The answer key
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """One answer-key entry as scoring sees it: its share of the change and its hit set."""

    id: str
    share: float
    hit_set: tuple[str, ...]
    decoy: bool = False
    ordered: bool = True  # counts in the order loss (the noise entry only in a control case)


CauseLike = Mapping[str, Any] | Cause


def as_causes(entries: Iterable[CauseLike]) -> list[Cause]:
    """Check answer-key entries (dicts or `Cause`) once, so a bad key fails loudly, not subtly.

    An entry with id `noise` and no hit set is given the hit set [NOISE].
    """
    causes: list[Cause] = []
    seen: set[str] = set()
    for entry in entries:
        if isinstance(entry, Cause):
            cause = entry
        else:
            try:
                cid = str(entry["id"])
                hits = entry.get("hit_set")
                if hits is None and cid == "noise":
                    hits = [NOISE_ID]
                if hits is None:
                    raise KeyError("hit_set")
                cause = Cause(
                    cid,
                    float(entry["share"]),
                    tuple(hits),
                    bool(entry.get("decoy")),
                    bool(entry.get("ordered", True)),
                )
            except KeyError as exc:
                raise ValueError(f"answer-key entry {dict(entry)!r} lacks {exc}") from None
        if cause.id in seen:
            raise ValueError(f"answer-key entry id {cause.id!r} appears more than once")
        seen.add(cause.id)
        if not cause.hit_set:
            raise ValueError(f"answer-key entry {cause.id!r} has an empty hit set")
        unknown = [h for h in cause.hit_set if h not in MENU_BY_ID]
        if unknown:
            raise ValueError(
                f"answer-key entry {cause.id!r}: unknown hit-set id(s) {unknown}; "
                f"valid ids: {_valid_ids_text()}"
            )
        if len(set(cause.hit_set)) != len(cause.hit_set):
            raise ValueError(f"answer-key entry {cause.id!r} repeats an id in its hit set")
        if not math.isfinite(cause.share):
            raise ValueError(f"answer-key entry {cause.id!r} has a non-finite share")
        causes.append(cause)
    return causes


def relevances(causes: Iterable[CauseLike], in_order: bool = True) -> dict[str, float]:
    """r_k: shares clipped at zero and renormalised to sum 1 (all zero if none is positive).

    Clipping is why an offsetting change (negative share) earns nothing for being found.
    For the order loss (`in_order`), entries marked `ordered: false` weigh nothing: NOISE is a
    hypothesis about the whole change, so the noise remainder of a real drop is not a slice
    of it that listing NOISE finds; the diagnosis score still counts it, as "unexplained".
    """
    checked = as_causes(causes)
    clipped = {c.id: max(c.share, 0.0) if c.ordered or not in_order else 0.0 for c in checked}
    total = sum(clipped.values())
    if total <= 0:
        return dict.fromkeys(clipped, 0.0)
    return {cid: s / total for cid, s in clipped.items()}


def _weighted(causes: Iterable[CauseLike], in_order: bool = True) -> list[tuple[Cause, float]]:
    checked = as_causes(causes)
    rel = relevances(checked, in_order)
    return [(c, rel[c.id]) for c in checked]


# --------------------------------------------------------------------------------------------
# Order loss
# --------------------------------------------------------------------------------------------


def _check_order(order: Sequence[str]) -> None:
    unknown = [h for h in order if h not in MENU_BY_ID]
    if unknown:
        raise ValueError(f"unknown hypothesis id(s) {unknown}; valid ids: {_valid_ids_text()}")
    if len(set(order)) != len(order):
        raise ValueError(f"order repeats a hypothesis id: {list(order)}")


@dataclass(frozen=True)
class Reach:
    """Where an order first confirms one cause: 1-based rank, the entry, and cost so far."""

    position: int | None
    found_by: str | None
    cost: float


def _reach(order: Sequence[str], hit_set: Iterable[str]) -> Reach:
    hits = set(hit_set)
    spent = 0.0
    for pos, hid in enumerate(order, start=1):
        spent += MENU_BY_ID[hid].cost
        if hid in hits:
            return Reach(pos, hid, spent)
    return Reach(None, None, TOTAL_COST)


def order_loss(order: Sequence[str], causes: Iterable[CauseLike]) -> float:
    """L(π) = Σ_k r_k · T_k: the expected cost spent before a random slice of the drop is found.

    T_k is the cumulative cost up to and including the first entry of H_k in `order`; a cause
    whose hit set `order` never reaches is charged `TOTAL_COST`.
    """
    _check_order(order)
    return sum(r * _reach(order, c.hit_set).cost for c, r in _weighted(causes))


Live = tuple[tuple[tuple[str, ...], float], ...]


def _live(weighted: list[tuple[Cause, float]]) -> Live:
    """The causes that matter (r > 0) as hashable (hit set, relevance) pairs."""
    return tuple((c.hit_set, r) for c, r in weighted if r > 0)


def _masks(live: Live) -> tuple[list[str], list[tuple[int, float]]]:
    """Bitmask form of the live causes over the ids that can confirm them."""
    ids = sorted({h for hits, _ in live for h in hits}, key=_MENU_INDEX.__getitem__)
    bit = {hid: 1 << i for i, hid in enumerate(ids)}
    masks = [(sum(bit[h] for h in hits), r) for hits, r in live]
    return ids, masks


def best_loss(causes: Iterable[CauseLike]) -> tuple[float, tuple[str, ...]]:
    """L* and an order achieving it, by exact dynamic programming over sets of listed ids.

    Only ids in some hit set matter, and listing an id that confirms no new cause only delays
    the rest, so the search extends a set S of listed ids by one id that confirms something new.
    The cost spent so far depends on S alone, so f(S) = the least loss of causes confirmed by S
    is a shortest path over subsets (at most 2^|ids|, tiny for keys of a few causes). The order
    returned is the optimal prefix followed by the remaining menu by cost (then menu order).
    """
    loss, prefix = _best_prefix(_live(_weighted(causes)))
    rest = sorted((h for h in MENU_IDS if h not in prefix), key=lambda h: MENU_BY_ID[h].cost)
    return loss, prefix + tuple(rest)


@lru_cache(maxsize=256)
def _best_prefix(live: Live) -> tuple[float, tuple[str, ...]]:
    """The DP behind `best_loss`, cached: the dashboard and cohort reports ask repeatedly."""
    ids, masks = _masks(live)
    costs = [MENU_BY_ID[h].cost for h in ids]
    best: dict[int, tuple[float, int, int]] = {0: (0.0, -1, -1)}  # S -> (f, parent, id index)
    frontier = [0]
    finals: list[int] = []
    while frontier:
        nxt: set[int] = set()
        for s in frontier:
            if all(m & s for m, _ in masks):
                finals.append(s)
                continue
            f_s = best[s][0]
            spent = sum(costs[i] for i in range(len(ids)) if s >> i & 1)
            for i in range(len(ids)):
                b = 1 << i
                if s & b:
                    continue
                gain = sum(r for m, r in masks if m & b and not m & s)
                if gain <= 0:
                    continue
                t = s | b
                f_t = f_s + gain * (spent + costs[i])
                if t not in best or f_t < best[t][0] - _EPS:
                    best[t] = (f_t, s, i)
                    nxt.add(t)
        frontier = sorted(nxt)
    end = min(finals, key=lambda s: (best[s][0], s))
    prefix: list[str] = []
    s = end
    while s:
        _, parent, i = best[s]
        prefix.append(ids[i])
        s = parent
    return best[end][0], tuple(reversed(prefix))


def expected_reach_cost(hit_set: Iterable[str]) -> float:
    """E[T] for one hit set H under a uniformly random permutation of the whole menu.

    An entry outside H is paid for iff it precedes all h = |H| entries of H (probability
    1/(h+1)); each entry of H is paid for iff it is the first of H (probability 1/h), so
    E[T] = Σ_{i∉H} c_i / (h+1) + Σ_{j∈H} c_j / h.
    """
    hits = set(hit_set)
    h = len(hits)
    inside = sum(MENU_BY_ID[j].cost for j in hits)
    return (TOTAL_COST - inside) / (h + 1) + inside / h


def random_loss(causes: Iterable[CauseLike]) -> float:
    """L_rand: the expected loss of a uniformly random order of the whole menu (closed form)."""
    return sum(r * expected_reach_cost(c.hit_set) for c, r in _weighted(causes))


def order_score_from_losses(loss: float, best: float, rand: float) -> float:
    """(L_rand − L) / (L_rand − L*), capped at 1 against rounding; 1 or 0 if L_rand = L*."""
    span = rand - best
    if span <= _EPS:
        return 1.0 if loss <= best + _EPS else 0.0
    return min(1.0, (rand - loss) / span)


def order_score(order: Sequence[str], causes: Iterable[CauseLike]) -> float:
    """S_order: 1 for the best order, 0 for a random order (in expectation), below 0 if worse."""
    weighted = [c for c, _ in _weighted(causes)]
    return order_score_from_losses(
        order_loss(order, weighted), best_loss(weighted)[0], random_loss(weighted)
    )


# --------------------------------------------------------------------------------------------
# Diagnosis score
# --------------------------------------------------------------------------------------------


def _claimed_by_id(claimed: Mapping[str, float]) -> dict[str, float]:
    """Claims over menu ids with `unexplained` folded into NOISE, renormalised to sum 1."""
    out: dict[str, float] = {}
    for key, value in claimed.items():
        hid = NOISE_ID if key == UNEXPLAINED else key
        if hid not in MENU_BY_ID:
            raise ValueError(
                f"unknown share key {key!r}; valid keys: {_valid_ids_text()}, {UNEXPLAINED}"
            )
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"share for {key!r} must be a finite number ≥ 0, got {value!r}")
        out[hid] = out.get(hid, 0.0) + float(value)
    total = sum(out.values())
    return {h: v / total for h, v in out.items()} if total > 0 else out


def true_shares_by_id(
    claimed: Mapping[str, float], causes: Iterable[CauseLike]
) -> dict[str, float]:
    """r_h: the key's relevances placed on menu ids in the reading most favourable to the claim.

    Every id of a hit set confirms its cause, so a claim on any of them names it: each cause's
    relevance goes to one id of its hit set, choosing, over all such assignments, the one
    closest (in L1) to the claimed shares; ties go to claimed ids, then to earlier hit-set
    entries (the primary id first). A cause whose hit set holds no claimed id lands on its
    primary id, hit_set[0]. The `noise` entry (hit set [NOISE]) lands on NOISE. Keys too big
    for the exhaustive search fall back to each cause's first claimed id, else its primary id.
    """
    claim = _claimed_by_id(claimed)
    weighted = [(c, r) for c, r in _weighted(causes, in_order=False) if r > 0]
    options: list[list[str]] = []
    for c, _ in weighted:
        named = [h for h in c.hit_set if claim.get(h, 0.0) > 0]
        options.append([*named, c.hit_set[0]] if c.hit_set[0] not in named else named)
    if math.prod(len(o) for o in options) > _MAX_ASSIGNMENTS:
        choices: Iterable[tuple[str, ...]] = [tuple(o[0] for o in options)]  # greedy
    else:
        choices = product(*options)
    best_truth: dict[str, float] = {}
    best_dist = math.inf
    for choice in choices:
        truth: dict[str, float] = {}
        for (_, r), hid in zip(weighted, choice, strict=True):
            truth[hid] = truth.get(hid, 0.0) + r
        dist = sum(abs(claim.get(h, 0.0) - truth.get(h, 0.0)) for h in set(claim) | set(truth))
        if dist < best_dist - _EPS:
            best_truth, best_dist = truth, dist
    return best_truth


def diag_score(claimed: Mapping[str, float], causes: Iterable[CauseLike]) -> float:
    """S_diag = 1 − ½ Σ_h |ŝ_h − r_h|: one minus the total-variation distance, in [0, 1].

    `unexplained` and NOISE are one bucket: both say "not a mechanism on the menu", which is
    what the key's `noise` entry holds. Claims are renormalised to sum 1 first, so the ± 0.01
    slack a submission is allowed cannot push the score outside [0, 1].
    """
    checked = as_causes(causes)
    claim = _claimed_by_id(claimed)
    truth = true_shares_by_id(claimed, checked)
    dist = sum(abs(claim.get(h, 0.0) - truth.get(h, 0.0)) for h in MENU_IDS)
    return min(1.0, max(0.0, 1.0 - 0.5 * dist))


# --------------------------------------------------------------------------------------------
# Rank metrics from the RCA literature
# --------------------------------------------------------------------------------------------


def _positions(order: Sequence[str], weighted: list[tuple[Cause, float]]) -> list[int | None]:
    return [_reach(order, c.hit_set).position for c, _ in weighted]


def accuracy_at(order: Sequence[str], causes: Iterable[CauseLike], k: int) -> float:
    """AC@k = Σ_k r_k · [p_k ≤ k]: the relevance-weighted share of causes found in the top k.

    p_k is the 1-based rank of the first entry of H_k in the order (never, if not listed).
    """
    _check_order(order)
    weighted = _weighted(causes)
    return sum(
        r for (_, r), p in zip(weighted, _positions(order, weighted), strict=True) if p and p <= k
    )


def avg_at_5(order: Sequence[str], causes: Iterable[CauseLike]) -> float:
    """Avg@5 = (AC@1 + … + AC@5) / 5."""
    checked = as_causes(causes)
    return sum(accuracy_at(order, checked, k) for k in range(1, 6)) / 5


def mrr(order: Sequence[str], causes: Iterable[CauseLike]) -> float:
    """MRR = Σ_k r_k / p_k: relevance-weighted reciprocal rank (a cause never found adds 0)."""
    _check_order(order)
    weighted = _weighted(causes)
    return sum(r / p for (_, r), p in zip(weighted, _positions(order, weighted), strict=True) if p)


def _gains(order: Sequence[str], weighted: list[tuple[Cause, float]]) -> list[float]:
    """Gain at each rank: the relevance of causes first found at that rank."""
    gains = [0.0] * len(order)
    for (_, r), p in zip(weighted, _positions(order, weighted), strict=True):
        if p:
            gains[p - 1] += r
    return gains


def _ideal_dcg(weighted: list[tuple[Cause, float]], depth: int) -> float:
    """The largest DCG@depth of any order: exact search, since hit sets overlap."""
    ids, masks = _masks(_live(weighted))
    level: dict[int, float] = {0: 0.0}
    best = 0.0
    for rank in range(1, depth + 1):
        nxt: dict[int, float] = {}
        for s, dcg in level.items():
            for i in range(len(ids)):
                b = 1 << i
                gain = sum(r for m, r in masks if m & b and not m & s)
                if s & b or gain <= 0:
                    continue
                value = dcg + gain / math.log2(rank + 1)
                if value > nxt.get(s | b, -1.0):
                    nxt[s | b] = value
        if not nxt:
            break
        best = max(best, *nxt.values())
        level = nxt
    return best


def ndcg_at(order: Sequence[str], causes: Iterable[CauseLike], depth: int = 5) -> float:
    """NDCG@depth with gain at rank i = relevance of the causes first found at rank i.

    DCG = Σ_{i ≤ depth} gain_i / log2(i + 1), divided by the largest DCG any order achieves
    (1.0 when nothing has relevance: nothing to find, nothing missed).
    """
    _check_order(order)
    weighted = _weighted(causes)
    ideal = _ideal_dcg(weighted, depth)
    if ideal <= _EPS:
        return 1.0
    gains = _gains(order, weighted)[:depth]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    return min(1.0, dcg / ideal)


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CauseResult:
    """How the submission fared on one answer-key entry: for the debrief."""

    id: str
    share: float
    relevance: float
    decoy: bool
    hit_set: tuple[str, ...]
    position: int | None
    found_by: str | None
    cost: float


@dataclass(frozen=True)
class ScoreReport:
    """Every number the debrief and the cohort report show for one submission."""

    case_score: float
    order_score: float
    diag_score: float
    ndcg5: float
    ac1: float
    ac3: float
    avg5: float
    mrr: float
    loss: float
    best_loss: float
    random_loss: float
    best_order: tuple[str, ...]
    causes: tuple[CauseResult, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (lists, not tuples) for storage and the CLI."""
        out = asdict(self)
        out["best_order"] = list(self.best_order)
        out["causes"] = [{**c, "hit_set": list(c["hit_set"])} for c in out["causes"]]
        return out


def score(submission: Submission | Mapping[str, Any], causes: Iterable[CauseLike]) -> ScoreReport:
    """Score one submission against one answer key."""
    sub = submission if isinstance(submission, Submission) else parse_submission(submission)
    weighted = _weighted(causes)
    checked = [c for c, _ in weighted]
    order = sub.order
    loss = order_loss(order, checked)
    best, best_order = best_loss(checked)
    rand = random_loss(checked)
    s_order = order_score_from_losses(loss, best, rand)
    s_diag = diag_score(sub.shares, checked)
    results = []
    for c, r in weighted:
        reach = _reach(order, c.hit_set)
        results.append(
            CauseResult(
                c.id, c.share, r, c.decoy, c.hit_set, reach.position, reach.found_by, reach.cost
            )
        )
    return ScoreReport(
        case_score=ORDER_WEIGHT * s_order + DIAG_WEIGHT * s_diag,
        order_score=s_order,
        diag_score=s_diag,
        ndcg5=ndcg_at(order, checked, 5),
        ac1=accuracy_at(order, checked, 1),
        ac3=accuracy_at(order, checked, 3),
        avg5=avg_at_5(order, checked),
        mrr=mrr(order, checked),
        loss=loss,
        best_loss=best,
        random_loss=rand,
        best_order=best_order,
        causes=tuple(results),
    )
