//! Reading and writing files with bounds: a file is read only when it is a regular file (links
//! followed) within a size limit, and never past it; an output is written to a temporary file
//! beside it and renamed over it once complete, so that it is never left half-written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The largest action or history file `eval` and `explain` read, in bytes: an action is bounded
/// by its own limit; a history holds at most `MAX_HISTORY_ITEMS` items of about that size.
pub const MAX_HISTORY_BYTES: u64 = 256 << 20;

/// Reads `path` (`-`: standard input) as UTF-8 text of at most `limit` bytes. A directory, a
/// FIFO or a device is refused before it is opened, a file larger than `limit` before it is
/// read; text that is not UTF-8 is reported with its line.
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    read(path, limit, false)
}

/// [`read_text`] for a file named on the command line, which may also be a pipe (`<(…)`): it is
/// read up to `limit` bytes, as standard input is.
pub fn read_named(path: &Path, limit: u64) -> Result<String, String> {
    read(path, limit, true)
}

fn read(path: &Path, limit: u64, pipes: bool) -> Result<String, String> {
    let name = path.display();
    let bytes = if path == Path::new("-") {
        read_capped(std::io::stdin().lock(), limit).map_err(|e| format!("cannot read standard input: {e}"))?
    } else {
        if pipes {
            check_stream(path)?;
        }
        if !pipes || std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            check_regular(path, limit)?;
        }
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        read_capped(file, limit).map_err(|e| format!("cannot read `{name}`: {e}"))?
    };
    if bytes.len() as u64 > limit {
        return Err(format!("`{name}` is more than {limit} bytes, the limit"));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..valid).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count().saturating_add(1);
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count().saturating_add(1);
        format!("`{name}`:{line}:{column}: the text is not UTF-8")
    })
}

/// At most `limit + 1` bytes of `input` (one more than allowed shows that it is too long).
fn read_capped(input: impl Read, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    input.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Fails unless `path` is a regular file (links followed) of at most `limit` bytes.
pub fn check_regular(path: &Path, limit: u64) -> Result<(), String> {
    let name = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("cannot read `{name}`: not a regular file"));
    }
    if metadata.len() > limit {
        return Err(format!("`{name}` is {} bytes, more than the limit of {limit}", metadata.len()));
    }
    Ok(())
}

/// Fails unless `path` can be streamed: a regular file or a pipe (not a directory or a device
/// such as `/dev/zero`).
pub fn check_stream(path: &Path) -> Result<(), String> {
    let name = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read `{name}`: {e}"))?;
    let file_type = metadata.file_type();
    #[cfg(unix)]
    let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&file_type);
    #[cfg(not(unix))]
    let pipe = false;
    if file_type.is_file() || pipe {
        Ok(())
    } else {
        Err(format!("cannot read `{name}`: not a regular file or a pipe"))
    }
}

/// An output file being written: a temporary file in the target's directory, renamed over the
/// target by [`Output::commit`] (after an fsync), or removed if dropped before. A target that is
/// a device or a pipe (`/dev/null`, `/dev/stdout`) is written directly.
#[derive(Debug)]
pub struct Output {
    target: PathBuf,
    file: Sink,
}

#[derive(Debug)]
enum Sink {
    Temporary(tempfile::NamedTempFile),
    Direct(std::fs::File),
}

impl Output {
    /// Starts writing `path`: fails now if its directory cannot take a new file. A link is
    /// followed (its target is replaced, not the link); an existing file's permissions are kept.
    pub fn create(path: &Path) -> Result<Output, String> {
        let name = path.display();
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::canonicalize(path).map_err(|e| format!("cannot write `{name}`: {e}"))?
            }
            _ => path.to_path_buf(),
        };
        let existing = std::fs::metadata(&target).ok();
        if existing.as_ref().is_some_and(std::fs::Metadata::is_dir) {
            return Err(format!("cannot write `{name}`: a directory"));
        }
        if existing.as_ref().is_some_and(|m| !m.is_file()) {
            let file = std::fs::OpenOptions::new().write(true).open(&target);
            let file = file.map_err(|e| format!("cannot write `{name}`: {e}"))?;
            return Ok(Output { target, file: Sink::Direct(file) });
        }
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut builder = tempfile::Builder::new();
        let prefix = format!(".{base}.");
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            // A new file gets the usual mode (less the umask); a replaced one keeps its own.
            std::fs::Permissions::from_mode(existing.as_ref().map_or(0o666, |m| m.permissions().mode() & 0o7777))
        };
        #[cfg(unix)]
        builder.permissions(mode);
        let file = builder.tempfile_in(&dir).map_err(|e| format!("cannot write `{name}`: {e}"))?;
        Ok(Output { target, file: Sink::Temporary(file) })
    }

    /// The path to write (for a writer that takes a path): the temporary file's, or the target.
    pub fn path(&self) -> &Path {
        match &self.file {
            Sink::Temporary(file) => file.path(),
            Sink::Direct(_) => &self.target,
        }
    }

    /// The file to write to.
    pub fn file(&mut self) -> &mut std::fs::File {
        match &mut self.file {
            Sink::Temporary(file) => file.as_file_mut(),
            Sink::Direct(file) => file,
        }
    }

    /// Flushes the written bytes to disk and renames the file over the target.
    pub fn commit(self) -> Result<(), String> {
        let name = self.target.display().to_string();
        let Sink::Temporary(file) = self.file else { return Ok(()) };
        // Re-opened by path: a writer given `path()` may have replaced the file's contents.
        let synced = std::fs::OpenOptions::new().write(true).open(file.path()).and_then(|f| f.sync_all());
        synced.map_err(|e| format!("cannot write `{name}`: {e}"))?;
        file.persist(&self.target).map_err(|e| format!("cannot write `{name}`: {}", e.error))?;
        Ok(())
    }
}

/// Writes `bytes` to `path` through an [`Output`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut out = Output::create(path)?;
    out.file().write_all(bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    out.commit()
}
