//! Files that hold secrets (the Engine API JWT secret, the sequencer's signing key) and the
//! directories that hold them: created readable by the owner only from the first write (files
//! 0600, directories this node creates 0700), never written world-readable and tightened after.

use std::{io::Write, path::Path};

/// Creates `dir` and its missing parents, owner-only (0700) on Unix; existing ones are left as
/// they are.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Writes a new secret file (failing if it exists), owner read/write only (0600) on Unix, after
/// creating its directory with [`create_private_dir`].
pub fn write_new(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_and_their_new_directories_are_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("a/b/secret.hex");
        write_new(&path, "0x01").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0x01");
        // Never overwrites.
        assert!(write_new(&path, "0x02").is_err());
    }
}
