//! Stack names: the stack path made into a compose project name.

/// The stack name for a stack path: lower-cased, every character outside
/// `[a-z0-9_-]` replaced by `-`; the deploy folder itself (`.`) is `root`.
pub fn stack_name(path: &str) -> String {
    if path == "." || path.is_empty() {
        return "root".to_string();
    }
    path.chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Why `name` cannot be a compose project name, if it cannot.
///
/// Compose v2 requires `^[a-z0-9][a-z0-9_-]*$`; v1 would silently rewrite such a
/// name instead. Checking here makes both versions behave the same.
pub fn project_name_problem(name: &str) -> Option<String> {
    match name.chars().next() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => None,
        _ => Some(format!(
            "stack name '{name}' is not a valid compose project name: it must start with a letter or digit (rename the folder)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("apps/web", "apps-web")]
    #[case("apps/Web.v2", "apps-web-v2")]
    #[case(".", "root")]
    #[case("infra/db_main", "infra/db_main".replace('/', "-"))]
    #[case("Ünïcode", "-n-code")]
    #[case("a b", "a-b")]
    fn names_follow_the_contract(#[case] path: &str, #[case] name: String) {
        assert_eq!(stack_name(path), name);
    }

    #[rstest]
    #[case("apps-web", true)]
    #[case("0day", true)]
    #[case("-hidden", false)]
    #[case("_private", false)]
    fn project_names_must_start_with_a_letter_or_digit(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(project_name_problem(name).is_none(), ok);
    }
}
