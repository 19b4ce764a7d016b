//! Names across the set: what a name under the cursor stands for, where it is declared and
//! used, and what hover says about it.

use std::ops::Range;
use std::path::{Path, PathBuf};

use probity::outline::{Declaration, DeclarationKind, NameUse, UseKind};

use crate::world::World;

/// What a name stands for, set-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A `record`.
    Record(String),
    /// An `action` type.
    Action(String),
    /// A field of a record or action: `(parent, field)`.
    Field(String, String),
    /// A rule, conflict or duty.
    Rule(String),
    /// A ladder.
    Ladder(String),
    /// A const.
    Const(String),
    /// A list.
    List(String),
}

impl Target {
    fn of(d: &Declaration) -> Option<Target> {
        let name = d.name.clone();
        Some(match d.kind {
            DeclarationKind::Record => Target::Record(name),
            DeclarationKind::Action => Target::Action(name),
            DeclarationKind::Field => Target::Field(d.parent.clone()?, name),
            DeclarationKind::Rule => Target::Rule(name),
            DeclarationKind::Ladder => Target::Ladder(name),
            DeclarationKind::Const => Target::Const(name),
            DeclarationKind::List => Target::List(name),
            _ => return None,
        })
    }
}

/// The fields every action has without declaring them, and their types.
pub const BUILT_IN_FIELDS: [(&str, &str); 3] = [("id", "text"), ("at", "datetime"), ("rm", "rm")];

/// A read-only view of the set for one request, from one file: records and actions are
/// declared per file (two versions of a policy each declare theirs), so a name is looked up in
/// that file first, then in the others.
pub struct Set<'a> {
    world: &'a World,
    home: Option<&'a Path>,
}

impl<'a> Set<'a> {
    /// The view of a world from one of its files.
    pub fn new(world: &'a World, home: Option<&'a Path>) -> Set<'a> {
        Set { world, home }
    }

    fn within(&self, home: &'a Path) -> Set<'a> {
        Set { world: self.world, home: Some(home) }
    }

    /// Every declaration with its file, the home file's first.
    pub fn declarations(&self) -> impl Iterator<Item = (&'a Path, &'a Declaration)> + '_ {
        let home = self.home.and_then(|p| self.world.files.get_key_value(p));
        let others = self.world.files.iter().filter(move |(p, _)| Some(p.as_path()) != self.home);
        home.into_iter()
            .chain(others)
            .flat_map(|(path, file)| file.outline(path).declarations.iter().map(move |d| (path.as_path(), d)))
    }

    /// The declaration of a target (the home file's if it has one).
    pub fn declaration(&self, target: &Target) -> Option<(&'a Path, &'a Declaration)> {
        self.declarations().find(|(_, d)| Target::of(d).as_ref() == Some(target))
    }

    /// A declared field of a record or action.
    pub fn field(&self, parent: &str, name: &str) -> Option<&'a Declaration> {
        self.declarations()
            .map(|(_, d)| d)
            .find(|d| d.kind == DeclarationKind::Field && d.name == name && d.parent.as_deref() == Some(parent))
    }

    /// The fields of a record or action, in declaration order, from the file that declares it
    /// (the home file's if it does: versions of a policy may differ).
    pub fn fields_of(&self, parent: &str) -> Vec<&'a Declaration> {
        let owner = self
            .declarations()
            .find(|(_, d)| matches!(d.kind, DeclarationKind::Record | DeclarationKind::Action) && d.name == parent);
        let Some((path, _)) = owner else { return Vec::new() };
        self.declarations()
            .filter(|(p, d)| *p == path && d.kind == DeclarationKind::Field && d.parent.as_deref() == Some(parent))
            .map(|(_, d)| d)
            .collect()
    }

    /// Whether a declaration of this kind and name exists.
    pub fn declares(&self, kind: DeclarationKind, name: &str) -> bool {
        self.declarations().any(|(_, d)| d.kind == kind && d.name == name)
    }

    /// The names of every declaration of a kind, each once, in order.
    pub fn names(&self, kind: DeclarationKind) -> Vec<&'a str> {
        let mut names: Vec<&str> =
            self.declarations().filter(|(_, d)| d.kind == kind).map(|(_, d)| d.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The type a field names (a record, or `rm` for the built-in field), if it names one.
    pub fn field_type(&self, parent: &str, name: &str) -> Option<String> {
        match self.field(parent, name) {
            Some(d) => d.type_name.clone(),
            None if name == "rm" && self.declares(DeclarationKind::Action, parent) => Some("rm".to_string()),
            None => None,
        }
    }

    /// The first of `types` that has a field `name` (declared, or built in).
    fn owner<'t>(&self, types: &'t [String], name: &str) -> Option<&'t String> {
        types
            .iter()
            .find(|t| self.field(t, name).is_some())
            .or_else(|| BUILT_IN_FIELDS.iter().any(|(f, _)| *f == name).then(|| types.first()).flatten())
    }

    /// The targets a use names, each with the span of the part that names it.
    pub fn resolve(&self, u: &NameUse) -> Vec<(Range<usize>, Target)> {
        match &u.kind {
            UseKind::Action => vec![(u.span.clone(), Target::Action(u.name.clone()))],
            UseKind::Record if self.declares(DeclarationKind::Record, &u.name) => {
                vec![(u.span.clone(), Target::Record(u.name.clone()))]
            }
            UseKind::Ladder => vec![(u.span.clone(), Target::Ladder(u.name.clone()))],
            UseKind::FieldOf(parent) => vec![(u.span.clone(), Target::Field(parent.clone(), u.name.clone()))],
            UseKind::Path { segments, on, item } => self.resolve_path(segments, on, item.as_deref()),
            _ => Vec::new(),
        }
    }

    fn resolve_path(
        &self,
        segments: &[(String, Range<usize>)],
        on: &[String],
        item: Option<&str>,
    ) -> Vec<(Range<usize>, Target)> {
        let mut out = Vec::new();
        let mut rest = segments.iter();
        let Some((first, first_span)) = rest.next() else { return out };
        let mut current: Option<String> = None;
        let item = item.filter(|t| *t != "breach");
        if let Some(item) = item.filter(|t| first != "action" && first != "rm" && self.field(t, first).is_some()) {
            out.push((first_span.clone(), Target::Field(item.to_string(), first.clone())));
            current = self.field_type(item, first);
        } else if first == "action" {
            if let Some((name, span)) = rest.next() {
                if let Some(owner) = self.owner(on, name) {
                    out.push((span.clone(), Target::Field(owner.clone(), name.clone())));
                    current = self.field_type(owner, name);
                }
            }
        } else if first == "rm" {
            current = Some("rm".to_string());
        } else if self.declares(DeclarationKind::Const, first) {
            out.push((first_span.clone(), Target::Const(first.clone())));
        } else if self.declares(DeclarationKind::List, first) {
            out.push((first_span.clone(), Target::List(first.clone())));
        }
        for (name, span) in rest {
            let Some(parent) = current.take() else { break };
            out.push((span.clone(), Target::Field(parent.clone(), name.clone())));
            current = self.field_type(&parent, name);
        }
        out
    }

    /// What the name at `offset` of a file stands for, and the span of that name.
    pub fn target_at(&self, path: &Path, offset: usize) -> Option<(Range<usize>, Target)> {
        let file = self.world.files.get(path)?;
        let outline = file.outline(path);
        let within = |span: &Range<usize>| span.start <= offset && offset <= span.end;
        if let Some(d) = outline.declarations.iter().find(|d| within(&d.name_span)) {
            return Target::of(d).map(|t| (d.name_span.clone(), t));
        }
        // Only the uses written around the offset are resolved (a path spans its segments).
        let extent = |u: &NameUse| match &u.kind {
            UseKind::Path { segments, .. } => u.span.start..segments.last().map_or(u.span.end, |(_, s)| s.end),
            _ => u.span.clone(),
        };
        outline.uses.iter().filter(|u| within(&extent(u))).flat_map(|u| self.resolve(u)).find(|(span, _)| within(span))
    }

    /// Every place that names a target (its declaration first, when asked for).
    pub fn references(&self, target: &Target, with_declaration: bool) -> Vec<(PathBuf, Range<usize>)> {
        let mut out = Vec::new();
        if with_declaration {
            let declarations = self.declarations().filter(|(_, d)| Target::of(d).as_ref() == Some(target));
            out.extend(declarations.map(|(p, d)| (p.to_path_buf(), d.name_span.clone())));
        }
        for (path, file) in &self.world.files {
            let there = self.within(path);
            for u in &file.outline(path).uses {
                for (span, t) in there.resolve(u) {
                    if &t == target {
                        out.push((path.clone(), span));
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.0, a.1.start).cmp(&(&b.0, b.1.start)));
        out.dedup();
        out
    }

    /// Hover text (Markdown) for a target.
    pub fn hover(&self, target: &Target) -> Option<String> {
        if let Target::Field(parent, name) = target {
            if self.field(parent, name).is_none() {
                if parent == "rm" && name == "id" {
                    return Some("```probity\nid: text\n```\nthe built-in field of every RM (`rm`)".to_string());
                }
                let (_, ty) = BUILT_IN_FIELDS.iter().find(|(f, _)| f == name)?;
                return Some(format!("```probity\n{name}: {ty}\n```\nthe built-in field of every action (`{parent}`)"));
            }
        }
        let (path, d) = self.declaration(target)?;
        let mut out = String::from("```probity\n");
        match d.kind {
            DeclarationKind::Field => {
                let parent = d.parent.as_deref().unwrap_or("");
                let of = if self.declares(DeclarationKind::Action, parent) { "action" } else { "record" };
                out.push_str(&format!("{}: {}\n```\nfield of {of} `{parent}`", d.name, d.detail));
                if !d.members.is_empty() {
                    out.push_str(&format!(
                        "\n\nmembers: {}",
                        d.members.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            DeclarationKind::Record | DeclarationKind::Action => {
                let keyword = if d.kind == DeclarationKind::Record { "record" } else { "action" };
                out.push_str(&format!("{keyword} {} {{\n", d.name));
                for f in self.fields_of(&d.name) {
                    out.push_str(&format!("  {}: {}\n", f.name, f.detail));
                }
                out.push_str("}\n```");
            }
            DeclarationKind::Rule | DeclarationKind::Ladder => {
                let head = d.facts.first().filter(|_| d.kind == DeclarationKind::Rule);
                let keyword = head.and_then(|h| h.split(' ').next()).unwrap_or("ladder");
                out.push_str(&format!("{keyword} {}", d.name));
                if !d.detail.is_empty() {
                    out.push_str(&format!(" \"{}\"", d.detail));
                }
                out.push_str("\n```");
                for fact in d.facts.iter().skip(usize::from(head.is_some())) {
                    out.push_str(&format!("\n- {fact}"));
                }
                if let Some(head) = head {
                    out.push_str(&format!("\n\n{}", head.split_once(' ').map_or("", |(_, on)| on)));
                }
            }
            DeclarationKind::Const => out.push_str(&format!("const {} = {}\n```", d.name, d.detail)),
            DeclarationKind::List => {
                out.push_str(&format!("list {} from \"{}\"\n```\n", d.name, d.detail));
                out.push_str(&list_size(path, &d.detail));
            }
            _ => return None,
        }
        Some(out)
    }
}

/// The file a list reads (beside the policy file) and how many entries it has.
fn list_size(policy: &Path, list: &str) -> String {
    let file = policy.parent().unwrap_or(Path::new("")).join(list);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let entries = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).count();
            format!("`{}`: {entries} entries", file.display())
        }
        Err(e) => format!("`{}`: cannot be read ({e})", file.display()),
    }
}
