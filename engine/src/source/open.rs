//! Opening input files the way a privileged reader must: once, by descriptor, and inside the
//! allowed directories.
//!
//! A path check followed by a separate open is a race: between the two, a role that can write into
//! an allowed directory can swap the file (or a parent directory) for a symbolic link to anything
//! the server can read. So a file is opened exactly once, relative to a descriptor of its
//! directory, without following a final symbolic link and without blocking (a FIFO would hang
//! `open`). Then the *descriptor* is checked: it must be a regular file, and its real path (what
//! the kernel opened, read back from `/proc/self/fd`) must lie below an allowed directory. Every
//! later read (fingerprint, container detection, the load) goes through that descriptor.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use rustix::fs::FileType;
use rustix::fs::{AtFlags, Mode, OFlags, Stat};

use crate::error::{Error, Result};

/// A directory opened by descriptor, whose real path lies below an allowed directory.
#[derive(Debug)]
pub struct CheckedDir {
    fd: OwnedFd,
    /// The real path of the descriptor.
    real: PathBuf,
}

/// A regular file opened once and checked on its descriptor.
#[derive(Debug)]
pub struct CheckedFile {
    pub file: File,
    /// The real path of the descriptor.
    pub real: PathBuf,
    pub meta: FileMeta,
}

/// Size and modification time, as `fstat` gave them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    pub size: u64,
    pub mtime: SystemTime,
}

impl FileMeta {
    fn from_stat(st: &Stat) -> FileMeta {
        let secs = Duration::new(st.st_mtime.max(0) as u64, st.st_mtime_nsec.clamp(0, 999_999_999) as u32);
        FileMeta { size: st.st_size.max(0) as u64, mtime: UNIX_EPOCH + secs }
    }

    /// The metadata of a path, as listed (the scheduler compares it with the ledger's).
    pub fn from_metadata(meta: &std::fs::Metadata) -> io::Result<FileMeta> {
        Ok(FileMeta { size: meta.len(), mtime: meta.modified()? })
    }

    /// Seconds since 1970, as the ledger records modification times: the scheduler's listing and
    /// the worker's open both take it here, so they compare equal.
    pub fn mtime_seconds(&self) -> f64 {
        self.mtime.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
    }

    /// The metadata of an open file, now.
    pub fn of(file: &File) -> io::Result<FileMeta> {
        Ok(FileMeta::from_stat(&rustix::fs::fstat(file)?))
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_owned(), source }
}

/// Whether `path` lies below one of the `allowed` directories (all of them real paths).
pub fn is_below(path: &Path, allowed: &[PathBuf]) -> bool {
    allowed.iter().any(|dir| path.starts_with(dir))
}

/// The path the kernel opened behind a descriptor.
fn real_path(fd: impl AsFd, shown: &Path) -> Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let link = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    std::fs::read_link(link).map_err(io_err(shown))
}

/// What a file of this kind is called in errors.
pub fn kind_name(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "special file",
    }
}

impl CheckedDir {
    /// Opens the directory `dir` and checks that what was opened lies below an allowed directory.
    /// Symbolic links in `dir` are followed, but the check is on the opened descriptor, so a
    /// directory swapped meanwhile is caught.
    pub fn open(dir: &Path, allowed: &[PathBuf]) -> Result<CheckedDir> {
        let fd = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| io_err(dir)(e.into()))?;
        let real = real_path(&fd, dir)?;
        if !is_below(&real, allowed) {
            return Err(Error::OutsideAllowedDirs { path: dir.to_owned() });
        }
        Ok(CheckedDir { fd, real })
    }

    pub fn real(&self) -> &Path {
        &self.real
    }

    /// The names of the directory's entries that are regular files or symbolic links to
    /// anything but a directory (such a link is listed so that loading it fails visibly instead of
    /// the file vanishing from the list), read through the descriptor. Not sorted.
    pub fn names(&self) -> Result<Vec<(String, FileType)>> {
        let mut dir = rustix::fs::Dir::read_from(&self.fd).map_err(|e| io_err(&self.real)(e.into()))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| io_err(&self.real)(e.into()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => match rustix::fs::statat(&self.fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) => FileType::from_raw_mode(st.st_mode),
                    Err(_) => continue, // gone meanwhile
                },
                kind => kind,
            };
            let listed = match kind {
                FileType::RegularFile => true,
                // A link to a directory is no file; any other link is listed (and refused when
                // opened). Following it here only decides the listing: nothing is opened.
                FileType::Symlink => !matches!(
                    rustix::fs::statat(&self.fd, entry.file_name(), AtFlags::empty()),
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory
                ),
                _ => false,
            };
            if listed {
                names.push((name, kind));
            }
        }
        Ok(names)
    }

    /// The kind of the entry `name`, without following a symbolic link (`None`: no such entry).
    pub fn kind_of(&self, name: &str) -> Result<Option<FileType>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(io_err(&self.real.join(name))(e.into())),
        }
    }

    /// Opens the regular file `name` of this directory: by a path-only descriptor first, not
    /// following a symbolic link; checks that descriptor (a regular file, below an allowed
    /// directory); only then opens that same inode for reading.
    pub fn open_file(&self, name: &str, allowed: &[PathBuf]) -> Result<CheckedFile> {
        let shown = self.real.join(name);
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(Error::NotRegularFile { path: shown, kind: "path that is not a file name" });
        }
        // First a path-only descriptor (O_PATH opens nothing for reading: no device is opened and
        // no FIFO can block), not following a final symbolic link (O_PATH|O_NOFOLLOW gives the
        // link itself, which fstat then shows).
        let path_fd =
            rustix::fs::openat(&self.fd, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                .map_err(|e| io_err(&shown)(e.into()))?;
        let st = rustix::fs::fstat(&path_fd).map_err(|e| io_err(&shown)(e.into()))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind != FileType::RegularFile {
            return Err(Error::NotRegularFile { path: shown, kind: kind_name(kind) });
        }
        let real = real_path(&path_fd, &shown)?;
        if !is_below(&real, allowed) {
            return Err(Error::OutsideAllowedDirs { path: shown });
        }
        // Then the same inode for reading, through the descriptor's own /proc link (never the path
        // again, which may name something else by now).
        use std::os::fd::AsRawFd;
        let proc_link = format!("/proc/self/fd/{}", path_fd.as_raw_fd());
        let fd = rustix::fs::open(proc_link.as_str(), OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())
            .map_err(|e| io_err(&shown)(e.into()))?;
        let again = rustix::fs::fstat(&fd).map_err(|e| io_err(&shown)(e.into()))?;
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) {
            return Err(Error::NotRegularFile { path: shown, kind: "file replaced while it was opened" });
        }
        Ok(CheckedFile { file: File::from(fd), real, meta: FileMeta::from_stat(&st) })
    }
}

/// Opens the file at the absolute `path` (its directory, then the file in it) and checks it as
/// [`CheckedDir::open_file`] does.
pub fn open_checked(path: &Path, allowed: &[PathBuf]) -> Result<CheckedFile> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::NotRegularFile { path: path.to_owned(), kind: "path that is not a file name" });
    };
    CheckedDir::open(dir, allowed)?.open_file(&name.to_string_lossy(), allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let allowed = root.path().join("allowed");
        let outside = root.path().join("outside");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::create_dir(&outside).unwrap();
        let allowed = allowed.canonicalize().unwrap();
        let outside = outside.canonicalize().unwrap();
        std::fs::write(outside.join("secret"), b"secret=1\n").unwrap();
        (root, allowed, outside)
    }

    #[test]
    fn a_regular_file_inside_opens_and_reads_through_the_descriptor() {
        let (_root, allowed, _) = dirs();
        std::fs::write(allowed.join("a.csv"), b"hello\n").unwrap();
        let mut f = open_checked(&allowed.join("a.csv"), std::slice::from_ref(&allowed)).unwrap();
        assert_eq!(f.real, allowed.join("a.csv"));
        assert_eq!(f.meta.size, 6);
        let mut s = String::new();
        f.file.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello\n");
    }

    #[test]
    fn symbolic_links_fifos_directories_and_devices_are_refused() {
        let (_root, allowed, outside) = dirs();
        let ok = std::slice::from_ref(&allowed);
        std::os::unix::fs::symlink(outside.join("secret"), allowed.join("link")).unwrap();
        std::fs::write(allowed.join("inside"), b"x\n").unwrap();
        std::os::unix::fs::symlink(allowed.join("inside"), allowed.join("link_inside")).unwrap();
        rustix::fs::mkfifoat(rustix::fs::CWD, allowed.join("fifo"), Mode::RUSR | Mode::WUSR).unwrap();
        std::fs::create_dir(allowed.join("sub")).unwrap();
        for (name, kind) in
            [("link", "symbolic link"), ("link_inside", "symbolic link"), ("fifo", "FIFO"), ("sub", "directory")]
        {
            match open_checked(&allowed.join(name), ok) {
                Err(Error::NotRegularFile { kind: k, .. }) => assert_eq!(k, kind, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // A device, through a directory that allows it.
        match open_checked(Path::new("/dev/null"), &[PathBuf::from("/dev")]) {
            Err(Error::NotRegularFile { kind, .. }) => assert_eq!(kind, "character device"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn files_and_directories_outside_are_refused() {
        let (_root, allowed, outside) = dirs();
        let ok = std::slice::from_ref(&allowed);
        assert!(matches!(open_checked(&outside.join("secret"), ok), Err(Error::OutsideAllowedDirs { .. })));
        // A directory symlink inside the allowed one that leads outside.
        std::os::unix::fs::symlink(&outside, allowed.join("escape")).unwrap();
        assert!(matches!(
            open_checked(&allowed.join("escape").join("secret"), ok),
            Err(Error::OutsideAllowedDirs { .. })
        ));
        assert!(matches!(CheckedDir::open(&allowed.join("escape"), ok), Err(Error::OutsideAllowedDirs { .. })));
        assert!(matches!(
            open_checked(&allowed.join("..").join("outside").join("secret"), ok),
            Err(Error::OutsideAllowedDirs { .. })
        ));
    }

    #[test]
    fn listing_names_files_and_links_only() {
        let (_root, allowed, outside) = dirs();
        std::fs::write(allowed.join("b.csv"), b"x").unwrap();
        std::fs::create_dir(allowed.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), allowed.join("a.csv")).unwrap();
        std::os::unix::fs::symlink(&outside, allowed.join("dir_link")).unwrap();
        let dir = CheckedDir::open(&allowed, std::slice::from_ref(&allowed)).unwrap();
        let mut names = dir.names().unwrap();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(names, vec![("a.csv".into(), FileType::Symlink), ("b.csv".into(), FileType::RegularFile)]);
        assert_eq!(dir.kind_of("sub").unwrap(), Some(FileType::Directory));
        assert_eq!(dir.kind_of("nope").unwrap(), None);
    }

    /// The attack: a role that can write into an allowed directory flips a name between a regular
    /// file and a symbolic link to a secret (and the directory itself between a real directory and
    /// a link leading outside), while files are opened over and over. Nothing outside is ever read.
    #[test]
    fn a_flipping_file_or_directory_never_leads_outside() {
        let (root, allowed, outside) = dirs();
        let sub = allowed.join("incoming");
        std::fs::create_dir(&sub).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flipper = {
            let (stop, sub, outside, spare) = (stop.clone(), sub.clone(), outside.clone(), root.path().join("spare"));
            std::thread::spawn(move || {
                let mut flips = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let name = sub.join("day.csv");
                    let _ = std::fs::remove_file(&name);
                    std::fs::write(&name, b"20230701,0000,1,A,50,0\n").unwrap();
                    let _ = std::fs::remove_file(&name);
                    std::os::unix::fs::symlink(outside.join("secret"), &name).unwrap();
                    // And the directory: a real one, then a link to the outside.
                    if flips.is_multiple_of(4) {
                        let _ = std::fs::remove_dir_all(&spare);
                        std::fs::rename(&sub, &spare).unwrap();
                        std::os::unix::fs::symlink(&outside, &sub).unwrap();
                        std::fs::remove_file(&sub).unwrap();
                        std::fs::rename(&spare, &sub).unwrap();
                    }
                    flips += 1;
                }
                flips
            })
        };
        let ok = std::slice::from_ref(&allowed);
        let (mut opened, mut refused) = (0, 0);
        for _ in 0..20_000 {
            match open_checked(&sub.join("day.csv"), ok) {
                Ok(mut f) => {
                    let mut s = String::new();
                    f.file.read_to_string(&mut s).unwrap();
                    assert!(!s.contains("secret"), "read outside: {s:?}");
                    assert!(f.real.starts_with(&allowed));
                    opened += 1;
                }
                Err(Error::NotRegularFile { .. } | Error::OutsideAllowedDirs { .. } | Error::Io { .. }) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        let flips = flipper.join().unwrap();
        assert!(flips > 100 && opened > 0 && refused > 0, "flips {flips}, opened {opened}, refused {refused}");
    }
}
