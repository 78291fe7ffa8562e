//! [`ArtifactPath`]: the only way a client-supplied artifact path reaches a backend.
//!
//! The HTTP layer URL-decodes the request path once and hands the result to
//! [`ArtifactPath::parse`]. Anything that could step outside the artifact root, or that
//! only means something after a second decoding, is refused here, before any backend sees
//! it. The local backend additionally refuses paths that leave the root through symbolic
//! links (see `local`), which no string check can see.

use std::fmt;

use crate::ArtifactError;

/// Longest artifact path accepted, in bytes (S3 keys stop at 1024; local file systems at 4096).
pub const MAX_PATH_LEN: usize = 4096;

/// A validated artifact path relative to the store root, segments joined by `/`.
///
/// Guarantees: not absolute, no `..` segments, no `.` or empty segments (`.` segments are
/// dropped while parsing, `a//b` is refused), no backslash, no ASCII control character
/// (NUL included), no `#` (MLflow refuses it too), no Windows drive letter, and no `%`
/// escape that would decode to `.`, `/`, `\`, `%`, `#` or a control character (so neither
/// `%2e%2e%2f` nor the double-encoded `%252e%252e` can turn into a traversal later). The
/// empty path is the root.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ArtifactPath(String);

impl ArtifactPath {
    /// Validates an already URL-decoded path. One trailing `/` is allowed (`dir/` is `dir`);
    /// `""` and `"."` are the root.
    pub fn parse(raw: &str) -> Result<ArtifactPath, ArtifactError> {
        let invalid = |why: &str| ArtifactError::InvalidPath(format!("'{}': {why}", escape(raw)));
        if raw.len() > MAX_PATH_LEN {
            return Err(ArtifactError::InvalidPath(format!(
                "path is {} bytes long; the limit is {MAX_PATH_LEN}",
                raw.len()
            )));
        }
        if raw.chars().any(|c| c.is_ascii_control()) {
            return Err(invalid(
                "control characters (including NUL) are not allowed",
            ));
        }
        if raw.contains('\\') {
            return Err(invalid(
                "backslashes are not allowed; use '/' as the separator",
            ));
        }
        if raw.contains('#') {
            return Err(invalid("'#' is not allowed"));
        }
        check_percent_escapes(raw).map_err(|esc| {
            invalid(&format!(
                "the escape '{esc}' is not allowed (the path must not need a second decoding)"
            ))
        })?;
        if raw.starts_with('/') {
            return Err(invalid("absolute paths are not allowed"));
        }
        if has_drive_letter(raw) {
            return Err(invalid("Windows drive letters are not allowed"));
        }
        let body = raw.strip_suffix('/').unwrap_or(raw);
        if body.is_empty() {
            return Ok(ArtifactPath::root());
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in body.split('/') {
            match segment {
                "" => return Err(invalid("empty path segments ('//') are not allowed")),
                "." => {}
                ".." => return Err(invalid("'..' segments are not allowed")),
                s => segments.push(s),
            }
        }
        Ok(ArtifactPath(segments.join("/")))
    }

    /// The path as `a/b/c`; `""` for the root.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The root of the store (the empty path).
    pub fn root() -> ArtifactPath {
        ArtifactPath(String::new())
    }

    /// Whether this is the root (the empty path).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// `self/other`; either side may be the root.
    pub fn join(&self, other: &ArtifactPath) -> ArtifactPath {
        match (self.is_root(), other.is_root()) {
            (_, true) => self.clone(),
            (true, false) => other.clone(),
            (false, false) => ArtifactPath(format!("{}/{}", self.0, other.0)),
        }
    }

    /// The segments, in order (none for the root).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The last segment (`None` for the root), e.g. for `Content-Disposition`.
    pub fn file_name(&self) -> Option<&str> {
        self.segments().last()
    }

    /// Appends one validated segment (a name read back from a backend listing).
    pub(crate) fn child(&self, name: &str) -> Result<ArtifactPath, ArtifactError> {
        let child = ArtifactPath::parse(name)?;
        if child.segments().count() != 1 {
            return Err(ArtifactError::InvalidPath(format!(
                "'{}' is not a single path segment",
                escape(name)
            )));
        }
        Ok(self.join(&child))
    }
}

impl fmt::Display for ArtifactPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ArtifactPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Finds the first `%XX` escape that decodes to a byte that would change the path's meaning
/// if someone decoded it again.
fn check_percent_escapes(raw: &str) -> Result<(), String> {
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'%' {
            continue;
        }
        let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
            continue;
        };
        let (Some(h), Some(l)) = (hex(h), hex(l)) else {
            continue;
        };
        let decoded = h * 16 + l;
        if matches!(decoded, b'.' | b'/' | b'\\' | b'%' | b'#') || decoded.is_ascii_control() {
            return Err(raw[i..i + 3].to_string());
        }
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `C:`, `c:foo`, `C:/x` — a first segment that Windows would read as a drive.
fn has_drive_letter(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Makes control characters visible in error messages.
pub(crate) fn escape(raw: &str) -> String {
    raw.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) {
        match ArtifactPath::parse(raw) {
            Err(ArtifactError::InvalidPath(msg)) => assert!(!msg.is_empty()),
            other => panic!("{raw:?} should be refused, got {other:?}"),
        }
    }

    fn accepted(raw: &str, expected: &str) {
        match ArtifactPath::parse(raw) {
            Ok(p) => assert_eq!(p.as_str(), expected, "parsing {raw:?}"),
            Err(e) => panic!("{raw:?} should be accepted, got {e}"),
        }
    }

    #[test]
    fn parent_segments_are_refused_in_every_position() {
        // CVE-2023-1177 / CVE-2023-2356: plain `../` traversal, leading, inner and trailing.
        for raw in [
            "..",
            "../",
            "../etc/passwd",
            "../../../../etc/passwd",
            "a/../b",
            "a/../../b",
            "a/b/..",
            "a/b/../",
            "1/abc/artifacts/../../../../../etc/passwd",
            "./../x",
        ] {
            refused(raw);
        }
    }

    #[test]
    fn percent_encoded_traversal_is_refused() {
        // CVE-2023-6018 / CVE-2023-6831 / CVE-2024-1560: traversal hidden behind one more
        // level of encoding than the HTTP layer decodes.
        for raw in [
            "..%2f",
            "..%2F",
            "..%2fetc%2fpasswd",
            "%2e%2e/",
            "%2E%2E/etc/passwd",
            "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "a/%2e%2e/b",
            "%2e",
            "..%5c..%5cwindows",
            "%00",
            "a%23b",
        ] {
            refused(raw);
        }
    }

    #[test]
    fn double_encoded_traversal_is_refused() {
        // CVE-2023-2780 / CVE-2026-2614: `%252e%252e%252f` decodes to `%2e%2e%2f`, which a
        // second decoding would turn into `../`.
        for raw in [
            "%252e%252e",
            "%252e%252e%252f",
            "%252e%252e/etc/passwd",
            "a/%25252e%25252e/b",
            "%25",
        ] {
            refused(raw);
        }
    }

    #[test]
    fn backslash_forms_are_refused() {
        for raw in [
            "..\\",
            "..\\..\\windows",
            "a\\b",
            "a/..\\..\\b",
            "\\\\server\\share",
        ] {
            refused(raw);
        }
    }

    #[test]
    fn absolute_and_drive_paths_are_refused() {
        for raw in [
            "/etc/passwd",
            "/",
            "//x",
            "//server/share",
            "C:\\x",
            "C:/x",
            "c:x",
            "C:",
            "file:///etc/passwd",
        ] {
            refused(raw);
        }
    }

    #[test]
    fn control_characters_and_nul_are_refused() {
        for raw in [
            "a\0b",
            "model.pkl\0.txt",
            "\0",
            "a\nb",
            "a\rb",
            "tab\there",
            "del\u{7f}",
        ] {
            refused(raw);
        }
    }

    #[test]
    fn empty_segments_are_refused() {
        for raw in ["a//b", "a/b//", "//", "a///"] {
            refused(raw);
        }
    }

    #[test]
    fn hash_is_refused_like_mlflow() {
        refused("a#b");
        refused("#");
    }

    #[test]
    fn overlong_paths_are_refused() {
        refused(&"a".repeat(MAX_PATH_LEN + 1));
        accepted(&"a".repeat(MAX_PATH_LEN), &"a".repeat(MAX_PATH_LEN));
    }

    #[test]
    fn dot_segments_are_dropped() {
        accepted("a/./b", "a/b");
        accepted("./x", "x");
        accepted("x/.", "x");
        accepted(".", "");
        accepted("./", "");
    }

    #[test]
    fn ordinary_names_pass_unchanged() {
        for raw in [
            "model.pkl",
            "a..b.txt",
            "..hidden",
            "x..",
            "...",
            ".env",
            "dir/sub file.txt",
            "1/abc123/artifacts/model/MLmodel",
            "données/模型/файл.json",
            "emoji 🚀.png",
            "100%.txt",
            "a%20b",
            "%zz",
            "50% off/%",
            "name:with:colons",
            "1:2",
            "~user/x",
        ] {
            accepted(raw, raw);
        }
    }

    #[test]
    fn one_trailing_slash_names_the_directory() {
        accepted("dir/", "dir");
        accepted("a/b/", "a/b");
    }

    #[test]
    fn empty_path_is_the_root() {
        let root = ArtifactPath::parse("").expect("valid");
        assert!(root.is_root());
        assert_eq!(root, ArtifactPath::root());
        assert_eq!(root.file_name(), None);
        assert_eq!(root.segments().count(), 0);
    }

    #[test]
    fn join_handles_the_root_on_either_side() {
        let a = ArtifactPath::parse("1/abc").expect("valid");
        let b = ArtifactPath::parse("artifacts/model").expect("valid");
        assert_eq!(a.join(&b).as_str(), "1/abc/artifacts/model");
        assert_eq!(ArtifactPath::root().join(&b), b);
        assert_eq!(a.join(&ArtifactPath::root()), a);
        assert!(ArtifactPath::root().join(&ArtifactPath::root()).is_root());
        assert_eq!(a.join(&b).file_name(), Some("model"));
    }

    #[test]
    fn child_accepts_one_segment_only() {
        let dir = ArtifactPath::parse("d").expect("valid");
        assert_eq!(dir.child("f.txt").expect("valid").as_str(), "d/f.txt");
        assert!(dir.child("a/b").is_err());
        assert!(dir.child("..").is_err());
        assert!(dir.child("").is_err());
    }

    #[test]
    fn error_messages_name_the_path_and_the_reason() {
        let err = ArtifactPath::parse("a/../b")
            .expect_err("refused")
            .to_string();
        assert!(err.contains("a/../b") && err.contains("'..'"), "{err}");
        let err = ArtifactPath::parse("x\0y")
            .expect_err("refused")
            .to_string();
        assert!(err.contains("\\0") && err.contains("control"), "{err}");
        let err = ArtifactPath::parse("%252e")
            .expect_err("refused")
            .to_string();
        assert!(err.contains("%25"), "{err}");
    }
}
