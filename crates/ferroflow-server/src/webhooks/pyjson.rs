//! The bytes MLflow's delivery sends: `json.dumps(...)` with Python's defaults (`", "` and
//! `": "` separators, `ensure_ascii=True`), and `datetime.now(timezone.utc).isoformat()`.
//! Receivers verify the signature over the raw body, so only the format is mirrored here.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::Value;

/// Python's `json.dumps` spacing and ASCII-only strings.
struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() && c != '\x7f' {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

/// `value` as Python's `json.dumps(value)` writes it (object keys in the map's order).
pub fn dumps(value: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    if value.serialize(&mut ser).is_err() {
        return "null".to_string();
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A JSON object with keys in the given order, each value written like [`dumps`]; `raw`
/// values are already-serialized JSON text.
pub fn ordered_object(fields: &[(&str, Field<'_>)]) -> String {
    let mut out = String::from("{");
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&dumps(&Value::String((*key).to_string())));
        out.push_str(": ");
        match value {
            Field::Value(v) => out.push_str(&dumps(v)),
            Field::Raw(text) => out.push_str(text),
        }
    }
    out.push('}');
    out
}

pub enum Field<'a> {
    Value(Value),
    Raw(&'a str),
}

/// `datetime.now(timezone.utc).isoformat()` for a time since the Unix epoch:
/// `2025-01-02T03:04:05.123456+00:00` (the fraction is left out when it is zero).
pub fn isoformat_utc(since_epoch: std::time::Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let micros = since_epoch.subsec_micros();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if micros == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}+00:00")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{micros:06}+00:00")
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn dumps_matches_python() {
        // json.dumps({"a": [1, 2.5, None, True], "b": "ü\u{1F600}\"\n\x7f"})
        let v = json!({"a": [1, 2.5, null, true], "b": "ü\u{1F600}\"\n\x7f"});
        assert_eq!(
            dumps(&v),
            r#"{"a": [1, 2.5, null, true], "b": "\u00fc\ud83d\ude00\"\n\u007f"}"#
        );
        assert_eq!(dumps(&json!({})), "{}");
        assert_eq!(dumps(&json!(100.0)), "100.0");
    }

    #[test]
    fn ordered_objects_keep_their_order() {
        let inner = dumps(&json!({"x": 1}));
        let s = ordered_object(&[
            ("entity", Field::Value(json!("model_version"))),
            ("data", Field::Raw(&inner)),
        ]);
        assert_eq!(s, r#"{"entity": "model_version", "data": {"x": 1}}"#);
    }

    #[test]
    fn isoformat_matches_python() {
        // datetime.fromtimestamp(1735787045.123456, timezone.utc).isoformat()
        assert_eq!(
            isoformat_utc(Duration::from_micros(1_735_787_045_123_456)),
            "2025-01-02T03:04:05.123456+00:00"
        );
        assert_eq!(
            isoformat_utc(Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00+00:00"
        );
        assert_eq!(
            isoformat_utc(Duration::from_secs(0)),
            "1970-01-01T00:00:00+00:00"
        );
    }
}
