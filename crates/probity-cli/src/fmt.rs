//! `probity fmt`: rewrite policy files in the canonical layout, or check that they are.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The most diff lines `--check` prints for one file.
const MAX_DIFF_LINES: usize = 60;

/// Formats `files` in place (or, with `check`, reports the ones that would change, with a short
/// diff). Fails (exit 1) on a file that does not parse, and with `check` on any change.
pub fn run(files: &[PathBuf], check: bool) -> Result<ExitCode, String> {
    let (mut changed, mut broken, mut refused) = (0usize, 0usize, 0usize);
    for file in files {
        let name = file.display().to_string();
        let text = crate::files::read_text(file, probity::limits::MAX_SOURCE_BYTES as u64)?;
        let formatted = match probity::format_source(&name, &text) {
            Ok(formatted) => formatted,
            Err(diagnostics) => {
                broken = broken.saturating_add(1);
                eprintln!("{}", diagnostics.render());
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        // What replaces the file must load as the original did: within the size limit, and
        // formatted already (so that it parses).
        if let Err(problem) = recheck(&name, &formatted) {
            refused = refused.saturating_add(1);
            eprintln!("error: `{name}`: not reformatted: {problem}");
            continue;
        }
        changed = changed.saturating_add(1);
        if check {
            let mut out = std::io::stdout().lock();
            let _ = std::io::Write::write_all(&mut out, diff(&name, &text, &formatted).as_bytes());
        } else {
            crate::files::write_atomic(file, formatted.as_bytes())?;
            eprintln!("formatted {name}");
        }
    }
    let total = files.len();
    let verb = if check { "would be reformatted" } else { "reformatted" };
    let mut summary = format!("{total} file(s) checked, {changed} {verb}");
    if broken > 0 {
        let _ = write!(summary, ", {broken} with syntax errors");
    }
    if refused > 0 {
        let _ = write!(summary, ", {refused} left as they were (see above)");
    }
    eprintln!("{summary}");
    let failed = broken > 0 || refused > 0 || (check && changed > 0);
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Why `formatted` must not replace a policy file, if it must not: past the size limit, or not
/// formatting to itself (which it would if it parsed as the original did).
fn recheck(name: &str, formatted: &str) -> Result<(), String> {
    let limit = probity::limits::MAX_SOURCE_BYTES;
    if formatted.len() > limit {
        return Err(format!("the formatted text is {} bytes, more than the limit of {limit}", formatted.len()));
    }
    match probity::format_source(name, formatted) {
        Ok(again) if again == formatted => Ok(()),
        Ok(_) => Err("formatting is not stable on this file (please report it)".into()),
        Err(diagnostics) => {
            Err(format!("the formatted text does not parse (please report it):\n{}", diagnostics.render()))
        }
    }
}

/// A short unified diff from `old` to `new`, headed by the file's name.
pub fn diff(name: &str, old: &str, new: &str) -> String {
    let text_diff = similar::TextDiff::from_lines(old, new);
    let full = text_diff.unified_diff().context_radius(2).header(name, &format!("{name} (formatted)")).to_string();
    let mut out = format!("would reformat {name}\n");
    let total = full.lines().count();
    for line in full.lines().take(MAX_DIFF_LINES) {
        out.push_str(line);
        out.push('\n');
    }
    if total > MAX_DIFF_LINES {
        let _ = writeln!(out, "... ({} more diff lines)", total.saturating_sub(MAX_DIFF_LINES));
    }
    out
}
