"""A second dashboard server on the same data folder is refused with a clear message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboard.launch import serve
from dashboard.serverlock import LOCK_FILE, FolderInUse, server_lock

HOLD = """
import sys, time
from pathlib import Path
from dashboard.serverlock import server_lock
with server_lock(Path(sys.argv[1]), 8765):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_lock_on_a_folder_is_refused_and_names_the_holder(tmp_path):
    held = r"pid \d+, port 8501"
    with server_lock(tmp_path, 8501), pytest.raises(FolderInUse, match=held):
        server_lock(tmp_path, 8502).__enter__()
    with server_lock(tmp_path, 8503):  # released when the first server stops
        assert (tmp_path / LOCK_FILE).read_text().endswith("port 8503")


def test_serve_refuses_a_folder_another_process_serves(tmp_path, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code = serve(None, 8599, tmp_path)
        assert code == 2
        err = capsys.readouterr().err
        assert "another dashboard is already serving" in err
        assert f"pid {holder.pid}, port 8765" in err
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with server_lock(tmp_path, 8599):  # the holder is gone: the folder is free again
        pass
