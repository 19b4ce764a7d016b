//! A seeded, realistic stream of relationship-manager actions for the `cn_wealth_sales` policies
//! (`policies/cn`), with known violations injected at a given rate: the library behind
//! `probity generate` and the Python binding's `probity.generate`.
//!
//! The vocabulary: product sales with their suitability data, risk assessments, gifts and their registrations, loan approvals (some to the RM's related
//! parties, after a conflict waiver), fund transfers, complaints with their forwarding, handler,
//! first contact and decision, calls (marketing, service, cooling-off call-backs, complaint
//! follow-ups), training and mandatory leave. Each line is one action of `policies/cn`, in time
//! order, with a `+08:00` offset and every declared `rm` field.
//!
//! The signals are those the systems of record have, never a confession: a risk assessment
//! carries its channel, the login (`operator_id`) and the device it came from, and the RM record
//! lists the RM's registered work devices; a call carries the staff id of whoever made it (the
//! call centre's agent for a cooling-off call-back). So the background holds what a careless
//! rule would flag and the policy does not: assessments keyed in by the RM on the branch terminal
//! (the customer present and signing), calls made by the RM, customers re-assessed twice in a
//! few days.
//!
//! The background is compliant with every rule a [`Violation`] maps to, so that each injected
//! violation is exactly what makes its rule fire: suitable products only, assessments renewed
//! before they expire, recorded in-branch sales, full disclosures, gifts registered within 30 days,
//! complaints forwarded in time, compliance waivers before related-party credit, and so on. Rules
//! that are warnings or reviews rather than violations (large sales, elderly customers buying
//! R4–R5, customer-initiated purchases with a signed warning, large gifts, repeat complaints,
//! heightened supervision, …) fire naturally and are not injected.
//!
//! Injection: every activity (a sale, a gift, a loan, a call, …) is, with probability `R × p/p̄`,
//! replaced by one violation, chosen uniformly among the [`Violation`] kinds that apply to the RM
//! that day (`p` is the RM's propensity — most RMs are careful, a few careless — and `p̄` its mean,
//! so `R` is the average rate per activity). The injected action's id and kind can be written to a
//! labels file, one JSON object per line: `{"id", "kind", "rule", "policy"}`. For the duties checked
//! after the fact (`gift_register`, `cooling_off_callback`, `complaint_forward`,
//! `urgent_complaint_forward`), the finding is in the overdue report whose `obligation.action` is
//! the labelled id; it is reported once the RM's clock passes the deadline (replay with `--as-of`
//! after the last event to see them all).
//!
//! Follow-ups of the last days (registrations, call-backs, forwardings) are written after the last
//! day, so every duty the stream starts is met unless a violation was injected.
//!
//! Determinism: ChaCha8 seeded with `--seed`, no clock, no hash-map iteration: the same arguments
//! give the same bytes on every platform.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{Datelike, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The policy id every violation kind belongs to.
pub const POLICY: &str = "cn_wealth_sales";

/// The date version 2026.1 of `cn_wealth_sales` takes effect (its new rule
/// `assessment_upgrade_before_sale` is injected only from then on).
pub const VERSION_2026: (i32, u32, u32) = (2026, 2, 1);

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    /// Relationship managers.
    pub rms: u32,
    /// Days simulated, starting at `start`.
    pub days: u32,
    /// The PRNG seed.
    pub seed: u64,
    /// The average probability that an activity carries one injected violation.
    pub violation_rate: f64,
    /// The first day (Beijing time).
    pub start: NaiveDate,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            rms: 50,
            days: 180,
            seed: 2026,
            violation_rate: 0.02,
            start: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap_or_default(),
        }
    }
}

impl Config {
    /// Checks the ranges the generator supports.
    pub fn validate(&self) -> Result<(), String> {
        if self.rms == 0 || self.rms > 1_000_000 {
            return Err(format!("--rms {} is out of range (1 to 1,000,000)", self.rms));
        }
        if self.days == 0 || self.days > 36_500 {
            return Err(format!("--days {} is out of range (1 to 36,500)", self.days));
        }
        if !(0.0..=1.0).contains(&self.violation_rate) {
            return Err(format!("--violation-rate {} is out of range (0 to 1)", self.violation_rate));
        }
        if !(2000..=2100).contains(&self.start.year()) {
            return Err(format!("--start {} is out of range (years 2000 to 2100)", self.start));
        }
        Ok(())
    }
}

macro_rules! violations {
    ($($variant:ident, $name:literal, $rule:literal, $action:literal, $what:literal;)*) => {
        /// A kind of violation the generator injects, and the rule of `cn_wealth_sales` it must
        /// trigger.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Violation {
            $(#[doc = $what] $variant,)*
        }

        impl Violation {
            /// Every kind, in documentation order.
            pub const ALL: &'static [Violation] = &[$(Violation::$variant,)*];

            /// The kind's name, as written in the labels file.
            pub fn name(self) -> &'static str {
                match self { $(Violation::$variant => $name,)* }
            }

            /// The rule, conflict or duty of `cn_wealth_sales` it triggers.
            pub fn rule(self) -> &'static str {
                match self { $(Violation::$variant => $rule,)* }
            }

            /// The action type the labelled action has.
            pub fn action(self) -> &'static str {
                match self { $(Violation::$variant => $action,)* }
            }

            /// What is injected.
            pub fn description(self) -> &'static str {
                match self { $(Violation::$variant => $what,)* }
            }
        }
    };
}

violations! {
    UnsuitableWealthSale, "unsuitable_wealth_sale", "suitability_wealth", "product_sale",
        "A bank or wealth-company product riskier than the customer's tolerance.";
    UnsuitableAgencySale, "unsuitable_agency_sale", "suitability_agency", "product_sale",
        "A fund riskier than the customer's tolerance, without a signed special warning.";
    UnsuitableInsuranceSale, "unsuitable_insurance_sale", "suitability_insurance", "product_sale",
        "An insurance product riskier than the customer's tolerance, even one the customer insisted on and signed a warning for.";
    NoRiskAssessment, "no_risk_assessment", "risk_assessment_on_file", "product_sale",
        "A sale to a new customer who was never risk-assessed.";
    ExpiredRiskAssessment, "expired_risk_assessment", "risk_assessment_expired", "product_sale",
        "A sale on a risk assessment more than a year old.";
    UpgradeBeforeSale, "upgrade_before_sale", "assessment_upgrade_before_sale", "product_sale",
        "A risk re-assessment upwards, then the riskier product within 3 days (2026.1 only).";
    PrivateUnqualifiedInvestor, "private_unqualified_investor", "qualified_investor", "product_sale",
        "A private product sold to a customer who is not a qualified investor.";
    PrivateBelowMinimum, "private_below_minimum", "private_minimum", "product_sale",
        "A private product below the minimum investment of its asset class.";
    NoCoolingOffPeriod, "no_cooling_off_period", "cooling_off_period", "product_sale",
        "A private product without a cooling-off period of at least 24 hours.";
    NoCoolingOffCallback, "no_cooling_off_callback", "cooling_off_callback", "product_sale",
        "A private sale whose customer is never called back after the cooling-off period, or too late (overdue).";
    SellerCallback, "seller_callback", "cooling_off_callback", "product_sale",
        "A private sale whose only call-back is made by the RM who sold it, whose staff id the call record carries (overdue).";
    UnapprovedProduct, "unapproved_product", "unapproved_product", "product_sale",
        "A product that is not on the bank's shelf (飞单).";
    SuspendedProduct, "suspended_product", "suspended_product", "product_sale",
        "A product suspended from sale.";
    UnqualifiedRm, "unqualified_rm", "rm_qualification", "product_sale",
        "A fund or insurance sale by an RM without the qualification.";
    NoDualRecording, "no_dual_recording", "dual_recording", "product_sale",
        "An in-branch sale to an individual without an audio-video recording (双录).";
    MissingDisclosures, "missing_disclosures", "sale_disclosures", "product_sale",
        "A sale without the acknowledged product manual or risk disclosure.";
    NoInvestorRightsNotice, "no_investor_rights_notice", "investor_rights_notice", "product_sale",
        "A wealth-company product without the investor-rights notice.";
    SplitLargeSale, "split_large_sale", "split_large_sale", "product_sale",
        "A ticket of CNY 5m or more split into two same-day sales (the second is labelled).";
    RelatedPartySale, "related_party_sale", "related_party_sale", "product_sale",
        "A sale to the RM's related party without a compliance waiver.";
    ProxyAssessment, "proxy_assessment", "proxy_assessment", "risk_assessment",
        "A self-service risk assessment sent from one of the RM's registered work devices (代客测评).";
    RepeatedAssessment, "repeated_assessment", "repeated_assessment", "risk_assessment",
        "A second risk assessment of one customer within hours (the second is labelled).";
    CashGift, "cash_gift", "cash_gift", "gift_received",
        "Cash, a red packet, a prepaid card or securities accepted as a gift.";
    GiftPendingDecision, "gift_pending_decision", "gift_pending_decision", "gift_received",
        "A gift from a customer with a decision pending before the RM.";
    GiftNotRegistered, "gift_not_registered", "gift_register", "gift_received",
        "A gift of CNY 200 or more registered late or never (overdue).";
    GiftUnderdeclared, "gift_underdeclared", "gift_underdeclared", "gift_registered",
        "A gift registered below its recorded value (the registration is labelled).";
    PrivateLending, "private_lending", "private_lending", "staff_fund_transfer",
        "A loan to or from a customer, or its repayment.";
    RelatedPartyCredit, "related_party_credit", "related_party_credit", "loan_approval",
        "Credit approved by the RM for a related party without a compliance waiver.";
    RelatedPartyUnsecured, "related_party_unsecured", "related_party_unsecured", "loan_approval",
        "Unsecured credit to a related party (after a waiver).";
    OverAuthority, "over_authority", "approval_authority", "loan_approval",
        "Credit above the RM's delegated authority.";
    WaiverNotByCompliance, "waiver_not_by_compliance", "waiver_authority", "conflict_waiver",
        "A conflict waiver approved by the branch manager instead of compliance.";
    ComplaintNotForwarded, "complaint_not_forwarded", "complaint_forward", "complaint_received",
        "A complaint forwarded after 24 hours, or never (overdue).";
    UrgentComplaintNotForwarded, "urgent_complaint_not_forwarded", "urgent_complaint_forward", "complaint_received",
        "A regulator or media complaint forwarded after 2 hours, or never (overdue).";
    MarketingCallOutOfHours, "marketing_call_out_of_hours", "contact_hours", "customer_call",
        "A marketing call before 08:00 or after 21:00.";
    MarketingCallOptedOut, "marketing_call_opted_out", "do_not_call", "customer_call",
        "A marketing call to a customer who declined marketing.";
    UnrecordedCall, "unrecorded_call", "recorded_line", "customer_call",
        "A marketing call on an unrecorded line.";
}

impl Violation {
    /// The kind whose name is `name`.
    pub fn from_name(name: &str) -> Option<Violation> {
        Violation::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// Whether the rule's finding comes in an overdue report (a duty checked after the fact).
    pub fn is_overdue(self) -> bool {
        matches!(
            self,
            Violation::NoCoolingOffCallback
                | Violation::SellerCallback
                | Violation::GiftNotRegistered
                | Violation::ComplaintNotForwarded
                | Violation::UrgentComplaintNotForwarded
        )
    }

    fn index(self) -> usize {
        Violation::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// What a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Actions written.
    pub events: u64,
    /// Injected violations per kind, in [`Violation::ALL`] order.
    pub injected: Vec<u64>,
    /// The first and the last timestamp written.
    pub first: Option<String>,
    /// The last timestamp written.
    pub last: Option<String>,
}

impl Stats {
    /// Injected violations of a kind.
    pub fn injected(&self, kind: Violation) -> u64 {
        self.injected.get(kind.index()).copied().unwrap_or(0)
    }

    /// All injected violations.
    pub fn total_injected(&self) -> u64 {
        self.injected.iter().sum()
    }

    /// `{"events", "first", "last", "injected": {kind: count}}`, the summary the bindings give.
    pub fn to_json(&self) -> serde_json::Value {
        let injected: serde_json::Map<String, serde_json::Value> =
            Violation::ALL.iter().map(|kind| (kind.name().to_owned(), self.injected(*kind).into())).collect();
        serde_json::json!({"events": self.events, "first": self.first, "last": self.last, "injected": injected})
    }

    /// A short text table for standard error.
    pub fn table(&self) -> String {
        let mut out = format!(
            "wrote {} events ({} to {}), {} injected violations\n",
            self.events,
            self.first.as_deref().unwrap_or("-"),
            self.last.as_deref().unwrap_or("-"),
            self.total_injected()
        );
        for kind in Violation::ALL {
            let _ = writeln!(out, "  {:32} → {:32} {:>7}", kind.name(), kind.rule(), self.injected(*kind));
        }
        out
    }
}

// ------------------------------------------------------------------ the world

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const MINUTE: i64 = 60;
/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_CE: i64 = 719_163;

const CITIES: &[(&str, &[&str])] = &[
    ("SH", &["Lujiazui", "Xuhui", "Jingan", "Hongqiao"]),
    ("BJ", &["Guomao", "Zhongguancun", "Xidan"]),
    ("SZ", &["Futian", "Nanshan"]),
    ("HZ", &["Qianjiang", "Wulin"]),
    ("NJ", &["Xinjiekou"]),
    ("CD", &["Tianfu", "Chunxi"]),
];

/// A product on the bank's shelf.
struct Product {
    id: &'static str,
    kind: &'static str,
    private: bool,
    asset: &'static str,
    issuer: i64,
    bank: i64,
}

impl Product {
    fn level(&self) -> i64 {
        self.issuer.max(self.bank)
    }
    fn wealth(&self) -> bool {
        matches!(self.kind, "bank_wealth" | "wm_company" | "trust_plan")
    }
    /// Funds: under the CSRC suitability measures, with their customer-initiated exception.
    fn fund(&self) -> bool {
        matches!(self.kind, "mutual_fund" | "private_fund")
    }
    /// The private-product minimum of its asset class (资管新规 第五条), in CNY.
    fn minimum(&self) -> i64 {
        match self.asset {
            "cash_management" | "fixed_income" => 300_000,
            "mixed" => 400_000,
            _ => 1_000_000,
        }
    }
}

macro_rules! products {
    ($(($id:literal, $kind:literal, $private:literal, $asset:literal, $issuer:literal, $bank:literal),)*) => {
        &[$(Product { id: $id, kind: $kind, private: $private, asset: $asset, issuer: $issuer, bank: $bank },)*]
    };
}

const PRODUCTS: &[Product] = products![
    ("BW-CM-0001", "bank_wealth", false, "cash_management", 1, 1),
    ("BW-FI-2025-041", "bank_wealth", false, "fixed_income", 2, 2),
    ("BW-FI-2025-044", "bank_wealth", false, "fixed_income", 2, 2),
    ("BW-FI-2026-018", "bank_wealth", false, "fixed_income", 2, 3),
    ("BW-MX-0107", "bank_wealth", false, "mixed", 3, 3),
    ("BW-EQ-0201", "bank_wealth", false, "equity", 4, 4),
    ("WM-CM-0010", "wm_company", false, "cash_management", 1, 1),
    ("WM-FI-0077", "wm_company", false, "fixed_income", 2, 2),
    ("WM-FI-0078", "wm_company", false, "fixed_income", 2, 2),
    ("WM-MX-0033", "wm_company", false, "mixed", 3, 4),
    ("WM-MX-0034", "wm_company", false, "mixed", 3, 3),
    ("WM-EQ-2026-002", "wm_company", false, "equity", 4, 4),
    ("MF-MM-0001", "mutual_fund", false, "cash_management", 1, 1),
    ("MF-FI-0102", "mutual_fund", false, "fixed_income", 2, 2),
    ("MF-FI-0103", "mutual_fund", false, "fixed_income", 2, 2),
    ("MF-MX-0201", "mutual_fund", false, "mixed", 3, 3),
    ("MF-MX-0202", "mutual_fund", false, "mixed", 3, 4),
    ("MF-EQ-0301", "mutual_fund", false, "equity", 4, 4),
    ("MF-EQ-0302", "mutual_fund", false, "equity", 4, 5),
    ("MF-CD-0401", "mutual_fund", false, "commodity_derivative", 5, 5),
    ("IN-AN-0011", "insurance", false, "fixed_income", 1, 2),
    ("IN-UL-0012", "insurance", false, "fixed_income", 2, 2),
    ("IN-IL-0013", "insurance", false, "equity", 4, 4),
    ("BW-PFI-0005", "bank_wealth", true, "fixed_income", 3, 3),
    ("WM-PMX-0006", "wm_company", true, "mixed", 4, 4),
    ("TR-FI-0011", "trust_plan", true, "fixed_income", 3, 4),
    ("PF-EQ-0009", "private_fund", true, "equity", 5, 5),
    ("PF-CD-0010", "private_fund", true, "commodity_derivative", 5, 5),
];

/// Suspended from sale for the whole stream: never sold but by injection.
const SUSPENDED: &str = "BW-FI-2025-044";

const SUPPLIERS: &[&str] = &["ACME-Insurance", "Huaxia-Fund-Sales", "Everbright-Trust"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Segment {
    Retail,
    Affluent,
    PrivateBanking,
    Corporate,
}

impl Segment {
    fn as_str(self) -> &'static str {
        match self {
            Segment::Retail => "retail",
            Segment::Affluent => "affluent",
            Segment::PrivateBanking => "private_banking",
            Segment::Corporate => "corporate",
        }
    }
    fn individual(self) -> bool {
        self != Segment::Corporate
    }
    fn wealthy(self) -> bool {
        matches!(self, Segment::PrivateBanking | Segment::Corporate)
    }
}

struct Customer {
    id: String,
    birth: Option<NaiveDate>,
    level: i64,
    assessed: Option<NaiveDate>,
    segment: Segment,
    qualified: bool,
    opted_out: bool,
    /// The last risk assessment in the stream (local seconds; `i64::MIN`: none).
    last_assessment: i64,
    /// After an upward re-assessment: until when sales stay at or below the level before it,
    /// so that `assessment_upgrade_before_sale` fires only when injected.
    cap: Option<(i64, i64)>,
    /// Recent sales `(at, product)`, so that no product is sold twice to one customer within a
    /// day (`split_large_sale` fires only when injected).
    recent: Vec<(i64, usize)>,
    /// The last private sale, and until when no private sale may happen (a call-back meant for
    /// one sale would meet another's duty).
    last_private: i64,
    private_block: i64,
}

impl Customer {
    fn cap_at(&self, now: i64) -> i64 {
        match self.cap {
            Some((until, cap)) if now < until => cap.min(self.level),
            _ => self.level,
        }
    }
    fn sold_recently(&self, product: usize, now: i64) -> bool {
        self.recent.iter().any(|(at, p)| *p == product && now.saturating_sub(*at) < DAY.saturating_add(6 * HOUR))
    }
    fn private_allowed(&self, now: i64) -> bool {
        now >= self.private_block && now.saturating_sub(self.last_private) > 6 * DAY
    }
    fn needs_renewal(&self, today: NaiveDate) -> bool {
        match self.assessed {
            None => true,
            Some(d) => today.signed_duration_since(d).num_days() > 330,
        }
    }
    fn raise_cap(&mut self, now: i64, previous: i64) {
        let until = now.saturating_add(4 * DAY);
        self.cap = Some(match self.cap {
            Some((u, c)) if now < u => (u.max(until), c.min(previous)),
            _ => (until, previous),
        });
    }
}

#[derive(Clone, Copy)]
enum Grade {
    Junior,
    Intermediate,
    Senior,
    Director,
}

impl Grade {
    fn as_str(self) -> &'static str {
        match self {
            Grade::Junior => "junior",
            Grade::Intermediate => "intermediate",
            Grade::Senior => "senior",
            Grade::Director => "director",
        }
    }
    /// The delegated credit authority, in CNY.
    fn authority(self) -> i64 {
        match self {
            Grade::Junior => 3_000_000,
            Grade::Intermediate => 10_000_000,
            Grade::Senior | Grade::Director => 30_000_000,
        }
    }
}

struct Rm {
    id: String,
    /// The RM's registered work devices (the bank's device registry), also in `json`.
    devices: [String; 2],
    /// The branch terminal the RM keys assisted assessments in on.
    terminal: String,
    json: String,
    grade: Grade,
    fund: bool,
    insurance: bool,
    /// Propensity to misconduct.
    risk: f64,
    customers: Vec<Customer>,
    related_customer: Option<usize>,
    /// A relative's company: credit after a compliance waiver.
    related_borrower: String,
    /// Another related party that compliance never waived.
    hidden_borrower: String,
    borrowers: Vec<String>,
    /// The last compliance waiver for `related_borrower`.
    waiver_at: i64,
}

impl Rm {
    fn qualified_for(&self, p: &Product) -> bool {
        match p.kind {
            "mutual_fund" | "private_fund" => self.fund,
            "insurance" => self.insurance,
            _ => true,
        }
    }
}

/// The day being simulated.
struct Day {
    date: NaiveDate,
    start: i64,
    activity: f64,
    gifts: f64,
    v2026: bool,
}

/// Spring Festival (春节) dates: activity drops in its holiday week, gifts peak before it.
const SPRING_FESTIVALS: &[(i32, u32, u32)] = &[
    (2024, 2, 10),
    (2025, 1, 29),
    (2026, 2, 17),
    (2027, 2, 6),
    (2028, 1, 26),
    (2029, 2, 13),
    (2030, 2, 3),
    (2031, 1, 23),
    (2032, 2, 11),
    (2033, 1, 31),
    (2034, 2, 19),
    (2035, 2, 8),
];

fn factors(date: NaiveDate) -> (f64, f64) {
    let mut activity = match date.weekday() {
        Weekday::Sat => 0.2,
        Weekday::Sun => 0.05,
        _ => 1.0,
    };
    let mut gifts = 1.0;
    for (y, m, d) in SPRING_FESTIVALS {
        if let Some(festival) = NaiveDate::from_ymd_opt(*y, *m, *d) {
            let to = festival.signed_duration_since(date).num_days();
            if (-6..=2).contains(&to) {
                activity = 0.15;
            } else if (3..=21).contains(&to) {
                gifts = 3.0;
            }
        }
    }
    (activity, gifts)
}

fn local_seconds(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()).saturating_sub(UNIX_EPOCH_CE).saturating_mul(DAY)
}

/// RFC 3339 with the `+08:00` offset, from seconds since 1970-01-01T00:00 Beijing time.
fn stamp(local: i64) -> String {
    let days = local.div_euclid(DAY);
    let secs = local.rem_euclid(DAY);
    let date = i32::try_from(days.saturating_add(UNIX_EPOCH_CE))
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or_default();
    format!("{date}T{:02}:{:02}:{:02}+08:00", secs / HOUR, (secs % HOUR) / MINUTE, secs % MINUTE)
}

fn date_of(local: i64) -> NaiveDate {
    i32::try_from(local.div_euclid(DAY).saturating_add(UNIX_EPOCH_CE))
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .unwrap_or_default()
}

fn hour_of(local: i64) -> i64 {
    local.rem_euclid(DAY) / HOUR
}

/// One action's JSON, written field by field (faster than building a `serde_json::Value`).
/// The id is given when the line is written, so that ids follow time order; `body` is what
/// follows the id, `reference` where another action's id goes (`gift`, `complaint`).
struct Line {
    body: String,
    kind: &'static str,
    prefix: Prefix,
    temp: u64,
    reference: Option<(usize, u64)>,
}

fn push_text(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Line {
    fn key(&mut self, key: &str) {
        self.body.push_str(",\"");
        self.body.push_str(key);
        self.body.push_str("\":");
    }
    fn text(&mut self, key: &str, value: &str) -> &mut Line {
        self.key(key);
        push_text(&mut self.body, value);
        self
    }
    fn int(&mut self, key: &str, value: i64) -> &mut Line {
        self.key(key);
        let _ = write!(self.body, "{value}");
        self
    }
    fn boolean(&mut self, key: &str, value: bool) -> &mut Line {
        self.key(key);
        self.body.push_str(if value { "true" } else { "false" });
        self
    }
    fn money(&mut self, key: &str, yuan: i64) -> &mut Line {
        self.key(key);
        let _ = write!(self.body, "\"{yuan}.00 CNY\"");
        self
    }
    fn texts(&mut self, key: &str, values: &[&str]) -> &mut Line {
        self.key(key);
        self.body.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.body.push(',');
            }
            push_text(&mut self.body, v);
        }
        self.body.push(']');
        self
    }
    fn reference(&mut self, key: &str, temp: u64) -> &mut Line {
        self.key(key);
        self.body.push('"');
        self.reference = Some((self.body.len(), temp));
        self.body.push('"');
        self
    }
    fn raw(&mut self, key: &str, json: &str) -> &mut Line {
        self.key(key);
        self.body.push_str(json);
        self
    }
}

fn customer_json(c: &Customer, assessed: Option<NaiveDate>) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("{\"id\":");
    push_text(&mut out, &c.id);
    if let Some(b) = c.birth {
        let _ = write!(out, ",\"birth_date\":\"{b}\"");
    }
    let _ = write!(out, ",\"risk_level\":{}", c.level);
    if let Some(a) = assessed {
        let _ = write!(out, ",\"risk_assessed_on\":\"{a}\"");
    }
    let _ = write!(out, ",\"segment\":\"{}\",\"qualified_investor\":{}}}", c.segment.as_str(), c.qualified);
    out
}

#[derive(Clone, Copy)]
enum Prefix {
    Sale,
    Assessment,
    Gift,
    Registration,
    Loan,
    Waiver,
    Transfer,
    Complaint,
    Forward,
    Call,
    Training,
    Handling,
    Leave,
}

impl Prefix {
    fn as_str(self) -> &'static str {
        match self {
            Prefix::Sale => "S",
            Prefix::Assessment => "RA",
            Prefix::Gift => "G",
            Prefix::Registration => "GR",
            Prefix::Loan => "L",
            Prefix::Waiver => "W",
            Prefix::Transfer => "T",
            Prefix::Complaint => "Q",
            Prefix::Forward => "QF",
            Prefix::Call => "K",
            Prefix::Training => "TR",
            Prefix::Handling => "QH",
            Prefix::Leave => "LV",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// The random source, the pending events and the counters.
struct World {
    rng: ChaCha8Rng,
    /// Events not yet written, written in time order.
    pending: BinaryHeap<Reverse<Pending>>,
    sequence: u64,
    ids: [u64; 13],
    /// Pending actions another action refers to, with their final id once written.
    /// For each, the lines still to be written that refer to it.
    referenced: HashMap<u64, (Option<String>, u32)>,
    customer_seq: u64,
    borrower_seq: u64,
    rate: f64,
    injected: Vec<u64>,
    labels: HashMap<u64, Violation>,
}

/// An action waiting to be written; ordered by time, then by creation.
struct Pending {
    at: i64,
    sequence: u64,
    line: Line,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Pending) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Pending) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Pending) -> std::cmp::Ordering {
        (self.at, self.sequence).cmp(&(other.at, other.sequence))
    }
}

/// The mean propensity of the RM population, so that the configured rate is the average.
const MEAN_RISK: f64 = 0.1 * 0.6 + 0.6 * 0.3 + 2.5 * 0.1;

impl World {
    fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// An integer in `lo..=hi` (`lo` when the range is empty).
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..=hi)
        }
    }
    fn index(&mut self, len: usize) -> usize {
        if len <= 1 {
            0
        } else {
            self.rng.random_range(0..len)
        }
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn lognormal(&mut self, mu: f64, sigma: f64) -> f64 {
        // Box–Muller.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (mu + sigma * z).exp()
    }
    fn weighted<T: Copy>(&mut self, options: &[(T, u32)]) -> Option<T> {
        let total: u32 = options.iter().map(|(_, w)| *w).fold(0, u32::saturating_add);
        let mut r = self.int(0, i64::from(total).saturating_sub(1));
        for (value, w) in options {
            r = r.saturating_sub(i64::from(*w));
            if r < 0 {
                return Some(*value);
            }
        }
        options.last().map(|(v, _)| *v)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.index(items.len());
        items.get(i)
    }
    /// A moment of the day between two local hours.
    fn at(&mut self, day: &Day, from_hour: f64, to_hour: f64) -> i64 {
        let from = (from_hour * 3600.0) as i64;
        let to = (to_hour * 3600.0) as i64;
        day.start.saturating_add(self.int(from, to.saturating_sub(1)))
    }
    /// Moves a moment outside 08:30–20:00 to the next morning (or to this morning, if early).
    fn office_hours(&mut self, t: i64) -> i64 {
        let midnight = t.saturating_sub(t.rem_euclid(DAY));
        let of_day = t.rem_euclid(DAY);
        let morning = 8 * HOUR + 30 * MINUTE;
        if of_day < morning {
            midnight.saturating_add(morning).saturating_add(self.int(0, 9_000))
        } else if of_day >= 20 * HOUR {
            midnight.saturating_add(DAY).saturating_add(morning).saturating_add(self.int(0, 9_000))
        } else {
            t
        }
    }

    fn next_id(&mut self, prefix: Prefix) -> String {
        let n = self.ids.get_mut(prefix.index()).map(|n| {
            *n = n.saturating_add(1);
            *n
        });
        format!("{}-{:07}", prefix.as_str(), n.unwrap_or(0))
    }

    /// Starts an action's line: `at` and `rm` (`type` and `id` are written with it). Returns the
    /// line and its temporary id.
    fn start(&mut self, rm: &Rm, kind: &'static str, prefix: Prefix, at: i64) -> (Line, u64) {
        self.sequence = self.sequence.saturating_add(1);
        let temp = self.sequence;
        let mut body = String::with_capacity(512);
        body.push_str(",\"at\":\"");
        body.push_str(&stamp(at));
        body.push_str("\",\"rm\":");
        body.push_str(&rm.json);
        (Line { body, kind, prefix, temp, reference: None }, temp)
    }

    fn push(&mut self, at: i64, line: Line) {
        if let Some((_, temp)) = line.reference {
            let entry = self.referenced.entry(temp).or_insert((None, 0));
            entry.1 = entry.1.saturating_add(1);
        }
        self.sequence = self.sequence.saturating_add(1);
        self.pending.push(Reverse(Pending { at, sequence: self.sequence, line }));
    }

    fn label(&mut self, temp: u64, kind: Violation) {
        if let Some(n) = self.injected.get_mut(kind.index()) {
            *n = n.saturating_add(1);
        }
        self.labels.insert(temp, kind);
    }

    fn new_customer_id(&mut self) -> String {
        self.customer_seq = self.customer_seq.saturating_add(self.int(1, 37).unsigned_abs());
        format!("C{}", self.customer_seq)
    }

    fn new_borrower_id(&mut self) -> String {
        self.borrower_seq = self.borrower_seq.saturating_add(self.int(1, 53).unsigned_abs());
        format!("B{}", self.borrower_seq)
    }
}

fn make_customer(w: &mut World, start: NaiveDate) -> Customer {
    let id = w.new_customer_id();
    let segment = w
        .weighted(&[
            (Segment::Retail, 50),
            (Segment::Affluent, 30),
            (Segment::PrivateBanking, 12),
            (Segment::Corporate, 8),
        ])
        .unwrap_or(Segment::Retail);
    let (birth, level, qualified) = if segment == Segment::Corporate {
        let level = w.weighted(&[(2, 20), (3, 45), (4, 30), (5, 5)]).unwrap_or(3);
        (None, level, w.chance(0.8))
    } else {
        let band = w.weighted(&[((25, 39), 30), ((40, 54), 32), ((55, 64), 20), ((65, 74), 13), ((75, 88), 5)]);
        let (lo, hi) = band.unwrap_or((30, 50));
        let age = w.int(lo, hi);
        let year = i64::from(start.year()).saturating_sub(age);
        let birth = i32::try_from(year).ok().and_then(|y| {
            NaiveDate::from_ymd_opt(
                y,
                u32::try_from(w.int(1, 12)).unwrap_or(1),
                u32::try_from(w.int(1, 28)).unwrap_or(1),
            )
        });
        let mut level = if age >= 75 {
            w.weighted(&[(1, 30), (2, 45), (3, 20), (4, 5)]).unwrap_or(2)
        } else {
            w.weighted(&[(1, 8), (2, 27), (3, 35), (4, 22), (5, 8)]).unwrap_or(3)
        };
        if segment == Segment::PrivateBanking {
            level = level.max(3);
        }
        let qualified = segment == Segment::PrivateBanking || (segment == Segment::Affluent && w.chance(0.15));
        (birth, level, qualified)
    };
    let assessed = start.checked_sub_days(chrono::Days::new(w.int(0, 320).unsigned_abs()));
    Customer {
        id,
        birth,
        level,
        assessed,
        segment,
        qualified,
        opted_out: w.chance(0.06),
        last_assessment: i64::MIN,
        cap: None,
        recent: Vec::new(),
        last_private: i64::MIN,
        private_block: i64::MIN,
    }
}

fn make_rm(w: &mut World, index: u32, start: NaiveDate) -> Rm {
    let (city, branches) =
        CITIES.get((index as usize).checked_rem(CITIES.len()).unwrap_or(0)).copied().unwrap_or(("SH", &["Lujiazui"]));
    let branch = format!("{city}-{}", w.pick(branches).copied().unwrap_or("Main"));
    let grade = w
        .weighted(&[(Grade::Junior, 30), (Grade::Intermediate, 40), (Grade::Senior, 24), (Grade::Director, 6)])
        .unwrap_or(Grade::Intermediate);
    let fund = w.chance(0.88);
    let insurance = w.chance(0.6);
    let count = w.int(30, 55);
    let mut customers: Vec<Customer> = (0..count).map(|_| make_customer(w, start)).collect();
    // Every book has a customer who declined marketing.
    if !customers.iter().any(|c| c.opted_out) {
        let i = w.index(customers.len());
        if let Some(c) = customers.get_mut(i) {
            c.opted_out = true;
        }
    }
    let mut related = Vec::new();
    let related_customer = if w.chance(0.35) {
        let i = w.index(customers.len());
        if let Some(c) = customers.get(i) {
            related.push(c.id.clone());
        }
        Some(i)
    } else {
        None
    };
    let borrowers: Vec<String> = (0..w.int(8, 20)).map(|_| w.new_borrower_id()).collect();
    let related_borrower = w.new_borrower_id();
    let hidden_borrower = w.new_borrower_id();
    related.push(related_borrower.clone());
    related.push(hidden_borrower.clone());
    let mut quals = vec!["wm_sales"];
    if fund {
        quals.push("fund_sales");
    }
    if insurance {
        quals.push("insurance_sales");
    }
    let id = format!("RM-{city}-{:04}", index.saturating_add(1));
    let devices = [format!("DEV-{id}-1"), format!("DEV-{id}-2")];
    let terminal = format!("TERM-{branch}-{:02}", w.int(1, 12));
    let mut json = String::with_capacity(200);
    json.push_str("{\"id\":");
    push_text(&mut json, &id);
    let _ = write!(json, ",\"grade\":\"{}\",\"branch\":", grade.as_str());
    push_text(&mut json, &branch);
    let mut tail = Line { body: String::new(), kind: "", prefix: Prefix::Sale, temp: 0, reference: None };
    tail.texts("qualifications", &quals);
    let related: Vec<&str> = related.iter().map(String::as_str).collect();
    tail.texts("related_parties", &related);
    let registered: Vec<&str> = devices.iter().map(String::as_str).collect();
    tail.texts("devices", &registered);
    json.push_str(&tail.body);
    json.push('}');
    let risk = w.weighted(&[(0.1, 60), (0.6, 30), (2.5, 10)]).unwrap_or(0.1);
    Rm {
        id,
        devices,
        terminal,
        json,
        grade,
        fund,
        insurance,
        risk,
        customers,
        related_customer,
        related_borrower,
        hidden_borrower,
        borrowers,
        waiver_at: i64::MIN,
    }
}

// ------------------------------------------------------------------ activities

/// What a sale writes beyond the product and the customer.
struct Sale {
    product: usize,
    amount: i64,
    channel: &'static str,
    recorded: bool,
    manual: bool,
    risk_disclosure: bool,
    rights_notice: bool,
    cooling_off: Option<i64>,
    initiated: bool,
    signed: bool,
    shelf: &'static str,
    product_id: Option<String>,
    /// Replaces the customer's assessment date in the action (`Some(None)`: absent).
    assessed: Option<Option<NaiveDate>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Callback {
    OnTime,
    /// On time, but made by the RM who sold.
    BySeller,
    Never,
    Late,
    EarlyOnly,
}

fn channel(w: &mut World) -> &'static str {
    w.weighted(&[("branch", 45), ("mobile", 25), ("online", 15), ("self_service", 5), ("phone", 10)])
        .unwrap_or("branch")
}

fn sale_amount(w: &mut World, c: &Customer, p: &Product) -> i64 {
    if p.private {
        let factor = w.pick(&[1.0, 1.0, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0]).copied().unwrap_or(1.0);
        return round_to(p.minimum() as f64 * factor, 10_000);
    }
    let scale = match c.segment {
        Segment::Retail => 60_000.0,
        Segment::Affluent => 250_000.0,
        Segment::PrivateBanking => 1_200_000.0,
        Segment::Corporate => 2_000_000.0,
    };
    let mut x = w.lognormal(0.0, 0.8) * scale;
    if c.segment.wealthy() && w.chance(0.03) {
        x = w.uniform(5_000_000.0, 12_000_000.0); // a large ticket, reviewed by the branch manager
    }
    round_to(x.min(20_000_000.0), 1_000)
}

fn round_to(x: f64, step: i64) -> i64 {
    let steps = (x / step as f64).round() as i64;
    steps.max(1).saturating_mul(step)
}

impl Sale {
    fn clean(w: &mut World, c: &Customer, product: usize) -> Sale {
        let p = PRODUCTS.get(product);
        let channel = if c.segment == Segment::Corporate && w.chance(0.5) { "branch" } else { channel(w) };
        let private = p.is_some_and(|p| p.private);
        let cooling_off = if private { w.pick(&[24, 24, 24, 48, 72]).copied() } else { None };
        Sale {
            product,
            amount: p.map_or(10_000, |p| sale_amount(w, c, p)),
            channel,
            recorded: true,
            manual: true,
            risk_disclosure: true,
            rights_notice: true,
            cooling_off,
            initiated: false,
            signed: false,
            shelf: "approved",
            product_id: None,
            assessed: None,
        }
    }
}

/// The products a clean sale to `c` may use: suitable, on the shelf, within the RM's
/// qualifications, private only for a qualified investor, not sold to `c` in the last day.
fn eligible(rm: &Rm, c: &Customer, now: i64, cap: i64) -> Vec<usize> {
    PRODUCTS
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            p.level() <= cap
                && p.id != SUSPENDED
                && rm.qualified_for(p)
                && (!p.private || (c.qualified && c.private_allowed(now)))
                && !c.sold_recently(*i, now)
        })
        .map(|(i, _)| i)
        .collect()
}

fn choose_product(w: &mut World, candidates: &[usize]) -> Option<usize> {
    let weighted: Vec<(usize, u32)> =
        candidates.iter().map(|&i| (i, if PRODUCTS.get(i).is_some_and(|p| p.private) { 1 } else { 4 })).collect();
    w.weighted(&weighted)
}

/// Picks a customer of the RM (never the related one) that satisfies `ok`, trying a few at random.
fn choose_customer(w: &mut World, rm: &Rm, ok: impl Fn(&Customer) -> bool) -> Option<usize> {
    for _ in 0..12 {
        let i = w.index(rm.customers.len());
        if Some(i) != rm.related_customer && rm.customers.get(i).is_some_and(&ok) {
            return Some(i);
        }
    }
    None
}

/// A risk assessment of customer `ci`; returns its id.
fn assessment(w: &mut World, rm: &mut Rm, ci: usize, at: i64, new_level: Option<i64>, by_rm: bool) -> Option<u64> {
    let base = rm.customers.get(ci)?.level;
    let drift = w.weighted(&[(0, 80), (1, 10), (-1, 10)]).unwrap_or(0);
    let level = new_level.unwrap_or_else(|| base.saturating_add(drift).clamp(1, 5));
    // A proxy assessment is a self-service one sent from the RM's own device; an assisted one at
    // the branch is keyed in by the RM on the branch terminal (normal: the customer signs it).
    let channel = if by_rm {
        w.weighted(&[("mobile", 80), ("online", 20)]).unwrap_or("mobile")
    } else {
        w.weighted(&[("branch", 60), ("mobile", 30), ("online", 10)]).unwrap_or("branch")
    };
    let device = if by_rm {
        w.pick(&rm.devices).cloned().unwrap_or_default()
    } else if channel == "branch" {
        rm.terminal.clone()
    } else {
        format!("MOB-{}", rm.customers.get(ci).map(|c| c.id.as_str()).unwrap_or_default())
    };
    let operator = if channel == "branch" { rm.id.clone() } else { rm.customers.get(ci)?.id.clone() };
    let (mut line, id) = w.start(rm, "risk_assessment", Prefix::Assessment, at);
    let c = rm.customers.get_mut(ci)?;
    line.text("customer_id", &c.id);
    let previous = c.assessed.map(|_| c.level);
    if let Some(p) = previous {
        line.int("previous_level", p);
    }
    line.int("new_level", level).text("channel", channel).text("operator_id", &operator).text("device_id", &device);
    if let Some(p) = previous {
        if level > p {
            c.raise_cap(at, p);
        }
    }
    c.level = level;
    c.assessed = Some(date_of(at));
    c.last_assessment = at;
    w.push(at, line);
    Some(id)
}

/// Renews the customer's assessment before a sale if it is missing or close to a year old.
fn renew_if_needed(w: &mut World, rm: &mut Rm, ci: usize, sale_at: i64) {
    let today = date_of(sale_at);
    if rm.customers.get(ci).is_some_and(|c| c.needs_renewal(today)) {
        let at = sale_at.saturating_sub(w.int(10, 40).saturating_mul(MINUTE));
        assessment(w, rm, ci, at, None, false);
    }
}

fn emit_sale(w: &mut World, rm: &mut Rm, ci: usize, at: i64, sale: &Sale, callback: Callback) -> Option<u64> {
    let p = PRODUCTS.get(sale.product)?;
    let (mut line, id) = w.start(rm, "product_sale", Prefix::Sale, at);
    let c = rm.customers.get_mut(ci)?;
    let assessed = sale.assessed.unwrap_or(c.assessed);
    line.raw("customer", &customer_json(c, assessed))
        .text("product_id", sale.product_id.as_deref().unwrap_or(p.id))
        .text("product_type", p.kind)
        .text("offering", if p.private { "private" } else { "public" })
        .text("asset_class", p.asset)
        .int("issuer_risk", p.issuer)
        .int("bank_risk", p.bank)
        .money("amount", sale.amount)
        .text("channel", sale.channel)
        .text("shelf_status", sale.shelf);
    if sale.channel == "branch" && sale.recorded {
        let _ = write!(
            line.body,
            ",\"recording_id\":\"REC-{}-{:05}\"",
            date_of(at).format("%Y%m%d"),
            w.int(10_000, 99_999)
        );
    }
    let mut disclosures = Vec::with_capacity(5);
    if sale.risk_disclosure {
        disclosures.push("risk_disclosure");
    }
    if sale.manual {
        disclosures.push("product_manual");
    }
    if p.kind != "bank_wealth" {
        // 商业银行代理销售业务管理办法: the bank only distributes the product.
        disclosures.push("agency_notice");
    }
    if p.kind == "wm_company" && sale.rights_notice {
        disclosures.push("investor_rights");
    }
    if sale.initiated && sale.signed {
        disclosures.push("special_warning");
    }
    line.texts("disclosures", &disclosures);
    if let Some(h) = sale.cooling_off {
        line.int("cooling_off_hours", h);
    }
    line.boolean("customer_initiated", sale.initiated).boolean("special_warning_signed", sale.signed);
    c.recent.retain(|(t, _)| at.saturating_sub(*t) < 2 * DAY);
    c.recent.push((at, sale.product));
    let customer_id = c.id.clone();
    let opted_out = c.opted_out;
    if p.private {
        c.last_private = at;
    }
    w.push(at, line);
    if p.private {
        cooling_off_callback(w, rm, &customer_id, opted_out, at, sale.cooling_off.unwrap_or(24), callback);
    }
    Some(id)
}

/// A call by the RM, or, for a cooling-off call-back, by the call centre (its agent's staff id).
fn call(w: &mut World, rm: &Rm, customer: &str, opted_out: bool, purpose: &str, recorded: bool, at: i64) -> u64 {
    let agent = if purpose == "cooling_off_callback" { format!("CC-{:03}", w.int(1, 40)) } else { rm.id.clone() };
    agent_call(w, rm, customer, opted_out, purpose, recorded, at, &agent)
}

#[allow(clippy::too_many_arguments)]
fn agent_call(
    w: &mut World,
    rm: &Rm,
    customer: &str,
    opted_out: bool,
    purpose: &str,
    recorded: bool,
    at: i64,
    agent: &str,
) -> u64 {
    let (mut line, id) = w.start(rm, "customer_call", Prefix::Call, at);
    line.text("customer_id", customer)
        .text("purpose", purpose)
        .boolean("opted_out", opted_out)
        .boolean("recorded", recorded)
        .text("agent_id", agent);
    w.push(at, line);
    id
}

fn cooling_off_callback(
    w: &mut World,
    rm: &Rm,
    customer: &str,
    opted_out: bool,
    sale_at: i64,
    hours: i64,
    mode: Callback,
) {
    let earliest = sale_at.saturating_add(hours.max(24).saturating_mul(HOUR)).saturating_add(30 * MINUTE);
    let due = sale_at.saturating_add(5 * DAY);
    let at = match mode {
        Callback::Never => return,
        Callback::EarlyOnly => {
            let early = sale_at.saturating_add(w.int(3 * HOUR, 20 * HOUR));
            call(w, rm, customer, opted_out, "cooling_off_callback", true, early);
            return;
        }
        Callback::Late => due.saturating_add(w.int(2 * HOUR, 4 * DAY)),
        Callback::OnTime | Callback::BySeller => {
            // In the window, preferably during office hours.
            let latest = due.saturating_sub(HOUR);
            let mut at = w.int(earliest, latest);
            for _ in 0..8 {
                if (9..19).contains(&hour_of(at)) {
                    break;
                }
                at = w.int(earliest, latest);
            }
            at
        }
    };
    if mode == Callback::BySeller {
        let seller = rm.id.clone();
        agent_call(w, rm, customer, opted_out, "cooling_off_callback", true, at, &seller);
    } else {
        call(w, rm, customer, opted_out, "cooling_off_callback", true, at);
    }
}

fn clean_sale(w: &mut World, rm: &mut Rm, day: &Day) {
    let at = w.at(day, 9.25, 17.5);
    let Some(ci) =
        choose_customer(w, rm, |c| c.last_assessment.saturating_add(2 * DAY) < at || !c.needs_renewal(day.date))
    else {
        return;
    };
    renew_if_needed(w, rm, ci, at);
    let Some(c) = rm.customers.get(ci) else { return };
    let cap = c.cap_at(at);
    let candidates = eligible(rm, c, at, cap);
    let Some(product) = choose_product(w, &candidates) else { return };
    let mut sale = Sale::clean(w, c, product);
    // A customer insists on a fund one level riskier, and signs the special risk warning
    // (reviewed by the branch manager, not a violation; insurance has no such exception).
    let p = PRODUCTS.get(product);
    if p.is_some_and(|p| !p.private && p.kind == "mutual_fund") && c.level > 1 && w.chance(0.03) {
        let kind = p.map_or("", |p| p.kind);
        let riskier: Vec<usize> = PRODUCTS
            .iter()
            .enumerate()
            .filter(|(i, q)| {
                q.kind == kind && !q.private && q.level() == c.level.saturating_add(1) && !c.sold_recently(*i, at)
            })
            .map(|(i, _)| i)
            .collect();
        if let Some(&r) = w.pick(&riskier) {
            sale.product = r;
            sale.initiated = true;
            sale.signed = true;
        }
    }
    emit_sale(w, rm, ci, at, &sale, Callback::OnTime);
}

fn marketing_call(w: &mut World, rm: &Rm, day: &Day) {
    let at = w.at(day, 9.0, 20.5);
    if let Some(ci) = choose_customer(w, rm, |c| !c.opted_out) {
        if let Some(c) = rm.customers.get(ci) {
            call(w, rm, &c.id.clone(), false, "marketing", true, at);
        }
    }
}

fn service_call(w: &mut World, rm: &Rm, day: &Day) {
    let at = w.at(day, 8.5, 21.5);
    let i = w.index(rm.customers.len());
    let recorded = w.chance(0.7);
    if let Some(c) = rm.customers.get(i) {
        call(w, rm, &c.id.clone(), c.opted_out, "service", recorded, at);
    }
}

fn reassessment(w: &mut World, rm: &mut Rm, day: &Day) {
    let at = w.at(day, 9.0, 17.0);
    if let Some(ci) =
        choose_customer(w, rm, |c| c.segment.individual() && c.last_assessment.saturating_add(2 * DAY) < at)
    {
        assessment(w, rm, ci, at, None, false);
    }
}

fn gift_giver(w: &mut World, rm: &Rm) -> (String, &'static str) {
    let giver_type =
        w.weighted(&[("customer", 75), ("supplier", 15), ("colleague", 5), ("other", 5)]).unwrap_or("customer");
    let giver = match giver_type {
        "customer" => {
            let close = rm.customers.len().min(12);
            let i = w.index(close);
            rm.customers.get(i).map(|c| c.id.clone()).unwrap_or_default()
        }
        "supplier" => w.pick(SUPPLIERS).copied().unwrap_or("ACME-Insurance").to_string(),
        "colleague" => format!("STAFF-{}", w.int(1000, 9999)),
        _ => format!("P-{}", w.int(100, 999)),
    };
    (giver, giver_type)
}

/// A gift and its registration. Returns the gift's id and the registration's id.
fn gift(w: &mut World, rm: &Rm, day: &Day, violation: Option<Violation>) -> (Option<u64>, Option<u64>) {
    let (giver, giver_type) = if violation == Some(Violation::GiftPendingDecision) {
        let close = rm.customers.len().min(12);
        let i = w.index(close);
        (rm.customers.get(i).map(|c| c.id.clone()).unwrap_or_default(), "customer")
    } else {
        gift_giver(w, rm)
    };
    let (kind, at, value) = if violation == Some(Violation::CashGift) {
        let kind = w.weighted(&[("red_packet", 50), ("cash", 20), ("prepaid_card", 25), ("securities", 5)]);
        let value = w.pick(&[200, 288, 500, 666, 888, 1000]).copied().unwrap_or(500);
        (kind.unwrap_or("red_packet"), w.at(day, 9.0, 18.0), value)
    } else {
        let kind = w.weighted(&[("goods", 60), ("hospitality", 33), ("travel", 7)]).unwrap_or("goods");
        match kind {
            "hospitality" => {
                let at = w.at(day, 18.0, 21.0);
                (kind, at, round_to(w.uniform(80.0, 600.0), 1))
            }
            "travel" => {
                let at = w.at(day, 9.0, 18.0);
                (kind, at, round_to(w.uniform(800.0, 3000.0), 10))
            }
            _ => {
                let at = w.at(day, 9.0, 18.0);
                (kind, at, round_to(w.lognormal(5.4, 0.5), 1)) // median about CNY 220
            }
        }
    };
    // The violations about registration need a registrable gift.
    let value = match violation {
        Some(Violation::GiftNotRegistered | Violation::GiftUnderdeclared) => value.max(w.int(200, 1200)),
        _ => value,
    };
    let pending = violation == Some(Violation::GiftPendingDecision);
    let (mut line, gift_id) = w.start(rm, "gift_received", Prefix::Gift, at);
    line.text("giver", &giver)
        .text("giver_type", giver_type)
        .text("kind", kind)
        .money("value", value)
        .boolean("pending_decision", pending);
    w.push(at, line);
    if value < 200 {
        return (Some(gift_id), None);
    }
    let registered_at = if violation == Some(Violation::GiftNotRegistered) {
        if w.chance(0.5) {
            return (Some(gift_id), None);
        }
        let late = at.saturating_add((w.uniform(30.5, 60.0) * DAY as f64) as i64);
        w.office_hours(late)
    } else {
        let soon = at.saturating_add((w.uniform(0.1, 28.0) * DAY as f64) as i64);
        w.office_hours(soon)
    };
    let declared = if violation == Some(Violation::GiftUnderdeclared) {
        round_to(value as f64 * w.uniform(0.3, 0.8), 1).min(value.saturating_sub(1))
    } else {
        value
    };
    let (mut line, registration) = w.start(rm, "gift_registered", Prefix::Registration, registered_at);
    line.reference("gift", gift_id).money("declared_value", declared);
    w.push(registered_at, line);
    (Some(gift_id), Some(registration))
}

fn waiver(w: &mut World, rm: &Rm, party: &str, scope: &str, approved_by: &str, at: i64) -> u64 {
    let (mut line, id) = w.start(rm, "conflict_waiver", Prefix::Waiver, at);
    line.text("party", party).text("scope", scope).text("approved_by", approved_by);
    w.push(at, line);
    id
}

fn loan_line(w: &mut World, rm: &Rm, borrower: &str, amount: i64, security: &str, at: i64) -> u64 {
    let (mut line, id) = w.start(rm, "loan_approval", Prefix::Loan, at);
    line.text("borrower", borrower).money("amount", amount).text("security", security);
    w.push(at, line);
    id
}

fn loan_amount(w: &mut World, rm: &Rm) -> i64 {
    let limit = rm.grade.authority();
    round_to((w.lognormal(0.0, 0.9) * limit as f64 / 6.0).min(limit as f64), 10_000).min(limit)
}

/// Makes sure a compliance waiver for the related borrower is less than a year old.
fn ensure_waiver(w: &mut World, rm: &mut Rm, at: i64) {
    if rm.waiver_at.saturating_add(300 * DAY) < at || rm.waiver_at >= at {
        let waiver_at = at.saturating_sub(w.int(MINUTE, 90 * MINUTE));
        let borrower = rm.related_borrower.clone();
        waiver(w, rm, &borrower, "credit", "compliance", waiver_at);
        rm.waiver_at = waiver_at;
    }
}

fn loan(w: &mut World, rm: &mut Rm, day: &Day) {
    let at = w.at(day, 9.0, 17.5);
    let amount = loan_amount(w, rm);
    if w.chance(0.03) {
        // Credit to a relative's company, after a compliance waiver, secured.
        ensure_waiver(w, rm, at);
        let security = w.weighted(&[("mortgage", 60), ("guaranteed", 25), ("pledge", 15)]).unwrap_or("mortgage");
        let borrower = rm.related_borrower.clone();
        loan_line(w, rm, &borrower, amount, security, at);
    } else {
        let security = w
            .weighted(&[("mortgage", 45), ("guaranteed", 25), ("pledge", 15), ("unsecured", 15)])
            .unwrap_or("mortgage");
        let borrower = w.pick(&rm.borrowers).cloned().unwrap_or_default();
        loan_line(w, rm, &borrower, amount, security, at);
    }
}

fn transfer(w: &mut World, rm: &Rm, day: &Day, lending: bool) -> Option<u64> {
    let at = w.at(day, 8.0, 22.0);
    let direction = if w.chance(0.5) { "incoming" } else { "outgoing" };
    let (counterparty, is_customer, purpose, amount) = if lending || w.chance(0.3) {
        let i = w.index(rm.customers.len());
        let customer = rm.customers.get(i).map(|c| c.id.clone()).unwrap_or_default();
        if lending {
            let purpose = if w.chance(0.5) { "loan" } else { "repayment" };
            (customer, true, purpose, round_to(w.uniform(5_000.0, 200_000.0), 1_000))
        } else {
            let purpose = if w.chance(0.5) { "purchase" } else { "other" };
            let amount = if w.chance(0.12) {
                round_to(w.uniform(50_000.0, 300_000.0), 1_000) // reviewed, not a violation
            } else {
                round_to(w.uniform(200.0, 20_000.0), 10)
            };
            (customer, true, purpose, amount)
        }
    } else {
        let purpose = w.weighted(&[("family", 70), ("purchase", 20), ("other", 10)]).unwrap_or("family");
        (format!("P-{}", w.int(100, 999)), false, purpose, round_to(w.lognormal(9.0, 1.2), 10))
    };
    let (mut line, id) = w.start(rm, "staff_fund_transfer", Prefix::Transfer, at);
    line.text("counterparty", &counterparty)
        .boolean("counterparty_is_customer", is_customer)
        .text("direction", direction)
        .money("amount", amount)
        .text("purpose", purpose);
    w.push(at, line);
    Some(id)
}

/// A complaint, its forwarding and maybe a follow-up call. `late`: forwarded after the deadline
/// or never; `urgent`: forced to a regulator or media source (else chosen at random).
fn complaint(w: &mut World, rm: &Rm, day: &Day, urgent: Option<bool>, late: bool) -> Option<u64> {
    let i = w.index(rm.customers.len());
    let c = rm.customers.get(i)?;
    let (customer, opted_out) = (c.id.clone(), c.opted_out);
    let at = w.at(day, 9.0, 18.0);
    let urgent = urgent.unwrap_or_else(|| w.chance(0.08));
    let source = if urgent {
        if w.chance(0.5) {
            "regulator"
        } else {
            "media"
        }
    } else {
        w.weighted(&[("branch", 40), ("phone", 35), ("online", 25)]).unwrap_or("branch")
    };
    let category =
        w.weighted(&[("service", 40), ("fees", 25), ("mis_selling", 15), ("other", 20)]).unwrap_or("service");
    let (mut line, id) = w.start(rm, "complaint_received", Prefix::Complaint, at);
    line.text("customer_id", &customer).text("source", source).text("category", category);
    w.push(at, line);
    let deadline = if urgent { 2 * HOUR } else { DAY };
    let forwarded = if late {
        if w.chance(0.5) {
            None
        } else {
            let t = at.saturating_add(deadline).saturating_add(w.int(20 * MINUTE, 48 * HOUR));
            Some(w.office_hours(t).max(at.saturating_add(deadline).saturating_add(MINUTE)))
        }
    } else if !urgent && w.chance(0.25) {
        // Forwarded first thing the next morning.
        let midnight = at.saturating_sub(at.rem_euclid(DAY));
        Some(midnight.saturating_add(DAY).saturating_add(8 * HOUR + 30 * MINUTE).saturating_add(w.int(0, 25 * MINUTE)))
    } else {
        Some(at.saturating_add(w.int(5 * MINUTE, deadline.min(4 * HOUR).saturating_sub(5 * MINUTE))))
    };
    // The complaint unit's own steps: a handler other than the RM, first contact within hours,
    // a decision within 2 to 13 days (inside the 15-day limit).
    let assigned = at.saturating_add(w.int(20 * MINUTE, 2 * HOUR));
    let (mut line, _) = w.start(rm, "complaint_assigned", Prefix::Handling, assigned);
    line.reference("complaint", id).text("handler_id", &format!("CP-{:03}", w.int(1, 60)));
    w.push(assigned, line);
    for (step, from, to) in [("acknowledged", 2 * HOUR, 6 * HOUR), ("decided", 2 * DAY, 13 * DAY)] {
        let after = at.saturating_add(w.int(from, to));
        let t = w.office_hours(after).max(assigned.saturating_add(MINUTE));
        let (mut line, _) = w.start(rm, "complaint_progress", Prefix::Handling, t);
        line.reference("complaint", id).text("step", step).text("approved_by", "none");
        w.push(t, line);
    }
    if let Some(t) = forwarded {
        let (mut line, _) = w.start(rm, "complaint_forwarded", Prefix::Forward, t);
        line.reference("complaint", id);
        w.push(t, line);
        if w.chance(0.6) {
            let later = t.saturating_add((w.uniform(1.0, 6.0) * DAY as f64) as i64);
            let later = w.office_hours(later);
            call(w, rm, &customer, opted_out, "complaint_followup", true, later);
        }
    }
    Some(id)
}

// ------------------------------------------------------------------ injected violations

/// Injects one violation of `kind`, if it applies to the RM today. Emits nothing otherwise.
/// Returns the labelled action's id.
fn inject(w: &mut World, rm: &mut Rm, day: &Day, kind: Violation) -> Option<u64> {
    use Violation as V;
    let at = w.at(day, 9.25, 17.5);
    match kind {
        V::UnsuitableWealthSale => {
            let ci = choose_customer(w, rm, |c| c.level < 4)?;
            renew_if_needed(w, rm, ci, at);
            let c = rm.customers.get(ci)?;
            let options: Vec<usize> = (0..PRODUCTS.len())
                .filter(|&i| {
                    PRODUCTS.get(i).is_some_and(|p| {
                        p.wealth() && !p.private && p.id != SUSPENDED && p.level() > c.level && !c.sold_recently(i, at)
                    })
                })
                .collect();
            let product = *w.pick(&options)?;
            let sale = Sale::clean(w, c, product);
            emit_sale(w, rm, ci, at, &sale, Callback::OnTime)
        }
        V::UnsuitableAgencySale | V::UnsuitableInsuranceSale => {
            let insurance = kind == V::UnsuitableInsuranceSale;
            let ci = choose_customer(w, rm, |c| c.level < 5)?;
            let c = rm.customers.get(ci)?;
            let options: Vec<usize> = (0..PRODUCTS.len())
                .filter(|&i| {
                    PRODUCTS.get(i).is_some_and(|p| {
                        (if insurance { p.kind == "insurance" } else { p.fund() })
                            && !p.private
                            && rm.qualified_for(p)
                            && p.level() > c.level
                            && !c.sold_recently(i, at)
                    })
                })
                .collect();
            let product = *w.pick(&options)?;
            renew_if_needed(w, rm, ci, at);
            let c = rm.customers.get(ci)?;
            if PRODUCTS.get(product).is_none_or(|p| p.level() <= c.level) {
                return None; // the renewal raised the level
            }
            let mut sale = Sale::clean(w, c, product);
            // The customer insisted, but the special warning is not signed; for insurance, which
            // has no such exception, even a signed warning does not help.
            if c.level > 1 && w.chance(0.3) {
                sale.initiated = true;
                sale.signed = insurance && w.chance(0.5);
            }
            emit_sale(w, rm, ci, at, &sale, Callback::OnTime)
        }
        V::NoRiskAssessment => {
            // A new customer, sold to before any risk assessment.
            let mut c = make_customer(w, day.date);
            if c.segment.wealthy() {
                c.segment = Segment::Affluent;
                c.birth = c.birth.or(NaiveDate::from_ymd_opt(1980, 5, 12));
            }
            c.qualified = false;
            c.assessed = None;
            let candidates = eligible(rm, &c, at, c.level);
            let product = choose_product(w, &candidates)?;
            let sale = Sale::clean(w, &c, product);
            rm.customers.push(c);
            let ci = rm.customers.len().checked_sub(1)?;
            emit_sale(w, rm, ci, at, &sale, Callback::OnTime)
        }
        V::ExpiredRiskAssessment => {
            let ci = choose_customer(w, rm, |c| c.last_assessment.saturating_add(3 * DAY) < at)?;
            let c = rm.customers.get(ci)?;
            let candidates = eligible(rm, c, at, c.cap_at(at));
            let product = choose_product(w, &candidates)?;
            let mut sale = Sale::clean(w, c, product);
            let stale = day.date.checked_sub_days(chrono::Days::new(w.int(370, 700).unsigned_abs()));
            sale.assessed = Some(stale);
            let id = emit_sale(w, rm, ci, at, &sale, Callback::OnTime);
            if let Some(c) = rm.customers.get_mut(ci) {
                c.assessed = stale;
            }
            id
        }
        V::UpgradeBeforeSale => {
            if !day.v2026 {
                return None;
            }
            let ci = choose_customer(w, rm, |c| {
                c.segment.individual()
                    && c.assessed.is_some()
                    && (1..=3).contains(&c.level)
                    && c.last_assessment.saturating_add(3 * DAY) < at
                    && !c.needs_renewal(day.date)
            })?;
            let c = rm.customers.get(ci)?;
            let target = c.level.saturating_add(1);
            let options: Vec<usize> = (0..PRODUCTS.len())
                .filter(|&i| {
                    PRODUCTS
                        .get(i)
                        .is_some_and(|p| p.wealth() && !p.private && p.id != SUSPENDED && p.level() == target)
                        && !c.sold_recently(i, at)
                })
                .collect();
            let product = *w.pick(&options)?;
            let ra_at = w.at(day, 9.0, 12.0);
            assessment(w, rm, ci, ra_at, Some(target), false)?;
            let sale_at = ra_at.saturating_add(w.int(2 * HOUR, 30 * HOUR));
            let c = rm.customers.get(ci)?;
            let sale = Sale::clean(w, c, product);
            emit_sale(w, rm, ci, sale_at, &sale, Callback::OnTime)
        }
        V::PrivateUnqualifiedInvestor
        | V::PrivateBelowMinimum
        | V::NoCoolingOffPeriod
        | V::NoCoolingOffCallback
        | V::SellerCallback => {
            let unqualified = kind == V::PrivateUnqualifiedInvestor;
            let ci = choose_customer(w, rm, |c| {
                c.qualified != unqualified && c.level >= 3 && c.private_allowed(at) && !c.needs_renewal(day.date)
            })?;
            let c = rm.customers.get(ci)?;
            let cap = c.cap_at(at);
            let options: Vec<usize> = (0..PRODUCTS.len())
                .filter(|&i| {
                    PRODUCTS.get(i).is_some_and(|p| p.private && p.level() <= cap && rm.qualified_for(p))
                        && !c.sold_recently(i, at)
                })
                .collect();
            let product = *w.pick(&options)?;
            let p = PRODUCTS.get(product)?;
            let mut sale = Sale::clean(w, c, product);
            let mut callback = Callback::OnTime;
            match kind {
                V::PrivateBelowMinimum => sale.amount = round_to(p.minimum() as f64 * w.uniform(0.3, 0.95), 10_000),
                V::NoCoolingOffPeriod => sale.cooling_off = if w.chance(0.5) { None } else { Some(12) },
                V::NoCoolingOffCallback | V::SellerCallback => {
                    callback = if kind == V::SellerCallback {
                        Callback::BySeller
                    } else {
                        w.pick(&[Callback::Never, Callback::Late, Callback::EarlyOnly]).copied()?
                    };
                    if let Some(c) = rm.customers.get_mut(ci) {
                        c.private_block = at.saturating_add(10 * DAY);
                    }
                }
                _ => {}
            }
            emit_sale(w, rm, ci, at, &sale, callback)
        }
        V::UnapprovedProduct | V::SuspendedProduct | V::NoDualRecording | V::MissingDisclosures => {
            let ci = choose_customer(w, rm, |c| {
                (kind != V::NoDualRecording || c.segment.individual())
                    && (kind != V::SuspendedProduct || c.cap_at(at) >= 2)
            })?;
            renew_if_needed(w, rm, ci, at);
            let c = rm.customers.get(ci)?;
            let product = if kind == V::SuspendedProduct {
                let i = PRODUCTS.iter().position(|p| p.id == SUSPENDED)?;
                if c.sold_recently(i, at) || c.cap_at(at) < 2 {
                    return None;
                }
                i
            } else {
                let candidates: Vec<usize> = eligible(rm, c, at, c.cap_at(at))
                    .into_iter()
                    .filter(|&i| PRODUCTS.get(i).is_some_and(|p| !p.private))
                    .collect();
                choose_product(w, &candidates)?
            };
            let mut sale = Sale::clean(w, c, product);
            match kind {
                V::UnapprovedProduct => {
                    sale.shelf = "unlisted";
                    sale.product_id = Some(format!("XT-{:05}", w.int(10_000, 99_999)));
                    sale.channel = if w.chance(0.5) { "phone" } else { "branch" };
                }
                V::SuspendedProduct => sale.shelf = "suspended",
                V::NoDualRecording => {
                    sale.channel = "branch";
                    sale.recorded = false;
                }
                _ => {
                    if w.chance(0.8) {
                        sale.manual = false;
                    } else {
                        sale.risk_disclosure = false;
                    }
                }
            }
            emit_sale(w, rm, ci, at, &sale, Callback::OnTime)
        }
        V::UnqualifiedRm => {
            if rm.fund && rm.insurance {
                return None;
            }
            let ci = choose_customer(w, rm, |_| true)?;
            renew_if_needed(w, rm, ci, at);
            let c = rm.customers.get(ci)?;
            let cap = c.cap_at(at);
            let options: Vec<usize> = (0..PRODUCTS.len())
                .filter(|&i| {
                    PRODUCTS
                        .get(i)
                        .is_some_and(|p| !p.private && !rm.qualified_for(p) && p.level() <= cap && p.id != SUSPENDED)
                        && !c.sold_recently(i, at)
                })
                .collect();
            let product = *w.pick(&options)?;
            let sale = Sale::clean(w, c, product);
            emit_sale(w, rm, ci, at, &sale, Callback::OnTime)
        }
        V::NoInvestorRightsNotice => {
            let ci = choose_customer(w, rm, |_| true)?;
            renew_if_needed(w, rm, ci, at);
            let c = rm.customers.get(ci)?;
            let candidates: Vec<usize> = eligible(rm, c, at, c.cap_at(at))
                .into_iter()
                .filter(|&i| PRODUCTS.get(i).is_some_and(|p| p.kind == "wm_company" && !p.private))
                .collect();
            let product = *w.pick(&candidates)?;
            let mut sale = Sale::clean(w, c, product);
            sale.rights_notice = false;
            emit_sale(w, rm, ci, at, &sale, Callback::OnTime)
        }
        V::SplitLargeSale => {
            let ci = choose_customer(w, rm, |c| c.segment.wealthy())?;
            renew_if_needed(w, rm, ci, at);
            let c = rm.customers.get(ci)?;
            let cap = c.cap_at(at).min(3);
            let candidates: Vec<usize> =
                eligible(rm, c, at, cap).into_iter().filter(|&i| PRODUCTS.get(i).is_some_and(|p| !p.private)).collect();
            let product = *w.pick(&candidates)?;
            let total = round_to(w.uniform(5_000_000.0, 8_000_000.0), 100_000);
            let first = round_to(total as f64 * w.uniform(0.4, 0.6), 100_000);
            let mut sale = Sale::clean(w, c, product);
            sale.amount = first;
            let morning = w.at(day, 9.25, 13.0);
            emit_sale(w, rm, ci, morning, &sale, Callback::OnTime)?;
            sale.amount = total.saturating_sub(first);
            let later = morning.saturating_add(w.int(20 * MINUTE, 240 * MINUTE));
            emit_sale(w, rm, ci, later, &sale, Callback::OnTime)
        }
        V::RelatedPartySale => {
            let ci = rm.related_customer?;
            renew_if_needed(w, rm, ci, at);
            let c = rm.customers.get(ci)?;
            let candidates: Vec<usize> = eligible(rm, c, at, c.cap_at(at))
                .into_iter()
                .filter(|&i| PRODUCTS.get(i).is_some_and(|p| !p.private))
                .collect();
            let product = choose_product(w, &candidates)?;
            let sale = Sale::clean(w, c, product);
            emit_sale(w, rm, ci, at, &sale, Callback::OnTime)
        }
        V::ProxyAssessment => {
            let ci =
                choose_customer(w, rm, |c| c.segment.individual() && c.last_assessment.saturating_add(2 * DAY) < at)?;
            assessment(w, rm, ci, at, None, true)
        }
        V::RepeatedAssessment => {
            let ci = choose_customer(w, rm, |c| {
                c.segment.individual() && c.level < 5 && c.last_assessment.saturating_add(2 * DAY) < at
            })?;
            let first = w.at(day, 9.0, 14.0);
            assessment(w, rm, ci, first, None, false)?;
            let level = rm.customers.get(ci)?.level.saturating_add(1).min(5);
            let second = first.saturating_add(w.int(15 * MINUTE, 180 * MINUTE));
            assessment(w, rm, ci, second, Some(level), false)
        }
        V::CashGift | V::GiftPendingDecision | V::GiftNotRegistered => gift(w, rm, day, Some(kind)).0,
        V::GiftUnderdeclared => gift(w, rm, day, Some(kind)).1,
        V::PrivateLending => transfer(w, rm, day, true),
        V::RelatedPartyCredit => {
            let amount = loan_amount(w, rm);
            let security = w.weighted(&[("mortgage", 60), ("guaranteed", 25), ("pledge", 15)]).unwrap_or("mortgage");
            let borrower = rm.hidden_borrower.clone();
            Some(loan_line(w, rm, &borrower, amount, security, at))
        }
        V::RelatedPartyUnsecured => {
            ensure_waiver(w, rm, at);
            let amount = loan_amount(w, rm);
            let borrower = rm.related_borrower.clone();
            Some(loan_line(w, rm, &borrower, amount, "unsecured", at))
        }
        V::OverAuthority => {
            let limit = rm.grade.authority();
            let amount = round_to(limit as f64 * w.uniform(1.05, 1.6), 10_000);
            let security = w.weighted(&[("mortgage", 60), ("guaranteed", 25), ("pledge", 15)]).unwrap_or("mortgage");
            let borrower = w.pick(&rm.borrowers).cloned()?;
            Some(loan_line(w, rm, &borrower, amount, security, at))
        }
        V::WaiverNotByCompliance => {
            let (party, scope) = match rm.related_customer.and_then(|i| rm.customers.get(i)) {
                Some(c) if w.chance(0.5) => (c.id.clone(), "sales"),
                _ => (rm.hidden_borrower.clone(), "credit"),
            };
            Some(waiver(w, rm, &party, scope, "branch_manager", at))
        }
        V::ComplaintNotForwarded => complaint(w, rm, day, Some(false), true),
        V::UrgentComplaintNotForwarded => complaint(w, rm, day, Some(true), true),
        V::MarketingCallOutOfHours | V::MarketingCallOptedOut | V::UnrecordedCall => {
            let opted_out = kind == V::MarketingCallOptedOut;
            let ci = choose_customer(w, rm, |c| c.opted_out == opted_out).or_else(|| {
                if opted_out {
                    rm.customers.iter().position(|c| c.opted_out)
                } else {
                    None
                }
            })?;
            let at = if kind == V::MarketingCallOutOfHours {
                if w.chance(0.5) {
                    w.at(day, 6.5, 8.0)
                } else {
                    w.at(day, 21.0, 22.5)
                }
            } else {
                w.at(day, 9.0, 20.5)
            };
            let customer = rm.customers.get(ci)?.id.clone();
            Some(call(w, rm, &customer, opted_out, "marketing", kind != V::UnrecordedCall, at))
        }
    }
}

#[derive(Clone, Copy)]
enum Activity {
    Sale,
    MarketingCall,
    ServiceCall,
    Reassessment,
    Gift,
    Loan,
    Complaint,
    Transfer,
}

fn activity(w: &mut World, rm: &mut Rm, day: &Day, what: Activity) {
    let p = (w.rate * rm.risk / MEAN_RISK).min(1.0);
    if p > 0.0 && w.chance(p) {
        // A few kinds at random, then every kind in turn: the first that applies.
        let n = Violation::ALL.len();
        let first = w.index(n);
        let tries: Vec<usize> = (0..8).map(|_| w.index(n)).chain((0..n).map(|k| first.saturating_add(k))).collect();
        for k in tries {
            let Some(&kind) = Violation::ALL.get(k.checked_rem(n).unwrap_or(0)) else { continue };
            if let Some(id) = inject(w, rm, day, kind) {
                w.label(id, kind);
                return;
            }
        }
    }
    match what {
        Activity::Sale => clean_sale(w, rm, day),
        Activity::MarketingCall => marketing_call(w, rm, day),
        Activity::ServiceCall => service_call(w, rm, day),
        Activity::Reassessment => reassessment(w, rm, day),
        Activity::Gift => {
            gift(w, rm, day, None);
        }
        Activity::Loan => loan(w, rm, day),
        Activity::Complaint => {
            complaint(w, rm, day, None, false);
        }
        Activity::Transfer => {
            transfer(w, rm, day, false);
        }
    }
}

fn simulate_day(w: &mut World, rm: &mut Rm, day: &Day) {
    let f = day.activity;
    let sales = u8::from(w.chance(0.30 * f)).saturating_add(u8::from(w.chance(0.075 * f)));
    for _ in 0..sales {
        activity(w, rm, day, Activity::Sale);
    }
    let rates = [
        (Activity::MarketingCall, 0.08 * f),
        (Activity::ServiceCall, 0.065 * f),
        (Activity::Reassessment, 0.025 * f),
        (Activity::Gift, 0.04 * f * day.gifts),
        (Activity::Loan, 0.055 * f),
        (Activity::Complaint, 0.015 * f),
        (Activity::Transfer, 0.017 * f),
    ];
    for (what, rate) in rates {
        if w.chance(rate) {
            activity(w, rm, day, what);
        }
    }
}

/// The e-learning platform's completions (annual_training): every RM completes one course of 4
/// credited hours a month, on a day of the month set by its place in the list (the 3rd to the
/// 22nd), 48 hours a calendar year. Drawn without the random source, so the other events of a
/// stream do not depend on them.
fn training(w: &mut World, rm: &Rm, day: &Day, i: usize) {
    use chrono::Datelike;
    let Ok(slot) = u32::try_from(i % 20) else { return };
    if day.date.day() != slot.saturating_add(3) {
        return;
    }
    let at = day.start.saturating_add(14 * 3600);
    let (mut line, _) = w.start(rm, "training_completed", Prefix::Training, at);
    line.text("hours", "4");
    w.push(at, line);
}

/// The HR system's bookings (mandatory_leave): every RM books its 5 consecutive working days of
/// mandatory leave (强制休假) once a year, on the 10th of a month set by its place in the list
/// (February to September). Drawn without the random source, like the training.
fn mandatory_leave(w: &mut World, rm: &Rm, day: &Day, i: usize) {
    use chrono::Datelike;
    let Ok(month) = u32::try_from(i % 8) else { return };
    if day.date.day() != 10 || day.date.month() != month.saturating_add(2) {
        return;
    }
    let at = day.start.saturating_add(9 * 3600);
    let (mut line, _) = w.start(rm, "leave_taken", Prefix::Leave, at);
    line.int("days", 5).boolean("mandatory", true);
    w.push(at, line);
}

// ------------------------------------------------------------------ output

struct Writer<'a, O: Write> {
    out: O,
    labels: Option<&'a mut dyn Write>,
    stats: Stats,
    last: Option<i64>,
}

impl<O: Write> Writer<'_, O> {
    /// Writes every pending event before `until` (all of them with `None`), in time order.
    fn flush(&mut self, w: &mut World, until: Option<i64>) -> io::Result<()> {
        let mut text = String::with_capacity(1024);
        while let Some(Reverse(next)) = w.pending.peek() {
            if until.is_some_and(|u| next.at >= u) {
                break;
            }
            let Some(Reverse(Pending { at, line, .. })) = w.pending.pop() else { break };
            let id = w.next_id(line.prefix);
            text.clear();
            text.push_str("{\"type\":\"");
            text.push_str(line.kind);
            text.push_str("\",\"id\":\"");
            text.push_str(&id);
            text.push('"');
            match line.reference {
                Some((position, temp)) => {
                    let target = match w.referenced.get_mut(&temp) {
                        Some((id, refs)) if *refs > 1 => {
                            *refs = refs.saturating_sub(1);
                            id.clone().unwrap_or_default()
                        }
                        _ => w.referenced.remove(&temp).and_then(|(id, _)| id).unwrap_or_default(),
                    };
                    text.push_str(line.body.get(..position).unwrap_or_default());
                    text.push_str(&target);
                    text.push_str(line.body.get(position..).unwrap_or_default());
                }
                None => text.push_str(&line.body),
            }
            text.push_str("}\n");
            self.out.write_all(text.as_bytes())?;
            if let Some((slot, _)) = w.referenced.get_mut(&line.temp) {
                *slot = Some(id.clone());
            }
            if let Some(kind) = w.labels.remove(&line.temp) {
                if let Some(labels) = self.labels.as_deref_mut() {
                    text.clear();
                    text.push_str("{\"id\":");
                    push_text(&mut text, &id);
                    let _ = writeln!(
                        text,
                        ",\"kind\":\"{}\",\"rule\":\"{}\",\"policy\":\"{POLICY}\",\"action\":\"{}\"}}",
                        kind.name(),
                        kind.rule(),
                        line.kind
                    );
                    labels.write_all(text.as_bytes())?;
                }
            }
            self.stats.events = self.stats.events.saturating_add(1);
            if self.stats.first.is_none() {
                self.stats.first = Some(stamp(at));
            }
            self.last = Some(at);
        }
        Ok(())
    }
}

/// Generates the stream into `out` (and the injected violations into `labels`, if given).
pub fn generate(config: &Config, out: impl Write, labels: Option<&mut dyn Write>) -> io::Result<Stats> {
    config.validate().map_err(io::Error::other)?;
    let mut w = World {
        rng: ChaCha8Rng::seed_from_u64(config.seed),
        pending: BinaryHeap::new(),
        sequence: 0,
        ids: [0; 13],
        customer_seq: 100_000,
        borrower_seq: 500_000,
        rate: config.violation_rate,
        injected: vec![0; Violation::ALL.len()],
        labels: HashMap::new(),
        referenced: HashMap::new(),
    };
    let mut rms: Vec<Rm> = (0..config.rms).map(|i| make_rm(&mut w, i, config.start)).collect();
    let v2026 = NaiveDate::from_ymd_opt(VERSION_2026.0, VERSION_2026.1, VERSION_2026.2).unwrap_or_default();
    let mut writer =
        Writer { out: io::BufWriter::with_capacity(1 << 16, out), labels, stats: Stats::default(), last: None };
    for d in 0..config.days {
        let Some(date) = config.start.checked_add_days(chrono::Days::new(u64::from(d))) else { break };
        let (activity, gifts) = factors(date);
        let day = Day { date, start: local_seconds(date), activity, gifts, v2026: date >= v2026 };
        for (i, rm) in rms.iter_mut().enumerate() {
            simulate_day(&mut w, rm, &day);
            training(&mut w, rm, &day, i);
            mandatory_leave(&mut w, rm, &day, i);
        }
        writer.flush(&mut w, Some(day.start.saturating_add(DAY)))?;
    }
    writer.flush(&mut w, None)?;
    writer.out.flush()?;
    if let Some(labels) = writer.labels.as_deref_mut() {
        labels.flush()?;
    }
    let mut stats = writer.stats;
    stats.last = writer.last.map(stamp);
    stats.injected = w.injected;
    Ok(stats)
}

/// Writes the stream to the file `out` (`-`: standard output) and the injected violations to
/// the file `labels`, if given; the counts are returned for the caller to show.
pub fn run(config: &Config, out: &std::path::Path, labels: Option<&std::path::Path>) -> Result<Stats, String> {
    config.validate()?;
    let create = |path: &std::path::Path| {
        std::fs::File::create(path).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    };
    let mut labels_file = labels.map(|p| create(p).map(io::BufWriter::new)).transpose()?;
    let labels_writer = labels_file.as_mut().map(|f| f as &mut dyn Write);
    if out == std::path::Path::new("-") {
        generate(config, io::stdout().lock(), labels_writer)
    } else {
        generate(config, create(out)?, labels_writer)
    }
    .map_err(|e| format!("cannot write `{}`: {e}", out.display()))
}
