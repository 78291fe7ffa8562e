//! Small text helpers for error messages.
//!
//! MLflow builds its search error messages with Python f-strings, so values
//! show up as Python literals (`'abc'`, `['a', 'b']`, `('a', 'b')`). These
//! helpers render our values the same way so that the MLflow sentence in each
//! message reads exactly as MLflow's does.

/// Longest echo of user input (a whole filter, a list of order-by clauses)
/// placed into a message. Longer echoes are cut and end in `...`.
const MAX_ECHO: usize = 256;

/// Joins an MLflow sentence and our own detail into one message.
pub(crate) fn sentence(head: &str, detail: &str) -> String {
    if detail.is_empty() {
        head.to_string()
    } else if head.ends_with('.') {
        format!("{head} {detail}")
    } else {
        format!("{head}. {detail}")
    }
}

/// Cuts `s` to at most [`MAX_ECHO`] bytes on a character boundary.
pub(crate) fn truncate(s: &str) -> String {
    if s.len() <= MAX_ECHO {
        return s.to_string();
    }
    let mut end = MAX_ECHO;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", s.get(..end).unwrap_or(""))
}

/// Python `repr()` of a string: `'text'`, or `"it's"` when the text holds a
/// single quote but no double quote.
pub fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python `repr()` of a list of strings: `['a', 'b']`.
pub(crate) fn py_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(py_str).collect();
    format!("[{}]", parts.join(", "))
}

/// Python `repr()` of a tuple of strings: `('a', 'b')`, `('a',)`.
pub(crate) fn py_tuple<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let parts: Vec<String> = items.into_iter().map(py_str).collect();
    if parts.len() == 1 {
        format!("({},)", parts.join(""))
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Names in single quotes, comma separated: `'a', 'b'`.
pub(crate) fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_str_matches_python_repr() {
        assert_eq!(py_str("abc"), "'abc'");
        assert_eq!(py_str("it's"), "\"it's\"");
        assert_eq!(py_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_str("a\\b\n"), "'a\\\\b\\n'");
    }

    #[test]
    fn py_list_and_tuple_match_python_repr() {
        assert_eq!(py_list(["a", "b"]), "['a', 'b']");
        assert_eq!(py_tuple(["a", "b"]), "('a', 'b')");
        assert_eq!(py_tuple(["a"]), "('a',)");
    }

    #[test]
    fn sentence_adds_a_period_only_when_needed() {
        assert_eq!(sentence("A", "b"), "A. b");
        assert_eq!(sentence("A.", "b"), "A. b");
        assert_eq!(sentence("A", ""), "A");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let s = "é".repeat(200);
        let t = truncate(&s);
        assert!(t.ends_with("..."));
        assert!(t.len() <= MAX_ECHO + 3);
    }
}
