"""A folder's owner is alive while its process exists, and gone once it has exited."""

from __future__ import annotations

import os
import subprocess

from runfolder.owners import pid_alive


def test_this_process_is_alive_and_an_exited_one_is_not():
    exited = subprocess.Popen(["true"])
    exited.wait()
    assert pid_alive(os.getpid())
    assert not pid_alive(exited.pid)


def test_a_pid_that_cannot_be_checked_counts_as_alive_so_its_folder_is_kept():
    assert pid_alive(2**70)
