"""Pick a case: open a generated run, or generate a shipped scenario into the data folder."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import streamlit as st

from dashboard import loaders, state, widgets
from dashboard.generation import Job, jobs
from runfolder.layout import run_name

JOB_KEY = "picker_job_target"
SIZES = {
    "small": "small · 50k users · a few minutes",
    "default": "default · 100k users · the real case",
}


cfg = state.settings()
widgets.header(
    "Pick a case", "Open a case you generated before, or generate one of the shipped cases."
)


def open_case(path: str) -> None:
    state.open_run(path, cfg)
    state.go_to("brief")


runs = loaders.runs_in(str(cfg.data_dir))
if cfg.run_dir is not None and all(r["path"] != str(cfg.run_dir) for r in runs):
    launched = loaders.describe_run(cfg.run_dir)
    runs = [launched, *runs] if launched else runs
st.subheader("Generated cases")
if not runs:
    st.caption("No case in the data folder yet: generate one below.")
else:
    frame = pl.DataFrame(
        [
            {
                "case": r["title"],
                "folder": r["name"],
                "size": r["size"],
                "seed": r["seed"],
                "generated": datetime.fromtimestamp(r["modified"]).strftime("%d %b %H:%M")
                if r["modified"]
                else "",
            }
            for r in runs
        ]
    )
    st.dataframe(frame, hide_index=True)
    c = st.columns([3, 1], vertical_alignment="bottom")
    pick = c[0].selectbox(
        "Case to open",
        range(len(runs)),
        format_func=lambda i: f"{runs[i]['title']} · {runs[i]['name']}",
        key="picker_run",
    )
    c[1].button(
        "Open",
        type="primary",
        key="picker_open",
        on_click=open_case,
        args=(runs[pick or 0]["path"],),
        icon=":material/folder_open:",
    )

st.subheader("Generate a case")
scenarios = loaders.shipped_scenarios(str(cfg.scenarios_dir))
if not scenarios:
    st.caption("No shipped scenario files were found.")
    st.stop()
c = st.columns([3, 2, 1])
choice = c[0].selectbox(
    "Scenario",
    range(len(scenarios)),
    format_func=lambda i: f"{scenarios[i]['title']} ({scenarios[i]['id']})",
    key="picker_scenario",
)
size = c[1].selectbox("Size", list(SIZES), index=1, format_func=SIZES.get, key="picker_size")
seed_text = c[2].text_input("Seed", key="picker_seed", placeholder="default", max_chars=9)
chosen = scenarios[choice or 0]
if chosen["brief"]:
    st.caption(chosen["brief"])
seed = int(seed_text) if seed_text.strip().isdigit() else None
seed_label = seed if seed is not None else (chosen["seed"] or "0")
target = cfg.data_dir / run_name(chosen["id"], str(size), seed_label)
if st.button("Generate", key="picker_generate", icon=":material/play_arrow:"):
    jobs().start(Path(chosen["path"]), str(size), target, seed)
    st.session_state[JOB_KEY] = str(target)


def current_job() -> Job | None:
    target_text = st.session_state.get(JOB_KEY)
    return jobs().get(Path(target_text)) if target_text else None


started_job = current_job()
watching = started_job is not None and not started_job.done


@st.fragment(run_every=1 if watching else None)  # poll only while a job runs
def progress() -> None:
    job = current_job()
    if job is None:
        return
    ahead = jobs().ahead(job)
    if ahead is not None:  # one generation at a time per server: this one waits its turn
        st.info(
            f"{job.target.name}: queued, {ahead} generation{'s' if ahead != 1 else ''} ahead "
            "(this server generates one case at a time).",
            icon=":material/hourglass_top:",
        )
        return
    with st.status(
        f"{job.target.name}: {job.phase}",
        state="error" if job.error else ("complete" if job.done else "running"),
        expanded=True,
    ):
        st.progress(job.fraction, text=f"{job.hours:,} simulated hours · {job.elapsed:.0f} s")
        if job.error:
            st.error(job.error)
        elif job.done and st.button("Open this case", type="primary", key="picker_open_new"):
            open_case(str(job.target))
            st.rerun(scope="app")
    if job.done and watching:  # once: list the new run and stop polling
        loaders.runs_in.clear()
        st.rerun(scope="app")


progress()
