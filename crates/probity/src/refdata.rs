//! Reference data a policy reads when it loads: `list NAME from "PATH"` files and the header's
//! `calendar "PATH"`, and business-day arithmetic on a calendar (docs/language.md).

use smol_str::SmolStr;
use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use sha2::{Digest, Sha256};

use crate::diagnostics::{Diagnostic, SourceFile};
use crate::parse::ast::{Item, PolicyFile, Span};

/// The largest list or calendar file accepted, in bytes.
pub(crate) const MAX_REFERENCE_BYTES: u64 = 16 << 20;

/// The most business days one duration may count (about 40 years).
pub(crate) const MAX_BUSINESS_DAYS: i64 = 10_000;

/// Holidays and worked weekend days. Without a `calendar`, the default (empty) calendar makes
/// every Monday to Friday a business day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Calendar {
    /// Sorted, each date once.
    holidays: Vec<NaiveDate>,
    /// Sorted, each date once.
    workdays: Vec<NaiveDate>,
}

impl Calendar {
    /// Whether a local date is a business day: Monday–Friday and not a holiday, or a listed
    /// workday.
    pub(crate) fn is_business_day(&self, date: NaiveDate) -> bool {
        if self.workdays.binary_search(&date).is_ok() {
            return true;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && self.holidays.binary_search(&date).is_err()
    }

    /// The `n`-th business day after (or, with `forward` false, before) `date`; `date` itself
    /// when `n` is 0. `None` past chrono's range.
    pub(crate) fn step(&self, date: NaiveDate, n: i64, forward: bool) -> Option<NaiveDate> {
        let one = TimeDelta::days(if forward { 1 } else { -1 });
        let mut left = n.max(0);
        let mut day = date;
        while left > 0 {
            day = day.checked_add_signed(one)?;
            if self.is_business_day(day) {
                left = left.saturating_sub(1);
            }
        }
        Some(day)
    }

    /// The number of listed holidays (for the memory bound of `N business days`).
    pub(crate) fn holiday_count(&self) -> usize {
        self.holidays.len()
    }

    /// An upper bound of `d` in seconds for keeping history: `N business days` count as
    /// 7⌈N/5⌉ days plus one day for each listed holiday.
    pub(crate) fn upper_bound_seconds(&self, d: crate::value::Duration) -> i64 {
        let holidays = if d.business_days > 0 { i64::try_from(self.holiday_count()).unwrap_or(i64::MAX) } else { 0 };
        d.upper_bound_seconds().saturating_add(holidays.saturating_mul(86_400))
    }

    /// Reads a calendar file: lines `holiday YYYY-MM-DD` and `workday YYYY-MM-DD`; blank lines
    /// and `#` comments skipped. The error is the 1-based line and what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Calendar, (usize, String)> {
        let mut holidays = Vec::new();
        let mut workdays = Vec::new();
        let mut seen: HashMap<NaiveDate, usize> = HashMap::new();
        for (i, raw) in text.split('\n').enumerate() {
            let number = i.saturating_add(1);
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(kind), Some(date), None) = (words.next(), words.next(), words.next()) else {
                return Err((number, format!("`{line}` is not `holiday YYYY-MM-DD` or `workday YYYY-MM-DD`")));
            };
            let list = match kind {
                "holiday" => &mut holidays,
                "workday" => &mut workdays,
                other => return Err((number, format!("`{other}` is neither `holiday` nor `workday`"))),
            };
            let parsed = (date.len() == 10).then(|| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()).flatten();
            let Some(date) = parsed else {
                return Err((number, format!("`{date}` is not a calendar date (YYYY-MM-DD)")));
            };
            if let Some(first) = seen.insert(date, number) {
                return Err((number, format!("{date} is listed twice (first on line {first})")));
            }
            list.push(date);
        }
        holidays.sort_unstable();
        workdays.sort_unstable();
        Ok(Calendar { holidays, workdays })
    }
}

/// The members of a list file: one a line, trimmed; blank lines and `#` lines skipped; each
/// member once, in the order first written.
pub(crate) fn parse_list(text: &str) -> Vec<SmolStr> {
    let mut seen = std::collections::HashSet::new();
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| seen.insert(*l))
        .map(SmolStr::from)
        .collect()
}

/// What a file's `list` and `calendar` declarations read.
#[derive(Debug, Default)]
pub(crate) struct RefFiles {
    /// By list name: its members (a list that failed to read is absent).
    pub(crate) lists: HashMap<String, Arc<[SmolStr]>>,
    pub(crate) calendar: Arc<Calendar>,
    /// Whether a list or calendar failed to read (its error is reported).
    pub(crate) failed: bool,
}

/// Reads the list and calendar files of a parsed policy, relative to the directory of the
/// source's name; returns them, their errors, and the policy's digest: `sha256:` + hex of the
/// file's bytes, then for each list and calendar file (the calendar first, in the header; then
/// the lists in file order) a NUL, the path as written, a NUL and the file's bytes.
pub(crate) fn read(
    source: &Arc<SourceFile>,
    file: &PolicyFile,
    given: &BTreeMap<String, String>,
) -> (RefFiles, Vec<Diagnostic>, SmolStr) {
    let mut hasher = Sha256::new();
    hasher.update(source.text().as_bytes());
    let mut out = RefFiles::default();
    let mut errors = Vec::new();
    let base = Path::new(source.name()).parent().map(Path::to_path_buf).unwrap_or_default();
    let add = |hasher: &mut Sha256, path: &str, bytes: &[u8]| {
        hasher.update([0u8]);
        hasher.update(path.as_bytes());
        hasher.update([0u8]);
        hasher.update(bytes);
    };
    if let Some(calendar) = file.header.calendars.first() {
        match read_file(&base.join(&calendar.value), given) {
            Ok(text) => {
                add(&mut hasher, &calendar.value, text.as_bytes());
                match Calendar::parse(&text) {
                    Ok(c) => out.calendar = Arc::new(c),
                    Err((line, message)) => {
                        out.failed = true;
                        let path = base.join(&calendar.value).display().to_string();
                        let file = Arc::new(SourceFile::new(path, text.clone()));
                        let span = line_span(&text, line);
                        errors.push(
                            Diagnostic::error("P0404", format!("calendar line {line}: {message}"))
                                .at(&file, span)
                                .with_related("the calendar named here", source, calendar.span.clone())
                                .with_help(
                                    "each line is `holiday YYYY-MM-DD` or `workday YYYY-MM-DD` (a weekend day \
                                     worked); `#` starts a comment",
                                ),
                        );
                    }
                }
            }
            Err(e) => {
                out.failed = true;
                errors.push(missing("P0403", "calendar", &calendar.value, &e, source, calendar.span.clone()));
            }
        }
    }
    for item in &file.items {
        let Item::List(list) = item else { continue };
        match read_file(&base.join(&list.path.value), given) {
            Ok(text) => {
                add(&mut hasher, &list.path.value, text.as_bytes());
                out.lists.insert(list.name.name.clone(), parse_list(&text).into());
            }
            Err(e) => {
                out.failed = true;
                errors.push(missing("P0402", "list", &list.path.value, &e, source, list.span.clone()));
            }
        }
    }
    let digest = format!("sha256:{:x}", hasher.finalize()).into();
    (out, errors, digest)
}

fn missing(
    code: &'static str,
    what: &str,
    path: &str,
    e: &std::io::Error,
    source: &Arc<SourceFile>,
    span: Span,
) -> Diagnostic {
    Diagnostic::error(code, format!("cannot read the {what} file `{path}`: {e}")).at(source, span).with_help(format!(
        "the path is relative to the policy file; the {what} file must be a UTF-8 text file of at most {} MiB",
        MAX_REFERENCE_BYTES >> 20
    ))
}

/// The byte range of a 1-based line (without its line break).
fn line_span(text: &str, line: usize) -> Span {
    let mut start = 0usize;
    for (i, l) in text.split('\n').enumerate() {
        let end = start.saturating_add(l.len());
        if i.saturating_add(1) == line {
            return start..end;
        }
        start = end.saturating_add(1);
    }
    0..0
}

/// A reference file's text: given in memory under its path, or a regular file (links followed)
/// of at most [`MAX_REFERENCE_BYTES`], UTF-8.
fn read_file(path: &PathBuf, given: &BTreeMap<String, String>) -> Result<String, std::io::Error> {
    if let Some(text) = given.get(&path.display().to_string()) {
        if text.len() as u64 > MAX_REFERENCE_BYTES {
            return Err(std::io::Error::new(ErrorKind::FileTooLarge, "the file is too large"));
        }
        return Ok(text.clone());
    }
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_REFERENCE_BYTES.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_REFERENCE_BYTES {
        return Err(std::io::Error::new(ErrorKind::FileTooLarge, "the file is too large"));
    }
    let text = String::from_utf8(bytes).map_err(|_| std::io::Error::new(ErrorKind::InvalidData, "not UTF-8"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn weekdays_without_a_calendar() {
        let c = Calendar::default();
        // 2026-05-01 is a Friday: one business day later is Monday the 4th.
        assert_eq!(c.step(d("2026-05-01"), 1, true), Some(d("2026-05-04")));
        assert_eq!(c.step(d("2026-05-04"), 1, false), Some(d("2026-05-01")));
        assert_eq!(c.step(d("2026-05-02"), 0, true), Some(d("2026-05-02")));
        assert_eq!(c.step(d("2026-05-01"), 5, true), Some(d("2026-05-08")));
    }

    #[test]
    fn holidays_and_worked_weekends() {
        let text = "# 2026\nholiday 2026-05-01\r\n  holiday 2026-05-04 \n\nworkday 2026-05-09\n";
        let c = Calendar::parse(text).unwrap_or_default();
        assert!(!c.is_business_day(d("2026-05-01")));
        assert!(c.is_business_day(d("2026-05-09")), "a worked Saturday");
        // Thursday 30 April + 1 → Tuesday 5 May (a holiday, a weekend, a holiday between).
        assert_eq!(c.step(d("2026-04-30"), 1, true), Some(d("2026-05-05")));
        assert_eq!(c.step(d("2026-05-05"), 4, true), Some(d("2026-05-09")));
        assert_eq!(c.holiday_count(), 2);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line() {
        assert_eq!(Calendar::parse("holiday 2026-05-01\nvacation 2026-05-02").map_err(|e| e.0), Err(2));
        assert_eq!(Calendar::parse("holiday 2026-02-30").map_err(|e| e.0), Err(1));
        assert_eq!(Calendar::parse("holiday 2026-05-01 extra").map_err(|e| e.0), Err(1));
        assert_eq!(Calendar::parse("holiday 2026-5-1").map_err(|e| e.0), Err(1));
        assert_eq!(Calendar::parse("holiday 2026-05-01\n\nworkday 2026-05-01").map_err(|e| e.0), Err(3));
    }

    #[test]
    fn list_lines() {
        let members = parse_list(" A1 \r\n# comment\n\nB2\nA1\n  # indented comment\n");
        assert_eq!(members, vec![SmolStr::from("A1"), SmolStr::from("B2")]);
    }
}
