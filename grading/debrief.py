"""The debrief in plain words: what happened, what the candidate found, what was best."""

from __future__ import annotations

from typing import Any

from grading.scoring import MENU_BY_ID, ScoreReport, Submission


def debrief_text(sub: Submission, report: ScoreReport, key: dict[str, Any]) -> str:
    lines = [
        f"Case score {report.case_score:.3f} = 0.7 x order {report.order_score:.3f} "
        f"+ 0.3 x diagnosis {report.diag_score:.3f}",
        f"  NDCG@5 {report.ndcg5:.3f}  AC@1 {report.ac1:.3f}  AC@3 {report.ac3:.3f}  "
        f"Avg@5 {report.avg5:.3f}  MRR {report.mrr:.3f}",
        "",
        f"The metric moved {key['observed_change']:+.2%} observed, "
        f"{key['business_change']:+.2%} in the order ledger.",
        "What explains it:",
    ]
    for cause in key["causes"]:
        if cause["decoy"]:
            continue
        found = next((c for c in report.causes if c.id == cause["id"]), None)
        reached = (
            f"you reached it at step {found.position} via {found.found_by}"
            if found is not None and found.position is not None
            else "you did not reach it"
        )
        if cause["id"] == "noise":
            lines.append(
                f"  - noise: {cause['share']:.0%} of the change moves with every cause switched "
                "off (ordinary variance); "
                + (
                    "the change is within it, so NOISE was the answer."
                    if key.get("control")
                    else "it counts as unexplained in the diagnosis, and NOISE finds no slice "
                    "of a real drop."
                )
            )
            continue
        lines.append(
            f"  - {cause['id']} ({cause['type']}): {cause['share']:.0%} of the change"
            f"{_expected(cause)}; confirmed by {', '.join(cause['hit_set'])}; {reached}."
        )
        lines.append(f"    Evidence: {cause['evidence']}")
    decoys = [c for c in key["causes"] if c["decoy"]]
    if decoys:
        lines.append("Decoys (real changes that explain little):")
        for cause in decoys:
            chased = [h for h in cause["hit_set"] if h in sub.order]
            hint = f"; you investigated {', '.join(chased)}" if chased else ""
            lines.append(
                f"  - {cause['id']} ({cause['type']}): effect {cause['effect']:+.2%}{hint}"
            )
    if key.get("teaching"):
        lines += ["", "What a strong candidate checks first:", *_indented(key["teaching"])]
    best = _covering_prefix(
        report.best_order, [c["hit_set"] for c in key["causes"] if c["share"] > 0]
    )
    lines += [
        "",
        "Your order:  " + " > ".join(sub.order[:6]) + (" ..." if len(sub.order) > 6 else ""),
        "Best order:  " + " > ".join(best),
        "Why: cheap checks that confirm the largest shares come first; each step costs "
        + ", ".join(f"{h} {MENU_BY_ID[h].cost:g}" for h in best)
        + ".",
    ]
    return "\n".join(lines)


def _indented(text: str) -> list[str]:
    return ["  " + line for line in text.strip().splitlines()]


def _expected(cause: dict[str, Any]) -> str:
    """How much of the realized share is the cause, and how much this realization."""
    expected = cause.get("expected")
    if not expected or expected["worlds"] < 2:
        return ""
    lo, hi = expected["share_interval"]
    return (
        f" (in expectation {expected['share']:.0%}, 90% interval {lo:.0%} to {hi:.0%} over "
        f"{expected['worlds']} worlds)"
    )


def _covering_prefix(order: tuple[str, ...], hit_sets: list[list[str]]) -> list[str]:
    """The shortest start of an order that reaches every cause."""
    prefix: list[str] = []
    for entry in order:
        if all(any(h in prefix for h in hits) for hits in hit_sets):
            break
        prefix.append(entry)
    return prefix
