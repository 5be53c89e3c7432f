"""Trying a case again after its debrief: a fresh variant by default, the same data if asked.

A retry on the same data measures memory: the person has just seen its key. The default is a
fresh variant (`generation.fresh_variant`: the same scenario and size, the next seed this
person has not attempted), generated in the background by the same queue as the picker (one
generation at a time per server) and opened, once ready, as a new attempt by the same person
(their owner token). Nothing here names a cause: the page shows the run folder's name (the
case's id, size and seed, which the person picked) and the generation's progress; a failed
generation's own message goes to the server log, since a child's error may name a fault.
"""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from dashboard import loaders, state
from dashboard.generation import Job, Variant, fresh_variant, jobs
from dashboard.settings import Settings
from dashboard.widgets import Context

TARGET_KEY = "retry_variant_target"  # the variant this session is waiting for
log = logging.getLogger("casesim.dashboard")
_logged: set[str] = set()  # failed targets already written to the log


def attempted(cfg: Settings) -> list[tuple[str, str | None, str | None, int | None]]:
    """This person's attempts as (run folder, scenario, size, seed): the seeds a retry skips."""
    owner = state.owner()
    if not owner:
        return []
    store = loaders.store(str(cfg.data_dir))
    return [(a.run_dir, a.scenario_id, a.size, a.seed) for a in store.history(owner=owner)]


def next_variant(ctx: Context) -> Variant | None:
    shipped = loaders.shipped_scenarios(str(ctx.cfg.scenarios_dir))
    scenarios = {s["id"]: Path(s["path"]) for s in shipped}
    return fresh_variant(ctx.run, ctx.cfg.data_dir, scenarios, attempted(ctx.cfg), jobs())


def open_variant(target: Path, cfg: Settings) -> None:
    """Make the variant this session's run, with a new attempt by the same person."""
    target = target.absolute()
    state.open_run(target, cfg)
    state.new_attempt(target, cfg)
    st.session_state.pop(TARGET_KEY, None)
    loaders.runs_in.clear()  # the picker lists the new folder at once
    state.go_to("brief")


def _waiting() -> Job | None:
    target = st.session_state.get(TARGET_KEY)
    return jobs().get(Path(target)) if target else None


def offer(ctx: Context) -> None:
    """The retry buttons under the debrief, and the fresh variant's progress once asked for.
    None in a take-home: a seat has one attempt, at its own variant."""
    if ctx.cfg.takehome is not None:
        return
    st.subheader("Try this case again")
    variant = next_variant(ctx)
    cols = st.columns([1, 1, 2], vertical_alignment="center")
    if variant is not None and cols[0].button(
        "Try a fresh variant",
        type="primary",
        key="debrief_variant",
        icon=":material/shuffle:",
        help="The same case at the same size with data you have not seen (another seed)",
    ):
        jobs().start(variant.scenario_path, variant.size, variant.target, variant.seed)
        st.session_state[TARGET_KEY] = str(variant.target)
    if cols[1].button(
        "Retry on the same data",
        key="debrief_new",
        icon=":material/replay:",
        help="The data you have just seen the key of: this measures memory more than diagnosis",
    ):
        st.session_state.pop(TARGET_KEY, None)
        state.new_attempt(ctx.run, ctx.cfg)
        state.go_to("brief")
        st.rerun()
    if variant is None:
        cols[2].caption(
            "A fresh variant is generated from the case's shipped scenario; this case has none "
            "here, so it can be retried on the same data only."
        )
    else:
        cols[2].caption(f"Next variant: seed {variant.seed} ({variant.target.name}).")
    job = _waiting()
    running = job is not None and not job.done

    @st.fragment(run_every=1 if running else None)  # poll only while it generates
    def progress() -> None:
        job = _waiting()
        if job is None:
            return
        if job.done and job.error is None:
            open_variant(job.target, ctx.cfg)
            st.rerun(scope="app")
        ahead = jobs().ahead(job)
        if ahead is not None:
            st.info(
                f"{job.target.name}: queued, {ahead} generation{'s' if ahead != 1 else ''} "
                "ahead (this server generates one case at a time).",
                icon=":material/hourglass_top:",
            )
            return
        error = job.error  # read once: the worker thread may set it while this draws
        # Not `with st.status(...)`: leaving the block would mark it complete while it runs.
        box = st.status(
            f"Fresh variant {job.target.name}: " + ("generation failed" if error else job.phase),
            state="error" if error else "running",
            expanded=True,
        )
        box.progress(job.fraction, text=f"{job.hours:,} simulated hours · {job.elapsed:.0f} s")
        if error:
            if str(job.target) not in _logged:
                _logged.add(str(job.target))
                log.warning("generating %s failed: %s", job.target, error)
            box.error(
                "This variant could not be generated. Try a fresh variant again (the "
                "next seed), or retry on the same data.",
                icon=":material/error:",
            )

    progress()
