//! Reading and writing files with bounds: a file is read only when it is a regular file (links
//! followed) within a size limit, and never past it; an output is written to a temporary file
//! beside it and renamed over it once complete, so that it is never left half-written.

use std::io::Read;
use std::path::Path;

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

/// Writes `bytes` to `path` through the core's [`probity::replay::output::OutputFile`]: a
/// temporary file beside it, renamed over it once complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    probity::replay::output::write_atomic(path, bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}
