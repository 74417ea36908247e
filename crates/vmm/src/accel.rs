//! Choosing between KVM and TCG. `/dev/kvm` alone proves nothing: on machines whose KVM is the
//! software `kvm_pvm` hypervisor a stock Linux guest dies after about two minutes with an
//! emulation failure, so `auto` picks KVM only with hardware virtualization (`vmx`/`svm`).

use std::path::Path;

/// The accelerator a VM runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    /// The value for QEMU's `-accel` option.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What the operator asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccelChoice {
    Auto,
    Kvm,
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(format!("unknown accelerator {other:?} (expected auto, kvm or tcg)")),
        }
    }
}

/// Facts about the host that decide whether KVM really works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVirt {
    pub dev_kvm: bool,
    pub hardware_virt: bool,
    pub kvm_pvm: bool,
}

impl HostVirt {
    /// Read the facts from this machine.
    pub fn probe() -> HostVirt {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        HostVirt {
            dev_kvm: Path::new("/dev/kvm").exists(),
            hardware_virt: cpuinfo_has_hardware_virt(&cpuinfo),
            kvm_pvm: Path::new("/sys/module/kvm_pvm").exists(),
        }
    }
}

fn cpuinfo_has_hardware_virt(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// Pick the accelerator and say why, for the log.
pub fn choose_accel(choice: AccelChoice, host: &HostVirt) -> (Accel, String) {
    match choice {
        AccelChoice::Kvm => (Accel::Kvm, "kvm requested".into()),
        AccelChoice::Tcg => (Accel::Tcg, "tcg requested".into()),
        AccelChoice::Auto if !host.dev_kvm => (Accel::Tcg, "no /dev/kvm".into()),
        AccelChoice::Auto if host.kvm_pvm || !host.hardware_virt => (
            Accel::Tcg,
            "/dev/kvm is not hardware KVM (no vmx/svm, or kvm_pvm loaded); stock guests fail there".into(),
        ),
        AccelChoice::Auto => (Accel::Kvm, "hardware virtualization (vmx/svm) and /dev/kvm present".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(dev_kvm: bool, hardware_virt: bool, kvm_pvm: bool) -> HostVirt {
        HostVirt { dev_kvm, hardware_virt, kvm_pvm }
    }

    #[test]
    fn auto_uses_kvm_only_with_hardware_virtualization() {
        assert_eq!(choose_accel(AccelChoice::Auto, &host(true, true, false)).0, Accel::Kvm);
        assert_eq!(choose_accel(AccelChoice::Auto, &host(true, false, true)).0, Accel::Tcg);
        assert_eq!(choose_accel(AccelChoice::Auto, &host(true, true, true)).0, Accel::Tcg);
        assert_eq!(choose_accel(AccelChoice::Auto, &host(false, true, false)).0, Accel::Tcg);
        assert_eq!(choose_accel(AccelChoice::Tcg, &host(true, true, false)).0, Accel::Tcg);
        assert_eq!(choose_accel(AccelChoice::Kvm, &host(false, false, false)).0, Accel::Kvm);
    }

    #[test]
    fn reads_vmx_and_svm_flags() {
        assert!(cpuinfo_has_hardware_virt("processor : 0\nflags\t\t: fpu vme svm sse\n"));
        assert!(!cpuinfo_has_hardware_virt("flags\t\t: fpu vme sse\nmodel name : svm cpu\n"));
    }
}
