"""The shipped-case cache of the test suite: a hit is the stored folder, anything that makes a
case changed is a miss, and a store is all or nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import case_cache
from tests.case_cache import ROOT, built_or_cached, environment_digest, fingerprint


def put(name: str, key: str, out: Path, build, key_after: str | None = None) -> bool:
    """`built_or_cached` with sources that still have `key` after the build, or `key_after`."""
    return built_or_cached(name, key, out, build, lambda: key_after or key)


def fake_case(marker: str):
    calls: list[Path] = []

    def build(out: Path) -> None:
        calls.append(out)
        (out / "tables").mkdir(parents=True)
        (out / "tables" / "sessions.parquet").write_text(marker)
        (out / "manifest.json").write_text("{}")

    return build, calls


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("CASESIM_CASE_CACHE", str(root))
    return root


def test_a_second_session_gets_the_stored_folder_without_building(cache, tmp_path):
    build, calls = fake_case("first")
    assert not put("c", "a" * 24, tmp_path / "one" / "c", build)
    assert put("c", "a" * 24, tmp_path / "two" / "c", build)
    assert len(calls) == 1
    assert (tmp_path / "two" / "c" / "tables" / "sessions.parquet").read_text() == "first"
    # a copy: changing it leaves the cache as it was
    (tmp_path / "two" / "c" / "tables" / "sessions.parquet").write_text("changed")
    assert put("c", "a" * 24, tmp_path / "three" / "c", build)
    assert (tmp_path / "three" / "c" / "tables" / "sessions.parquet").read_text() == "first"


def test_a_new_key_builds_again_and_replaces_the_older_entry(cache, tmp_path):
    build, calls = fake_case("x")
    put("c", "a" * 24, tmp_path / "one" / "c", build)
    put("other", "a" * 24, tmp_path / "one" / "other", build)
    assert not put("c", "b" * 24, tmp_path / "two" / "c", build)
    assert len(calls) == 3
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == [
        "c-" + "b" * 24,
        "other-" + "a" * 24,
    ]


def test_a_failed_store_leaves_no_entry_and_the_case_in_place(cache, tmp_path, monkeypatch):
    build, calls = fake_case("x")

    def disk_full(src, dst):
        Path(dst).mkdir(parents=True)
        raise OSError(28, "No space left on device")

    copytree = shutil.copytree
    monkeypatch.setattr(case_cache.shutil, "copytree", disk_full)
    with pytest.warns(UserWarning, match="c was not cached: .*No space"):
        assert not put("c", "a" * 24, tmp_path / "one" / "c", build)
    assert (tmp_path / "one" / "c" / "manifest.json").is_file()
    assert [p.name for p in cache.iterdir()] == [".lock"]
    monkeypatch.setattr(case_cache.shutil, "copytree", copytree)
    (cache / ".d-0.storing").mkdir()  # as a session killed while storing leaves it
    assert not put("c", "a" * 24, tmp_path / "two" / "c", build)  # built again
    assert len(calls) == 2
    assert sorted(p.name for p in cache.iterdir()) == [".lock", "c-" + "a" * 24]


def test_a_case_whose_sources_changed_while_it_was_built_is_not_stored(cache, tmp_path):
    build, calls = fake_case("x")
    with pytest.warns(UserWarning, match="c was not cached: its sources changed"):
        assert not put("c", "a" * 24, tmp_path / "one" / "c", build, key_after="b" * 24)
    assert not put("c", "a" * 24, tmp_path / "two" / "c", build)  # built again
    assert len(calls) == 2


def test_an_unusable_cache_costs_a_build_not_a_test(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("CASESIM_CASE_CACHE", str(blocked / "cache"))
    build, calls = fake_case("x")
    with pytest.warns(UserWarning) as warned:
        assert not put("c", "a" * 24, tmp_path / "one" / "c", build)
    assert [str(w.message).split(":")[0] for w in warned] == [
        "the case cache was not read",
        "c was not cached",
    ]
    assert (tmp_path / "one" / "c" / "manifest.json").is_file() and len(calls) == 1


def test_without_a_cache_every_session_builds(tmp_path, monkeypatch):
    monkeypatch.delenv("CASESIM_CASE_CACHE", raising=False)
    build, calls = fake_case("x")
    assert not put("c", "a" * 24, tmp_path / "one" / "c", build)
    assert not put("c", "a" * 24, tmp_path / "two" / "c", build)
    assert len(calls) == 2


def test_the_key_changes_with_the_scenario_the_record_the_arguments_and_the_code(tmp_path):
    scenario, record = tmp_path / "s.yaml", tmp_path / "s.calibration.json"
    scenario.write_text("id: s\n")
    record.write_text("{}")
    first = fingerprint(scenario, record, "small", 0)
    assert fingerprint(scenario, record, "small", 0) == first
    assert fingerprint(scenario, record, "small", 1) != first
    record.write_text('{"entries": []}')
    assert fingerprint(scenario, record, "small", 0) != first
    scenario.write_text("id: s\nseed: 2\n")
    assert fingerprint(scenario, record, "small", 0) != first

    code = tmp_path / "code"
    for source in case_cache.SOURCES:
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, code / source)
        else:
            (code / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, code / source)
    before = environment_digest(code)
    kernels = code / "sim" / "kernels.py"
    kernels.write_text(kernels.read_text() + "\n# a change\n")
    environment_digest.cache_clear()
    assert environment_digest(code) != before


def test_the_key_changes_with_settings_that_reach_the_arithmetic(tmp_path, monkeypatch):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("id: s\n")
    monkeypatch.delenv("NUMBA_OPT", raising=False)
    plain = fingerprint(scenario, tmp_path / "none", "small", now=True)
    monkeypatch.setenv("NUMBA_OPT", "1")
    assert fingerprint(scenario, tmp_path / "none", "small", now=True) != plain
