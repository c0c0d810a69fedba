"""F/D results on the edges where rv-fpu.c's fast path hands over to the
host-flags path (smallest normal, largest finite, 2^-899 residuals,
halfway cases, exact versus one ulp off), in every rounding mode, static
and dynamic: programs from tests/isa/gen_fp_edge.py run on QEMU 7.2 and on
our hart (harness and rrvm binary) must print the same results and fflags.

Seeds: RV_FPU_EDGE_SEEDS="1,2,3" overrides the programs' seeds."""
import importlib.util
import os

import pytest

from test_isa_qemu import ISA, build, check, pytestmark  # noqa: F401

SEEDS = [int(s) for s in
         os.environ.get("RV_FPU_EDGE_SEEDS", "1,2,3").split(",")]
_spec = importlib.util.spec_from_file_location("gen_fp_edge",
                                               ISA / "gen_fp_edge.py")
gen_fp_edge = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_fp_edge)


@pytest.mark.parametrize("seed", SEEDS)
def test_fp_edges(seed, tmp_path):
    src = tmp_path / f"edge{seed}.S"
    src.write_text(gen_fp_edge.gen(seed, 3000))
    check(f"fp-edge-{seed}", build(src, tmp_path / f"edge{seed}.elf"))
