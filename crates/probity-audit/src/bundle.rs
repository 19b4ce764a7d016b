//! Signed policy bundles: a gzip'd tar of a policy directory's files, a manifest of each file's
//! sha256, and an ed25519 signature over the manifest's exact bytes (docs/provenance.md).
//!
//! Layout of the tar, in this order: `MANIFEST.json`, `MANIFEST.sig` (the signature as 128 hex
//! digits and a newline), then `files/PATH` for every file, in path order. Every header has mode
//! 0644, owner 0 and time 0, and the gzip header time 0: the same directory and key give the
//! same bytes.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use probity::PolicySet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's `format`.
pub const FORMAT: &str = "probity-bundle/1";
const MANIFEST: &str = "MANIFEST.json";
const SIGNATURE: &str = "MANIFEST.sig";
const FILES: &str = "files/";

/// A file in a bundle: at most this many bytes (the largest list or calendar file the core reads
/// is 16 MiB).
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// A bundle unpacked: at most this many bytes.
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;
/// Files in a bundle: at most this many.
pub const MAX_FILES: usize = 10_000;
/// Directories nested under the bundled one: at most this deep.
const MAX_DEPTH: usize = 32;
/// A key file: at most this many bytes.
const MAX_KEY_BYTES: u64 = 64 << 10;

/// Why a bundle could not be made, read or trusted. Each has a stable code ([`BundleError::code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// B0001: the file is not a bundle (not gzip, not tar, no manifest or signature, a member
    /// that is not a regular file or has an unsafe path, an unknown format).
    #[error("`{}` is not a policy bundle: {reason}", path.display())]
    NotABundle {
        /// The file.
        path: PathBuf,
        /// What was found.
        reason: String,
    },
    /// B0002: the signature does not verify with the trusted key (another key signed it, or the
    /// manifest or the signature was altered).
    #[error("the signature of `{}` does not verify with the trusted key `{}`{reason}", path.display(), key.display())]
    BadSignature {
        /// The bundle.
        path: PathBuf,
        /// The trusted key file.
        key: PathBuf,
        /// More, when the signature is not even well formed.
        reason: String,
    },
    /// B0003: a file's bytes are not those the manifest names.
    #[error(
        "`{file}` was changed after the bundle was signed: its sha256 is {found}, the signed manifest says {expected}"
    )]
    Changed {
        /// The file's path in the bundle.
        file: String,
        /// The manifest's sha256.
        expected: String,
        /// The file's.
        found: String,
    },
    /// B0004: a file of the manifest is not in the bundle.
    #[error("`{file}` is in the signed manifest but missing from the bundle")]
    Missing {
        /// The file's path in the bundle.
        file: String,
    },
    /// B0005: a file in the bundle is not in the manifest.
    #[error("`{file}` is in the bundle but not in its signed manifest")]
    Added {
        /// The file's path in the bundle.
        file: String,
    },
    /// B0006: a key file that is not an ed25519 key of the kind expected, in PEM.
    #[error("`{}` is not an ed25519 {kind} key in PEM: {reason}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// `private` or `public`.
        kind: &'static str,
        /// What was found.
        reason: String,
    },
    /// B0007: the directory cannot be bundled.
    #[error("cannot bundle `{}`: {reason}", dir.display())]
    Pack {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// B0008: the verified bundle's policies do not load.
    #[error("the policies of `{}` do not load:\n{rendered}", path.display())]
    Load {
        /// The bundle.
        path: PathBuf,
        /// The diagnostics, rendered.
        rendered: String,
    },
    /// B0009: a file could not be read or written.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// `read`, `write` or `create`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    /// The stable code: `B0001` to `B0009` (docs/diagnostics.md).
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::NotABundle { .. } => "B0001",
            BundleError::BadSignature { .. } => "B0002",
            BundleError::Changed { .. } => "B0003",
            BundleError::Missing { .. } => "B0004",
            BundleError::Added { .. } => "B0005",
            BundleError::BadKey { .. } => "B0006",
            BundleError::Pack { .. } => "B0007",
            BundleError::Load { .. } => "B0008",
            BundleError::Io { .. } => "B0009",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            BundleError::NotABundle { .. } => "a bundle is the file `probity bundle DIR --out FILE --sign KEY` writes",
            BundleError::BadSignature { .. } => {
                "the bundle was signed with another key, or its manifest or signature was altered: ask for a bundle \
                 signed with the key you trust, or trust the key it was signed with if it is the approved one"
            }
            BundleError::Changed { .. } | BundleError::Missing { .. } | BundleError::Added { .. } => {
                "the bundle was altered after it was signed: do not use it; bundle the approved directory again"
            }
            BundleError::BadKey { .. } => {
                "`--sign` takes the private key `probity keygen --out KEY` wrote (KEY), `--trust` its public key \
                 (KEY.pub)"
            }
            BundleError::Pack { .. } => {
                "bundle a directory that `probity check` accepts, whose list and calendar files are inside it"
            }
            BundleError::Load { .. } => "bundle the policies with this version of probity, after `probity check`",
            BundleError::Io { .. } => "check the path and its permissions",
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BundleError + 'a {
    move |source| BundleError::Io { action, path: path.to_path_buf(), source }
}

/// The manifest: what the signature covers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// Every file, in path order.
    pub files: Vec<ManifestFile>,
}

/// A file of the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// The path relative to the bundled directory, `/`-separated.
    pub path: String,
    /// The sha256 of its bytes, hex.
    pub sha256: String,
}

/// A bundle whose signature and files were checked.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The bundle file.
    pub path: PathBuf,
    /// `sha256:` + hex of the manifest's bytes: names the bundle (the decision log records it).
    pub manifest_digest: String,
    /// The manifest.
    pub manifest: Manifest,
    /// Every file's path and bytes, in manifest order.
    pub files: Vec<(String, Vec<u8>)>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, BundleError> {
    let file = std::fs::File::open(path).map_err(io("read", path))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io("read", path))?;
    if bytes.len() as u64 > limit {
        let error = std::io::Error::new(ErrorKind::FileTooLarge, format!("larger than {limit} bytes"));
        return Err(BundleError::Io { action: "read", path: path.to_path_buf(), source: error });
    }
    Ok(bytes)
}

/// The public key file of a private key file: its name with `.pub` appended.
pub fn public_key_path(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_os_string();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a new ed25519 key pair from the operating system's randomness: `out` (PKCS#8 PEM,
/// readable by its owner only) and `out.pub` (SPKI PEM). Refuses to overwrite either.
pub fn keygen(out: &Path) -> Result<PathBuf, BundleError> {
    let public = public_key_path(out);
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let private_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| BundleError::Io {
        action: "write",
        path: out.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let public_pem = key.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|e| BundleError::Io {
        action: "write",
        path: public.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    for path in [out, public.as_path()] {
        if path.exists() {
            let error = std::io::Error::new(ErrorKind::AlreadyExists, "it already exists; remove it first");
            return Err(BundleError::Io { action: "create", path: path.to_path_buf(), source: error });
        }
    }
    write_new(out, private_pem.as_bytes(), 0o600)?;
    write_new(&public, public_pem.as_bytes(), 0o644)?;
    Ok(public)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BundleError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io("create", path))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io("write", path))
}

fn key_text(path: &Path, kind: &'static str) -> Result<String, BundleError> {
    let bytes = read_limited(path, MAX_KEY_BYTES)?;
    String::from_utf8(bytes).map_err(|_| BundleError::BadKey {
        path: path.to_path_buf(),
        kind,
        reason: "not text".into(),
    })
}

/// Reads a private key (`probity keygen`'s KEY).
pub fn read_signing_key(path: &Path) -> Result<SigningKey, BundleError> {
    let text = key_text(path, "private")?;
    SigningKey::from_pkcs8_pem(&text).map_err(|e| {
        let reason = if text.contains("PUBLIC KEY") { "this is a public key".to_string() } else { e.to_string() };
        BundleError::BadKey { path: path.to_path_buf(), kind: "private", reason }
    })
}

/// Reads a public key (`probity keygen`'s KEY.pub).
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, BundleError> {
    let text = key_text(path, "public")?;
    VerifyingKey::from_public_key_pem(&text).map_err(|e| {
        let reason = if text.contains("PRIVATE KEY") {
            "this is a private key: trust its `.pub`".to_string()
        } else {
            e.to_string()
        };
        BundleError::BadKey { path: path.to_path_buf(), kind: "public", reason }
    })
}

/// Every regular file under `dir` (links followed), with its path relative to `dir`
/// (`/`-separated), in path order (component by component, as the core loads a directory).
fn collect(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), BundleError> {
        let pack = |reason: String| BundleError::Pack { dir: root.to_path_buf(), reason };
        if depth > MAX_DEPTH {
            return Err(pack(format!("`{}` nests more than {MAX_DEPTH} directories deep", dir.display())));
        }
        for entry in std::fs::read_dir(dir).map_err(io("read", dir))? {
            let path = entry.map_err(io("read", dir))?.path();
            let meta = std::fs::metadata(&path).map_err(io("read", &path))?;
            if meta.is_dir() {
                walk(root, &path, depth.saturating_add(1), out)?;
            } else if meta.is_file() {
                out.push(path);
                if out.len() > MAX_FILES {
                    return Err(pack(format!("it holds more than {MAX_FILES} files")));
                }
            } else {
                return Err(pack(format!("`{}` is not a regular file", path.display())));
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(dir, dir, 0, &mut paths)?;
    paths.sort();
    let mut files = Vec::new();
    let mut total = 0u64;
    for path in paths {
        let relative = path.strip_prefix(dir).unwrap_or(&path);
        let mut parts = Vec::new();
        for part in relative.components() {
            match part {
                std::path::Component::Normal(p) => match p.to_str() {
                    Some(p) => parts.push(p),
                    None => {
                        let reason = format!("the name `{}` is not UTF-8", relative.display());
                        return Err(BundleError::Pack { dir: dir.to_path_buf(), reason });
                    }
                },
                _ => {
                    let reason = format!("unexpected path `{}`", relative.display());
                    return Err(BundleError::Pack { dir: dir.to_path_buf(), reason });
                }
            }
        }
        let bytes = read_limited(&path, MAX_FILE_BYTES)?;
        total = total.saturating_add(bytes.len() as u64);
        if total > MAX_BUNDLE_BYTES {
            let reason = format!("its files hold more than {MAX_BUNDLE_BYTES} bytes");
            return Err(BundleError::Pack { dir: dir.to_path_buf(), reason });
        }
        files.push((parts.join("/"), bytes));
    }
    Ok(files)
}

/// The manifest of files, as the exact bytes that are signed: compact JSON and a newline.
fn manifest_bytes(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let manifest = Manifest {
        format: FORMAT.to_string(),
        files: files
            .iter()
            .map(|(path, bytes)| ManifestFile { path: path.clone(), sha256: sha256_hex(bytes) })
            .collect(),
    };
    let mut bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The bundle's bytes: the tar of the manifest, its signature and the files, gzip'd.
fn container(manifest: &[u8], signature: &[u8], files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    // Time 0 in the gzip header (flate2's default) and in every tar header.
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut add = |path: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, path, bytes)
    };
    add(MANIFEST, manifest)?;
    add(SIGNATURE, signature)?;
    for (path, bytes) in files {
        add(&format!("{FILES}{path}"), bytes)?;
    }
    tar.into_inner()?.finish()
}

/// What [`pack`] wrote.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The files bundled.
    pub files: usize,
    /// `sha256:` + hex of the manifest.
    pub manifest_digest: String,
}

/// Bundles every regular file under `dir` (policy, list and calendar files, and any other: the
/// bundle is the directory as it is), signed with the private key file `key`, into `out`
/// (written whole, then renamed into place). The directory must load, and load the same from
/// the bundle's files alone (a list or calendar file outside the directory is refused).
pub fn pack(dir: &Path, out: &Path, key: &Path) -> Result<Packed, BundleError> {
    let signing = read_signing_key(key)?;
    let from_dir = PolicySet::from_dir(dir).map_err(|e| BundleError::Pack {
        dir: dir.to_path_buf(),
        reason: match e {
            probity::LoadError::Policy(d) => format!("its policies do not load:\n{}", d.render()),
            other => other.to_string(),
        },
    })?;
    let files = collect(dir)?;
    let manifest = manifest_bytes(&files);
    // Loading the files from memory, as a verified bundle is loaded, must give the same versions
    // and digests: else some file it reads is not in the bundle.
    let from_files = load_files(out, &files).map_err(|e| BundleError::Pack {
        dir: dir.to_path_buf(),
        reason: format!("its policies do not load from its own files (a list or calendar outside it?):\n{e}"),
    })?;
    if !from_files.digests().eq(from_dir.digests()) {
        let reason = "its policies do not load the same from its own files (a list or calendar outside it?)".into();
        return Err(BundleError::Pack { dir: dir.to_path_buf(), reason });
    }
    let signature = signing.sign(&manifest);
    let signature_text = format!("{}\n", hex(&signature.to_bytes()));
    let bytes = container(&manifest, signature_text.as_bytes(), &files).map_err(io("write", out))?;
    probity::replay::output::write_atomic(out, &bytes).map_err(io("write", out))?;
    Ok(Packed { files: files.len(), manifest_digest: format!("sha256:{}", sha256_hex(&manifest)) })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i.saturating_add(2)).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// The tar's members, by name, in order, from a gzip'd bundle.
fn members(path: &Path, raw: &[u8]) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    let not = |reason: String| BundleError::NotABundle { path: path.to_path_buf(), reason };
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Err(not("it is not gzip data".into()));
    }
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(raw)
        .take(MAX_BUNDLE_BYTES.saturating_add(1 << 20))
        .read_to_end(&mut tar_bytes)
        .map_err(|e| not(format!("its gzip data is damaged: {e}")))?;
    if tar_bytes.len() as u64 > MAX_BUNDLE_BYTES {
        return Err(not(format!("it unpacks to more than {MAX_BUNDLE_BYTES} bytes")));
    }
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let entries = archive.entries().map_err(|e| not(format!("it is not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not(format!("a tar entry is damaged: {e}")))?;
        let name = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .ok_or_else(|| not("a member's name is not UTF-8".into()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(not(format!("`{name}` is not a regular file")));
        }
        let safe = name.split('/').all(|part| !part.is_empty() && part != "." && part != "..");
        if !safe {
            return Err(not(format!("the member name `{name}` is not a plain relative path")));
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(not(format!("`{name}` is larger than {MAX_FILE_BYTES} bytes")));
        }
        if out.len() > MAX_FILES {
            return Err(not(format!("it holds more than {MAX_FILES} files")));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| not(format!("`{name}` cannot be read: {e}")))?;
        out.push((name, bytes));
    }
    Ok(out)
}

/// Verifies a bundle: the signature over the manifest with the trusted public key file, then
/// every file's sha256 against the manifest, and no file outside it.
pub fn verify(file: &Path, trust: &Path) -> Result<Verified, BundleError> {
    let key = read_verifying_key(trust)?;
    let raw = read_limited(file, MAX_BUNDLE_BYTES)?;
    let members = members(file, &raw)?;
    let not = |reason: String| BundleError::NotABundle { path: file.to_path_buf(), reason };
    let mut manifest = None;
    let mut signature = None;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, bytes) in members {
        let slot = match name.as_str() {
            MANIFEST => &mut manifest,
            SIGNATURE => &mut signature,
            _ => {
                let Some(path) = name.strip_prefix(FILES) else {
                    return Err(not(format!("unexpected member `{name}`")));
                };
                if files.insert(path.to_string(), bytes).is_some() {
                    return Err(not(format!("it holds `{path}` twice")));
                }
                continue;
            }
        };
        if slot.replace(bytes).is_some() {
            return Err(not(format!("it holds `{name}` twice")));
        }
    }
    let manifest_raw = manifest.ok_or_else(|| not(format!("it has no `{MANIFEST}`")))?;
    let signature_raw = signature.ok_or_else(|| not(format!("it has no `{SIGNATURE}`")))?;
    let bad = |reason: &str| BundleError::BadSignature {
        path: file.to_path_buf(),
        key: trust.to_path_buf(),
        reason: reason.to_string(),
    };
    let signature = std::str::from_utf8(&signature_raw)
        .ok()
        .and_then(|t| unhex(t.trim_end_matches('\n')))
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or_else(|| bad(" (the signature is not 128 hex digits)"))?;
    key.verify(&manifest_raw, &signature).map_err(|_| bad(""))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_raw).map_err(|e| not(format!("its manifest cannot be read: {e}")))?;
    if manifest.format != FORMAT {
        return Err(not(format!("its format is `{}`, this version reads `{FORMAT}`", manifest.format)));
    }
    let mut ordered = Vec::with_capacity(manifest.files.len());
    for entry in &manifest.files {
        let Some(bytes) = files.remove(&entry.path) else {
            return Err(BundleError::Missing { file: entry.path.clone() });
        };
        let found = sha256_hex(&bytes);
        if found != entry.sha256 {
            return Err(BundleError::Changed { file: entry.path.clone(), expected: entry.sha256.clone(), found });
        }
        ordered.push((entry.path.clone(), bytes));
    }
    if let Some(extra) = files.into_keys().next() {
        return Err(BundleError::Added { file: extra });
    }
    Ok(Verified {
        path: file.to_path_buf(),
        manifest_digest: format!("sha256:{}", sha256_hex(&manifest_raw)),
        manifest,
        files: ordered,
    })
}

/// Loads files from memory: each `.probity` file is a source named `BUNDLE/PATH`; every other
/// file that is UTF-8 is given as a list or calendar file under the same name. A file a policy
/// reads that is not among them resolves under `BUNDLE`, a file and not a directory, so it is
/// never read from the file system.
fn load_files(bundle: &Path, files: &[(String, Vec<u8>)]) -> Result<PolicySet, String> {
    let name = |path: &str| format!("{}/{path}", bundle.display());
    let mut sources = Vec::new();
    let mut given = Vec::new();
    for (path, bytes) in files {
        let text = std::str::from_utf8(bytes);
        if path.ends_with(".probity") {
            let text = text.map_err(|_| format!("`{path}` is not UTF-8"))?;
            sources.push((name(path), text.to_string()));
        } else if let Ok(text) = text {
            given.push((name(path), text.to_string()));
        }
    }
    if sources.is_empty() {
        return Err("no `.probity` policy files in it".into());
    }
    PolicySet::from_sources_with_files(sources, given).map_err(|d| d.render())
}

impl Verified {
    /// The policy set of the bundle, loaded from memory: the same digests, and so the same
    /// decisions, as loading the bundled directory.
    pub fn load(&self) -> Result<PolicySet, BundleError> {
        load_files(&self.path, &self.files).map_err(|rendered| BundleError::Load { path: self.path.clone(), rendered })
    }
}

/// Verifies a bundle ([`verify`]) and loads its policy set ([`Verified::load`]).
pub fn load_bundle(file: &Path, trust: &Path) -> Result<PolicySet, BundleError> {
    verify(file, trust)?.load()
}
