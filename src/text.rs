//! Text made to fit where it is shown: on one line, cut to a width, a commit
//! id as Git shows it. Used by the client, notifications and commit statuses.

/// How many characters of a commit id Git shows.
const SHORT_COMMIT: usize = 7;

/// `text` on one line: a compose error may span several.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The first characters of a commit id, as Git shows it.
pub fn short_commit(revision: &str) -> &str {
    match revision.char_indices().nth(SHORT_COMMIT) {
        Some((end, _)) => &revision[..end],
        None => revision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fits_on_one_line_within_its_width() {
        assert_eq!(one_line("a\n  b\tc "), "a b c");
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdefg", 6), "abcde…");
        assert_eq!(cut("ééééééé", 3), "éé…");
        assert_eq!(short_commit("0123456789abcdef"), "0123456");
        assert_eq!(short_commit("abc"), "abc");
    }
}
