//! An in-memory driver for fast tests of the API and domain logic. It keeps a power state per VM
//! and paints a solid screen; it never replaces the real-VM tests.

use crate::{Frame, Hypervisor, PowerState, StopCause, VmError, VmEvent, VmSpec};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::broadcast;

#[derive(Debug)]
struct FakeVm {
    state: PowerState,
    display: bool,
    console: Vec<u8>,
}

/// The fake driver.
pub struct FakeHypervisor {
    vms: Mutex<HashMap<String, FakeVm>>,
    events: broadcast::Sender<VmEvent>,
}

impl Default for FakeHypervisor {
    fn default() -> Self {
        FakeHypervisor { vms: Mutex::new(HashMap::new()), events: broadcast::channel(256).0 }
    }
}

impl FakeHypervisor {
    /// Simulate the guest powering itself off.
    pub fn guest_poweroff(&self, vm_id: &str) {
        if let Some(vm) = self.vms.lock().unwrap().get_mut(vm_id) {
            vm.state = PowerState::Off;
        }
        let _ = self.events.send(VmEvent::Stopped { vm_id: vm_id.into(), cause: StopCause::GuestShutdown });
    }

    fn with_running<T>(&self, vm_id: &str, f: impl FnOnce(&mut FakeVm) -> T) -> Result<T, VmError> {
        let mut vms = self.vms.lock().unwrap();
        match vms.get_mut(vm_id) {
            Some(vm) if vm.state != PowerState::Off => Ok(f(vm)),
            _ => Err(VmError::NotRunning { vm_id: vm_id.into() }),
        }
    }
}

#[async_trait]
impl Hypervisor for FakeHypervisor {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn start(&self, spec: &VmSpec) -> Result<(), VmError> {
        let mut vms = self.vms.lock().unwrap();
        let vm = vms.entry(spec.vm_id.clone()).or_insert(FakeVm {
            state: PowerState::Off,
            display: spec.display,
            console: Vec::new(),
        });
        vm.state = PowerState::Running;
        vm.display = spec.display;
        vm.console.extend_from_slice(b"fake boot\r\n");
        Ok(())
    }

    async fn adopt(&self, spec: &VmSpec) -> Result<PowerState, VmError> {
        self.power_state(&spec.vm_id).await
    }

    async fn power_state(&self, vm_id: &str) -> Result<PowerState, VmError> {
        Ok(self.vms.lock().unwrap().get(vm_id).map_or(PowerState::Off, |vm| vm.state))
    }

    async fn request_shutdown(&self, vm_id: &str) -> Result<(), VmError> {
        self.with_running(vm_id, |_| ())?;
        self.guest_poweroff(vm_id);
        Ok(())
    }

    async fn kill(&self, vm_id: &str) -> Result<(), VmError> {
        if let Some(vm) = self.vms.lock().unwrap().get_mut(vm_id) {
            vm.state = PowerState::Off;
        }
        Ok(())
    }

    async fn reset(&self, vm_id: &str) -> Result<(), VmError> {
        self.with_running(vm_id, |vm| vm.console.extend_from_slice(b"fake reset\r\n"))
    }

    async fn wake_up(&self, vm_id: &str) -> Result<(), VmError> {
        self.with_running(vm_id, |vm| vm.state = PowerState::Running)
    }

    async fn screenshot(&self, vm_id: &str) -> Result<Frame, VmError> {
        let display = self.with_running(vm_id, |vm| vm.display)?;
        if !display {
            return Err(VmError::NoDisplay { vm_id: vm_id.into() });
        }
        let (width, height) = (64u32, 32u32);
        let rgb = [0u8, 0, 170].repeat((width * height) as usize);
        Ok(Frame { width, height, rgb })
    }

    async fn console_output(&self, vm_id: &str, max_bytes: usize) -> Result<Vec<u8>, VmError> {
        let vms = self.vms.lock().unwrap();
        let console = vms.get(vm_id).map(|vm| vm.console.clone()).unwrap_or_default();
        Ok(console[console.len().saturating_sub(max_bytes)..].to_vec())
    }

    fn events(&self) -> broadcast::Receiver<VmEvent> {
        self.events.subscribe()
    }
}
