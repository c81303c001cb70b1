"""The distribution check has teeth: faults planted in how the replicas' maps come back make it fail.

Covers issue 24, item 5, for ``tf.distribute`` (after HIPS/autograd's ``test_tests.py``): each fault
of :data:`tests.distributed_run.FAULTS` is a copy of ``refdeconv.explainers.distributed.run`` with
one line changed (replicas' maps gathered in reverse order; one replica's shard dropped and another's
duplicated; the last uneven shard's padding kept in place of the first rows), planted by the child
process (``tests/distributed_run.py replicas R --plant FAULT``: logical devices must exist before
TensorFlow starts) before it runs the comparison of ``test_distributed.py`` over 2 or 3 logical
CPUs; the child must fail on that comparison's ``AssertionError``. The control, the same child
without a fault, is ``test_distributed.py::test_replicas_of_one_machine_equal_one_device``. One
fault runs by default (one child, about 6 s), every fault at 2 and 3 replicas in the heavy tier.
"""

import subprocess

import pytest

from tests.distributed_run import FAULTS
from tests.explainers.test_distributed import _run

DEFAULT = ("replicas' maps gathered in reverse order", 2)
CASES = [pytest.param(fault, replicas, marks=() if (fault, replicas) == DEFAULT else pytest.mark.heavy,
                      id=f"{fault}, {replicas} replicas")
         for fault in sorted(FAULTS) for replicas in (2, 3)]


@pytest.mark.parametrize(("fault", "replicas"), CASES)
def test_a_planted_fault_in_gathering_the_replicas_maps_fails_the_distribution_check(fault, replicas):
    process = _run("replicas", replicas, "--plant", fault)
    try:
        out, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"{fault}, {replicas} replicas: timed out after 240 s:\n{out[-3000:]}") from None
    last = out.rstrip().splitlines()[-1] if out.strip() else ""
    assert process.returncode != 0 and last.startswith("AssertionError:") and "differs from the reference" in last, \
        f"{fault}, {replicas} replicas: the child's comparison did not fail on its map values (exit " \
        f"{process.returncode}):\n{out[-3000:]}"
