//! The provenance commands: `keygen`, `bundle`, `verify`, `log verify` and `log why`. Their work
//! is in `probity-audit`; here they print. A bundle or log that does not verify exits 1; one
//! that cannot be read, or a key file that is not one, is an error (exit 2).

use std::path::Path;
use std::process::ExitCode;

use probity_audit::{bundle, log, BundleError, LogError};

fn bundle_error(e: &BundleError) -> String {
    format!("[{}] {e}\nhint: {}", e.code(), e.hint())
}

fn log_error(e: &LogError) -> String {
    format!("[{}] {e}\nhint: {}", e.code(), e.hint())
}

/// `probity keygen --out KEY`.
pub fn keygen(out: &Path) -> Result<ExitCode, String> {
    let public = bundle::keygen(out).map_err(|e| bundle_error(&e))?;
    println!("private key: {}\npublic key:  {}", out.display(), public.display());
    Ok(ExitCode::SUCCESS)
}

/// `probity bundle DIR --out FILE --sign KEY`.
pub fn bundle(dir: &Path, out: &Path, key: &Path) -> Result<ExitCode, String> {
    let packed = bundle::pack(dir, out, key).map_err(|e| bundle_error(&e))?;
    println!("{}: {} file(s), manifest {}", out.display(), packed.files, packed.manifest_digest);
    Ok(ExitCode::SUCCESS)
}

/// `probity verify FILE --trust KEY.pub`.
pub fn verify(file: &Path, trust: &Path) -> Result<ExitCode, String> {
    match bundle::verify(file, trust).and_then(|v| v.load().map(|set| (v, set))) {
        Ok((verified, set)) => {
            println!("{}: verified, manifest {}", file.display(), verified.manifest_digest);
            for (path, _) in &verified.files {
                println!("  {path}");
            }
            for (id, version, digest) in set.digests() {
                println!("policy {id} {version} {digest}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (BundleError::Io { .. } | BundleError::BadKey { .. })) => Err(bundle_error(&e)),
        Err(e) => {
            eprintln!("error: {}", bundle_error(&e));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `probity log verify FILE`.
pub fn log_verify(file: &Path) -> Result<ExitCode, String> {
    match log::verify(file) {
        Ok(head) => {
            println!(
                "{}: {} line(s), chain intact; head seq {} sha256 {}",
                file.display(),
                head.lines,
                head.seq,
                head.hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_tamper() => {
            eprintln!("error: {}", log_error(&e));
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(log_error(&e)),
    }
}

/// `probity log why FILE ACTION_ID`: exits 1 when the decision decided again differs.
pub fn log_why(file: &Path, id: &str, set: probity::PolicySet) -> Result<ExitCode, String> {
    let why = log::why(file, id, set).map_err(|e| log_error(&e))?;
    print!("{}", why.to_text());
    Ok(if why.identical() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
