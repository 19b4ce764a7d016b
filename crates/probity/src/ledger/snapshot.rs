//! Snapshots of a ledger's state, per RM, as versioned JSON, and their restore.
//!
//! Items name their policy by id and version (and duty or ladder by id), never by an index into
//! the policy set, and actions are kept as their canonical JSON and decoded again on restore:
//! a snapshot restores into a policy set with further versions (a later `effective`) and keeps
//! every RM's state.

use smol_str::SmolStr;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::{hash_text, Entry, Ledger, Recorded, RecordedDecision};
use crate::action::{Action, Decoded, InputError};
use crate::decide::periodic::Subject;
use crate::decide::restrict::Reaching;
use crate::eval::history::{BreachRecord, HistoryView, IndexedKeys, OpenObligation, RmHistory};
use crate::policy_set::PolicySet;
use crate::program::to_u32;

/// The version of the snapshot format this build writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// A whole ledger's state: every RM's, sorted by RM id, with the policy versions it was built
/// with. JSON through serde: `{"format": 1, "policies": [...], "rms": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The format version ([`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// The policy versions of the set the state was built with, by id then `effective`.
    pub policies: Vec<PolicyDigest>,
    /// Each RM's state, in ascending order of RM id (bytewise).
    pub rms: Vec<RmSnapshot>,
}

/// A policy version and the digest of its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDigest {
    /// The policy id.
    pub id: String,
    /// The version.
    pub version: String,
    /// `sha256:` and the hex digest of the file's bytes.
    pub digest: String,
}

/// One RM's state: what a restore needs to continue the RM as if the ledger had never
/// stopped. It carries its own format version, so that a store can keep it alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmSnapshot {
    format: u32,
    rm: String,
    /// The latest instant the RM has seen.
    clock: Option<DateTime<FixedOffset>>,
    /// The RM's first recorded action (periodic duties apply from then on).
    first: Option<DateTime<FixedOffset>>,
    /// Every periodic check due before this instant has run.
    checked: Option<DateTime<FixedOffset>>,
    /// The actions kept for windows, as their canonical JSON, each type's in time order.
    actions: Vec<RawJson>,
    /// The breaches kept, in time order.
    breaches: Vec<BreachState>,
    /// The open obligations (reported overdue ones included), in the order they were opened.
    obligations: Vec<ObligationState>,
    /// The restricting ladder steps reached, in the order of the records that reached them.
    reached: Vec<ReachingState>,
    /// The submissions kept for retries, by action id.
    recorded: Vec<RecordedState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BreachState {
    policy: String,
    rule: String,
    severity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ladder: Option<String>,
    points: i64,
    action: String,
    at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObligationState {
    policy: String,
    version: String,
    duty: String,
    /// The id of the action that started it.
    action: String,
    trigger: Trigger,
    due: DateTime<FixedOffset>,
    reported: bool,
}

/// The action that started an obligation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Trigger {
    /// One of the RM's kept actions, by its position in `actions`.
    Kept(usize),
    /// An action no window keeps, as its canonical JSON.
    Action(RawJson),
    /// Only its id is known (an obligation seeded without its action): at its deadline.
    Absent { at: DateTime<FixedOffset> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReachingState {
    policy: String,
    version: String,
    ladder: String,
    at: DateTime<FixedOffset>,
    points: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedState {
    action: String,
    /// `sha256:` and the hex of the action's canonical JSON's hash.
    hash: String,
    at: DateTime<FixedOffset>,
    expires: DateTime<FixedOffset>,
    decision: RawJson,
}

/// JSON kept as its text: an action's canonical JSON, a decision's JSON. A snapshot writes it
/// as it is and reads it without building a tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(super) struct RawJson(Arc<RawValue>);

impl RawJson {
    fn new(text: &str) -> Option<RawJson> {
        RawValue::from_string(text.to_string()).ok().map(|raw| RawJson(Arc::from(raw)))
    }

    fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.get() == other.get()
    }
}

/// The `format` of a snapshot's JSON, read before the rest so that a later format is named for
/// what it is rather than for its first unknown field.
#[derive(Deserialize)]
struct Format {
    format: Option<serde_json::Value>,
}

fn read_format(text: &str) -> Result<(), InputError> {
    let format = serde_json::from_str::<Format>(text)
        .map_err(|e| InputError::Snapshot(format!("not a snapshot: {e}")))?
        .format
        .ok_or_else(|| InputError::Snapshot("not a snapshot: it has no `format`".into()))?;
    check_format(format.as_u64())
        .map_err(|_| InputError::Snapshot(format!("format {format} is not one this version reads ({SNAPSHOT_FORMAT})")))
}

fn check_format(format: Option<u64>) -> Result<(), InputError> {
    match format {
        Some(f) if f == u64::from(SNAPSHOT_FORMAT) => Ok(()),
        Some(f) => Err(InputError::Snapshot(format!("format {f} is not one this version reads ({SNAPSHOT_FORMAT})"))),
        None => Err(InputError::Snapshot(format!("the format is not one this version reads ({SNAPSHOT_FORMAT})"))),
    }
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, InputError> {
    read_format(text)?;
    serde_json::from_str(text).map_err(|e| InputError::Snapshot(e.to_string()))
}

impl Snapshot {
    /// Reads a snapshot from its JSON text: I0013 for text that is not a snapshot or of another
    /// format version.
    pub fn from_json(text: &str) -> Result<Snapshot, InputError> {
        from_json(text)
    }

    /// The snapshot as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Snapshot {
    /// The snapshot with each recorded decision's JSON in the order a decision writes its
    /// members: for a snapshot that went through a JSON tree that sorts members (as a JSON
    /// request does), so that a retry's decision, and the next snapshot, read as before.
    pub fn with_decisions_in_order(mut self) -> Result<Snapshot, InputError> {
        for rm in &mut self.rms {
            for r in &mut rm.recorded {
                let decision: crate::Decision = serde_json::from_str(r.decision.get()).map_err(|e| {
                    InputError::Snapshot(format!("the recorded decision on action `{}`: {e}", r.action))
                })?;
                if let Some(text) = RawJson::new(&decision.to_json()) {
                    r.decision = text;
                }
            }
        }
        Ok(self)
    }
}

impl RmSnapshot {
    /// Reads one RM's snapshot from its JSON text (as [`Snapshot::from_json`]).
    pub fn from_json(text: &str) -> Result<RmSnapshot, InputError> {
        from_json(text)
    }

    /// The snapshot as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The RM's id.
    pub fn rm(&self) -> &str {
        &self.rm
    }

    /// The RM's clock: the latest instant it has seen.
    pub fn clock(&self) -> Option<DateTime<FixedOffset>> {
        self.clock
    }

    /// The number of open obligations, and of those how many were reported overdue.
    pub fn open_obligations(&self) -> (usize, usize) {
        (self.obligations.len(), self.obligations.iter().filter(|o| o.reported).count())
    }

    /// The number of restricting ladder steps reached that the state keeps.
    pub fn reached_count(&self) -> usize {
        self.reached.len()
    }

    /// The number of kept actions, breaches and recorded submissions.
    pub fn items(&self) -> (usize, usize, usize) {
        (self.actions.len(), self.breaches.len(), self.recorded.len())
    }

    /// The instant before which the RM's recorded submissions have all expired: the earliest
    /// expiry kept, or the clock when none is (a store drops its copies before it).
    pub fn recorded_from(&self) -> Option<DateTime<FixedOffset>> {
        self.recorded.iter().map(|r| r.expires).min().or(self.clock)
    }

    /// The state without its recorded submissions: what a store keeps per RM, beside the
    /// submissions it keeps one by one.
    pub fn without_recorded(mut self) -> RmSnapshot {
        self.recorded = Vec::new();
        self
    }

    /// Adds recorded submissions as a store gives them back (I0013 for a decision or hash that
    /// cannot be read); a restore keeps those that have not expired by the RM's clock.
    pub fn with_recorded(mut self, recorded: Vec<RecordedDecision>) -> Result<RmSnapshot, InputError> {
        for r in recorded {
            let unreadable = |e: String| {
                InputError::Snapshot(format!("the recorded decision on action `{}` of RM `{}`: {e}", r.action, self.rm))
            };
            #[derive(Deserialize)]
            struct At {
                at: String,
            }
            let at: At = serde_json::from_str(&r.decision).map_err(|e| unreadable(e.to_string()))?;
            let at = crate::action::parse_datetime(&at.at).map_err(|e| unreadable(e.to_string()))?;
            let decision = RawJson::new(&r.decision).ok_or_else(|| unreadable("not JSON".into()))?;
            self.recorded.push(RecordedState {
                action: r.action.to_string(),
                hash: r.hash,
                at,
                expires: r.expires,
                decision,
            });
        }
        Ok(self)
    }
}

impl Ledger {
    /// The state of one RM, if the ledger tracks it.
    pub fn snapshot_rm(&self, rm: &str) -> Option<RmSnapshot> {
        self.rms.get(rm).map(|entry| snapshot_entry(&self.set, rm, entry, true))
    }

    /// The whole ledger's state: every RM's, sorted by RM id, and the policy versions.
    pub fn snapshot(&self) -> Snapshot {
        let mut ids: Vec<&SmolStr> = self.rms.keys().collect();
        ids.sort_unstable();
        let rms = ids.into_iter().filter_map(|rm| self.snapshot_rm(rm)).collect();
        Snapshot { format: SNAPSHOT_FORMAT, policies: policy_digests(&self.set), rms }
    }

    /// Adds the RMs of a snapshot to the ledger, decoding their actions against this ledger's
    /// policy set. All or nothing: on an error the ledger is as it was. The snapshot's policy
    /// digests are not compared: its items name their policy versions, and each must be in the
    /// set (I0014).
    pub fn restore(&mut self, snapshot: Snapshot) -> Result<(), InputError> {
        check_format(Some(u64::from(snapshot.format)))?;
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for rm in &snapshot.rms {
            if !seen.insert(&rm.rm) {
                return Err(InputError::Snapshot(format!("RM `{}` appears twice", rm.rm)));
            }
        }
        self.restore_all(snapshot.rms)
    }

    /// Adds one RM's state to the ledger (as [`Ledger::restore`]).
    pub fn restore_rm(&mut self, snapshot: RmSnapshot) -> Result<(), InputError> {
        self.restore_all(vec![snapshot])
    }

    fn restore_all(&mut self, rms: Vec<RmSnapshot>) -> Result<(), InputError> {
        let mut seq = self.next_seq;
        let mut entries = Vec::with_capacity(rms.len());
        for rm in rms {
            if self.rms.contains_key(rm.rm.as_str()) {
                return Err(InputError::RmExists { rm: rm.rm });
            }
            let entry = restore_entry(&self.set, &self.keys, &rm, &mut seq)?;
            entries.push((SmolStr::from(rm.rm), entry));
        }
        self.rms.extend(entries);
        self.next_seq = seq;
        Ok(())
    }
}

/// The set's versions and digests ([`PolicySet::digests`]) as a snapshot names them.
pub(crate) fn policy_digests(set: &PolicySet) -> Vec<PolicyDigest> {
    set.digests()
        .map(|(id, version, digest)| PolicyDigest { id: id.into(), version: version.into(), digest: digest.into() })
        .collect()
}

/// The canonical JSON of a kept action.
fn source_value(d: &Decoded) -> Option<RawJson> {
    d.source.clone().map(RawJson)
}

/// One RM's state; `receipts` adds its recorded submissions (a store keeps them apart).
pub(super) fn snapshot_entry(set: &PolicySet, rm: &str, entry: &Entry, receipts: bool) -> RmSnapshot {
    let version = |index: u32| {
        set.policies
            .get(index as usize)
            .map_or((String::new(), String::new()), |p| (p.id.to_string(), p.version.to_string()))
    };
    let mut out = RmSnapshot {
        format: SNAPSHOT_FORMAT,
        rm: rm.to_string(),
        clock: entry.clock(),
        first: entry.subject.first,
        checked: entry.subject.checked,
        actions: Vec::new(),
        breaches: Vec::new(),
        obligations: Vec::new(),
        reached: Vec::new(),
        recorded: Vec::new(),
    };
    if let Some(history) = entry.history() {
        // Where each kept action is in `actions`, for the obligations it started.
        let mut kept: HashMap<*const Decoded, usize> = HashMap::new();
        for a in history.actions.iter().flat_map(|list| list.as_slice()) {
            let Some(json) = source_value(a) else { continue };
            kept.insert(Arc::as_ptr(a), out.actions.len());
            out.actions.push(json);
        }
        out.breaches = history
            .breaches()
            .iter()
            .map(|b| BreachState {
                policy: b.policy.to_string(),
                rule: b.rule.to_string(),
                severity: b.severity.to_string(),
                ladder: b.ladder.as_ref().map(SmolStr::to_string),
                points: b.points,
                action: b.action.to_string(),
                at: b.at,
            })
            .collect();
        for o in history.obligations.iter() {
            let (policy, version) = version(o.policy);
            let duty = set
                .policies
                .get(o.policy as usize)
                .and_then(|p| p.rules.get(o.rule as usize))
                .map_or(String::new(), |r| r.id.to_string());
            let trigger = match (kept.get(&Arc::as_ptr(&o.trigger)), source_value(&o.trigger)) {
                (Some(i), _) => Trigger::Kept(*i),
                (None, Some(json)) => Trigger::Action(json),
                (None, None) => Trigger::Absent { at: o.trigger.at },
            };
            out.obligations.push(ObligationState {
                policy,
                version,
                duty,
                action: o.trigger.id.to_string(),
                trigger,
                due: o.due,
                reported: o.reported,
            });
        }
        out.reached = history
            .reached
            .iter()
            .map(|r| {
                let (policy, version) = version(r.policy);
                let ladder = set
                    .policies
                    .get(r.policy as usize)
                    .and_then(|p| p.ladders.get(r.ladder as usize))
                    .map_or(String::new(), |l| l.id.to_string());
                ReachingState { policy, version, ladder, at: r.at, points: r.points }
            })
            .collect();
    }
    if !receipts {
        return out;
    }
    let mut recorded: Vec<(&SmolStr, &Recorded)> = entry.recorded.iter().collect();
    recorded.sort_unstable_by_key(|(id, _)| *id);
    out.recorded = recorded
        .into_iter()
        // A recorded decision is the JSON the ledger wrote: it always reads.
        .filter_map(|(id, r)| {
            Some(RecordedState {
                action: id.to_string(),
                hash: hash_text(&r.hash),
                at: r.at,
                expires: r.expires,
                decision: RawJson::new(&r.decision)?,
            })
        })
        .collect();
    out
}

/// Decodes a kept action of `rm` against the set, keeping its canonical JSON.
fn decode(set: &PolicySet, rm: &str, json: &RawJson, what: &str) -> Result<Arc<Decoded>, InputError> {
    let action =
        Action::from_json(json.get()).map_err(|e| InputError::Snapshot(format!("{what} of RM `{rm}`: {e}")))?;
    if action.rm() != rm {
        return Err(InputError::Snapshot(format!("{what} of RM `{rm}` is an action of RM `{}`", action.rm())));
    }
    let mut decoded =
        set.schema.decode(&action).map_err(|e| InputError::Snapshot(format!("{what} of RM `{rm}`: {e}")))?;
    // Canonical again: a snapshot that went through a JSON tree has its members in another order.
    decoded.source = Some(action.canonical_raw());
    Ok(Arc::new(decoded))
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix("sha256:")?;
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = hex.get(i.checked_mul(2)?..i.checked_mul(2)?.checked_add(2)?)?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

fn restore_entry(set: &PolicySet, keys: &IndexedKeys, snap: &RmSnapshot, seq: &mut u64) -> Result<Entry, InputError> {
    check_format(Some(u64::from(snap.format)))?;
    let rm = snap.rm.as_str();
    if rm.is_empty() {
        return Err(InputError::Snapshot("an RM with an empty id".into()));
    }
    let unknown = |what: String, policy: &str, version: &str, detail: String| {
        InputError::UnknownVersion(format!(
            "the snapshot's {what} of RM `{rm}` belongs to policy `{policy}` version `{version}`{detail}, which the policy set does not have"
        ))
    };
    let policy_index =
        |policy: &str, version: &str| set.policies.iter().position(|p| *p.id == *policy && *p.version == *version);
    let mut history = RmHistory::default();
    history.clock = snap.clock;
    let mut decoded: Vec<Arc<Decoded>> = Vec::with_capacity(snap.actions.len());
    for (i, json) in snap.actions.iter().enumerate() {
        let d = decode(set, rm, json, &format!("action {i}"))?;
        decoded.push(Arc::clone(&d));
        // Only the types some window reads are kept, as a submission keeps them.
        if d.type_id.and_then(|t| set.action_retention.get(t as usize).copied().flatten()).is_some() {
            history.record_action(d, keys);
        }
    }
    for b in &snap.breaches {
        if b.points < 0 {
            return Err(InputError::Snapshot(format!("a breach of RM `{rm}` has negative points ({})", b.points)));
        }
        let breach = BreachRecord {
            policy: b.policy.as_str().into(),
            rule: b.rule.as_str().into(),
            severity: b.severity.as_str().into(),
            ladder: b.ladder.as_deref().map(SmolStr::from),
            ladder_key: b.ladder.as_deref().and_then(|l| set.ladder_key(&b.policy, l)),
            points: b.points,
            action: b.action.as_str().into(),
            at: b.at,
        };
        history.record_breach(breach, keys);
    }
    for r in &snap.reached {
        let what = || format!("restriction reached at {}", r.at.to_rfc3339());
        let Some(pi) = policy_index(&r.policy, &r.version) else {
            return Err(unknown(what(), &r.policy, &r.version, String::new()));
        };
        let ladder = set.policies.get(pi).and_then(|p| p.ladders.iter().position(|l| *l.id == *r.ladder));
        let Some(li) = ladder else {
            return Err(unknown(what(), &r.policy, &r.version, format!(" (ladder `{}`)", r.ladder)));
        };
        history.reached.push(Reaching { policy: to_u32(pi), ladder: to_u32(li), at: r.at, points: r.points });
    }
    for o in &snap.obligations {
        let what = || format!("obligation of action `{}`", o.action);
        let Some(pi) = policy_index(&o.policy, &o.version) else {
            return Err(unknown(what(), &o.policy, &o.version, String::new()));
        };
        let rule = set
            .policies
            .get(pi)
            .and_then(|p| p.rules.iter().enumerate().find(|(_, r)| *r.id == *o.duty && r.deadline.is_some()));
        let Some((ri, rule)) = rule else {
            return Err(unknown(what(), &o.policy, &o.version, format!(" (duty `{}`)", o.duty)));
        };
        let trigger = match &o.trigger {
            Trigger::Kept(i) => decoded.get(*i).cloned().ok_or_else(|| {
                InputError::Snapshot(format!("{} of RM `{rm}` names kept action {i}, of {}", what(), decoded.len()))
            })?,
            Trigger::Action(json) => decode(set, rm, json, &what())?,
            Trigger::Absent { at } => Arc::new(Decoded {
                type_id: None,
                id: o.action.as_str().into(),
                at: *at,
                rm: rm.into(),
                slots: Box::new([]),
                source: None,
            }),
        };
        if *trigger.id != *o.action {
            return Err(InputError::Snapshot(format!("{} of RM `{rm}` names action `{}`", what(), trigger.id)));
        }
        let body = rule.bodies.iter().position(|b| Some(b.action_type) == trigger.type_id).unwrap_or(0);
        let open = OpenObligation {
            policy: to_u32(pi),
            rule: to_u32(ri),
            body: to_u32(body),
            trigger,
            due: o.due,
            reported: o.reported,
            seq: *seq,
        };
        *seq = seq.saturating_add(1);
        history.obligations.insert(set, open);
    }
    let mut entry = Entry {
        clock: snap.clock,
        history: Some(Box::new(history)),
        subject: Subject { first: snap.first, checked: snap.checked },
        ..Entry::default()
    };
    for r in &snap.recorded {
        let hash = parse_hash(&r.hash).ok_or_else(|| {
            InputError::Snapshot(format!("recorded action `{}` of RM `{rm}` has no valid hash", r.action))
        })?;
        let recorded = Recorded { hash, at: r.at, expires: r.expires, decision: r.decision.get().to_string() };
        entry.record(r.action.as_str().into(), recorded, false);
    }
    entry.settle();
    Ok(entry)
}
