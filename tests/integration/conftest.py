"""Shared fixtures for the integration tests: where the built binaries are,
and a scratch directory per test. Tests drive the binaries as a user would."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import vmproc

TOP = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("RRVM_BUILD", TOP / "build" / "gcc")).resolve()


def binary(rel):
    p = BUILD / rel
    if not p.exists():
        pytest.fail(f"{p} was not built")
    return str(p)


@pytest.fixture
def rrvm_img():
    return binary("imgtool/rrvm-img")


@pytest.fixture
def rrvm():
    return binary("emulator/rrvm")


def run(cmd, check=True, **kw):
    """Run a command, returning CompletedProcess with text output."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    p = subprocess.run(cmd, **kw)
    if check and p.returncode != 0:
        raise AssertionError(
            f"{cmd} exited {p.returncode}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


def have(tool):
    return shutil.which(tool) is not None


# A bare-metal guest at the virt board's RAM base: .text.start first.
BAREMETAL_LDS = """
ENTRY(_start)
SECTIONS {
  . = 0x80000000;
  .text : { *(.text.start) *(.text*) }
  .rodata : { *(.rodata*) *(.srodata*) }
  .data : { *(.data*) *(.sdata*) }
  .bss : { *(.sbss*) *(.bss*) *(COMMON) }
}
"""


def baremetal_elf(d, crt, prog):
    """Build the bare-metal guest from startup assembly @crt and C @prog in
    directory @d with riscv64-unknown-elf-gcc; return the ELF's path."""
    (d / "crt.S").write_text(crt)
    (d / "prog.c").write_text(prog)
    (d / "link.ld").write_text(BAREMETAL_LDS)
    elf = d / "prog.elf"
    run(["riscv64-unknown-elf-gcc", "-O1", "-nostdlib", "-ffreestanding",
         "-march=rv64gc", "-mabi=lp64d", "-mcmodel=medany", "-T",
         str(d / "link.ld"), "-o", str(elf), str(d / "crt.S"),
         str(d / "prog.c")])
    return elf


# Tests that exercise only QEMU (a check of the oracle or of the guest
# artefacts, not of rrvm). scripts/summarize.py counts them on their own
# line; they are named here so the list lives in one place.
REFERENCE_RUNS = {
    "test_guest_qemu.py::test_guest_boots_to_shell_and_powers_off[qemu-img]",
    "test_isa_qemu.py::test_golden_files_match_qemu",
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "reference: runs only QEMU, counted apart from rrvm's tests")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.split("/")[-1] in REFERENCE_RUNS:
            item.add_marker(pytest.mark.reference)
            # Written into the JUnit file as <property name="reference">.
            item.user_properties.append(("reference", "1"))


# Tools that scripts/packages.txt installs: a test that needs one fails when
# it is missing (a skip would prove nothing).
OPENSBI_FW = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"


@pytest.fixture
def _require_fw():
    if not os.path.exists(OPENSBI_FW):
        pytest.fail(f"{OPENSBI_FW} missing (opensbi, scripts/packages.txt)")


@pytest.fixture
def _require_qemu():
    if not have("qemu-system-riscv64"):
        pytest.fail("qemu-system-riscv64 missing (qemu-system-misc, "
                    "scripts/packages.txt)")


@pytest.fixture(autouse=True)
def _reap_vmproc():
    """Kill the emulators a failing test left running."""
    yield
    vmproc.reap()


@pytest.fixture
def _require_cross():
    if not have("riscv64-unknown-elf-gcc"):
        pytest.fail("riscv64-unknown-elf-gcc missing "
                    "(gcc-riscv64-unknown-elf, scripts/packages.txt)")


needs_fw = pytest.mark.usefixtures("_require_fw")
needs_qemu = pytest.mark.usefixtures("_require_qemu")
needs_cross = pytest.mark.usefixtures("_require_cross")


# The snapshot catalog: `rrvm-img snapshot -c/-a/-d` (and later savevm)
# update the catalog, by default under $XDG_DATA_HOME or ~/.local/share.
# Every test runs with a session-wide scratch location instead, so no test
# writes the user's real catalog and none sees another run's.
@pytest.fixture(scope="session", autouse=True)
def _catalog_isolation(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "RRVM_CATALOG")}
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    os.environ.pop("RRVM_CATALOG", None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
