"""A full disk: the build fails naming the folder and the fix, every port keeps serving its
last version, and once there is space again the next build completes. The mesh lives on a
real, small filesystem (a tmpfs mounted for the test, which needs root)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from deltalake import DeltaTable

from tests.helpers import mesh, mesh_in_process
from tests.reliability.ledger import record

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root")


def _mount(folder, megabytes: int, remount: bool = False) -> None:
    options = f"{'remount,' if remount else ''}size={megabytes}m"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], check=True, capture_output=True)


def test_a_build_on_a_full_disk_names_the_folder_and_keeps_every_port_serving(private_mesh, tmp_path, request):
    built = private_mesh()
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount(disk, 512)
    try:
        root = disk / "mesh"
        shutil.copytree(built, root, ignore=shutil.ignore_patterns("dagster"))
        dagster_home = {"DAGSTER_HOME": str(tmp_path / "dagster")}  # the run records stay writable
        landed = mesh_in_process("seed", "--increment", "full", "--root", str(root), root=root)
        assert landed.returncode == 0, landed.stderr
        ports = sorted((root / "products" / "marketing").glob("web_behavior/v*"))
        served = {p: (DeltaTable(str(p)).version(), DeltaTable(str(p)).to_pyarrow_table()) for p in ports}
        _mount(disk, -(-shutil.disk_usage(disk).used // 2**20) + 1, remount=True)  # 1 MB left

        failed = mesh("build", "--select", "marketing.web_behavior", root=root, env=dagster_home)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        # Where the disk filled decides who tells it (the step, or the command around the run):
        # either way the last thing the user reads is the folder and the fix, not an exception.
        told = "".join(" ".join(failed.stderr.strip().splitlines()[-8:]).split())
        assert "".join(f"the disk holding {root} is full".split()) in told, failed.stderr[-3000:]
        assert "Error:" not in told.replace("Error:the", "") and "OSError" not in told, failed.stderr[-3000:]
        for port, (version, rows) in served.items():
            now = DeltaTable(str(port))
            assert now.version() == version and now.to_pyarrow_table().equals(rows), f"{port} changed on a full disk"

        _mount(disk, 512, remount=True)
        again = mesh_in_process("build", "--select", "marketing.web_behavior", root=root, env=dagster_home)
        assert again.returncode == 0, again.stdout + again.stderr
        assert any(DeltaTable(str(p)).version() > v for p, (v, _) in served.items()), "the next build publishes the batch"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
    record(request, rows_in=0, rows_accounted=0, note="disk full: nothing half-written")
