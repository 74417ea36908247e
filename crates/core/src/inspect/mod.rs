//! The format inspector: what a disk-image file really is, read from its own bytes, never
//! through qemu-img or QEMU.
//!
//! Why: qemu-img and QEMU follow references written inside image files (a qcow2 backing file or
//! external data file, VMDK extents, VHD/VHDX/VDI parents) and, when no format is named, guess
//! the format from the content. A file that claims to be one thing and is another, or that
//! names a host file, makes them read that host file into a guest-visible disk (OpenStack's
//! OSSA-2024-001 / CVE-2024-32498). So every file that enters from outside is inspected here
//! first, and refused unless it is the format it claims to be and stands alone; and every
//! layer ecslab wrote itself is checked to reference only ecslab's own layers before a chain is
//! opened (see [`check_own_chain`]). The design follows OpenStack's `format_inspector`: a
//! parser per format that reads only headers, a list of what the file references, and a verdict
//! that is computed, not guessed.
//!
//! The inspector works over [`ReadAt`], so it can run on a whole local file or on the head and
//! tail of a remote object fetched with ranged reads ([`Window`]); when it needs bytes a
//! window does not hold it says [`InspectError::Incomplete`] and the caller decides after the
//! download.

mod formats;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A format QEMU could open (or probe). `Raw` is anything without a known signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    /// An ISO 9660 file system: QEMU opens it as raw, so it may be imported as raw.
    Iso,
    Qcow2,
    /// qcow version 1.
    Qcow,
    Qed,
    /// A VMDK sparse extent (`KDMV`), possibly with an embedded descriptor.
    Vmdk,
    /// A VMDK text descriptor: a file that only names other files.
    VmdkDescriptor,
    /// VMware ESX `COWD` sparse files (always the child of another file).
    VmdkCowd,
    /// Microsoft VHD, QEMU's `vpc`.
    Vpc,
    Vhdx,
    Vdi,
    Luks,
    Bochs,
    Cloop,
    Dmg,
    Parallels,
}

impl Format {
    /// QEMU's driver name (`vpc` for VHD).
    pub fn qemu_name(self) -> &'static str {
        match self {
            Format::Raw | Format::Iso => "raw",
            Format::Qcow2 => "qcow2",
            Format::Qcow => "qcow",
            Format::Qed => "qed",
            Format::Vmdk | Format::VmdkDescriptor | Format::VmdkCowd => "vmdk",
            Format::Vpc => "vpc",
            Format::Vhdx => "vhdx",
            Format::Vdi => "vdi",
            Format::Luks => "luks",
            Format::Bochs => "bochs",
            Format::Cloop => "cloop",
            Format::Dmg => "dmg",
            Format::Parallels => "parallels",
        }
    }

    /// The format an ImportImage `Format` (`qcow2`, `raw`, `vhd`; any case) or a qemu-img
    /// name stands for.
    pub fn from_claim(claim: &str) -> Option<Format> {
        match claim.to_ascii_lowercase().as_str() {
            "raw" => Some(Format::Raw),
            "qcow2" => Some(Format::Qcow2),
            "vhd" | "vpc" => Some(Format::Vpc),
            "vmdk" => Some(Format::Vmdk),
            "vhdx" => Some(Format::Vhdx),
            "vdi" => Some(Format::Vdi),
            "qed" => Some(Format::Qed),
            _ => None,
        }
    }

    /// How users name it in messages.
    pub fn label(self) -> &'static str {
        match self {
            Format::Raw => "RAW",
            Format::Iso => "ISO 9660 (raw)",
            Format::Qcow2 => "QCOW2",
            Format::Qcow => "QCOW (version 1)",
            Format::Qed => "QED",
            Format::Vmdk => "VMDK",
            Format::VmdkDescriptor => "VMDK descriptor",
            Format::VmdkCowd => "VMDK (ESX COWD)",
            Format::Vpc => "VHD",
            Format::Vhdx => "VHDX",
            Format::Vdi => "VDI",
            Format::Luks => "LUKS",
            Format::Bochs => "Bochs",
            Format::Cloop => "cloop",
            Format::Dmg => "DMG",
            Format::Parallels => "Parallels",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Something in a file that makes QEMU read more than the file, or that ecslab cannot vouch
/// for. Any hazard refuses an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hazard {
    /// A qcow2 external data file (incompatible feature bit 2 or the data-file extension).
    DataFile(Option<String>),
    /// Encrypted content (qcow2 `crypt_method`, a LUKS header or extension).
    Encrypted,
    /// qcow2 incompatible feature bits QEMU 7.2 may not know (bit mask).
    UnknownFeatures(u64),
    /// The qcow2 corrupt bit.
    Corrupt,
    /// A differencing/child disk (VHD type 4, VDI diff/undo, VHDX with a parent, COWD).
    Differencing,
    /// A parent locator or parent name (VHD, VHDX, VMDK `parentFileNameHint`).
    ParentReference(String),
    /// A VMDK descriptor whose createType is not one self-contained sparse file.
    VmdkCreateType(String),
    /// A VMDK extent line other than the file's own single sparse extent.
    VmdkExtent(String),
    /// A text descriptor: it names other files by definition.
    DescriptorFile,
    /// Headers that do not parse (a hostile or truncated file).
    Malformed(String),
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hazard::DataFile(Some(name)) => write!(f, "it names an external data file ({name:?})"),
            Hazard::DataFile(None) => write!(f, "it uses an external data file"),
            Hazard::Encrypted => write!(f, "it is encrypted"),
            Hazard::UnknownFeatures(bits) => write!(f, "it uses unknown incompatible features (0x{bits:x})"),
            Hazard::Corrupt => write!(f, "it is marked corrupt"),
            Hazard::Differencing => write!(f, "it is a differencing disk of another file"),
            Hazard::ParentReference(name) => write!(f, "it names a parent disk ({name:?})"),
            Hazard::VmdkCreateType(t) => {
                write!(f, "its createType {t:?} is not monolithicSparse or streamOptimized")
            }
            Hazard::VmdkExtent(line) => write!(f, "it names an extent file ({line:?})"),
            Hazard::DescriptorFile => write!(f, "it is a descriptor that names other files"),
            Hazard::Malformed(why) => write!(f, "its header is not valid: {why}"),
        }
    }
}

/// What a file is, from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub format: Format,
    /// The virtual disk size when the header states one.
    pub virtual_size: Option<u64>,
    /// The backing file a qcow2/qcow/QED header names.
    pub backing_file: Option<String>,
    /// The backing file's format as the qcow2 header extension names it.
    pub backing_format: Option<String>,
    pub hazards: Vec<Hazard>,
}

impl Inspection {
    fn new(format: Format) -> Inspection {
        Inspection {
            format,
            virtual_size: None,
            backing_file: None,
            backing_format: None,
            hazards: Vec::new(),
        }
    }
}

/// Why an inspection could not finish.
#[derive(Debug)]
pub enum InspectError {
    Io(std::io::Error),
    /// A [`Window`] lacks bytes the format needs (at this offset): decide on the whole file.
    Incomplete {
        offset: u64,
    },
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Io(e) => write!(f, "reading the file: {e}"),
            InspectError::Incomplete { offset } => write!(f, "bytes at offset {offset} were not fetched"),
        }
    }
}

impl std::error::Error for InspectError {}

/// Random access to a file's bytes.
pub trait ReadAt {
    fn size(&self) -> u64;
    /// Up to `len` bytes at `offset` (fewer at the end of the file).
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, InspectError>;
}

impl ReadAt for std::fs::File {
    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, InspectError> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match FileExt::read_at(self, &mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(InspectError::Io(e)),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, InspectError> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let end = start.saturating_add(len).min(self.len());
        Ok(self[start..end].to_vec())
    }
}

/// The head and the tail of a larger object (ranged reads of a remote object).
#[derive(Debug, Clone)]
pub struct Window {
    pub size: u64,
    pub head: Vec<u8>,
    /// Bytes from `size - tail.len()` to the end.
    pub tail: Vec<u8>,
}

impl Window {
    /// How much of an object's head a pre-check fetches: every header of every format the
    /// inspector knows sits in the first 4 MiB of a sane image (VHDX metadata included).
    pub const HEAD: u64 = 4 * 1024 * 1024;
    /// The tail: VHD footers and DMG trailers are the last 512 bytes.
    pub const TAIL: u64 = 512;
}

impl ReadAt for Window {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, InspectError> {
        let end = offset.saturating_add(len as u64).min(self.size);
        if offset >= self.size {
            return Ok(Vec::new());
        }
        if end <= self.head.len() as u64 {
            return self.head.as_slice().read_at(offset, len);
        }
        let tail_start = self.size - self.tail.len() as u64;
        if offset >= tail_start {
            return self.tail.as_slice().read_at(offset - tail_start, len);
        }
        Err(InspectError::Incomplete { offset })
    }
}

/// Inspect any source.
pub fn inspect(source: &(impl ReadAt + ?Sized)) -> Result<Inspection, InspectError> {
    formats::inspect(source)
}

/// Inspect a file on disk.
pub fn inspect_file(path: &Path) -> Result<Inspection, InspectError> {
    let file = std::fs::File::open(path).map_err(InspectError::Io)?;
    inspect(&file)
}

/// Why a file from outside is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes are another format than the one claimed (the CVE-2024-32498 class).
    FormatMismatch { claimed: Format, actual: Format },
    /// It names a backing file.
    BackingFile(String),
    /// Any other hazard.
    Hazard { format: Format, hazard: Hazard },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::FormatMismatch { claimed, actual } => {
                write!(f, "the file is a {actual} image, not {claimed}")
            }
            Refusal::BackingFile(name) => {
                write!(f, "the file names a backing file ({name:?}); import a standalone image")
            }
            Refusal::Hazard { format, hazard } => write!(f, "the {format} file is refused: {hazard}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// The verdict on a file from outside that claims to be `claimed`: it must be exactly that
/// format (ISO counts as raw: QEMU reads it as raw) and reference nothing.
pub fn check_standalone(inspection: &Inspection, claimed: Format) -> Result<(), Refusal> {
    let actual = inspection.format;
    let same = actual == claimed || (claimed == Format::Raw && actual == Format::Iso);
    if !same {
        return Err(Refusal::FormatMismatch { claimed, actual });
    }
    if let Some(name) = &inspection.backing_file {
        return Err(Refusal::BackingFile(name.clone()));
    }
    if let Some(hazard) = inspection.hazards.first() {
        return Err(Refusal::Hazard { format: actual, hazard: hazard.clone() });
    }
    Ok(())
}

/// Inspect a file from outside and give the verdict for `claimed`.
pub fn check_file_standalone(path: &Path, claimed: Format) -> Result<Inspection, CheckError> {
    let inspection = inspect_file(path).map_err(CheckError::Inspect)?;
    check_standalone(&inspection, claimed).map_err(CheckError::Refused)?;
    Ok(inspection)
}

/// A verdict that could not be reached, or a refusal.
#[derive(Debug)]
pub enum CheckError {
    Inspect(InspectError),
    Refused(Refusal),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Inspect(e) => e.fmt(f),
            CheckError::Refused(r) => r.fmt(f),
        }
    }
}

/// How deep a chain of ecslab's own layers may be before the check gives up (a loop).
const MAX_CHAIN: usize = 256;

/// The rule for files ecslab writes itself: `top` is a qcow2 with no hazard, and every file of
/// its backing chain is one too, named by an absolute plain path inside `DATA/layers` or
/// `DATA/images` (`DATA` = the directory above the one holding `top`), with its format
/// recorded as qcow2 (so QEMU never probes it). Cheap: one header read per layer.
pub fn check_own_chain(top: &Path) -> Result<(), String> {
    check_own(top, true)
}

/// [`check_own_chain`] for one layer only: its header, and its backing file's *name* (not
/// opened). For `qemu-img rebase -u`, which never opens the old backing file either.
pub fn check_own_layer(file: &Path) -> Result<(), String> {
    check_own(file, false)
}

fn check_own(top: &Path, follow: bool) -> Result<(), String> {
    let data_dir = top
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} is not inside a data directory", top.display()))?;
    let allowed = [data_dir.join("layers"), data_dir.join("images")];
    let mut current = top.to_path_buf();
    for _ in 0..MAX_CHAIN {
        let inspection = inspect_file(&current).map_err(|e| format!("{}: {e}", current.display()))?;
        if inspection.format != Format::Qcow2 {
            return Err(format!("{} is {}, not qcow2", current.display(), inspection.format));
        }
        if let Some(hazard) = inspection.hazards.first() {
            return Err(format!("{}: {hazard}", current.display()));
        }
        let Some(backing) = inspection.backing_file else { return Ok(()) };
        if inspection.backing_format.as_deref() != Some("qcow2") {
            return Err(format!(
                "{} names its backing file {backing:?} without the qcow2 format",
                current.display()
            ));
        }
        current = own_layer_path(&backing, &allowed).ok_or_else(|| {
            format!("{} names {backing:?}, outside ecslab's layers and images", current.display())
        })?;
        if !follow {
            return Ok(());
        }
    }
    Err(format!("the chain of {} is deeper than {MAX_CHAIN} layers", top.display()))
}

/// `name` as a path, when it is absolute, not a protocol or `json:` name, and names a file
/// directly inside one of `allowed` (compared as paths, so `..` cannot climb out).
fn own_layer_path(name: &str, allowed: &[PathBuf]) -> Option<PathBuf> {
    let path = Path::new(name);
    if !path.is_absolute() || name.contains('\0') {
        return None;
    }
    if !matches!(path.components().next_back(), Some(Component::Normal(_))) {
        return None;
    }
    let parent = path.parent()?;
    let inside = allowed.iter().any(|dir| dir == parent);
    // The directory itself must not climb: `/data/layers/../../etc` ends in `etc`.
    let climbs = parent.components().any(|c| matches!(c, Component::ParentDir))
        && !allowed.iter().any(|dir| dir.as_os_str() == parent.as_os_str());
    (inside && !climbs).then(|| path.to_path_buf())
}
