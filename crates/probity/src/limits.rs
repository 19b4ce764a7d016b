//! Limits that keep every input bounded. Each limit, when reached, is an error value.

/// The largest policy file accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

/// The deepest nesting of brackets in a policy file.
pub const MAX_NESTING: usize = 40;

/// The deepest expression tree (operators chained or nested); deeper ones are split with `let`.
pub const MAX_EXPRESSION_DEPTH: usize = 64;

/// The most rules, conflicts and duties a policy set may hold.
pub const MAX_RULES: usize = 10_000;

/// The pest call budget for one declaration (guards against pathological backtracking).
pub const PARSER_CALL_LIMIT: usize = 50_000_000;

/// The largest action JSON accepted, in bytes.
pub const MAX_ACTION_BYTES: usize = 1 << 20;

/// The deepest nesting of arrays and objects in action or history JSON.
pub const MAX_JSON_DEPTH: usize = 64;

/// The most history items (actions, breaches and obligations together) one evaluation or one
/// ledger load accepts; a [`crate::Ledger`] keeps longer histories bounded by itself.
pub const MAX_HISTORY_ITEMS: usize = 100_000;

/// The most expression steps one rule may take for one action; aggregates count each item.
pub const MAX_EVALUATION_STEPS: u64 = 10_000_000;

/// The deepest a field's type may nest: each `set of`, `list of` and record inside a record (or
/// an action) is one level, so that checking, lowering, formatting and decoding action JSON
/// against the type recurse a bounded number of times.
pub const MAX_TYPE_NESTING: usize = 16;
