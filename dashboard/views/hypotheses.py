"""Hypotheses: order entries from the menu, claim shares and notes, and submit (once)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import loaders, state, takehome, widgets
from dashboard.store import AlreadySubmitted, NotYourAttempt, TooLate
from grading.scoring import (
    MENU,
    MENU_BY_ID,
    UNEXPLAINED,
    Submission,
    SubmissionError,
    parse_submission,
)

ctx = widgets.context()
widgets.header(
    "Hypotheses",
    "Rank what you would investigate, in order, and say how much of the change each explains.",
    ctx,
)
attempt = ctx.attempt
ORDER_KEY = "hyp_order"
CONFIRM_KEY = "hyp_confirm"
SUBMIT_ERROR_KEY = "casesim_submit_error"  # not "hyp_": survives a new attempt's reset


def share_key(hid: str) -> str:
    return f"hyp_share_{hid}"


def note_key(hid: str) -> str:
    return f"hyp_note_{hid}"


def describe(hid: str) -> str:
    h = MENU_BY_ID[hid]
    return f"{h.id} · {h.name} (cost {h.cost:g})"


if attempt.submitted:
    sub = attempt.submission or {}
    st.success(
        f"Attempt #{attempt.id} was submitted at {attempt.submitted_at}. Submitting is final.",
        icon=":material/lock:",
    )
    shares = sub.get("shares", {})
    notes = sub.get("notes", {})
    rows = [
        {
            "rank": i + 1,
            "hypothesis": describe(h),
            "claimed share": shares.get(h, 0.0),
            "note": notes.get(h, ""),
        }
        for i, h in enumerate(sub.get("order", []))
    ]
    rows.append(
        {
            "rank": None,
            "hypothesis": "unexplained",
            "claimed share": shares.get(UNEXPLAINED, 0.0),
            "note": "",
        }
    )
    st.dataframe(
        pl.DataFrame(rows),
        hide_index=True,
        column_config={
            "claimed share": st.column_config.NumberColumn(format="percent"),
            "note": st.column_config.TextColumn(width="large"),
        },
    )
    if ctx.cfg.takehome is None or takehome.cohort(ctx.cfg).allow_debrief:
        st.page_link("views/debrief.py", label="Open the debrief", icon=":material/emoji_events:")
    else:
        st.info("Thank you: the hiring team has your submission.", icon=":material/done_all:")
    st.stop()

if attempt.deadline_at is not None:
    left = attempt.seconds_left()
    if left is not None and left <= 0:
        st.error(f"Time box: {takehome.time_left(attempt)}.", icon=":material/timer_off:")
    else:
        st.info(f"Time box: {takehome.time_left(attempt)}.", icon=":material/timer:")


def log_order() -> None:
    """Log the full order after each change (picks, removals, moves)."""
    state.record("order", {"ids": list(st.session_state.get(ORDER_KEY) or [])}, ctx.cfg)


def move(index: int, step: int) -> None:
    order = list(st.session_state.get(ORDER_KEY, []))
    j = index + step
    if 0 <= j < len(order):
        order[index], order[j] = order[j], order[index]
        st.session_state[ORDER_KEY] = order
        log_order()


def draft() -> tuple[Submission | None, list[str]]:
    """The submission the form holds now (from the session's widget values, so a click that
    arrives with an edit submits the edit), or the problems that block it."""
    order = list(st.session_state.get(ORDER_KEY) or [])
    claimed = {h: float(st.session_state.get(share_key(h)) or 0.0) / 100 for h in order}
    notes = {h: str(st.session_state.get(note_key(h)) or "").strip() for h in order}
    total = sum(claimed.values())
    if not order:
        return None, ["Pick at least one hypothesis."]
    if total > 1.0 + 1e-9:
        return None, [f"Claimed shares add up to {total:.0%}; they cannot exceed 100%."]
    shares = {**claimed, UNEXPLAINED: max(0.0, 1.0 - total)}
    try:
        payload = {"order": order, "shares": shares, "notes": {h: n for h, n in notes.items() if n}}
        return parse_submission(payload, source="your submission"), []
    except SubmissionError as exc:
        return None, list(exc.problems)


def submit(attempt_id: int) -> None:
    """Submit for the attempt this form was drawn for, with this session's token: the store
    refuses an attempt that is not the session's, and a second submission."""
    submission, problems = draft()
    name = str(st.session_state.get(state.HYPOTHESES_NAME_KEY) or "").strip()
    if ctx.cfg.takehome is not None:
        name = attempt.user or "candidate"  # the seat's name, as the hiring team gave it
    if submission is None or not name or not st.session_state.get(CONFIRM_KEY):
        reason = problems[0] if problems else "give your name and confirm first."
        st.session_state[SUBMIT_ERROR_KEY] = f"Not submitted: {reason}"
        return
    store = loaders.store(str(ctx.cfg.data_dir))
    token = st.session_state.get(state.TOKEN_KEY)
    try:
        store.submit(attempt_id, submission, user=name, token=token)
    except TooLate:
        st.session_state[SUBMIT_ERROR_KEY] = (
            f"Not submitted: the time box is over ({takehome.time_left(attempt)})."
        )
    except (NotYourAttempt, AlreadySubmitted) as exc:
        st.session_state[SUBMIT_ERROR_KEY] = f"Not submitted: {exc}."
    else:
        state.go_to("debrief")


menu_col, list_col = st.columns([5, 6], gap="medium")
with menu_col:
    st.markdown("##### The menu")
    # A plain table: it wraps long names instead of scrolling, so the costs (on which the
    # score depends) are always in view, whatever the width of the screen.
    st.table(
        pl.DataFrame(
            {
                "id": [h.id for h in MENU],
                "cost": [f"{h.cost:.1f}" for h in MENU],
                "hypothesis": [h.name for h in MENU],
            }
        ),
        hide_index=True,
    )
    st.caption(
        "**How it is scored.** Each entry costs time to check. For every true cause, the score "
        "charges the cumulative cost of your list up to the first entry that confirms it, "
        "weighted by the cause's share of the change (70%); your claimed shares are compared "
        "with the true ones (30%). Entries you leave out are never reached."
    )

with list_col:
    st.markdown("##### Your investigation order")
    order = st.multiselect(
        "Pick hypotheses in the order you would check them",
        [h.id for h in MENU],
        key=ORDER_KEY,
        format_func=describe,
        placeholder="pick the first thing you would check…",
        persist_state="session",
        on_change=log_order,
    )
    spent = 0.0
    claimed: dict[str, float] = {}
    for i, hid in enumerate(order):
        spent += MENU_BY_ID[hid].cost
        with st.container(border=True):
            row = st.columns([5, 2, 1, 1], vertical_alignment="center")
            row[0].markdown(
                f"**{i + 1}. {hid}** · {MENU_BY_ID[hid].name}  \n"
                f":gray[cost {MENU_BY_ID[hid].cost:g} · cumulative {spent:g}]"
            )
            pct = row[1].number_input(
                "Share of the change (%)",
                min_value=0.0,
                max_value=100.0,
                step=5.0,
                key=share_key(hid),
                persist_state="session",
            )
            row[2].button(
                "↑",
                key=f"hyp_up_{hid}",
                on_click=move,
                args=(i, -1),
                disabled=i == 0,
                help="Move up",
            )
            row[3].button(
                "↓",
                key=f"hyp_down_{hid}",
                on_click=move,
                args=(i, 1),
                disabled=i == len(order) - 1,
                help="Move down",
            )
            st.text_input(
                "Note",
                key=note_key(hid),
                placeholder="What points to it? Where is the evidence?",
                label_visibility="collapsed",
                persist_state="session",
            )
            claimed[hid] = float(pct or 0.0) / 100

    total = sum(claimed.values())
    unexplained = max(0.0, 1.0 - total)
    c = st.columns(3)
    c[0].metric("Claimed", f"{total:.0%}", border=True)
    c[1].metric(
        "Unexplained",
        f"{unexplained:.0%}",
        border=True,
        help="Whatever you do not attribute goes to the unexplained bucket",
    )
    c[2].metric(
        "List cost",
        f"{spent:g}",
        border=True,
        help=f"The whole menu costs {sum(h.cost for h in MENU):g}",
    )

    submission, problems = draft()
    for p in problems:
        st.warning(p, icon=":material/warning:")

    st.divider()
    if ctx.cfg.takehome is not None:
        name = attempt.user or "candidate"
        st.caption(f"Submitting as **{name}**.")
    else:
        if not st.session_state.get(state.HYPOTHESES_NAME_KEY) and attempt.user:
            st.session_state[state.HYPOTHESES_NAME_KEY] = attempt.user
        name = st.text_input(
            "Your name (it goes with your submission)",
            key=state.HYPOTHESES_NAME_KEY,
            max_chars=80,
            on_change=state.set_name,
            args=(ctx.cfg,),
            persist_state="session",
        )
    if not (name or "").strip():
        st.caption("Give your name to submit.")
    confirm = st.checkbox(
        "I understand that submitting is final for this attempt.", key=CONFIRM_KEY
    )
    st.button(
        "Submit diagnosis",
        type="primary",
        key="hyp_submit",
        icon=":material/send:",
        disabled=submission is None or not confirm or not (name or "").strip(),
        on_click=submit,
        args=(attempt.id,),
    )
    refused = st.session_state.pop(SUBMIT_ERROR_KEY, None)
    if refused:
        st.error(refused, icon=":material/block:")
