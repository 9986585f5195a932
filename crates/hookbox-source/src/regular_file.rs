//! Reading a file that must be a regular file, without ever blocking on one
//! that is not: opened with `O_NONBLOCK` (a FIFO or device swapped in for the
//! file would otherwise hold the open), judged by what was opened, then read,
//! at most a given size.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a file could not be read as a regular file.
#[derive(Debug)]
pub enum RegularFileError {
    /// What was opened is not a regular file.
    NotAFile,
    /// It holds more than the most asked for; `size` is what was seen.
    TooLarge {
        /// The size seen (at least the most asked for, plus one).
        size: u64,
    },
    /// It could not be opened or read.
    Io(std::io::Error),
}

/// The bytes of the regular file at `path`, at most `max` of them.
pub fn read(path: &Path, max: u64) -> Result<Vec<u8>, RegularFileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(RegularFileError::Io)?;
    let metadata = file.metadata().map_err(RegularFileError::Io)?;
    if !metadata.is_file() {
        return Err(RegularFileError::NotAFile);
    }
    if metadata.len() > max {
        return Err(RegularFileError::TooLarge {
            size: metadata.len(),
        });
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(RegularFileError::Io)?;
    if bytes.len() as u64 > max {
        return Err(RegularFileError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_not_a_file_and_is_never_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(read(&fifo, 10), Err(RegularFileError::NotAFile)));
        let file = dir.path().join("file");
        std::fs::write(&file, "0123456789x").unwrap();
        assert!(matches!(
            read(&file, 10),
            Err(RegularFileError::TooLarge { size: 11 })
        ));
        assert_eq!(read(&file, 11).unwrap(), b"0123456789x");
    }
}
