"""Cloud Assistant through the official SDK, over the real qemu-ga of the test guest, on the driver
under test (ECSLAB_TEST_DRIVER=libvirt for the libvirt pass).

One server of its own (it is restarted in the middle of a run) and one running guest shared by
the cases, plus a stopped instance for the fleet case. RunCommand `id; echo hi` gives the output
and ExitCode 0; `exit 3` gives ExitCode 3 and Failed; `sleep 30` with Timeout 3 is killed with
Timeout/ExecutionTimeout; CreateCommand + InvokeCommand fill Parameters and built-ins; a fleet
of one running and one stopped instance ends PartialFailed; StopInvocation terminates a run; a
server restart during a run loses nothing; CreateSnapshot of the running guest freezes its
filesystems through the agent. Parameter errors are checked on the fake-driver server.
"""

from __future__ import annotations

import base64
import time

import pytest
from alibabacloud_ecs20140526 import models as m

import labkit
from conftest import TEST_DRIVER, driver_server
from labkit import REGION


@pytest.fixture(scope="module")
def ca_lab(prerequisites):
    with driver_server(prerequisites, "ecslab-ca") as lab:
        yield lab


@pytest.fixture(scope="module")
def guests(ca_lab):
    """(running instance, stopped instance); waits until the running one's agent answers."""
    client = ca_lab.client()
    running = labkit.run_instance(client, ca_lab.image_id, instance_name="ca-running")
    stopped = labkit.create_instance(client, ca_lab.image_id, instance_name="ca-stopped")
    labkit.wait_status(client, running, "Running", timeout=120)
    labkit.wait_console(client, running, "VMTEST-AGENT started", timeout=120)
    deadline = time.monotonic() + 60
    while assistant_status(client, running) != "true":
        assert time.monotonic() < deadline, "the guest agent never answered"
        time.sleep(0.5)
    return running, stopped


@pytest.fixture(params=[name for name, _ in labkit.ALGORITHMS])
def ca(request, ca_lab):
    return ca_lab.client(dict(labkit.ALGORITHMS)[request.param])


def assistant_status(client, instance_id: str) -> str:
    body = client.describe_cloud_assistant_status(m.DescribeCloudAssistantStatusRequest(
        region_id=REGION, instance_id=[instance_id])).body
    (entry,) = body.instance_cloud_assistant_status_set.instance_cloud_assistant_status
    assert entry.instance_id == instance_id and entry.ostype == "Linux"
    return entry.cloud_assistant_status


def run(client, instances: list[str], script: str, **kw) -> str:
    body = client.run_command(m.RunCommandRequest(
        region_id=REGION, type="RunShellScript", command_content=script, instance_id=instances, **kw)).body
    assert body.command_id.startswith("c-") and body.invoke_id.startswith("t-")
    return body.invoke_id


def results(client, invoke_id: str) -> list:
    body = client.describe_invocation_results(m.DescribeInvocationResultsRequest(
        region_id=REGION, invoke_id=invoke_id)).body
    return body.invocation.invocation_results.invocation_result


def invocation(client, invoke_id: str):
    body = client.describe_invocations(m.DescribeInvocationsRequest(
        region_id=REGION, invoke_id=invoke_id, include_output=True)).body
    (found,) = body.invocations.invocation
    return found


def wait_done(client, invoke_id: str, timeout: float = 60):
    """Poll DescribeInvocations until the invocation is over; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        inv = invocation(client, invoke_id)
        if inv.invocation_status not in ("Pending", "Running", "Stopping"):
            return inv
        assert time.monotonic() < deadline, f"{invoke_id} still {inv.invocation_status}"
        time.sleep(0.3)


def output(result) -> str:
    return base64.b64decode(result.output or "").decode()


def test_status_says_whether_the_agent_answers(ca, guests):
    running, stopped = guests
    assert assistant_status(ca, running) == "true"
    assert assistant_status(ca, stopped) == "false"


def test_run_command_returns_output_and_exit_code(ca, guests):
    running, _ = guests
    invoke_id = run(ca, [running], "id; echo hi")
    inv = wait_done(ca, invoke_id)
    assert (inv.invocation_status, inv.invoke_status) == ("Success", "Finished")
    (instance,) = inv.invoke_instances.invoke_instance
    assert instance.instance_id == running and instance.exit_code == 0
    assert base64.b64decode(instance.output).decode() == "uid=0(root) gid=0(root)\nhi\n"
    assert base64.b64decode(inv.command_content).decode() == "id; echo hi"
    (result,) = results(ca, invoke_id)
    assert (result.invocation_status, result.invoke_record_status, result.exit_code) == ("Success", "Finished", 0)
    assert output(result) == "uid=0(root) gid=0(root)\nhi\n" and result.error_code == "" and result.dropped == 0
    # PlainText on request.
    plain = ca.describe_invocation_results(m.DescribeInvocationResultsRequest(
        region_id=REGION, invoke_id=invoke_id, content_encoding="PlainText")).body
    assert plain.invocation.invocation_results.invocation_result[0].output == "uid=0(root) gid=0(root)\nhi\n"


def test_exit_code_3_is_failed(ca, guests):
    running, _ = guests
    invoke_id = run(ca, [running], "echo out; echo err >&2; exit 3")
    inv = wait_done(ca, invoke_id)
    assert inv.invocation_status == "Failed"
    (result,) = results(ca, invoke_id)
    assert (result.invocation_status, result.exit_code, result.error_code) == ("Failed", 3, "ExitCodeNonzero")
    assert output(result) == "out\nerr\n", "stderr joins stdout, as ECS shows one Output"


def test_timeout_kills_the_command(ca, guests):
    running, _ = guests
    started = time.monotonic()
    invoke_id = run(ca, [running], "echo start; sleep 30; echo never", timeout=3)
    inv = wait_done(ca, invoke_id, timeout=30)
    took = time.monotonic() - started
    assert inv.invocation_status == "Failed" and took < 15, (inv.invocation_status, took)
    (result,) = results(ca, invoke_id)
    assert (result.invocation_status, result.invoke_record_status) == ("Timeout", "Failed")
    assert result.error_code == "ExecutionTimeout"
    assert output(result) == "start\n"
    # The whole process group is gone: no `sleep 30` left in the guest.
    check = run(ca, [running], "ps | grep -v grep | grep -c 'sleep 30' || true")
    wait_done(ca, check)
    assert output(results(ca, check)[0]).strip() == "0"


def test_parameters_working_dir_and_built_ins(ca, guests):
    running, _ = guests
    script = "cd {{ dir }} && pwd; echo {{greeting}} {{Name}} on {{ACS::InstanceId}} by {{ACS::InvokeId}}"
    command_id = ca.create_command(m.CreateCommandRequest(
        region_id=REGION, name="greet", type="RunShellScript", enable_parameter=True,
        command_content=base64.b64encode(script.encode()).decode(), content_encoding="Base64",
        working_dir="/tmp", timeout=30)).body.command_id
    ca.modify_command(m.ModifyCommandRequest(region_id=REGION, command_id=command_id, description="greets"))
    listed = ca.describe_commands(m.DescribeCommandsRequest(region_id=REGION, description="greets")).body
    (command,) = listed.commands.command
    assert command.parameter_names.parameter_name == ["dir", "greeting", "Name"]
    assert base64.b64decode(command.command_content).decode() == script and command.working_dir == "/tmp"
    invoke_id = ca.invoke_command(m.InvokeCommandRequest(
        region_id=REGION, command_id=command_id, instance_id=[running],
        parameters={"dir": "/etc", "greeting": "hello", "name": "lab"})).body.invoke_id
    wait_done(ca, invoke_id)
    (result,) = results(ca, invoke_id)
    assert output(result) == f"/etc\nhello lab on {running} by {invoke_id}\n"
    # Without the dir parameter it is empty: `cd` goes home, and WorkingDir /tmp was the start.
    invoke_id = ca.invoke_command(m.InvokeCommandRequest(
        region_id=REGION, command_id=command_id, instance_id=[running], parameters={"greeting": "hi"})).body.invoke_id
    wait_done(ca, invoke_id)
    assert output(results(ca, invoke_id)[0]).startswith("/root\nhi on ")
    # InvokeCommand's own WorkingDir and Timeout win over the command's.
    invoke_id = ca.invoke_command(m.InvokeCommandRequest(
        region_id=REGION, command_id=command_id, instance_id=[running], working_dir="/proc",
        timeout=20, parameters={"dir": "."})).body.invoke_id
    inv = wait_done(ca, invoke_id)
    assert (inv.working_dir, inv.timeout) == ("/proc", 20)
    assert output(results(ca, invoke_id)[0]).startswith("/proc\n")
    # A key the command does not define.
    err = labkit.sdk_error(ca.invoke_command, m.InvokeCommandRequest(
        region_id=REGION, command_id=command_id, instance_id=[running], parameters={"other": "x"}))
    assert (err.code, err.status_code) == ("InvalidParameters.KeyNotMatch", 400)
    assert ca.describe_commands(m.DescribeCommandsRequest(
        region_id=REGION, command_id=command_id)).body.commands.command[0].invoke_times == 3
    ca.delete_command(m.DeleteCommandRequest(region_id=REGION, command_id=command_id))
    err = labkit.sdk_error(ca.invoke_command, m.InvokeCommandRequest(
        region_id=REGION, command_id=command_id, instance_id=[running]))
    assert (err.code, err.status_code) == ("InvalidCommandId.NotFound", 404)


def test_missing_user_and_directory_are_errors(ca, guests):
    running, _ = guests
    invoke_id = run(ca, [running], "pwd", working_dir="/no/such/dir")
    wait_done(ca, invoke_id)
    (result,) = results(ca, invoke_id)
    assert (result.invocation_status, result.error_code) == ("Error", "DirectoryNotExists")
    # Another user than root: the script runs as that user (busybox su), in the directory asked.
    invoke_id = run(ca, [running], "id -u; pwd", username="nobody", working_dir="/tmp")
    wait_done(ca, invoke_id)
    (result,) = results(ca, invoke_id)
    assert (result.invocation_status, output(result), result.username) == ("Success", "65534\n/tmp\n", "nobody")
    invoke_id = run(ca, [running], "id", username="nobody-here")
    wait_done(ca, invoke_id)
    (result,) = results(ca, invoke_id)
    assert (result.invocation_status, result.error_code) == ("Error", "AccountNotExists")


def test_fleet_with_a_stopped_instance_is_partial_failed(ca, guests):
    running, stopped = guests
    invoke_id = run(ca, [running, stopped], "echo fleet")
    inv = wait_done(ca, invoke_id)
    assert (inv.invocation_status, inv.invoke_status) == ("PartialFailed", "PartialFailed")
    by_instance = {r.instance_id: r for r in results(ca, invoke_id)}
    assert by_instance[running].invocation_status == "Success" and output(by_instance[running]) == "fleet\n"
    assert by_instance[stopped].invocation_status == "Aborted"
    assert by_instance[stopped].error_code == "InstanceNotRunning"
    assert by_instance[stopped].invoke_record_status == "Failed"


def test_stop_invocation_terminates_the_run(ca, guests):
    running, _ = guests
    invoke_id = run(ca, [running], "echo begun; sleep 60")
    deadline = time.monotonic() + 30
    while results(ca, invoke_id)[0].invocation_status != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    ca.stop_invocation(m.StopInvocationRequest(region_id=REGION, invoke_id=invoke_id))
    inv = wait_done(ca, invoke_id, timeout=30)
    assert inv.invocation_status == "Stopped"
    (result,) = results(ca, invoke_id)
    assert (result.invocation_status, result.invoke_record_status) == ("Terminated", "Stopped")
    assert result.stop_time and output(result) == "begun\n"
    err = labkit.sdk_error(ca.stop_invocation, m.StopInvocationRequest(region_id=REGION, invoke_id=invoke_id))
    assert (err.code, err.status_code) == ("InvalidOperation.InvokeAlreadyFinished", 403)


def test_a_server_restart_loses_no_invocation(ca_lab, guests):
    running, _ = guests
    client = ca_lab.client()
    invoke_id = run(client, [running], "echo before; sleep 6; echo after")
    deadline = time.monotonic() + 30
    while results(client, invoke_id)[0].invocation_status != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    labkit.restart_server(ca_lab)
    client = ca_lab.client()
    assert results(client, invoke_id)[0].invocation_status == "Running", "still running across the restart"
    inv = wait_done(client, invoke_id, timeout=60)
    assert inv.invocation_status == "Success"
    (result,) = results(client, invoke_id)
    assert output(result) == "before\nafter\n" and result.exit_code == 0
    assert "resuming a Cloud Assistant run" in ca_lab.log_path.read_text()


def test_create_snapshot_freezes_the_guest_filesystems(ca_lab, guests):
    running, _ = guests
    client = ca_lab.client()
    system_disk, _ = labkit.instance_disks(client, running)
    before = ca_lab.log_path.read_text().count("guest filesystems frozen for the snapshot")
    snapshot_id = labkit.create_snapshot(client, system_disk)
    labkit.wait_snapshot(client, snapshot_id)
    frozen = [line for line in ca_lab.log_path.read_text().splitlines()
              if "guest filesystems frozen for the snapshot" in line and running in line]
    assert len(frozen) > before and "filesystems=1" in frozen[-1], frozen
    # Thawed right after: the guest writes and syncs at once.
    invoke_id = run(client, [running], "echo thawed > /root/after-snapshot && sync && cat /root/after-snapshot",
                    timeout=10)
    wait_done(client, invoke_id)
    (result,) = results(client, invoke_id)
    assert (result.invocation_status, output(result)) == ("Success", "thawed\n")


def test_a_snapshot_during_a_command_leaves_it_running(ca_lab, guests):
    """The guest is frozen while its command writes: the command waits out the freeze and ends well."""
    running, _ = guests
    client = ca_lab.client()
    system_disk, _ = labkit.instance_disks(client, running)
    invoke_id = run(client, [running], "rm -f /root/during; for i in $(seq 1 15); do echo $i >> /root/during; "
                                       "sleep 0.2; done; wc -l < /root/during", timeout=60)
    deadline = time.monotonic() + 30
    while results(client, invoke_id)[0].invocation_status != "Running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    snapshot_id = labkit.create_snapshot(client, system_disk)
    inv = wait_done(client, invoke_id, timeout=60)
    labkit.wait_snapshot(client, snapshot_id)
    (result,) = results(client, invoke_id)
    assert (inv.invocation_status, output(result).strip()) == ("Success", "15"), result.to_map()


# ---- parameter errors, on the fake-driver server ------------------------------------------------


def test_parameter_errors(fake_ecs, fake_lab):
    instance = labkit.create_instance(fake_ecs, fake_lab.image_id)

    def code(**kw):
        request = dict(region_id=REGION, type="RunShellScript", command_content="id", instance_id=[instance])
        request.update(kw)
        err = labkit.sdk_error(fake_ecs.run_command, m.RunCommandRequest(**request))
        return err.code, err.status_code

    assert code(type="RunBatScript") == ("InvalidInstanceId.OSTypeUnsupported", 403)
    assert code(type="RunPerlScript") == ("InvalidCmdType.NotFound", 403)
    assert code(command_content=None) == ("MissingParameter", 400)
    assert code(instance_id=[]) == ("MissingParameter", 400)
    assert code(instance_id=["i-nosuchinstance0000000"]) == ("InvalidInstanceId.NotFound", 404)
    assert code(instance_id=[f"i-{n:020d}" for n in range(101)]) == ("InvalidInstanceId.CountLimitExceeded", 403)
    assert code(content_encoding="Base64", command_content="!!not base64!!") == \
        ("InvalidCommandContent.DecodeError", 400)
    assert code(command_content="x" * 20000) == ("InvalidCommandContent.LengthLimitExceeded", 403)
    assert code(name="n" * 129) == ("CmdName.ExceedLimit", 403)
    assert code(description="d" * 513) == ("CmdDesc.ExceedLimit", 403)
    assert code(username="u" * 256) == ("Username.ExceedLimit", 403)
    assert code(timeout=0) == ("InvalidParameter", 400)
    assert code(enable_parameter=True, command_content="echo {{a b}}") == ("InvalidParameters.KeyMalformed", 400)
    assert code(enable_parameter=True, command_content="echo {{a}}", parameters={"b": "x"}) == \
        ("InvalidParameters.KeyNotMatch", 400)
    assert code(enable_parameter=True, command_content="echo {{a}}", parameters={"a": 1}) == \
        ("InvalidParameters.ValueTypeUnsupported", 403)
    assert code(parameters={"a": "x"}) == ("InvalidParameter", 400), "Parameters without EnableParameter"
    assert code(frequency="rate(5m)") == ("InvalidParameter", 400), "scheduling is refused, not ignored"
    assert code(container_id="ab12") == ("InvalidParameter", 400)
    err = labkit.sdk_error(fake_ecs.stop_invocation, m.StopInvocationRequest(region_id=REGION, invoke_id="t-nosuch"))
    assert (err.code, err.status_code) == ("InvalidInvokeId.NotFound", 404)
    err = labkit.sdk_error(fake_ecs.describe_cloud_assistant_status, m.DescribeCloudAssistantStatusRequest(
        region_id=REGION, ostype="Windows"))
    assert (err.code, err.status_code) == ("InvalidParameter", 400)
    # A stopped instance alone: the invocation is accepted and Aborted on it.
    invoke_id = fake_ecs.run_command(m.RunCommandRequest(
        region_id=REGION, type="RunShellScript", command_content="id", instance_id=[instance])).body.invoke_id
    inv = invocation(fake_ecs, invoke_id)
    assert inv.invocation_status == "Failed"
    assert inv.invoke_instances.invoke_instance[0].error_code == "InstanceNotRunning"


def test_status_counts_the_invocations(ca_lab, guests):
    running, stopped = guests
    body = ca_lab.client().describe_cloud_assistant_status(m.DescribeCloudAssistantStatusRequest(
        region_id=REGION, instance_id=[running, stopped])).body
    by_id = {s.instance_id: s for s in body.instance_cloud_assistant_status_set.instance_cloud_assistant_status}
    run_ids = {r.invoke_id for r in ca_lab.client().describe_invocation_results(m.DescribeInvocationResultsRequest(
        region_id=REGION, instance_id=running, page_size=50)).body.invocation.invocation_results.invocation_result}
    assert by_id[running].invocation_count == len(run_ids) >= 10
    assert by_id[running].active_task_count == 0 and by_id[running].last_invoked_time
    assert by_id[running].cloud_assistant_version.startswith("7."), by_id[running].cloud_assistant_version
    assert (by_id[stopped].cloud_assistant_status, by_id[stopped].invocation_count) == ("false", 2)
