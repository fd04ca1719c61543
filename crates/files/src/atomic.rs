//! Atomic file replacement: write a temporary file in the target's folder, fsync it, rename it
//! over the target, fsync the folder (so the rename itself survives a power cut).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// The folder `path` is in (`.` for a bare file name).
fn folder(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A hidden temporary file (`.tmp-*`) in `dir` with ordinary file permissions: tempfile's
/// default 0600 would survive the rename and hide the file from other users.
pub fn temp_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The process umask still applies, as for any newly created file.
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(dir)
}

/// fsync a folder so that entries created or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Replaces `path` with what `write` writes (buffered), durably; returns what `write` returns.
/// The folder must exist. Concurrent writers of the same content are harmless: the last rename wins.
pub fn write_atomic_with<T>(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<T>) -> io::Result<T> {
    let dir = folder(path);
    let mut tmp = temp_file_in(dir)?;
    let value = {
        let mut buffered = BufWriter::new(tmp.as_file_mut());
        let value = write(&mut buffered)?;
        buffered.flush()?;
        value
    };
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)?;
    Ok(value)
}

/// Replaces `path` with `bytes`, durably (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Replaces `path` with `bytes` without fsync: a crash may lose the file but never leaves half of
/// it under its name. For caches that are recomputed when missing, where an fsync per file would
/// cost more than the work it saves.
pub fn write_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = temp_file_in(folder(path))?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"first, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let n = write_atomic_with(&path, |w| w.write_all(b"third").map(|_| 5)).unwrap();
        assert_eq!((n, std::fs::read(&path).unwrap()), (5, b"third".to_vec()));
        write_unsynced(&dir.path().join("b.bin"), &[1, 2]).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |w| {
            w.write_all(b"half")?;
            Err::<(), _>(io::Error::other("killed"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_readable_by_others_as_usual() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"x").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_ne!(mode, 0o600, "tempfile's private mode must not survive the rename");
    }
}
