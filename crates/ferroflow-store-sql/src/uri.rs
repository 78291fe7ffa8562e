//! `--backend-store-uri` as MLflow (SQLAlchemy) spells it.
//!
//! Server URIs follow SQLAlchemy's `make_url`:
//! `dialect[+driver]://[user[:password]@][host][:port]/database[?key=value&...]`, with the
//! user, password, database and query percent-decoded. A host may also come as a query
//! option (`?host=/var/run/postgresql`, `?unix_socket=/run/mysqld/mysqld.sock`), so the
//! host part may be empty. The password never appears in `Debug` or `Display` output, nor
//! in the messages of [`UriError`].

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub enum BackendUri {
    /// `sqlite:///relative.db` or `sqlite:////absolute/path.db`.
    Sqlite(PathBuf),
    /// `postgresql[+psycopg2|+psycopg|...]://` or `postgres://`.
    Postgres(SqlServerUri),
    /// `mysql[+pymysql|+mysqldb|...]://` or `mariadb[+pymysql|...]://`.
    Mysql(SqlServerUri),
}

/// The parts of a PostgreSQL or MySQL/MariaDB URI. `Debug` and `Display` redact the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SqlServerUri {
    /// The scheme as written, e.g. `postgresql+psycopg2` or `mariadb`.
    pub scheme: String,
    /// The SQLAlchemy driver after `+`, if any (`psycopg2`, `pymysql`, ...). Ferroflow uses
    /// its own driver; this is kept only to show the URI as given.
    pub driver: Option<String>,
    pub user: Option<String>,
    password: Option<String>,
    /// `None` when the URI has no host part (the server's default, or a `host` /
    /// `unix_socket` query option).
    pub host: Option<String>,
    pub port: Option<u16>,
    pub database: String,
    /// Query options in order, decoded (`sslmode=require`, `charset=utf8mb4`, ...).
    pub options: Vec<(String, String)>,
}

impl SqlServerUri {
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The first value of a query option.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for SqlServerUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlServerUri")
            .field("scheme", &self.scheme)
            .field("driver", &self.driver)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("options", &self.options)
            .finish()
    }
}

impl fmt::Display for SqlServerUri {
    /// The URI with the password shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.user {
            write!(f, "{}", encode(user))?;
            if self.password.is_some() {
                write!(f, ":***")?;
            }
            write!(f, "@")?;
        }
        if let Some(host) = &self.host {
            if host.contains(':') {
                write!(f, "[{host}]")?;
            } else {
                write!(f, "{host}")?;
            }
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "/{}", encode(&self.database))?;
        for (i, (k, v)) in self.options.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{}={}", encode(k), encode(v))?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UriError {
    #[error(
        "unsupported backend store URI '{0}': Ferroflow accepts sqlite:///<path>, \
         postgresql://<user>:<password>@<host>:<port>/<database> and \
         mysql://<user>:<password>@<host>:<port>/<database>"
    )]
    Unsupported(String),
    #[error("invalid SQLite URI '{0}': expected sqlite:///<relative path> or sqlite:////<absolute path>")]
    BadSqlite(String),
    /// A PostgreSQL / MySQL URI that does not parse; `uri` has its password redacted.
    #[error(
        "invalid {kind} URI '{uri}': {reason}; expected \
         {example}://<user>:<password>@<host>:<port>/<database>[?<option>=<value>]"
    )]
    BadServer {
        kind: &'static str,
        example: &'static str,
        uri: String,
        reason: String,
    },
}

#[derive(Clone, Copy)]
enum Family {
    Postgres,
    Mysql,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Postgres => "PostgreSQL",
            Family::Mysql => "MySQL",
        }
    }

    fn example(self) -> &'static str {
        match self {
            Family::Postgres => "postgresql",
            Family::Mysql => "mysql",
        }
    }

    /// The drivers SQLAlchemy knows for the dialect.
    fn drivers(self) -> &'static [&'static str] {
        match self {
            Family::Postgres => &["psycopg2", "psycopg", "psycopg2cffi", "pg8000", "asyncpg"],
            Family::Mysql => &[
                "pymysql",
                "mysqldb",
                "mysqlconnector",
                "mariadbconnector",
                "cymysql",
                "asyncmy",
                "aiomysql",
            ],
        }
    }
}

impl BackendUri {
    pub fn parse(uri: &str) -> Result<BackendUri, UriError> {
        if let Some(rest) = uri.strip_prefix("sqlite://") {
            // SQLAlchemy: "sqlite:///" + path; the path is relative unless it starts with "/".
            let path = rest
                .strip_prefix('/')
                .ok_or_else(|| UriError::BadSqlite(uri.to_string()))?;
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() || path == ":memory:" {
                return Err(UriError::BadSqlite(uri.to_string()));
            }
            return Ok(BackendUri::Sqlite(PathBuf::from(path)));
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Err(UriError::Unsupported(redact(uri)));
        };
        let (dialect, driver) = match scheme.split_once('+') {
            Some((d, drv)) => (d, Some(drv)),
            None => (scheme, None),
        };
        let family = match dialect {
            "postgresql" | "postgres" => Family::Postgres,
            "mysql" | "mariadb" => Family::Mysql,
            _ => return Err(UriError::Unsupported(redact(uri))),
        };
        let server =
            parse_server(family, scheme, driver, rest).map_err(|reason| UriError::BadServer {
                kind: family.name(),
                example: family.example(),
                uri: redact(uri),
                reason,
            })?;
        Ok(match family {
            Family::Postgres => BackendUri::Postgres(server),
            Family::Mysql => BackendUri::Mysql(server),
        })
    }
}

/// Splits what follows `scheme://` as SQLAlchemy's URL pattern does.
fn parse_server(
    family: Family,
    scheme: &str,
    driver: Option<&str>,
    rest: &str,
) -> Result<SqlServerUri, String> {
    if let Some(driver) = driver {
        if !family.drivers().contains(&driver) {
            return Err(format!(
                "unknown driver '{driver}' (known: {})",
                family.drivers().join(", ")
            ));
        }
    }
    let (user, password, rest) = match split_userinfo(rest) {
        Some((userinfo, rest)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(decode(p)?)),
                None => (userinfo, None),
            };
            let user = decode(user)?;
            ((!user.is_empty()).then_some(user), password, rest)
        }
        None => (None, None, rest),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (hostport, database) = match before_query.split_once('/') {
        Some((hp, db)) => (hp, Some(db)),
        None => (before_query, None),
    };
    let (host, port) = split_host_port(hostport)?;
    let database = decode(database.unwrap_or_default())?;
    if database.is_empty() {
        return Err("the database name is missing".to_string());
    }
    let mut options = Vec::new();
    for pair in query.unwrap_or_default().split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_query(k)?;
        if key.is_empty() {
            return Err(format!("query option '{pair}' has no name"));
        }
        options.push((key, decode_query(v)?));
    }
    Ok(SqlServerUri {
        scheme: scheme.to_string(),
        driver: driver.map(str::to_string),
        user,
        password,
        host,
        port,
        database,
        options,
    })
}

/// `user[:password]@` up to the first `@`, when the user part has no `/` (SQLAlchemy:
/// `(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@`).
fn split_userinfo(rest: &str) -> Option<(&str, &str)> {
    let (userinfo, after) = rest.split_once('@')?;
    let user = userinfo.split(':').next().unwrap_or_default();
    (!user.contains('/')).then_some((userinfo, after))
}

fn split_host_port(hostport: &str) -> Result<(Option<String>, Option<u16>), String> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in host '{hostport}'"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected '{p}' after host '[{host}]'"))?,
            ),
        };
        (host, port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n != 0)
                .ok_or_else(|| format!("port '{p}' is not a number from 1 to 65535"))?,
        ),
    };
    if host.contains('@') {
        return Err("the host part holds an '@': write '@' in a user or password as %40".into());
    }
    let host = (!host.is_empty()).then(|| host.to_string());
    Ok((host, port))
}

fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "a '%' is not followed by two hex digits".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-encoded text is not UTF-8".to_string())
}

/// Query strings also spell a space as `+` (Python's `parse_qsl`).
fn decode_query(s: &str) -> Result<String, String> {
    decode(&s.replace('+', " "))
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URI as given, with everything between the user's `:` and the last `@` shown as
/// `***` (the last, so that a password with an unescaped `@` is hidden whole).
fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let Some(at) = rest.rfind('@') else {
        return uri.to_string();
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, _)) if !user.contains('/') => {
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(uri: &str) -> SqlServerUri {
        match BackendUri::parse(uri) {
            Ok(BackendUri::Postgres(s)) | Ok(BackendUri::Mysql(s)) => s,
            other => panic!("{uri}: {other:?}"),
        }
    }

    fn error(uri: &str) -> String {
        match BackendUri::parse(uri) {
            Err(e) => e.to_string(),
            Ok(b) => panic!("{uri} parsed as {b:?}"),
        }
    }

    #[test]
    fn sqlite_relative_and_absolute_paths() {
        assert_eq!(
            BackendUri::parse("sqlite:///mlflow.db").ok(),
            Some(BackendUri::Sqlite("mlflow.db".into()))
        );
        assert_eq!(
            BackendUri::parse("sqlite:////tmp/x.db").ok(),
            Some(BackendUri::Sqlite("/tmp/x.db".into()))
        );
    }

    #[test]
    fn other_schemes_are_refused_with_the_uri_named() {
        let msg = error("mongodb://x");
        assert!(msg.contains("mongodb://x"), "{msg}");
        let msg = error("mongodb://u:secret@x/db");
        assert!(msg.contains("mongodb://u:***@x/db"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
        assert!(error("oracle+cx_oracle://u@h/db").contains("unsupported"));
        assert!(error("no-scheme-at-all").contains("unsupported"));
    }

    #[test]
    fn postgres_full_uri() {
        let s = server("postgresql://mlflow:s3cret@db.example.com:5433/tracking");
        assert_eq!(s.scheme, "postgresql");
        assert_eq!(s.driver, None);
        assert_eq!(s.user.as_deref(), Some("mlflow"));
        assert_eq!(s.password(), Some("s3cret"));
        assert_eq!(s.host.as_deref(), Some("db.example.com"));
        assert_eq!(s.port, Some(5433));
        assert_eq!(s.database, "tracking");
        assert!(s.options.is_empty());
    }

    #[test]
    fn every_postgres_scheme_and_driver() {
        for scheme in [
            "postgresql",
            "postgresql+psycopg2",
            "postgresql+psycopg",
            "postgres",
            "postgresql+pg8000",
        ] {
            let uri = format!("{scheme}://u:p@h:5432/db");
            match BackendUri::parse(&uri) {
                Ok(BackendUri::Postgres(s)) => {
                    assert_eq!(s.scheme, scheme);
                    assert_eq!(s.database, "db");
                    assert_eq!(s.port, Some(5432));
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
        assert_eq!(
            server("postgresql+psycopg2://u@h/db").driver.as_deref(),
            Some("psycopg2")
        );
    }

    #[test]
    fn every_mysql_scheme_and_driver() {
        for scheme in [
            "mysql",
            "mysql+pymysql",
            "mysql+mysqldb",
            "mariadb",
            "mariadb+pymysql",
            "mysql+mysqlconnector",
        ] {
            let uri = format!("{scheme}://root:pw@127.0.0.1:3306/mlflow?charset=utf8mb4");
            match BackendUri::parse(&uri) {
                Ok(BackendUri::Mysql(s)) => {
                    assert_eq!(s.scheme, scheme);
                    assert_eq!(s.user.as_deref(), Some("root"));
                    assert_eq!(s.password(), Some("pw"));
                    assert_eq!(s.host.as_deref(), Some("127.0.0.1"));
                    assert_eq!(s.port, Some(3306));
                    assert_eq!(s.database, "mlflow");
                    assert_eq!(s.option("charset"), Some("utf8mb4"));
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_driver_is_refused() {
        let msg = error("postgresql+mysqldb://u@h/db");
        assert!(msg.contains("unknown driver 'mysqldb'"), "{msg}");
        assert!(msg.contains("psycopg2"), "{msg}");
        let msg = error("mysql+psycopg2://u@h/db");
        assert!(msg.contains("invalid MySQL URI"), "{msg}");
    }

    #[test]
    fn password_is_percent_decoded_and_may_hold_specials() {
        let s = server("postgresql://us%40er:p%40ss%3Aw%2Fo%25rd@h/db");
        assert_eq!(s.user.as_deref(), Some("us@er"));
        assert_eq!(s.password(), Some("p@ss:w/o%rd"));
        assert_eq!(s.host.as_deref(), Some("h"));
        // An unescaped ':' or '/' in the password is kept, as SQLAlchemy does.
        let s = server("mysql://u:a:b/c@h/db");
        assert_eq!(s.password(), Some("a:b/c"));
        assert_eq!(s.host.as_deref(), Some("h"));
        // An empty password is a password.
        assert_eq!(server("mysql://u:@h/db").password(), Some(""));
    }

    #[test]
    fn optional_parts() {
        let s = server("postgresql://localhost/mlflow");
        assert_eq!(
            (s.user, s.password, s.host.as_deref(), s.port),
            (None, None, Some("localhost"), None)
        );
        let s = server("postgresql://u@h:/db");
        assert_eq!(s.port, None);
        let s = server("postgresql://[::1]:5432/db");
        assert_eq!(s.host.as_deref(), Some("::1"));
        assert_eq!(s.port, Some(5432));
        assert_eq!(s.to_string(), "postgresql://[::1]:5432/db");
    }

    #[test]
    fn query_options_include_sockets_and_ssl() {
        let s = server("postgresql://u:p@/mlflow?host=/var/run/postgresql&sslmode=require");
        assert_eq!(s.host, None);
        assert_eq!(s.option("host"), Some("/var/run/postgresql"));
        assert_eq!(s.option("sslmode"), Some("require"));
        assert_eq!(s.option("missing"), None);
        let s = server("postgresql:///mlflow?host=%2Ftmp%2Fsock");
        assert_eq!((s.host.as_deref(), s.database.as_str()), (None, "mlflow"));
        assert_eq!(s.option("host"), Some("/tmp/sock"));
        let s = server(
            "mysql+pymysql://root@/mlflow?unix_socket=/run/mysqld/mysqld.sock&charset=utf8mb4",
        );
        assert_eq!(s.option("unix_socket"), Some("/run/mysqld/mysqld.sock"));
        assert_eq!(s.option("charset"), Some("utf8mb4"));
        let s = server("postgresql://h/db?options=-c+search_path%3Dml&flag");
        assert_eq!(s.option("options"), Some("-c search_path=ml"));
        assert_eq!(s.option("flag"), Some(""));
    }

    #[test]
    fn missing_database_is_refused() {
        for uri in [
            "postgresql://u:p@h:5432",
            "postgresql://u:p@h:5432/",
            "mysql://root@localhost/?charset=utf8mb4",
            "mariadb://",
        ] {
            let msg = error(uri);
            assert!(msg.contains("the database name is missing"), "{msg}");
            assert!(msg.contains("<database>"), "{msg}");
        }
    }

    #[test]
    fn bad_ports_are_refused() {
        for (uri, port) in [
            ("postgresql://u@h:abc/db", "abc"),
            ("postgresql://u@h:70000/db", "70000"),
            ("mysql://u@h:0/db", "0"),
            ("mysql://u@h:-1/db", "-1"),
        ] {
            let msg = error(uri);
            assert!(
                msg.contains(&format!("port '{port}' is not a number from 1 to 65535")),
                "{msg}"
            );
        }
        assert!(error("postgresql://[::1/db").contains("unclosed '['"));
        assert!(error("postgresql://u@h/db%zz").contains("two hex digits"));
    }

    #[test]
    fn errors_never_show_the_password() {
        for uri in [
            "postgresql://u:hunter2@h:99999/db",
            "mysql+pymysql://u:hunter2@h/",
            "postgresql+nope://u:hunter2@h/db",
            "postgresql://u:hunter2@hunter2@h/db",
        ] {
            let msg = error(uri);
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(msg.contains("u:***@h"), "{msg}");
        }
        assert!(error("postgresql://u:p@ss@h/db").contains("%40"));
    }

    #[test]
    fn debug_and_display_redact_the_password() {
        let uri = "postgresql+psycopg2://ml%20flow:hunter2@db:5432/track?sslmode=require";
        let s = server(uri);
        let debug = format!("{:?}", BackendUri::Postgres(s.clone()));
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("password: Some(\"***\")"), "{debug}");
        assert_eq!(s.password(), Some("hunter2"));
        let shown = s.to_string();
        assert_eq!(
            shown,
            "postgresql+psycopg2://ml%20flow:***@db:5432/track?sslmode=require"
        );
        let no_password = server("mysql://root@h/db");
        assert!(format!("{no_password:?}").contains("password: None"));
        assert_eq!(no_password.to_string(), "mysql://root@h/db");
    }
}
