"""core.memory: glibc keeps freed tensor memory, so a step's activations do not fault in again."""
import os
import subprocess
import sys

import pytest

from core.memory import keep_freed_memory

# a step's pattern: three 48 MiB tensors made and freed, six times; the minor page faults of the last four
PROBE = """
import resource, torch
from core.memory import keep_freed_memory
applied = keep_freed_memory()
torch.set_num_threads(1)
for i in range(6):
    if i == 2:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = torch.ones(12 * 1024 * 1024); b = a * 2; c = a + b; del a, b, c
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _probe(**env) -> tuple[bool, int]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}, cwd=os.path.dirname(os.path.dirname(__file__))).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_tensor_memory_is_reused_instead_of_faulted_in_again():
    applied, faults = _probe()
    off, faults_off = _probe(CAMTRAP_KEEP_FREED_MEMORY="0")
    assert applied and not off
    pages = 4 * 3 * 48 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")
    assert faults_off > 0.9 * pages  # glibc's default: every tensor above 32 MiB mapped afresh, page by page
    assert faults < 0.5 * faults_off  # kept: most of them land in memory freed by the step before


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setenv("CAMTRAP_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
