"""pytest fixtures for the official-SDK tests of ecslab.

- `lab` (session): one `ecslab serve --driver qemu --accel tcg --stop-grace-secs 5` on a free port
  with a temporary data dir and the test guest image imported once.
- `fake_lab` (session, on first use): a second, cheap server with `--driver fake
  --screenshot-min-interval-secs 60`, for the screenshot throttling test.
- `quota_lab` (session, on first use): a third fake-driver server with `--snapshot-quota 3`.
- `ecs` (parametrized): an `alibabacloud_ecs20140526` client for each signature algorithm the SDK
  has: the default ACS3-HMAC-SHA256 (`[acs3]`) and `signature_algorithm='v2'`, RPC HMAC-SHA1 (`[v2]`).
- `vpc`, `fake_ecs` (parametrized like `ecs`): a VPC 2016-04-28 client and an ECS client of `fake_lab`.
- `cleanup`: a list; instance ids appended to it are force-deleted after the test.

Teardown deletes (Force) every instance left, SIGTERMs the server and kills any QEMU whose command
line names the data dir: VMs are daemonized and would otherwise outlive the server.

Environment: ECSLAB_BIN (server binary, default target/debug/ecslab), ECSLAB_GUEST_DIR (default
build/guest, must hold guest.qcow2), ECSLAB_KEEP_DATA=1 keeps the data dirs (and server.log).
ECSLAB_TEST_DRIVER=libvirt runs `lab` with `--driver libvirt --libvirt-uri $ECSLAB_TEST_LIBVIRT_URI`
(default qemu:///system) instead of the qemu driver: one suite, two drivers. Its teardown also
destroys and undefines any libvirt domain left that names the data dir.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import labkit  # noqa: E402


@pytest.fixture(scope="session")
def prerequisites():
    try:
        return labkit.check_prerequisites()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


def _serve(prerequisites, **kwargs):
    binary, image = prerequisites
    try:
        lab = labkit.start_server(binary, image, **kwargs)
    except RuntimeError as e:
        pytest.fail(f"could not start ecslab: {e}", pytrace=False)
    try:
        yield lab
    finally:
        report = labkit.stop_server(lab, keep_data=False)
        if report["undeleted"] or report["killed_qemu"]:
            # Visible with -rA / on failure; a leak here is a test or server problem.
            print(f"\n[ecslab teardown {lab.data_dir}] undeleted={report['undeleted']} "
                  f"killed_qemu={report['killed_qemu']}")


TEST_DRIVER = os.environ.get("ECSLAB_TEST_DRIVER", "qemu")
LIBVIRT_URI = os.environ.get("ECSLAB_TEST_LIBVIRT_URI", "qemu:///system")


@contextlib.contextmanager
def driver_server(prerequisites, name: str, extra_args: tuple[str, ...] = (), image=None):
    """A server of a module's own on the driver under test (`--stop-grace-secs 5`, plus `--libvirt-uri` on the
    libvirt pass), stopped on exit. Modules that use it import TEST_DRIVER too: that is how the libvirt pass knows
    to rerun them."""
    binary, tiny = prerequisites
    extra = ["--stop-grace-secs", "5", *extra_args]
    if TEST_DRIVER == "libvirt":
        extra += ["--libvirt-uri", LIBVIRT_URI]
    lab = labkit.start_server(binary, image or tiny, driver=TEST_DRIVER, extra_args=extra, name=name)
    try:
        yield lab
    finally:
        labkit.stop_server(lab)


def pytest_collection_modifyitems(config, items):
    """The libvirt pass (ECSLAB_TEST_DRIVER=libvirt) reruns only what the driver can change: tests on the `lab`
    server, and tests of modules whose own server takes the test driver (those import TEST_DRIVER from here). The
    rest (fake-driver servers: tenants, RAM, STS, the matrix, fuzzing, error tables) ran in the first pass. A test
    run once per signature algorithm runs on libvirt with the SDK's default (ACS3) only: signing happens before any
    driver is involved, and the first pass ran both."""
    if TEST_DRIVER != "libvirt":
        return
    keep, drop = [], []
    for item in items:
        driven = "lab" in item.fixturenames or getattr(item.module, "TEST_DRIVER", None) is not None
        signature = getattr(getattr(item, "callspec", None), "params", {}).get("algorithm", "acs3")
        (keep if driven and signature == "acs3" else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _virsh(*args: str) -> str:
    out = subprocess.run(["virsh", "-c", LIBVIRT_URI, *args], capture_output=True, text=True)
    return out.stdout


def _undefine_domains_of(data_dir: Path) -> list[str]:
    """The libvirt driver's domains are persistent: remove any a failed test left behind."""
    left = []
    for name in _virsh("list", "--all", "--name").split():
        if name.startswith("i-") and str(data_dir) in _virsh("dumpxml", "--inactive", name):
            _virsh("destroy", name)
            _virsh("undefine", name)
            left.append(name)
    return left


@pytest.fixture(scope="session")
def lab(prerequisites):
    if TEST_DRIVER == "libvirt":
        gen = _serve(prerequisites, driver="libvirt",
                     extra_args=["--stop-grace-secs", "5", "--libvirt-uri", LIBVIRT_URI], name="ecslab-pylv")
        data_dir = None
        try:
            for lab in gen:
                data_dir = lab.data_dir
                yield lab
        finally:
            if data_dir is not None and (left := _undefine_domains_of(data_dir)):
                print(f"\n[ecslab teardown {data_dir}] undefined leftover libvirt domains {left}")
        return
    yield from _serve(prerequisites, driver=TEST_DRIVER, extra_args=["--stop-grace-secs", "5"], name="ecslab-py")


@pytest.fixture(scope="session")
def fake_lab(prerequisites):
    yield from _serve(prerequisites, driver="fake",
                      extra_args=["--stop-grace-secs", "5", "--screenshot-min-interval-secs", "60"],
                      name="ecslab-pyfake")


@pytest.fixture(scope="session")
def quota_lab(prerequisites):
    """A fake-driver server with `--snapshot-quota 3`, for QuotaExceed.Snapshot."""
    yield from _serve(prerequisites, driver="fake", extra_args=["--snapshot-quota", "3"], name="ecslab-pyquota")


@pytest.fixture(params=[name for name, _ in labkit.ALGORITHMS])
def algorithm(request):
    """The SDK signature algorithm under test: 'acs3' (default) or 'v2' (RPC HMAC-SHA1)."""
    return request.param


@pytest.fixture
def ecs(lab, algorithm):
    return lab.client(dict(labkit.ALGORITHMS)[algorithm])


@pytest.fixture
def vpc(fake_lab, algorithm):
    """An `alibabacloud_vpc20160428` client of the fake-driver server, for each signature algorithm."""
    return labkit.vpc_client(fake_lab, dict(labkit.ALGORITHMS)[algorithm])


@pytest.fixture
def fake_ecs(fake_lab, algorithm):
    """An ECS client of the fake-driver server, for each signature algorithm."""
    return fake_lab.client(dict(labkit.ALGORITHMS)[algorithm])


@pytest.fixture
def cleanup(lab):
    ids: list[str] = []
    yield ids
    client = lab.client()
    for instance_id in ids:
        try:
            labkit.force_delete(client, instance_id)
        except Exception as e:  # the session teardown deletes whatever is left
            print(f"cleanup of {instance_id} failed: {e}")
