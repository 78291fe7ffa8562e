//! Hand-written scanner/parser that turns filter and order-by text into raw,
//! not yet validated clauses. Entity-specific rules live in `entities.rs`.
//!
//! Error messages start with the sentence MLflow uses for the same mistake
//! (e.g. `Invalid clause(s) in filter string: ...`, `Invalid order_by clause
//! '...'. Could not be parsed.`) followed by our own detail (what was found,
//! and where). Problems MLflow words differently per entity (an unquoted
//! value, `NULL` as a value, an unknown comparator such as `==`) are not errors
//! here: they are passed on as [`RawValue::Word`], [`RawValue::NullWord`] and
//! [`RawOp::Unknown`] so that `entities.rs` can word them.

use std::fmt;

use crate::ast::{Comparator, SearchError};
use crate::text::{py_str, sentence, truncate};
use crate::{MAX_CLAUSES, MAX_FILTER_LEN, MAX_IN_LIST_ITEMS};

/// How clause-level syntax errors in a filter are worded. Each follows the
/// MLflow endpoint whose grammar is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterStyle {
    /// `runs/search`: `Invalid clause(s) in filter string: 'OR'`.
    Runs,
    /// Experiments, registered models and model versions:
    /// `Invalid clause(s) in filter string: OR` (token not quoted).
    Registry,
    /// `logged-models/search`: `Invalid filter string: '<filter>'. Expected a
    /// list of comparisons separated by 'AND' (...)`.
    LoggedModels,
}

/// What is being parsed, which decides how syntax errors are worded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Filter(FilterStyle),
    OrderBy,
}

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

/// The operator of a clause as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawOp {
    /// A comparator of the grammar.
    Known(Comparator),
    /// An operator-like token MLflow reports as an invalid comparator
    /// (`==`, `<>`, `!`, `NOT LIKE`, ...), upper-cased.
    Unknown(String),
}

impl fmt::Display for RawOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawOp::Known(c) => f.write_str(c.as_str()),
            RawOp::Unknown(text) => f.write_str(text),
        }
    }
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
    /// An unquoted token: a bare word, a backtick-quoted text or a malformed
    /// number. Never a valid value; the source text is in `value_text`.
    Word,
    /// The keyword `NULL` used as a value (`tags.a = NULL`). Never valid.
    NullWord,
    /// A parenthesized group used with a comparator other than `IN` /
    /// `NOT IN` (`metrics.a = (1)`). Never valid; the text is in `value_text`.
    Group,
}

/// One `key comparator value` clause before validation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawClause {
    pub key: RawKey,
    pub op: RawOp,
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
    mode: Mode,
}

impl<'a> Cursor<'a> {
    fn new(src: &'a str, mode: Mode) -> Self {
        Self { src, pos: 0, mode }
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
        self.excerpt_at(pos, |c| c.is_whitespace())
    }

    /// Like [`Self::snippet_at`], but also stops at `,` and `)` (list items).
    fn item_at(&self, pos: usize) -> String {
        self.excerpt_at(pos, |c| c.is_whitespace() || c == ',' || c == ')')
    }

    /// `found 'x'`, or `but the filter ended` at the end of the input.
    fn found_at(&self, pos: usize) -> String {
        let found = self.snippet_at(pos);
        if found.is_empty() {
            "but the filter ended".to_string()
        } else {
            format!("found '{found}'")
        }
    }

    fn excerpt_at(&self, pos: usize, stop: impl Fn(char) -> bool) -> String {
        let rest = self.src.get(pos..).unwrap_or("");
        let mut out = String::new();
        for (i, c) in rest.chars().enumerate() {
            if i > 0 && stop(c) {
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

    // ------------------------------------------------------------- errors

    /// A malformed filter (MLflow: `Invalid clause(s) in filter string: ...`)
    /// or order-by clause (MLflow: `Invalid order_by clause '...'. Could not
    /// be parsed.`). `token` names what was found; `detail` is our explanation.
    fn clause_err(&self, token: &str, detail: &str, pos: usize) -> SearchError {
        let head = match self.mode {
            Mode::Filter(FilterStyle::Runs) => {
                format!("Invalid clause(s) in filter string: '{token}'")
            }
            Mode::Filter(FilterStyle::Registry) => {
                format!("Invalid clause(s) in filter string: {token}")
            }
            Mode::Filter(FilterStyle::LoggedModels) => format!(
                "Invalid filter string: {}. Expected a list of comparisons separated by 'AND' \
                 (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01').",
                py_str(&truncate(self.src))
            ),
            Mode::OrderBy => format!(
                "Invalid order_by clause '{}'. Could not be parsed.",
                truncate(self.src)
            ),
        };
        SearchError::at(sentence(&head, detail), pos)
    }

    /// A left-hand side that is not a key (MLflow: `Invalid comparison
    /// clause. Expected 'Identifier' found '...'`).
    fn key_err(&self, token: &str, detail: &str, pos: usize) -> SearchError {
        match self.mode {
            Mode::Filter(FilterStyle::Runs) | Mode::Filter(FilterStyle::Registry) => {
                SearchError::at(
                    sentence(
                        &format!(
                            "Invalid comparison clause. Expected 'Identifier' found '{token}'"
                        ),
                        detail,
                    ),
                    pos,
                )
            }
            _ => self.clause_err(token, detail, pos),
        }
    }

    /// A malformed `IN` list (MLflow: `While parsing a list in the query,
    /// ...`).
    fn list_err(&self, head: &str, detail: &str, pos: usize) -> SearchError {
        SearchError::at(sentence(head, detail), pos)
    }

    fn unterminated(&self, start: usize, q: char) -> SearchError {
        self.clause_err(
            &self.snippet_at(start),
            &format!("Unterminated quoted text starting at position {start}: missing closing {q}"),
            start,
        )
    }

    fn or_error(&self, pos: usize) -> SearchError {
        self.clause_err(
            "OR",
            &format!(
                "The OR operator (position {pos}) is not supported in search filters. \
                 Only comparisons joined with AND are allowed"
            ),
            pos,
        )
    }

    // ------------------------------------------------------------ scanning

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

    /// Reads an unquoted value token up to whitespace, a quote, a comma or a
    /// parenthesis.
    fn bare_token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | ')' | ',') {
                break;
            }
            self.bump();
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
            return Err(self.clause_err("", "Expected a quoted string", start));
        };
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(self.unterminated(start, q)),
                Some('\\') => match self.bump() {
                    Some(c) if c == q => out.push(q),
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => return Err(self.unterminated(start, q)),
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
                let found = self.snippet_at(start);
                return Err(self.key_err(
                    &found,
                    &format!(
                        "Expected a key but found the string literal {found} at position \
                         {start}. Keys are written like metrics.rmse, params.lr or tags.`my tag`"
                    ),
                    start,
                ));
            }
            Some('(') => {
                return Err(self.clause_err(
                    "(",
                    &format!(
                        "Unexpected '(' at position {start}. Parentheses are only allowed \
                         around the value list of IN / NOT IN; grouping clauses is not supported"
                    ),
                    start,
                ))
            }
            Some(c) if is_key_char(c) => (self.word().to_string(), false),
            Some(_) => {
                let found = self.snippet_at(start);
                return Err(self.clause_err(
                    &found,
                    &format!("Expected a key at position {start}, found '{found}'"),
                    start,
                ));
            }
            None => {
                return Err(self.clause_err("", "Expected a key, but the input ended", start));
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
                    let written = self.slice(start, name_start);
                    return Err(self.clause_err(
                        written,
                        &format!("Missing key name after '{written}' at position {name_start}"),
                        name_start,
                    ));
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
                let found = self.snippet_at(start);
                return Err(self.key_err(
                    &found,
                    &format!(
                        "Unexpected character '{c}' in key '{found}' at position {at}. \
                         Quote key names that contain special characters with backticks, \
                         e.g. metrics.`f1-score`"
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

    fn comparator(&mut self, key: &RawKey) -> Result<(RawOp, usize), SearchError> {
        self.skip_ws();
        let start = self.pos;
        let unknown = |text: &str| RawOp::Unknown(text.to_string());
        let op = match self.peek() {
            None => {
                return Err(self.clause_err(
                    &key.text,
                    &format!(
                        "Expected a comparator after key '{}', but the filter ended",
                        key.text
                    ),
                    start,
                ))
            }
            Some('=') => {
                self.bump();
                if self.peek() == Some('=') {
                    self.bump();
                    unknown("==")
                } else {
                    RawOp::Known(Comparator::Eq)
                }
            }
            Some('!') => {
                self.bump();
                if self.peek() == Some('=') {
                    self.bump();
                    RawOp::Known(Comparator::Ne)
                } else {
                    unknown("!")
                }
            }
            Some('<') => {
                self.bump();
                match self.peek() {
                    Some('=') => {
                        self.bump();
                        RawOp::Known(Comparator::Le)
                    }
                    Some('>') => {
                        self.bump();
                        unknown("<>")
                    }
                    _ => RawOp::Known(Comparator::Lt),
                }
            }
            Some('>') => {
                self.bump();
                if self.peek() == Some('=') {
                    self.bump();
                    RawOp::Known(Comparator::Ge)
                } else {
                    RawOp::Known(Comparator::Gt)
                }
            }
            Some('~') => {
                // Regex operators of other SQL dialects (`~`, `~*`).
                while matches!(self.peek(), Some('~') | Some('*')) {
                    self.bump();
                }
                unknown(self.slice(start, self.pos))
            }
            Some(c) if is_word_char(c) => {
                let written = self.word();
                match written.to_ascii_uppercase().as_str() {
                    "LIKE" => RawOp::Known(Comparator::Like),
                    "ILIKE" => RawOp::Known(Comparator::ILike),
                    "IN" => RawOp::Known(Comparator::In),
                    "NOT" => {
                        let save = self.pos;
                        self.skip_ws();
                        let next = self.word().to_ascii_uppercase();
                        if next == "IN" {
                            RawOp::Known(Comparator::NotIn)
                        } else if next.is_empty() {
                            self.pos = save;
                            unknown("NOT")
                        } else {
                            RawOp::Unknown(format!("NOT {next}"))
                        }
                    }
                    "IS" => {
                        self.skip_ws();
                        let at = self.pos;
                        let next = self.word().to_ascii_uppercase();
                        match next.as_str() {
                            "NULL" => RawOp::Known(Comparator::IsNull),
                            "NOT" => {
                                self.skip_ws();
                                let at2 = self.pos;
                                if self.word().eq_ignore_ascii_case("NULL") {
                                    RawOp::Known(Comparator::IsNotNull)
                                } else {
                                    return Err(self.clause_err(
                                        "IS NOT",
                                        &format!(
                                            "Expected NULL after IS NOT at position {at2}, {}",
                                            self.found_at(at2)
                                        ),
                                        at2,
                                    ));
                                }
                            }
                            _ => {
                                return Err(self.clause_err(
                                    "IS",
                                    &format!(
                                        "Expected NULL or NOT NULL after IS at position {at}, {}",
                                        self.found_at(at)
                                    ),
                                    at,
                                ))
                            }
                        }
                    }
                    _ => {
                        return Err(self.clause_err(
                            written,
                            &format!(
                                "Expected a comparator after key '{}' at position {start}, \
                                 found '{written}'",
                                key.text
                            ),
                            start,
                        ))
                    }
                }
            }
            Some(_) => {
                let found = self.snippet_at(start);
                return Err(self.clause_err(
                    &found,
                    &format!(
                        "Expected a comparator after key '{}' at position {start}, found '{found}'",
                        key.text
                    ),
                    start,
                ));
            }
        };
        Ok((op, start))
    }

    /// Reads a numeric literal. A token that starts like a number but is not
    /// one (`1abc`, `1.2.3`) is returned as [`RawValue::Word`].
    fn number(&mut self) -> Result<RawValue, SearchError> {
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
            return Ok(RawValue::Word);
        }
        let text = self.slice(start, self.pos);
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(RawValue::Num(v)),
            _ => Err(SearchError::at(
                format!("Numeric value '{text}' at position {start} is out of range"),
                start,
            )),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, SearchError> {
        let open = self.pos;
        if self.peek() != Some('(') {
            let found = self.snippet_at(open);
            return Err(self.clause_err(
                &found,
                &format!(
                    "IN and NOT IN must be followed by a parenthesized list of quoted strings, \
                     e.g. ('a', 'b'); found '{found}' at position {open}"
                ),
                open,
            ));
        }
        self.bump();
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            return Err(self.list_err(
                "While parsing a list in the query, expected a non-empty list of string values, \
                 but got empty list",
                &format!(
                    "The list at position {open} is empty: IN and NOT IN need at least one \
                     quoted string value"
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
                    return Err(self.clause_err(
                        self.slice(open, self.pos),
                        &format!("Unterminated list starting at position {open}: missing ')'"),
                        open,
                    ))
                }
                Some(_) => {
                    let found = self.item_at(at);
                    return Err(self.list_err(
                        &format!(
                            "While parsing a list in the query, expected string value, \
                             punctuation, or whitespace, but got different type in list: {found}"
                        ),
                        &format!(
                            "List items must be quoted strings, e.g. ('a', 'b'); found '{found}' \
                             at position {at}"
                        ),
                        at,
                    ));
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
                    return Err(self.clause_err(
                        self.slice(open, self.pos),
                        &format!("Unterminated list starting at position {open}: missing ')'"),
                        open,
                    ))
                }
                Some(_) => {
                    return Err(self.list_err(
                        "While parsing a list in the query, expected a non-empty list of string \
                         values, but got ill-formed list.",
                        &format!(
                            "Expected ',' or ')' in the list at position {at}, found '{}'",
                            self.item_at(at)
                        ),
                        at,
                    ))
                }
            }
        }
    }

    /// Skips a parenthesized group (balanced parentheses, quotes respected).
    fn group(&mut self) -> Result<(), SearchError> {
        let open = self.pos;
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None => {
                    return Err(self.clause_err(
                        self.slice(open, self.pos),
                        &format!("Unterminated list starting at position {open}: missing ')'"),
                        open,
                    ))
                }
                Some('\'') | Some('"') | Some('`') => {
                    self.quoted()?;
                }
                Some('(') => {
                    self.bump();
                    depth += 1;
                }
                Some(')') => {
                    self.bump();
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Some(_) => {
                    self.bump();
                }
            }
        }
    }

    fn value(&mut self, op: &RawOp) -> Result<(RawValue, usize, String), SearchError> {
        if matches!(
            op,
            RawOp::Known(Comparator::IsNull) | RawOp::Known(Comparator::IsNotNull)
        ) {
            return Ok((RawValue::None, self.pos, String::new()));
        }
        self.skip_ws();
        let start = self.pos;
        if matches!(
            op,
            RawOp::Known(Comparator::In) | RawOp::Known(Comparator::NotIn)
        ) {
            let items = self.list()?;
            return Ok((
                RawValue::List(items),
                start,
                self.slice(start, self.pos).to_string(),
            ));
        }
        let value = match self.peek() {
            None => {
                return Err(self.clause_err(
                    &op.to_string(),
                    &format!("Missing value after comparator '{op}' at the end of the filter"),
                    start,
                ))
            }
            Some('\'') | Some('"') => RawValue::Str(self.quoted()?),
            Some('`') => {
                // Backticks quote keys, not values; MLflow reports the value
                // as not quoted, so it is passed on as an unquoted token.
                self.quoted()?;
                RawValue::Word
            }
            Some('(') => {
                self.group()?;
                RawValue::Group
            }
            Some(c)
                if c.is_ascii_digit()
                    || (matches!(c, '+' | '-' | '.')
                        && matches!(self.peek2(), Some(d) if d.is_ascii_digit() || d == '.')) =>
            {
                self.number()?
            }
            Some(c) if is_word_char(c) => {
                let word = self.bare_token();
                if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") {
                    return Err(self.clause_err(
                        &op.to_string(),
                        &format!(
                            "Missing value after comparator '{op}': found the keyword '{word}' \
                             at position {start}"
                        ),
                        start,
                    ));
                }
                if word.eq_ignore_ascii_case("null") {
                    RawValue::NullWord
                } else {
                    RawValue::Word
                }
            }
            Some(_) => {
                let found = self.snippet_at(start);
                return Err(self.clause_err(
                    &found,
                    &format!("Expected a value at position {start}, found '{found}'"),
                    start,
                ));
            }
        };
        Ok((value, start, self.slice(start, self.pos).to_string()))
    }

    fn clause(&mut self) -> Result<RawClause, SearchError> {
        self.skip_ws();
        let key = self.key()?;
        if key.prefix.is_none() && !key.quoted {
            if key.name.eq_ignore_ascii_case("or") {
                return Err(self.or_error(key.start));
            }
            if key.name.eq_ignore_ascii_case("and") {
                return Err(self.clause_err(
                    &key.text,
                    &format!(
                        "Unexpected AND at position {}: expected a comparison",
                        key.start
                    ),
                    key.start,
                ));
            }
        }
        let (op, op_start) = self.comparator(&key)?;
        let (value, value_start, value_text) = self.value(&op)?;
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

/// Parses a whole filter into raw clauses. Empty or blank input yields no clauses.
pub(crate) fn parse_filter(
    filter: &str,
    style: FilterStyle,
) -> Result<Vec<RawClause>, SearchError> {
    if filter.len() > MAX_FILTER_LEN {
        return Err(SearchError::new(format!(
            "The filter is {} bytes long; the maximum is {MAX_FILTER_LEN} bytes",
            filter.len()
        )));
    }
    let mut cur = Cursor::new(filter, Mode::Filter(style));
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
                return Err(cur.clause_err(
                    word,
                    &format!(
                        "The filter ends with AND at position {at}; expected another comparison"
                    ),
                    at,
                ));
            }
        } else if word.eq_ignore_ascii_case("or") {
            return Err(cur.or_error(at));
        } else {
            let found = cur.snippet_at(at);
            return Err(cur.clause_err(
                &found,
                &format!(
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
            "Invalid order_by clause of {} bytes; the maximum is {MAX_FILTER_LEN} bytes",
            clause.len()
        )));
    }
    let mut cur = Cursor::new(clause, Mode::OrderBy);
    cur.skip_ws();
    if cur.eof() {
        return Err(SearchError::new(sentence(
            &format!("Invalid order_by clause '{clause}'. Could not be parsed."),
            "The clause is empty; expected '<key> [ASC|DESC]'",
        )));
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
        let detail =
            format!("Expected ASC or DESC after the key, found '{found}' at position {at}");
        // A single word where the direction belongs is what MLflow calls an
        // invalid ordering key; anything longer it cannot parse at all.
        cur.skip_ws();
        if word.is_empty() || !cur.eof() {
            return Err(cur.clause_err(&found, &detail, at));
        }
        return Err(SearchError::at(
            sentence(
                &format!(
                    "Invalid ordering key in order_by clause '{}'.",
                    truncate(clause)
                ),
                &detail,
            ),
            at,
        ));
    };
    cur.skip_ws();
    if !cur.eof() {
        let at = cur.pos;
        let found = cur.snippet_at(at);
        return Err(cur.clause_err(
            &found,
            &format!(
                "Unexpected '{found}' after the direction at position {at}; \
                 expected '<key> [ASC|DESC]'"
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
        let mut cur = Cursor::new(&src, Mode::Filter(FilterStyle::Runs));
        assert_eq!(cur.list().map(|v| v.len()), Ok(MAX_IN_LIST_ITEMS));
    }

    #[test]
    fn in_list_over_the_maximum_items_is_rejected() {
        let src = list_of(MAX_IN_LIST_ITEMS + 1);
        let mut cur = Cursor::new(&src, Mode::Filter(FilterStyle::Runs));
        let err = cur.list().err().map(|e| e.message).unwrap_or_default();
        assert!(err.contains("more than 10000 items"), "{err}");
    }

    #[test]
    fn raw_key_keeps_source_text_and_position() {
        let clauses = parse_filter("  metrics.`a b` > 1", FilterStyle::Runs).unwrap_or_default();
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
