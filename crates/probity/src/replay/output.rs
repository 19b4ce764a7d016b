//! Where a replay's records go, for every surface: JSON lines into memory, to a stream or to a
//! file replaced atomically ([`OutputFile`]), or table rows gathered into chunks of columns
//! ([`super::table`]), with an optional [`Tap`] (the HTML report) taking every record too.
//!
//! [`run`] encodes each record on the worker thread that decided it and gathers the encodings
//! on a thread of its own, in input order, while the workers go on deciding. A replay that does
//! not complete (a bad input, a failure, an interruption) leaves an [`OutputFile`]'s target as
//! it was.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::table::{self, Chunk, Frozen, Output, Rows};
use super::{Options, Record, Summary};
use crate::Engine;

/// A binding's replay options: `jobs` (default: every core) must be at least 1, `max_skew` is
/// in seconds ([`super::max_skew_seconds`]).
pub fn options(
    as_of: Option<chrono::DateTime<chrono::FixedOffset>>,
    jobs: Option<usize>,
    max_skew: Option<f64>,
) -> Result<Options, String> {
    let jobs = match jobs {
        Some(0) => return Err("`jobs` must be at least 1".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    Ok(Options { as_of, jobs, max_skew: max_skew.map(super::max_skew_seconds).transpose()?, commit_every: None })
}

/// Opens an events file to stream: a regular file or a pipe (not a directory or a device such
/// as `/dev/zero`, which would never end). The error is the file system's, or `not a regular
/// file or a pipe`.
pub fn open_events(path: &Path) -> std::io::Result<std::fs::File> {
    let metadata = std::fs::metadata(path)?;
    #[cfg(unix)]
    let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&metadata.file_type());
    #[cfg(not(unix))]
    let pipe = false;
    if !metadata.is_file() && !pipe {
        return Err(std::io::Error::other("not a regular file or a pipe"));
    }
    std::fs::File::open(path)
}

/// An output file being written: a temporary file in the target's directory, renamed over the
/// target by [`OutputFile::commit`] (after an fsync), or removed if dropped before. A target
/// that is a device or a pipe (`/dev/null`, `/dev/stdout`) is written directly.
#[derive(Debug)]
pub struct OutputFile {
    target: PathBuf,
    file: FileSink,
}

#[derive(Debug)]
enum FileSink {
    Temporary(tempfile::NamedTempFile),
    Direct(std::fs::File),
}

impl OutputFile {
    /// Starts writing `path`: fails now if its directory cannot take a new file. A link is
    /// followed (its target is replaced, not the link); an existing file's permissions are kept.
    pub fn create(path: &Path) -> std::io::Result<OutputFile> {
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path)?,
            _ => path.to_path_buf(),
        };
        let existing = std::fs::metadata(&target).ok();
        if existing.as_ref().is_some_and(std::fs::Metadata::is_dir) {
            return Err(std::io::Error::other("a directory"));
        }
        if existing.as_ref().is_some_and(|m| !m.is_file()) {
            let file = std::fs::OpenOptions::new().write(true).open(&target)?;
            return Ok(OutputFile { target, file: FileSink::Direct(file) });
        }
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = format!(".{base}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A new file gets the usual mode (less the umask); a replaced one keeps its own.
            let mode = existing.as_ref().map_or(0o666, |m| m.permissions().mode() & 0o7777);
            builder.permissions(std::fs::Permissions::from_mode(mode));
        }
        Ok(OutputFile { target, file: FileSink::Temporary(builder.tempfile_in(&dir)?) })
    }

    /// The path to write (for a writer that takes a path): the temporary file's, or the target.
    pub fn path(&self) -> &Path {
        match &self.file {
            FileSink::Temporary(file) => file.path(),
            FileSink::Direct(_) => &self.target,
        }
    }

    /// The file to write to.
    pub fn file(&mut self) -> &mut std::fs::File {
        match &mut self.file {
            FileSink::Temporary(file) => file.as_file_mut(),
            FileSink::Direct(file) => file,
        }
    }

    /// Flushes the written bytes to disk and renames the file over the target.
    pub fn commit(self) -> std::io::Result<()> {
        let FileSink::Temporary(file) = self.file else { return Ok(()) };
        // Re-opened by path: a writer given `path()` may have replaced the file's contents.
        std::fs::OpenOptions::new().write(true).open(file.path())?.sync_all()?;
        file.persist(&self.target).map(drop).map_err(|e| e.error)
    }
}

/// Writes `bytes` to `path` through an [`OutputFile`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut out = OutputFile::create(path)?;
    out.file().write_all(bytes)?;
    out.commit()
}

/// Where [`run`] puts the records.
pub enum Sink<'a> {
    /// JSON lines, appended to this buffer (reserve room up front to spare copies).
    Memory(Vec<u8>),
    /// JSON lines to a stream (standard output), as they come.
    Writer(Box<dyn Write + Send + 'a>),
    /// JSON lines to a file, renamed into place once the replay is complete.
    File(OutputFile),
    /// Table rows of this shape, gathered into chunks of up to [`table::CHUNK_ROWS`] rows, each
    /// copied out ([`Chunk::freeze`]) once full, so that the chunk's memory serves the next rows.
    Table(Output),
}

/// What [`run`] gives back besides the summary.
#[derive(Debug)]
pub enum Gathered {
    /// The JSON lines of [`Sink::Memory`].
    Lines(Vec<u8>),
    /// The rows of [`Sink::Table`], chunk after chunk (at least one chunk).
    Chunks(Vec<Frozen>),
    /// The records went to the stream or file.
    Written,
}

/// Why [`run`] stopped.
#[derive(Debug)]
pub enum Failure {
    /// [`Hooks::interrupted`] said so; nothing was committed.
    Interrupted,
    /// The events could not be read.
    Read(std::io::Error),
    /// The output could not be written.
    Write(std::io::Error),
    /// The ledger's state could not be read or committed ([`Hooks::state`]); what was written
    /// before it is committed.
    State(crate::store::StoreError),
    /// Anything else (a failed thread).
    Internal(std::io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Interrupted => f.write_str("interrupted"),
            Failure::State(e) => e.fmt(f),
            Failure::Read(e) | Failure::Write(e) | Failure::Internal(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Failure {}

/// Something that takes every record too, in input order (the HTML report): each record is
/// digested into an item on the worker thread that decided it, and the items are added on the
/// calling thread.
pub trait Tap {
    /// A record's digest.
    type Item: Send;
    /// What digests records, shared by the worker threads.
    type Digester: Sync;
    /// A digester for one replay.
    fn digester(&self) -> Self::Digester;
    /// Digests a record.
    fn digest(digester: &Self::Digester, record: &Record<'_>) -> Self::Item;
    /// Adds a record's digest.
    fn add(&mut self, item: Self::Item);
}

/// No tap: `None::<&mut ()>`.
impl Tap for () {
    type Item = ();
    type Digester = ();
    fn digester(&self) {}
    fn digest((): &(), _: &Record<'_>) {}
    fn add(&mut self, (): ()) {}
}

/// Callbacks of [`run`], both on the calling thread.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called with the number of bytes read, as the replay goes.
    pub progress: Option<&'a mut dyn FnMut(u64)>,
    /// Asked every [`CHECK_EVERY`] lines whether to stop (a Ctrl-C): the replay then ends with
    /// [`Failure::Interrupted`].
    pub interrupted: Option<&'a mut dyn FnMut() -> bool>,
    /// The store that keeps the ledger's state across runs ([`super::durable`]); `None` keeps
    /// it in memory for this run only.
    pub state: Option<&'a mut dyn crate::store::Store>,
}

/// Encoded lines between two [`Hooks::interrupted`] checks.
pub const CHECK_EVERY: usize = 4096;

/// Encoded lines handed to the gatherer at a time.
const HANDOVER: usize = 1024;

/// A line's records, encoded on the worker thread that decided them: their JSON lines or
/// table rows, and the tap's digests.
struct Encoded<I> {
    rows: Rows,
    items: Vec<I>,
}

impl<I> Default for Encoded<I> {
    fn default() -> Self {
        Encoded { rows: Rows::default(), items: Vec::new() }
    }
}

/// Replays `input` into `sink` (see the module documentation); with `tap`, every record is
/// also digested and added to it, in input order.
pub fn run<T: Tap>(
    engine: &Engine,
    input: impl BufRead,
    options: &Options,
    sink: Sink<'_>,
    tap: Option<&mut T>,
    hooks: Hooks<'_>,
) -> Result<(Gathered, Summary), Failure> {
    let output = match &sink {
        Sink::Table(output) => *output,
        _ => Output::JsonLines,
    };
    let digester = tap.as_ref().map(|t| t.digester());
    let encode = |encoded: &mut Encoded<T::Item>, record: &Record<'_>| {
        encoded.rows.record(record, output);
        if let Some(digester) = &digester {
            encoded.items.push(T::digest(digester, record));
        }
    };
    let Hooks { mut progress, mut interrupted, state } = hooks;
    // Set when the replay did not complete: the gatherer then leaves a file as it was.
    let abandoned = AtomicBool::new(false);
    let abandoned = &abandoned;
    let mut tap = tap;
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Encoded<T::Item>>>(4);
        let gatherer = scope.spawn(move || gather(receive, sink, abandoned));
        let stopped = || std::io::Error::other("the replay's gatherer stopped");
        let mut pending = Vec::with_capacity(HANDOVER);
        let (mut since, mut stop) = (0usize, false);
        let emit = |mut encoded: Encoded<T::Item>| {
            since = since.saturating_add(1);
            if since >= CHECK_EVERY {
                since = 0;
                if interrupted.as_mut().is_some_and(|interrupted| interrupted()) {
                    stop = true;
                    return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "interrupted"));
                }
            }
            if let Some(tap) = tap.as_deref_mut() {
                encoded.items.drain(..).for_each(|item| tap.add(item));
            }
            pending.push(encoded);
            if pending.len() < HANDOVER {
                return Ok(());
            }
            send.send(std::mem::replace(&mut pending, Vec::with_capacity(HANDOVER))).map_err(|_| stopped())
        };
        let progress = |n: u64| progress.as_mut().map_or((), |p| p(n));
        let replayed = match state {
            Some(store) => super::durable::replay_durable(engine, input, store, options, encode, emit, progress),
            None => super::replay_with_options(engine, input, options, encode, emit, progress),
        }
        .and_then(|summary| send.send(pending).map(|()| summary).map_err(|_| stopped()));
        if replayed.is_err() || stop {
            abandoned.store(true, Ordering::SeqCst);
        }
        drop(send);
        let gathered = gatherer.join().map_err(|_| Failure::Internal(std::io::Error::other("the gatherer failed")));
        if stop {
            return Err(Failure::Interrupted);
        }
        // The gatherer's own error comes first: it is why the replay stopped. Of the replay's
        // own, a failed thread is `Other`; the rest are the input's.
        let gathered = gathered??;
        let summary = replayed.map_err(|e| match e.kind() {
            std::io::ErrorKind::Other => match e.downcast::<crate::store::StoreError>() {
                Ok(e) => Failure::State(e),
                Err(e) => Failure::Internal(e),
            },
            _ => Failure::Read(e),
        })?;
        Ok((gathered, summary))
    })
}

/// Gathers the encoded lines into the sink, in the order they come.
fn gather<I>(
    lines: std::sync::mpsc::Receiver<Vec<Encoded<I>>>,
    sink: Sink<'_>,
    abandoned: &AtomicBool,
) -> Result<Gathered, Failure> {
    let write = |out: &mut dyn Write| -> Result<(), Failure> {
        for encoded in lines.iter().flatten() {
            out.write_all(encoded.rows.text()).map_err(Failure::Write)?;
        }
        out.flush().map_err(Failure::Write)
    };
    match sink {
        Sink::Memory(mut out) => {
            write(&mut out)?;
            Ok(Gathered::Lines(out))
        }
        Sink::Writer(mut out) => write(&mut out).map(|()| Gathered::Written),
        Sink::File(mut file) => {
            write(&mut std::io::BufWriter::with_capacity(1 << 20, file.file()))?;
            // Dropped when abandoned, the temporary file is removed; the replay's error is reported.
            if !abandoned.load(Ordering::SeqCst) {
                file.commit().map_err(Failure::Write)?;
            }
            Ok(Gathered::Written)
        }
        Sink::Table(output) => {
            let (mut chunk, mut chunks) = (Chunk::new(output), Vec::new());
            for encoded in lines.iter().flatten() {
                chunk.append(&encoded.rows);
                if chunk.rows() >= table::CHUNK_ROWS {
                    chunks.push(chunk.freeze());
                    chunk.clear();
                }
            }
            if chunk.rows() > 0 || chunks.is_empty() {
                chunks.push(chunk.freeze());
            }
            Ok(Gathered::Chunks(chunks))
        }
    }
}

/// Where a binding's events are.
#[derive(Debug, Clone, Copy)]
pub enum Events<'a> {
    /// A JSON-lines file (or a pipe), streamed.
    File(&'a Path),
    /// JSON lines in memory.
    Memory(&'a [u8]),
}

/// Why [`replay_events`] did not complete, its messages naming the file at fault.
#[derive(Debug)]
pub enum EventsFailure {
    /// `out` is the events file (`` `…` is the events file: refusing to overwrite it ``).
    Refused(String),
    /// A file could not be read or written (`` cannot read `…`: … ``, `` cannot write `…`: … ``).
    File(String),
    /// [`Hooks::interrupted`] said so; nothing was committed.
    Interrupted,
    /// The state ([`Hooks::state`]) could not be read or committed; what was written before
    /// it is committed.
    State(crate::store::StoreError),
    /// Anything else (a failed thread).
    Internal(String),
}

/// [`run`] as the bindings call it: the events from a file or memory; the JSON lines into the
/// file `out` when there is one, else into memory (room reserved for about the events' size),
/// or table rows for a table `output`. `out` is started once the events are open, so that bad
/// events leave an existing file as it was.
pub fn replay_events<T: Tap>(
    engine: &Engine,
    events: Events<'_>,
    options: &Options,
    (output, out): (Output, Option<&Path>),
    tap: Option<&mut T>,
    hooks: Hooks<'_>,
) -> Result<(Gathered, Summary), EventsFailure> {
    let cannot = |verb: &str, path: &Path, e: &dyn std::fmt::Display| {
        EventsFailure::File(format!("cannot {verb} `{}`: {e}", path.display()))
    };
    let (file, size) = match events {
        Events::File(path) => {
            if let Some(out) = out.filter(|out| super::same_file(path, out)) {
                let refused = format!("`{}` is the events file: refusing to overwrite it", out.display());
                return Err(EventsFailure::Refused(refused));
            }
            let file = open_events(path).map_err(|e| cannot("read", path, &e))?;
            let size = file.metadata().map_or(0, |m| usize::try_from(m.len()).unwrap_or(0));
            (Some(std::io::BufReader::with_capacity(1 << 20, file)), size)
        }
        Events::Memory(bytes) => (None, bytes.len()),
    };
    let sink = match (out, output) {
        (Some(path), _) => Sink::File(OutputFile::create(path).map_err(|e| cannot("write", path, &e))?),
        // The JSON lines are about as long as the events: room for them up front.
        (None, Output::JsonLines) => Sink::Memory(Vec::with_capacity(size.saturating_add(size / 4))),
        (None, _) => Sink::Table(output),
    };
    let ran = match (file, events) {
        (Some(file), _) => run(engine, file, options, sink, tap, hooks),
        (None, Events::Memory(bytes)) => run(engine, bytes, options, sink, tap, hooks),
        (None, Events::File(_)) => run(engine, &[][..], options, sink, tap, hooks),
    };
    ran.map_err(|e| match (e, events, out) {
        (Failure::Interrupted, _, _) => EventsFailure::Interrupted,
        (Failure::State(e), _, _) => EventsFailure::State(e),
        (Failure::Read(e), Events::File(path), _) => cannot("read", path, &e),
        (Failure::Write(e), _, Some(path)) => cannot("write", path, &e),
        (Failure::Read(e) | Failure::Write(e) | Failure::Internal(e), _, _) => EventsFailure::Internal(e.to_string()),
    })
}
