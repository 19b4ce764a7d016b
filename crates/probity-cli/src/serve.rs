//! `probity serve`: the policies (a directory, or a signed bundle verified at the start and on
//! every reload) and the service of `probity-serve`.

use std::path::PathBuf;
use std::process::ExitCode;

use probity_serve::{LoadFailure, Loaded, Loader};

use super::Policies;

/// The loader the service calls at the start and on every reload: a directory's policies, or a
/// bundle verified again with the trusted key each time (refused with its `B…` code).
fn loader(policies: Policies, require_policy: bool) -> Loader {
    std::sync::Arc::new(move || match (&policies.policies, &policies.bundle, &policies.trust) {
        (Some(dir), None, _) => super::load_policies(dir, require_policy)
            .map(|set| Loaded { engine: probity::Engine::new(set), bundle: None })
            .map_err(|message| LoadFailure { code: "policy-errors".into(), message }),
        (None, Some(file), Some(trust)) => {
            let refused = |e: probity_audit::BundleError| LoadFailure {
                code: e.code().into(),
                message: format!("{e}\nhint: {}", e.hint()),
            };
            let verified = probity_audit::bundle::verify(file, trust).map_err(refused)?;
            let set = verified.load().map_err(refused)?;
            let engine = probity::Engine::new(set.require_policy(require_policy));
            Ok(Loaded { engine, bundle: Some(verified.manifest_digest) })
        }
        _ => Err(LoadFailure {
            code: "policy-errors".into(),
            message: "give `--policies DIR`, or `--bundle FILE --trust KEY.pub`".into(),
        }),
    })
}

/// Runs the service until SIGTERM.
pub fn run(
    policies: Policies,
    state: String,
    listen: std::net::SocketAddr,
    require_policy: bool,
    log: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let config = probity_serve::Config { listen, state, loader: loader(policies, require_policy), log };
    probity_serve::run(config, |address| eprintln!("probity serve: listening on http://{address}"))
        .map(|()| ExitCode::SUCCESS)
}
