"""Debrief (after submitting): the score, the true causes, the best and the solver's orders."""

from __future__ import annotations

import json
from datetime import datetime

import polars as pl
import streamlit as st

from dashboard import debrief_data, figures, loaders, retry, widgets
from dashboard.pages import view_path
from grading import hypotheses
from grading.scoring import MENU_BY_ID, MENU_IDS, UNEXPLAINED, score, true_shares_by_id

ctx = widgets.context()
attempt = ctx.attempt
if not attempt.submitted:  # the page is not registered before submission; belt and braces
    st.warning("The debrief opens once this attempt is submitted (Hypotheses page).")
    st.stop()
submitted = datetime.fromisoformat(attempt.submitted_at or "")
widgets.header("Debrief", f"Attempt #{attempt.id}, submitted {submitted:%d %b %Y, %H:%M} UTC.", ctx)
store = loaders.store(str(ctx.cfg.data_dir))


def download_submission() -> None:
    """submission.json with the candidate's name, the run, the attempt and the time spent."""
    st.download_button(
        "Download submission.json",
        json.dumps(debrief_data.submission_file(ctx.run, attempt), indent=2) + "\n",
        file_name=f"submission-{ctx.run.name}-attempt{attempt.id}.json",
        mime="application/json",
        key="debrief_download",
        icon=":material/download:",
    )


try:
    key = debrief_data.answer_key(ctx.run, attempt)
except debrief_data.KeyUnavailable:
    st.info(
        "No key: this case has no answer key here; it will be graded by the team that set it. "
        "Your submission is stored; send them the file below.",
        icon=":material/lock:",
    )
    download_submission()
    st.stop()
report = debrief_data.attempt_score(store, ctx.run, attempt)
submission = attempt.submission or {}
causes = key["causes"]
bot = debrief_data.solver(ctx.run_key)
bot_report = score(bot.submission, causes).to_dict() if bot.submission else None

tiles = st.columns(4)
tiles[0].metric(
    "Case score",
    f"{report['case_score']:.2f}",
    None
    if bot_report is None
    else f"{report['case_score'] - bot_report['case_score']:+.2f} vs solver",
    border=True,
    help="0.7 × order score + 0.3 × diagnosis score; 1 is perfect, 0 is chance",
)
tiles[1].metric(
    "Order score",
    f"{report['order_score']:.2f}",
    border=True,
    help="1: the best order; 0: a random order; below 0: worse than random",
)
tiles[2].metric(
    "Diagnosis score",
    f"{report['diag_score']:.2f}",
    border=True,
    help="1 − total-variation distance between claimed and true shares",
)
tiles[3].metric(
    "Reference solver",
    "–" if bot_report is None else f"{bot_report['case_score']:.2f}",
    border=True,
    help="The case score of the built-in baseline diagnosis",
)
st.caption(
    f"NDCG@5 {report['ndcg5']:.2f} · AC@1 {report['ac1']:.2f} · AC@3 {report['ac3']:.2f} · "
    f"Avg@5 {report['avg5']:.2f} · MRR {report['mrr']:.2f} · expected cost before a random "
    f"slice of the drop is explained: yours {report['loss']:.2f}, best {report['best_loss']:.2f}, "
    f"random order {report['random_loss']:.2f}"
)

st.subheader("What happened")
st.markdown(
    f"The metric moved **{key['observed_change']:+.2%}** as tracked and "
    f"**{key['business_change']:+.2%}** in the order ledger. Shares of the change: "
    f"{key.get('method', 'counterfactual runs')}."
)
reached = {c["id"]: c for c in report["causes"]}


def _expected_text(expected: dict | None) -> str:
    """The cause's share over other worlds of this case, with its 90% interval: how much of
    the realized share is the cause and how much this realization."""
    if not expected or expected.get("worlds", 0) < 2:
        return ""
    lo, hi = expected["share_interval"]
    return f"{expected['share']:.0%} ({lo:.0%} to {hi:.0%})"


rows = []
for c in causes:
    r = reached.get(c["id"], {})
    rows.append(
        {
            "cause": c["id"] + (" (decoy)" if c["decoy"] else ""),
            "type": c["type"],
            "share": c["share"],
            "business share": c["business_share"],
            "in expectation": _expected_text(c.get("expected")),
            "confirmed by": ", ".join(c["hit_set"]),
            "onset": (c["onset"] or "")[:16].replace("T", " "),
            "you reached it": (
                f"step {r['position']} via {r['found_by']}" if r.get("position") else "not reached"
            ),
        }
    )
st.dataframe(
    pl.DataFrame(rows),
    hide_index=True,
    column_config={
        "share": st.column_config.NumberColumn("Share of change", format="percent"),
        "business share": st.column_config.NumberColumn("Share (ledger)", format="percent"),
        "in expectation": st.column_config.TextColumn(
            "In expectation (90%)",
            help="The share over other worlds of this case (other seeds), with a 90% interval. "
            "Scoring uses the realized share.",
        ),
    },
)
for c in causes:
    if c["id"] == "noise" and abs(c["share"]) < 0.05:
        continue
    with st.expander(f"Where the evidence was: {c['id']}", icon=":material/search:"):
        st.markdown(c.get("evidence") or "_No note._")
        if c.get("changelog"):
            st.markdown(f"Change-log entry: *{c['changelog']}*")
        if c.get("scope"):
            st.caption("Scope: " + "; ".join(f"{k}: {v}" for k, v in c["scope"].items()))
        for hid in c["hit_set"]:
            if hid in hypotheses.BY_ID:
                where = hypotheses.BY_ID[hid]
                st.page_link(
                    view_path(where.page), label=where.page_label, icon=":material/arrow_forward:"
                )

if key.get("teaching"):
    st.subheader("What a strong candidate checks first")
    st.markdown(key["teaching"])

st.subheader("Orders, side by side")
hits = {h for c in causes if c["share"] > 0 for h in c["hit_set"]}
orders = {
    "Yours": list(submission.get("order", [])),
    "Best": list(report["best_order"]),
    "Reference solver": list((bot.submission or {}).get("order", [])),
}
depth = max(len(v) for v in orders.values())
table = {"rank": list(range(1, depth + 1))}
for name, order in orders.items():
    table[name] = [
        (f"{order[i]} ✓" if order[i] in hits else order[i]) if i < len(order) else ""
        for i in range(depth)
    ]
st.dataframe(pl.DataFrame(table), hide_index=True, height=38 + 35 * min(depth, 14))
st.caption("✓ marks an entry that confirms a cause with a positive share.")
if bot.notice:
    st.info(bot.notice)

st.subheader("Claimed against true shares")
claimed = {k: v for k, v in submission.get("shares", {}).items()}
truth = true_shares_by_id(claimed, causes)
claimed_noise = claimed.get("NOISE", 0.0) + claimed.get(UNEXPLAINED, 0.0)
ids = [h for h in MENU_IDS if claimed.get(h) or truth.get(h) or (h == "NOISE" and claimed_noise)]
labels = [f"{h} · {MENU_BY_ID[h].name}" if h != "NOISE" else "NOISE / unexplained" for h in ids]
fig = figures.figure()
fig.add_trace(
    figures.bar(
        x=labels,
        y=[claimed_noise if h == "NOISE" else claimed.get(h, 0.0) for h in ids],
        name="you claimed",
        marker_color=figures.BEFORE,
    )
)
fig.add_trace(
    figures.bar(
        x=labels,
        y=[truth.get(h, 0.0) for h in ids],
        name="truth (relevance)",
        marker_color=figures.AFTER,
    )
)
fig.update_yaxes(tickformat=".0%")
fig.update_layout(barmode="group")
widgets.chart(figures.styled(fig, 320), key="debrief_shares")

if bot.reasoning:
    with st.expander("How the reference solver reasoned", icon=":material/smart_toy:"):
        for line in bot.reasoning:
            st.markdown(f"- {line}")
words = debrief_data.debrief_words(submission, key)
if words:
    with st.expander("The debrief in words", icon=":material/article:"):
        st.code(words, language=None)

st.divider()
download_submission()
retry.offer(ctx)
