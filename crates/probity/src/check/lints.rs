//! Lints: warnings for what a policy declares and never uses.

use super::*;

impl<'a> Checker<'a> {
    /// Warnings for declarations nothing reads.
    pub(super) fn unused(&mut self, file: &ast::PolicyFile) {
        for item in &file.items {
            let (kind, decl) = match item {
                ast::Item::Action(a) => ("action", a),
                ast::Item::Record(r) => ("record", r),
                _ => continue,
            };
            let name = &decl.name.name;
            if name != "rm" && !self.used.contains(&format!("{kind} {name}")) {
                let help = match kind {
                    "action" => {
                        "no rule is `on` it, and no aggregate or `fulfilled by` reads it: remove it, or write the rule"
                    }
                    _ => "no field has this type: remove it, or use it as a field's type",
                };
                self.warn("W0005", format!("{kind} `{name}` is never used"), decl.name.span.clone(), help);
                continue;
            }
            for field in &decl.fields {
                if !self.used.contains(&format!("field {name}.{}", field.name.name)) {
                    self.warn(
                        "W0006",
                        format!("field `{}` of {kind} `{name}` is never read", field.name.name),
                        field.name.span.clone(),
                        "declare only what a rule, message or aggregate reads (unknown input fields are ignored)",
                    );
                }
            }
        }
    }
}
