//! The end of a log file, for both drivers: QEMU's own log quoted in a start failure or a
//! "vanished" warning, and the serial console log behind `console_output`. Logs grow without
//! bound, so only the tail is ever read.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// The last `max_bytes` of a file; empty when the file does not exist.
pub(crate) fn read_tail(path: &Path, max_bytes: usize) -> io::Result<Vec<u8>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes as u64);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    file.take(max_bytes as u64).read_to_end(&mut tail)?;
    Ok(tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.log");
        assert!(read_tail(&path, 10).unwrap().is_empty());
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_tail(&path, 4).unwrap(), b"6789");
        assert_eq!(read_tail(&path, 100).unwrap(), b"0123456789");
    }
}
