//! End-to-end tests over HTTP against real QEMU guests (TCG): the test guest boots, paints its
//! known blue "VMTEST OK" screen, talks on serial and logs each boot to its data disk.

mod common;

use base64::Engine;
use common::*;
use ecslab::client::Signing;
use std::time::Duration;

const BOOT: Duration = Duration::from_secs(90);

/// Decode a GetInstanceScreenshot reply and return (width, height, fraction of blue pixels).
fn screen_facts(screenshot_b64: &str) -> (u32, u32, f64) {
    let jpeg = base64::engine::general_purpose::STANDARD.decode(screenshot_b64).expect("base64");
    assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "not a JPEG");
    let image = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
        .expect("decodable JPEG")
        .to_rgb8();
    let blue = image.pixels().filter(|p| p[2] > 100 && p[0] < 90 && p[1] < 90).count();
    (image.width(), image.height(), blue as f64 / (image.width() * image.height()) as f64)
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_screenshot_console_and_guest_poweroff() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let ecs = server.client(Signing::Acs3HmacSha256);
    let image_id = server.import_guest(&ecs).await;

    let run = ecs
        .ecs(
            "RunInstances",
            &[
                ("ImageId", image_id.clone()),
                ("InstanceType", "ecs.lab.tiny".into()),
                ("InstanceName", "e2e-vm".into()),
                ("DataDisk.1.Size", "1".into()),
                ("Tag.1.Key", "suite".into()),
                ("Tag.1.Value", "real-vm".into()),
            ],
        )
        .await
        .unwrap();
    let id = run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    wait_status(&ecs, &id, "Running", BOOT).await;
    wait_console(&ecs, &id, "VMTEST-GUEST-READY", BOOT).await;
    assert!(console(&ecs, &id).await.contains("count=1"), "first boot logs entry 1 on the data disk");

    // The real screen: 720x400 VGA text mode, mostly blue.
    let shot = ecs.ecs("GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.unwrap();
    assert_eq!(shot["InstanceId"], id.as_str());
    let (w, h, blue) = screen_facts(shot["Screenshot"].as_str().unwrap());
    assert_eq!((w, h), (720, 400));
    assert!(blue > 0.5, "screen is {:.2} blue", blue);
    let woken = ecs
        .ecs("GetInstanceScreenshot", &[("InstanceId", id.clone()), ("WakeUp", "true".into())])
        .await
        .unwrap();
    assert!(screen_facts(woken["Screenshot"].as_str().unwrap()).2 > 0.5);

    // Start while Running is refused; a graceful stop reaches Stopped.
    let again = ecs.call("2014-05-26", "StartInstance", &[("InstanceId", id.clone())]).await.unwrap();
    assert_error(&again, 403, "IncorrectInstanceStatus");
    ecs.ecs("StopInstance", &[("InstanceId", id.clone())]).await.unwrap();
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(30)).await;
    assert!(console(&ecs, &id).await.contains("VMTEST-POWEROFF"), "the guest saw the ACPI power button");
    let shot = ecs.call("2014-05-26", "GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.unwrap();
    assert_error(&shot, 405, "IncorrectInstanceStatus");

    // Start again: the data disk keeps its log, so this is boot number 2.
    ecs.ecs("StartInstance", &[("InstanceId", id.clone())]).await.unwrap();
    wait_status(&ecs, &id, "Running", BOOT).await;
    wait_console(&ecs, &id, "count=2", BOOT).await;

    // The guest powers itself off: the instance follows to Stopped.
    type_on_serial(&server.data_dir, &id, "vmtest-poweroff");
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(30)).await;

    ecs.ecs("DeleteInstance", &[("InstanceId", id.clone())]).await.unwrap();
    let gone = ecs.call("2014-05-26", "StartInstance", &[("InstanceId", id.clone())]).await.unwrap();
    assert_error(&gone, 404, "InvalidInstanceId.NotFound");
    assert!(!server.data_dir.join("vms").join(&id).exists(), "run directory removed");
    assert!(server.log().contains("the guest powered itself off"));
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_adopts_running_vms_and_a_killed_qemu_becomes_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]).await;
    let ecs = server.client(Signing::RpcHmacSha1);
    let image_id = server.import_guest(&ecs).await;
    let run = ecs
        .ecs("RunInstances", &[("ImageId", image_id.clone()), ("InstanceType", "ecs.lab.tiny".into())])
        .await
        .unwrap();
    let id = run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    wait_status(&ecs, &id, "Running", BOOT).await;
    wait_console(&ecs, &id, "VMTEST-GUEST-READY", BOOT).await;
    let pids_before = qemu_pids_of(&server.data_dir.display().to_string());
    assert_eq!(pids_before.len(), 1);

    // SIGKILL the server: the VM keeps running and the new server adopts it.
    server.restart().await;
    let ecs = server.client(Signing::RpcHmacSha1);
    assert_eq!(instance(&ecs, &id).await["Status"], "Running");
    assert_eq!(qemu_pids_of(&server.data_dir.display().to_string()), pids_before, "same QEMU process");
    let shot = ecs.ecs("GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.unwrap();
    assert!(screen_facts(shot["Screenshot"].as_str().unwrap()).2 > 0.5);
    assert!(server.log().contains("adopted running VM"));

    // QEMU killed from outside: the instance becomes Stopped, and the log says why.
    std::process::Command::new("kill").arg("-9").arg(pids_before[0].to_string()).status().unwrap();
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(20)).await;
    assert!(server.log().contains("vanished"), "log:\n{}", server.log());

    // A stopped instance is reported Stopped after a restart too, and starts again.
    server.restart().await;
    let ecs = server.client(Signing::RpcHmacSha1);
    assert_eq!(instance(&ecs, &id).await["Status"], "Stopped");
    ecs.ecs("StartInstance", &[("InstanceId", id.clone())]).await.unwrap();
    wait_status(&ecs, &id, "Running", BOOT).await;
    ecs.ecs("DeleteInstance", &[("InstanceId", id.clone()), ("Force", "true".into())]).await.unwrap();
    wait_until(Duration::from_secs(20), || async {
        qemu_pids_of(&server.data_dir.display().to_string()).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn headless_instances_have_no_screenshot_and_force_stop_works() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let ecs = server.client(Signing::Acs3HmacSha256);
    let image_id = server.import_guest(&ecs).await;
    let created = ecs
        .ecs("CreateInstance", &[("ImageId", image_id), ("InstanceType", "ecs.lab-headless.tiny".into())])
        .await
        .unwrap();
    let id = created["InstanceId"].as_str().unwrap().to_string();
    assert_eq!(instance(&ecs, &id).await["Status"], "Stopped", "CreateInstance leaves it Stopped");
    ecs.ecs("StartInstance", &[("InstanceId", id.clone())]).await.unwrap();
    wait_status(&ecs, &id, "Running", BOOT).await;
    let shot = ecs.call("2014-05-26", "GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.unwrap();
    assert_error(&shot, 405, "NotSupported");
    wait_console(&ecs, &id, "VMTEST-GUEST-READY", BOOT).await;
    ecs.ecs("StopInstance", &[("InstanceId", id.clone()), ("ForceStop", "true".into())]).await.unwrap();
    wait_status(&ecs, &id, "Stopped", Duration::from_secs(20)).await;
    assert!(!console(&ecs, &id).await.contains("VMTEST-POWEROFF"), "a forced stop does not ask the guest");
    ecs.ecs("DeleteInstance", &[("InstanceId", id)]).await.unwrap();
}

/// The graphics test guests set a VBE mode and paint the left half blue, the right half yellow.
#[tokio::test(flavor = "multi_thread")]
async fn graphics_modes_up_to_1080p_are_captured_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let ecs = server.client(Signing::Acs3HmacSha256);
    let guests = guest_image().parent().unwrap().to_path_buf();
    for (w, h) in [(1024u32, 768u32), (1920, 1080)] {
        let image_id = server
            .import_file(&ecs, &guests.join(format!("gfx-{w}x{h}.qcow2")), &format!("gfx-{w}x{h}"))
            .await;
        let run = ecs
            .ecs("RunInstances", &[("ImageId", image_id), ("InstanceType", "ecs.lab.tiny".into())])
            .await
            .unwrap();
        let id = run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        wait_console(&ecs, &id, &format!("VMTEST-GFX-READY {w}x{h}"), BOOT).await;
        let shot = ecs.ecs("GetInstanceScreenshot", &[("InstanceId", id.clone())]).await.unwrap();
        let jpeg =
            base64::engine::general_purpose::STANDARD.decode(shot["Screenshot"].as_str().unwrap()).unwrap();
        let image = image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg).unwrap().to_rgb8();
        assert_eq!((image.width(), image.height()), (w, h));
        let (left, right) = (image.get_pixel(w / 4, h / 2), image.get_pixel(3 * w / 4, h / 2));
        assert!(left[2] > 200 && left[0] < 60 && left[1] < 60, "left half is blue: {left:?}");
        assert!(right[0] > 200 && right[1] > 200 && right[2] < 60, "right half is yellow: {right:?}");
        ecs.ecs("DeleteInstance", &[("InstanceId", id), ("Force", "true".into())]).await.unwrap();
    }
}
