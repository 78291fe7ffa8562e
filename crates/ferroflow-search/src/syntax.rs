//! Hand-written scanner/parser that turns filter and order-by text into raw,
//! not yet validated clauses. Entity-specific rules live in `entities.rs`.

use crate::ast::{Comparator, SearchError};
use crate::{MAX_CLAUSES, MAX_FILTER_LEN, MAX_IN_LIST_ITEMS};

/// The left-hand side of a clause as written, before entity resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawKey {
    /// The part before the first `.`, quotes removed (e.g. `metrics`).
    pub prefix: Option<String>,
    /// The key name, quotes removed (e.g. `my metric`, `mlflow.runName`).
    pub name: String,
    /// Whether the name was written inside quotes or backticks.
    pub quoted: bool,
    /// Byte offset of the first character of the key.
    pub start: usize,
    /// The key exactly as written in the input.
    pub text: String,
}

/// The right-hand side of a clause as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    /// No value (`IS NULL` / `IS NOT NULL`).
    None,
    /// A quoted string, unescaped.
    Str(String),
    /// A numeric literal; the source text is kept in [`RawClause::value_text`].
    Num(f64),
    /// A parenthesized list of quoted strings.
    List(Vec<String>),
}

/// One `key comparator value` clause before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawClause {
    pub key: RawKey,
    pub op: Comparator,
    pub op_start: usize,
    pub value: RawValue,
    pub value_start: usize,
    /// The value exactly as written (empty for `IS [NOT] NULL`).
    pub value_text: String,
}

/// One order-by clause before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawOrderBy {
    pub key: RawKey,
    pub ascending: bool,
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_op_char(c: char) -> bool {
    matches!(c, '=' | '!' | '<' | '>')
}

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(src: &'a str) -> Self {
        Self { src, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.rest().chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    /// A short excerpt of the input at `pos`, used to name the offending token.
    fn snippet_at(&self, pos: usize) -> String {
        let rest = self.src.get(pos..).unwrap_or("");
        let mut out = String::new();
        for (i, c) in rest.chars().enumerate() {
            if i > 0 && c.is_whitespace() {
                break;
            }
            if i >= 40 {
                out.push_str("...");
                break;
            }
            out.push(c);
        }
        out
    }

    /// Reads `[A-Za-z0-9_]+` (Unicode letters and digits included).
    fn word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_word_char(c) {
                self.bump();
            } else {
                break;
            }
        }
        self.slice(start, self.pos)
    }

    /// Reads an unquoted key name, which may contain dots (`mlflow.runName`).
    fn dotted_word(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_key_char(c) || c == '.' {
                self.bump();
            } else {
                break;
            }
        }
        self.slice(start, self.pos)
    }

    /// Reads a quoted section starting at the current quote character.
    ///
    /// The closing quote may be escaped by doubling it (`'it''s'`) or with a
    /// backslash (`'it\'s'`). Any other backslash sequence is kept verbatim.
    fn quoted(&mut self) -> Result<String, SearchError> {
        let start = self.pos;
        let Some(q) = self.bump() else {
            return Err(SearchError::at("Expected a quoted string", start));
        };
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(SearchError::at(
                        format!(
                            "Unterminated quoted text starting at position {start}: \
                             missing closing {q}"
                        ),
                        start,
                    ))
                }
                Some('\\') => match self.bump() {
                    Some(c) if c == q => out.push(q),
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => {
                        return Err(SearchError::at(
                            format!(
                                "Unterminated quoted text starting at position {start}: \
                                 missing closing {q}"
                            ),
                            start,
                        ))
                    }
                },
                Some(c) if c == q => {
                    if self.peek() == Some(q) {
                        self.bump();
                        out.push(q);
                    } else {
                        return Ok(out);
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    /// Parses the left-hand side of a clause or an order-by key.
    fn key(&mut self) -> Result<RawKey, SearchError> {
        let start = self.pos;
        let (first, first_quoted) = match self.peek() {
            Some('`') | Some('"') => (self.quoted()?, true),
            Some('\'') => {
                return Err(SearchError::at(
                    format!(
                        "Expected a key but found the string literal {} at position {start}. \
                         Keys are written like metrics.rmse, params.lr or tags.`my tag`",
                        self.snippet_at(start)
                    ),
                    start,
                ))
            }
            Some('(') => {
                return Err(SearchError::at(
                    format!(
                        "Unexpected '(' at position {start}. Parentheses are only allowed \
                         around the value list of IN / NOT IN; grouping clauses is not supported"
                    ),
                    start,
                ))
            }
            Some(c) if is_key_char(c) => (self.word().to_string(), false),
            Some(_) => {
                return Err(SearchError::at(
                    format!(
                        "Expected a key at position {start}, found '{}'",
                        self.snippet_at(start)
                    ),
                    start,
                ))
            }
            None => {
                return Err(SearchError::at(
                    "Expected a key, but the input ended".to_string(),
                    start,
                ))
            }
        };

        let (prefix, name, quoted) = if self.peek() == Some('.') {
            self.bump();
            let name_start = self.pos;
            match self.peek() {
                Some('`') | Some('"') | Some('\'') => (Some(first), self.quoted()?, true),
                Some(c) if is_key_char(c) || c == '.' => {
                    (Some(first), self.dotted_word().to_string(), false)
                }
                _ => {
                    return Err(SearchError::at(
                        format!(
                            "Missing key name after '{}' at position {name_start}",
                            self.slice(start, name_start)
                        ),
                        name_start,
                    ))
                }
            }
        } else {
            (None, first, first_quoted)
        };

        // The key must be followed by whitespace, an operator or the end.
        match self.peek() {
            None => {}
            Some(c) if c.is_whitespace() || is_op_char(c) => {}
            Some(c) => {
                let at = self.pos;
                return Err(SearchError::at(
                    format!(
                        "Unexpected character '{c}' in key '{}' at position {at}. \
                         Quote key names that contain special characters with backticks, \
                         e.g. metrics.`f1-score`",
                        self.snippet_at(start)
                    ),
                    at,
                ));
            }
        }

        Ok(RawKey {
            prefix,
            name,
            quoted,
            start,
            text: self.slice(start, self.pos).to_string(),
        })
    }

    fn comparator(&mut self, key: &RawKey) -> Result<(Comparator, usize), SearchError> {
        self.skip_ws();
        let start = self.pos;
        let invalid = |text: &str| {
            SearchError::at(
                format!(
                    "Invalid comparator '{text}' at position {start}. Valid comparators are \
                     =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL and IS NOT NULL"
                ),
                start,
            )
        };
        let op = match self.peek() {
            None => {
                return Err(SearchError::at(
                    format!(
                        "Expected a comparator after key '{}', but the filter ended",
                        key.text
                    ),
                    start,
                ))
            }
            Some('=') => {
                self.bump();
                if self.peek() == Some('=') {
                    return Err(invalid("=="));
                }
                Comparator::Eq
            }
            Some('!') => {
                self.bump();
                if self.peek() == Some('=') {
                    self.bump();
                    Comparator::Ne
                } else {
                    return Err(invalid("!"));
                }
            }
            Some('<') => {
                self.bump();
                match self.peek() {
                    Some('=') => {
                        self.bump();
                        Comparator::Le
                    }
                    Some('>') => return Err(invalid("<>")),
                    _ => Comparator::Lt,
                }
            }
            Some('>') => {
                self.bump();
                if self.peek() == Some('=') {
                    self.bump();
                    Comparator::Ge
                } else {
                    Comparator::Gt
                }
            }
            Some(c) if is_word_char(c) => {
                let word = self.word().to_ascii_uppercase();
                match word.as_str() {
                    "LIKE" => Comparator::Like,
                    "ILIKE" => Comparator::ILike,
                    "IN" => Comparator::In,
                    "NOT" => {
                        self.skip_ws();
                        let at = self.pos;
                        let next = self.word().to_ascii_uppercase();
                        if next == "IN" {
                            Comparator::NotIn
                        } else {
                            return Err(SearchError::at(
                                format!(
                                    "Expected IN after NOT at position {at}, found '{}'. \
                                     NOT is only supported as part of NOT IN",
                                    self.snippet_at(at)
                                ),
                                at,
                            ));
                        }
                    }
                    "IS" => {
                        self.skip_ws();
                        let at = self.pos;
                        let next = self.word().to_ascii_uppercase();
                        match next.as_str() {
                            "NULL" => Comparator::IsNull,
                            "NOT" => {
                                self.skip_ws();
                                let at2 = self.pos;
                                if self.word().eq_ignore_ascii_case("NULL") {
                                    Comparator::IsNotNull
                                } else {
                                    return Err(SearchError::at(
                                        format!(
                                            "Expected NULL after IS NOT at position {at2}, \
                                             found '{}'",
                                            self.snippet_at(at2)
                                        ),
                                        at2,
                                    ));
                                }
                            }
                            _ => {
                                return Err(SearchError::at(
                                    format!(
                                        "Expected NULL or NOT NULL after IS at position {at}, \
                                         found '{}'",
                                        self.snippet_at(at)
                                    ),
                                    at,
                                ))
                            }
                        }
                    }
                    _ => {
                        return Err(SearchError::at(
                            format!(
                                "Expected a comparator after key '{}' at position {start}, \
                                 found '{}'",
                                key.text,
                                self.slice(start, self.pos)
                            ),
                            start,
                        ))
                    }
                }
            }
            Some(_) => {
                return Err(SearchError::at(
                    format!(
                        "Expected a comparator after key '{}' at position {start}, found '{}'",
                        key.text,
                        self.snippet_at(start)
                    ),
                    start,
                ))
            }
        };
        Ok((op, start))
    }

    fn number(&mut self) -> Result<f64, SearchError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+') | Some('-')) {
            self.bump();
        }
        let mut digits = 0usize;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.bump();
            digits += 1;
        }
        if self.peek() == Some('.') {
            self.bump();
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.bump();
                digits += 1;
            }
        }
        if digits > 0 && matches!(self.peek(), Some('e') | Some('E')) {
            let save = self.pos;
            self.bump();
            if matches!(self.peek(), Some('+') | Some('-')) {
                self.bump();
            }
            let mut exp_digits = 0usize;
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.bump();
                exp_digits += 1;
            }
            if exp_digits == 0 {
                self.pos = save;
            }
        }
        let bad = matches!(self.peek(), Some(c) if is_key_char(c) || c == '.');
        if digits == 0 || bad {
            // Swallow the rest of the token so the message shows all of it.
            while matches!(self.peek(), Some(c) if is_key_char(c) || c == '.' || c == '-' || c == '+')
            {
                self.bump();
            }
            let text = self.slice(start, self.pos);
            return Err(SearchError::at(
                format!("Invalid numeric value '{text}' at position {start}"),
                start,
            ));
        }
        let text = self.slice(start, self.pos);
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(SearchError::at(
                format!("Numeric value '{text}' at position {start} is out of range"),
                start,
            )),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, SearchError> {
        let open = self.pos;
        if self.peek() != Some('(') {
            return Err(SearchError::at(
                format!(
                    "IN and NOT IN must be followed by a parenthesized list of quoted strings, \
                     e.g. ('a', 'b'); found '{}' at position {open}",
                    self.snippet_at(open)
                ),
                open,
            ));
        }
        self.bump();
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(SearchError::at(
                format!(
                    "Empty list at position {open}: IN and NOT IN need at least one quoted \
                     string value"
                ),
                open,
            ));
        }
        loop {
            self.skip_ws();
            let at = self.pos;
            match self.peek() {
                Some('\'') | Some('"') => {
                    if items.len() >= MAX_IN_LIST_ITEMS {
                        return Err(SearchError::at(
                            format!(
                                "The list starting at position {open} has more than \
                                 {MAX_IN_LIST_ITEMS} items"
                            ),
                            open,
                        ));
                    }
                    items.push(self.quoted()?);
                }
                None => {
                    return Err(SearchError::at(
                        format!("Unterminated list starting at position {open}: missing ')'"),
                        open,
                    ))
                }
                Some(_) => {
                    return Err(SearchError::at(
                        format!(
                            "Expected a quoted string in the list at position {at}, found '{}'. \
                             List items must be quoted strings, e.g. ('a', 'b')",
                            self.snippet_at(at)
                        ),
                        at,
                    ))
                }
            }
            self.skip_ws();
            let at = self.pos;
            match self.peek() {
                Some(',') => {
                    self.bump();
                    self.skip_ws();
                    // A trailing comma is accepted: ('a', 'b',)
                    if self.peek() == Some(')') {
                        self.bump();
                        return Ok(items);
                    }
                }
                Some(')') => {
                    self.bump();
                    return Ok(items);
                }
                None => {
                    return Err(SearchError::at(
                        format!("Unterminated list starting at position {open}: missing ')'"),
                        open,
                    ))
                }
                Some(_) => {
                    return Err(SearchError::at(
                        format!(
                            "Expected ',' or ')' in the list at position {at}, found '{}'",
                            self.snippet_at(at)
                        ),
                        at,
                    ))
                }
            }
        }
    }

    fn value(&mut self, op: Comparator) -> Result<(RawValue, usize, String), SearchError> {
        if matches!(op, Comparator::IsNull | Comparator::IsNotNull) {
            return Ok((RawValue::None, self.pos, String::new()));
        }
        self.skip_ws();
        let start = self.pos;
        if matches!(op, Comparator::In | Comparator::NotIn) {
            let items = self.list()?;
            return Ok((
                RawValue::List(items),
                start,
                self.slice(start, self.pos).to_string(),
            ));
        }
        let value = match self.peek() {
            None => {
                return Err(SearchError::at(
                    format!("Missing value after comparator '{op}' at the end of the filter"),
                    start,
                ))
            }
            Some('\'') | Some('"') => RawValue::Str(self.quoted()?),
            Some('`') => {
                return Err(SearchError::at(
                    format!(
                        "Invalid value {} at position {start}: backticks quote keys, not \
                         values. Use single or double quotes for string values",
                        self.snippet_at(start)
                    ),
                    start,
                ))
            }
            Some('(') => {
                return Err(SearchError::at(
                    format!(
                        "A parenthesized list at position {start} can only be used with IN or \
                         NOT IN, not with '{op}'"
                    ),
                    start,
                ))
            }
            Some(c)
                if c.is_ascii_digit()
                    || (matches!(c, '+' | '-' | '.')
                        && matches!(self.peek2(), Some(d) if d.is_ascii_digit() || d == '.')) =>
            {
                RawValue::Num(self.number()?)
            }
            Some(c) if is_word_char(c) => {
                let word = self.dotted_word();
                if word.eq_ignore_ascii_case("null") {
                    return Err(SearchError::at(
                        format!(
                            "Cannot compare with NULL using '{op}' at position {start}; \
                             use IS NULL or IS NOT NULL"
                        ),
                        start,
                    ));
                }
                return Err(SearchError::at(
                    format!(
                        "Expected a quoted string or a number as the value at position {start}, \
                         found '{word}'. String values must be quoted, e.g. '{word}'"
                    ),
                    start,
                ));
            }
            Some(_) => {
                return Err(SearchError::at(
                    format!(
                        "Expected a value at position {start}, found '{}'",
                        self.snippet_at(start)
                    ),
                    start,
                ))
            }
        };
        Ok((value, start, self.slice(start, self.pos).to_string()))
    }

    fn clause(&mut self) -> Result<RawClause, SearchError> {
        self.skip_ws();
        let key = self.key()?;
        if key.prefix.is_none() && !key.quoted {
            if key.name.eq_ignore_ascii_case("or") {
                return Err(or_error(key.start));
            }
            if key.name.eq_ignore_ascii_case("and") {
                return Err(SearchError::at(
                    format!(
                        "Unexpected AND at position {}: expected a comparison",
                        key.start
                    ),
                    key.start,
                ));
            }
        }
        let (op, op_start) = self.comparator(&key)?;
        let (value, value_start, value_text) = self.value(op)?;
        Ok(RawClause {
            key,
            op,
            op_start,
            value,
            value_start,
            value_text,
        })
    }
}

fn or_error(pos: usize) -> SearchError {
    SearchError::at(
        format!(
            "The OR operator (position {pos}) is not supported in search filters. \
             Only comparisons joined with AND are allowed"
        ),
        pos,
    )
}

/// Parses a whole filter into raw clauses. Empty or blank input yields no clauses.
pub(crate) fn parse_filter(filter: &str) -> Result<Vec<RawClause>, SearchError> {
    if filter.len() > MAX_FILTER_LEN {
        return Err(SearchError::new(format!(
            "The filter is {} bytes long; the maximum is {MAX_FILTER_LEN} bytes",
            filter.len()
        )));
    }
    let mut cur = Cursor::new(filter);
    cur.skip_ws();
    if cur.eof() {
        return Ok(Vec::new());
    }
    let mut clauses = Vec::new();
    loop {
        if clauses.len() >= MAX_CLAUSES {
            return Err(SearchError::at(
                format!("The filter has more than {MAX_CLAUSES} comparisons"),
                cur.pos,
            ));
        }
        clauses.push(cur.clause()?);
        cur.skip_ws();
        if cur.eof() {
            return Ok(clauses);
        }
        let at = cur.pos;
        let word = cur.word();
        if word.eq_ignore_ascii_case("and") {
            cur.skip_ws();
            if cur.eof() {
                return Err(SearchError::at(
                    format!(
                        "The filter ends with AND at position {at}; expected another comparison"
                    ),
                    at,
                ));
            }
        } else if word.eq_ignore_ascii_case("or") {
            return Err(or_error(at));
        } else {
            let found = cur.snippet_at(at);
            return Err(SearchError::at(
                format!(
                    "Expected AND between comparisons at position {at}, found '{found}'. \
                     Comparisons must be joined with AND"
                ),
                at,
            ));
        }
    }
}

/// Parses one `"<key> [ASC|DESC]"` order-by clause.
pub(crate) fn parse_order_by_clause(clause: &str) -> Result<RawOrderBy, SearchError> {
    if clause.len() > MAX_FILTER_LEN {
        return Err(SearchError::new(format!(
            "The order_by clause is {} bytes long; the maximum is {MAX_FILTER_LEN} bytes",
            clause.len()
        )));
    }
    let mut cur = Cursor::new(clause);
    cur.skip_ws();
    if cur.eof() {
        return Err(SearchError::new(
            "Empty order_by clause; expected '<key> [ASC|DESC]'",
        ));
    }
    let key = cur.key()?;
    cur.skip_ws();
    if cur.eof() {
        return Ok(RawOrderBy {
            key,
            ascending: true,
        });
    }
    let at = cur.pos;
    let word = cur.word();
    let ascending = if word.eq_ignore_ascii_case("asc") {
        true
    } else if word.eq_ignore_ascii_case("desc") {
        false
    } else {
        let found = cur.snippet_at(at);
        return Err(SearchError::at(
            format!(
                "Invalid ordering direction '{found}' in order_by clause '{clause}'. \
                 Expected ASC or DESC"
            ),
            at,
        ));
    };
    cur.skip_ws();
    if !cur.eof() {
        let at = cur.pos;
        let found = cur.snippet_at(at);
        return Err(SearchError::at(
            format!(
                "Invalid order_by clause '{clause}': unexpected '{found}' after the direction. \
                 Expected '<key> [ASC|DESC]'"
            ),
            at,
        ));
    }
    Ok(RawOrderBy { key, ascending })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_of(n: usize) -> String {
        format!("({})", vec!["''"; n].join(","))
    }

    #[test]
    fn in_list_of_exactly_the_maximum_items_is_accepted() {
        let src = list_of(MAX_IN_LIST_ITEMS);
        let mut cur = Cursor::new(&src);
        assert_eq!(cur.list().map(|v| v.len()), Ok(MAX_IN_LIST_ITEMS));
    }

    #[test]
    fn in_list_over_the_maximum_items_is_rejected() {
        let src = list_of(MAX_IN_LIST_ITEMS + 1);
        let mut cur = Cursor::new(&src);
        let err = cur.list().err().map(|e| e.message).unwrap_or_default();
        assert!(err.contains("more than 10000 items"), "{err}");
    }

    #[test]
    fn raw_key_keeps_source_text_and_position() {
        let clauses = parse_filter("  metrics.`a b` > 1").unwrap_or_default();
        assert_eq!(clauses.len(), 1);
        let key = &clauses[0].key;
        assert_eq!(key.prefix.as_deref(), Some("metrics"));
        assert_eq!(key.name, "a b");
        assert!(key.quoted);
        assert_eq!(key.start, 2);
        assert_eq!(key.text, "metrics.`a b`");
        assert_eq!(clauses[0].value_text, "1");
    }
}
