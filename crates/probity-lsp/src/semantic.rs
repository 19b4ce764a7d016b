//! Semantic tokens: what each name stands for (a record, an action type, a field, a rule…),
//! resolved as definition resolves it. Keywords, literals and comments are left to the
//! TextMate grammar, which colours them already.

use std::ops::Range;
use std::path::Path;

use lsp_types::{SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend};
use probity::outline::DeclarationKind;

use crate::analysis::{Set, Target};
use crate::world::File;

/// The token types, in the legend's order (a token's type is its index here).
const TYPES: [SemanticTokenType; 7] = [
    SemanticTokenType::STRUCT,
    SemanticTokenType::EVENT,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::ENUM,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::NAMESPACE,
];

/// The legend the server announces.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: vec![SemanticTokenModifier::DECLARATION, SemanticTokenModifier::READONLY],
    }
}

const DECLARATION: u32 = 1;
const READONLY: u32 = 2;

fn of_declaration(kind: DeclarationKind) -> Option<(u32, u32)> {
    Some(match kind {
        DeclarationKind::Record => (0, 0),
        DeclarationKind::Action => (1, 0),
        DeclarationKind::Field => (2, 0),
        DeclarationKind::Rule => (3, 0),
        DeclarationKind::Ladder => (4, 0),
        DeclarationKind::Const => (5, READONLY),
        DeclarationKind::List => (5, READONLY),
        DeclarationKind::Policy => (6, 0),
        _ => return None,
    })
}

fn of_target(target: &Target) -> (u32, u32) {
    match target {
        Target::Record(_) => (0, 0),
        Target::Action(_) => (1, 0),
        Target::Field(..) => (2, 0),
        Target::Rule(_) => (3, 0),
        Target::Ladder(_) => (4, 0),
        Target::Const(_) | Target::List(_) => (5, READONLY),
    }
}

/// The file's tokens, in order, as the protocol's relative encoding.
pub fn tokens(set: &Set<'_>, path: &Path, file: &File) -> Vec<SemanticToken> {
    let outline = file.outline(path);
    let mut spans: Vec<(Range<usize>, (u32, u32))> = outline
        .declarations
        .iter()
        .filter_map(|d| of_declaration(d.kind).map(|(t, m)| (d.name_span.clone(), (t, m | DECLARATION))))
        .collect();
    for u in &outline.uses {
        spans.extend(set.resolve(u).into_iter().map(|(span, target)| (span, of_target(&target))));
    }
    spans.sort_by_key(|(span, _)| (span.start, span.end));
    let mut out = Vec::with_capacity(spans.len());
    let (mut line, mut start, mut end) = (0u32, 0u32, 0usize);
    for (span, (kind, modifiers)) in spans {
        // Names never overlap; a span that would (a parser oddity) is dropped, not misencoded.
        if span.start < end || span.is_empty() {
            continue;
        }
        let at = file.lines.position(&file.text, span.start);
        let length = file.text.get(span.clone()).map_or(0, |s| s.encode_utf16().count());
        let delta_start = if at.line == line { at.character.saturating_sub(start) } else { at.character };
        out.push(SemanticToken {
            delta_line: at.line.saturating_sub(line),
            delta_start,
            length: u32::try_from(length).unwrap_or(u32::MAX),
            token_type: kind,
            token_modifiers_bitset: modifiers,
        });
        (line, start, end) = (at.line, at.character, span.end);
    }
    out
}
