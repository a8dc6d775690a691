"""Hatchling build hook: compiles policylang/_scan.c, the native reader of section 10 documents
(see ``policylang.ingest``, "the native reader"), for ``pip install .`` and ``pip install -e .``.

The module is compiled with the building interpreter's own compiler and flags (``sysconfig``:
``CC``, ``CFLAGS``, ``CCSHARED``, ``LDSHARED``, as setuptools would use them; ``CC`` and
``LDSHARED`` in the environment override them) and written into the source tree's
``policylang/`` (git ignores it), where both an editable install and a test run from the
clone's folder (``python -m pytest tests``, which imports the source tree's package) find it;
the wheel includes it and is then tagged for this interpreter and platform. Without a working
compiler the build warns and goes on: the package works on its paths in Python alone.
``POLICYLANG_NATIVE_BUILD=0`` skips the compilation.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("policylang") / "_scan.c"


def compile_scan(root: Path) -> tuple[Path | None, str]:
    """Compile ``root``/policylang/_scan.c next to itself: the built module's path and "", or
    None and the reason it could not be built."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    config_cc = sysconfig.get_config_var("CC")
    if not suffix or not config_cc:  # e.g. Windows, where sysconfig names no compiler
        return None, "this interpreter's sysconfig names no C compiler"
    cc = os.environ.get("CC") or config_cc
    ldshared = os.environ.get("LDSHARED") or sysconfig.get_config_var("LDSHARED") or f"{config_cc} -shared"
    if "LDSHARED" not in os.environ and ldshared.startswith(config_cc):
        ldshared = cc + ldshared[len(config_cc):]  # the linker is the compiler: use the one asked for
    flags = [*shlex.split(sysconfig.get_config_var("CFLAGS") or ""), *shlex.split(sysconfig.get_config_var("CCSHARED") or "")]
    target = root / "policylang" / f"_scan{suffix}"
    with tempfile.TemporaryDirectory() as folder:
        built = Path(folder) / target.name
        steps = [
            [*shlex.split(cc), *flags, f"-I{sysconfig.get_paths()['include']}", "-c", str(root / SOURCE),
             "-o", str(Path(folder) / "_scan.o")],
            [*shlex.split(ldshared), str(Path(folder) / "_scan.o"), "-o", str(built)],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, check=False)
            except OSError as exc:  # no such compiler
                return None, f"{step[0]}: {exc.strerror}"
            if done.returncode != 0:
                return None, f"{shlex.join(step)} failed:\n{done.stderr.strip()}"
        os.replace(built, target)  # whole or not at all: a process importing it never sees half a file
    return target, ""


class CustomBuildHook(BuildHookInterface):  # type: ignore[misc]  # (hatchling is only in the build environment)
    """Builds the native reader into the wheel (and the source tree); see the module's docstring."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        if os.environ.get("POLICYLANG_NATIVE_BUILD") == "0":
            self.app.display_warning("policylang: POLICYLANG_NATIVE_BUILD=0, the native reader is not built")
            return
        target, why = compile_scan(Path(self.root))
        if target is None:
            self.app.display_warning("policylang: the native reader (policylang/_scan.c) could not be built, so "
                                     f"decide_json uses its paths in Python alone (correct, slower): {why}")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True  # cp311-cp311-linux_x86_64: the module is this interpreter's
        if version != "editable":  # an editable install imports the source tree, where the module lies
            build_data["force_include"][str(target)] = f"policylang/{target.name}"
