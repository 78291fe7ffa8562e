//! Turning an artifact root URI plus environment settings into a backend.
//!
//! Settings come from an explicit map (the process environment in production), so tests
//! never mutate process-global state. Client timeouts: `object_store`'s default 30 s limit
//! covers a whole request *including* a download's body, which would cut large model
//! downloads short, so the overall timeout is off and only connecting is bounded (10 s);
//! `AWS_TIMEOUT` / `GOOGLE_TIMEOUT` / `AZURE_TIMEOUT` (any `object_store` client key with the
//! provider's prefix) override that.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::multipart::MultipartStore;
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ClientOptions, ObjectStore};
use url::Url;

use crate::ArtifactError;

/// Environment settings (name → value); empty values count as unset.
pub(crate) struct Env(HashMap<String, String>);

impl Env {
    pub(crate) fn new<I, K, V>(vars: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env(vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        })
    }

    /// `(lower-cased name, value)` for every variable starting with `prefix`, in name order
    /// (so `AWS_REGION` is applied after `AWS_DEFAULT_REGION` and wins).
    fn with_prefix(&self, prefix: &str) -> Vec<(String, &str)> {
        let mut vars: Vec<(String, &str)> = self
            .0
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        vars.sort();
        vars
    }
}

pub(crate) enum Parsed {
    Local(PathBuf),
    Object {
        root_uri: String,
        store: Arc<dyn ObjectStore>,
        /// The same store's low-level multipart API, where client-driven multipart uploads
        /// (upload id + numbered parts, any replica taking any part) are supported.
        multipart: Option<Arc<dyn MultipartStore>>,
        prefix: ObjectPath,
    },
}

/// An object store, its multipart API (if client multipart is supported), the key prefix.
type StoreParts = (
    Arc<dyn ObjectStore>,
    Option<Arc<dyn MultipartStore>>,
    ObjectPath,
);

const SUPPORTED: &str =
    "a local path, file://, s3://, s3a://, gs://, wasbs://, wasb://, abfss://, abfs:// or az://";

pub(crate) fn parse(uri: &str, env: &Env) -> Result<Parsed, ArtifactError> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Err(ArtifactError::Config(
            "the artifact root is empty; give a directory or a storage URI".to_string(),
        ));
    }
    let Some(scheme) = scheme_of(uri) else {
        return local_path(uri).map(Parsed::Local);
    };
    let url = Url::parse(uri)
        .map_err(|e| ArtifactError::Config(format!("'{uri}' is not a valid URI: {e}")))?;
    let root_uri = uri.trim_end_matches('/').to_string();
    let (store, multipart, prefix): StoreParts = match scheme.as_str() {
        "file" => {
            let path = url.to_file_path().map_err(|()| {
                ArtifactError::Config(format!(
                    "'{uri}' is not a local file URI (expected file:///absolute/path)"
                ))
            })?;
            return Ok(Parsed::Local(path));
        }
        "s3" | "s3a" => {
            let (store, multipart) = s3(uri, &url, env)?;
            (store, Some(multipart), prefix_of(uri, &url)?)
        }
        "gs" => {
            let (store, multipart) = gcs(uri, &url, env)?;
            (store, Some(multipart), prefix_of(uri, &url)?)
        }
        // Azure's block API has no upload id (block ids come from the part index, so two
        // uploads of one blob would share blocks) and cannot abort: no client multipart.
        "wasbs" | "wasb" | "abfss" | "abfs" | "az" => {
            (azure(uri, &url, &scheme, env)?, None, prefix_of(uri, &url)?)
        }
        "mlflow-artifacts" | "http" | "https" => {
            return Err(ArtifactError::Config(format!(
            "'{uri}' names an artifact proxy, not storage; the artifact root must be {SUPPORTED}"
        )))
        }
        other => {
            return Err(ArtifactError::Config(format!(
                "unsupported artifact root scheme '{other}' in '{uri}'; use {SUPPORTED}"
            )))
        }
    };
    Ok(Parsed::Object {
        root_uri,
        store,
        multipart,
        prefix,
    })
}

/// `scheme` for `scheme:...` (two characters or more, so `C:\x` stays a path); `None`
/// for a plain path.
fn scheme_of(uri: &str) -> Option<String> {
    let (scheme, _) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = scheme.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then(|| scheme.to_ascii_lowercase())
}

fn local_path(raw: &str) -> Result<PathBuf, ArtifactError> {
    std::path::absolute(raw).map_err(|e| {
        ArtifactError::Config(format!(
            "cannot make the artifact root '{raw}' absolute: {e}"
        ))
    })
}

/// The key prefix from a URI's path (percent-decoded, validated by `object_store`).
fn prefix_of(uri: &str, url: &Url) -> Result<ObjectPath, ArtifactError> {
    let raw = url.path().trim_matches('/');
    ObjectPath::from_url_path(raw)
        .map_err(|e| ArtifactError::Config(format!("bad key prefix in '{uri}': {e}")))
}

fn host_of<'u>(uri: &str, url: &'u Url, what: &str) -> Result<&'u str, ArtifactError> {
    match url.host_str() {
        Some(h) if !h.is_empty() => Ok(h),
        _ => Err(ArtifactError::Config(format!("'{uri}' has no {what}"))),
    }
}

fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout_disabled()
        .with_connect_timeout(Duration::from_secs(10))
}

/// A built store, as both the object API and the multipart API.
type WithMultipart = (Arc<dyn ObjectStore>, Arc<dyn MultipartStore>);

fn built_multipart<T: ObjectStore + MultipartStore>(
    uri: &str,
    result: object_store::Result<T>,
) -> Result<WithMultipart, ArtifactError> {
    match result {
        Ok(store) => {
            let store = Arc::new(store);
            Ok((store.clone(), store))
        }
        Err(e) => Err(ArtifactError::Config(format!(
            "cannot configure storage for '{uri}': {e}"
        ))),
    }
}

fn built<T: ObjectStore>(
    uri: &str,
    result: object_store::Result<T>,
) -> Result<Arc<dyn ObjectStore>, ArtifactError> {
    match result {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) => Err(ArtifactError::Config(format!(
            "cannot configure storage for '{uri}': {e}"
        ))),
    }
}

fn s3(uri: &str, url: &Url, env: &Env) -> Result<WithMultipart, ArtifactError> {
    let bucket = host_of(uri, url, "bucket name")?;
    let mut b = AmazonS3Builder::new()
        .with_client_options(client_options())
        .with_region("us-east-1");
    for (name, value) in env.with_prefix("AWS_") {
        if let Ok(key) = name.parse::<AmazonS3ConfigKey>() {
            b = b.with_config(key, value);
        }
    }
    b = b.with_bucket_name(bucket);
    if let Some(endpoint) = env.get("MLFLOW_S3_ENDPOINT_URL") {
        let endpoint = endpoint.trim_end_matches('/');
        b = b
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
        if endpoint.to_ascii_lowercase().starts_with("http://") {
            b = b.with_allow_http(true);
        }
    }
    if env.flag("MLFLOW_S3_IGNORE_TLS") {
        b = b.with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::AllowInvalidCertificates),
            "true",
        );
    }
    built_multipart(uri, b.build())
}

fn gcs(uri: &str, url: &Url, env: &Env) -> Result<WithMultipart, ArtifactError> {
    let bucket = host_of(uri, url, "bucket name")?;
    let mut b = GoogleCloudStorageBuilder::new().with_client_options(client_options());
    for (name, value) in env.with_prefix("GOOGLE_") {
        if let Ok(key) = name.parse::<GoogleConfigKey>() {
            b = b.with_config(key, value);
        }
    }
    built_multipart(uri, b.with_bucket_name(bucket).build())
}

fn azure(
    uri: &str,
    url: &Url,
    scheme: &str,
    env: &Env,
) -> Result<Arc<dyn ObjectStore>, ArtifactError> {
    let mut b = MicrosoftAzureBuilder::new().with_client_options(client_options());
    for (name, value) in env.with_prefix("AZURE_") {
        if let Ok(key) = name.parse::<AzureConfigKey>() {
            b = b.with_config(key, value);
        }
    }
    let host = host_of(uri, url, "container")?;
    if scheme == "az" {
        // az://container/prefix: the account comes from the environment.
        b = b.with_container_name(host);
    } else {
        // wasbs://container@account.blob.core.windows.net/prefix
        let container = url.username();
        if container.is_empty() {
            return Err(ArtifactError::Config(format!(
                "'{uri}' must look like {scheme}://container@account.blob.core.windows.net/path"
            )));
        }
        let (account, domain) = host.split_once('.').unwrap_or((host, ""));
        b = b.with_container_name(container).with_account(account);
        if !matches!(domain, "blob.core.windows.net" | "dfs.core.windows.net") {
            // Sovereign clouds (blob.core.chinacloudapi.cn, ...) or a custom host.
            let suffix = domain
                .strip_prefix("dfs.")
                .or_else(|| domain.strip_prefix("blob."));
            let endpoint = match suffix {
                Some(suffix) => format!("https://{account}.blob.{suffix}"),
                None => format!("https://{host}"),
            };
            b = b.with_endpoint(endpoint);
        }
    }
    if let Some(conn) = env.get("AZURE_STORAGE_CONNECTION_STRING") {
        b = apply_connection_string(b, conn)?;
    }
    built(uri, b.build())
}

/// `DefaultEndpointsProtocol=https;AccountName=..;AccountKey=..;EndpointSuffix=..`, or with
/// `BlobEndpoint=..;SharedAccessSignature=..`, or `UseDevelopmentStorage=true`.
fn apply_connection_string(
    mut b: MicrosoftAzureBuilder,
    conn: &str,
) -> Result<MicrosoftAzureBuilder, ArtifactError> {
    let mut fields: HashMap<String, &str> = HashMap::new();
    for part in conn.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(ArtifactError::Config(
                "AZURE_STORAGE_CONNECTION_STRING: every field must be Name=Value".to_string(),
            ));
        };
        fields.insert(k.trim().to_ascii_lowercase(), v.trim());
    }
    if fields
        .get("usedevelopmentstorage")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        b = b.with_use_emulator(true);
    }
    let account = fields.get("accountname").copied();
    if let Some(account) = account {
        b = b.with_account(account);
    }
    if let Some(key) = fields.get("accountkey") {
        b = b.with_access_key(*key);
    }
    if let Some(sas) = fields.get("sharedaccesssignature") {
        b = b.with_config(AzureConfigKey::SasKey, *sas);
    }
    let protocol = fields
        .get("defaultendpointsprotocol")
        .copied()
        .unwrap_or("https");
    let endpoint = match (
        fields.get("blobendpoint"),
        fields.get("endpointsuffix"),
        account,
    ) {
        (Some(endpoint), _, _) => Some(endpoint.trim_end_matches('/').to_string()),
        (None, Some(suffix), Some(account)) if *suffix != "core.windows.net" => {
            Some(format!("{protocol}://{account}.blob.{suffix}"))
        }
        _ => None,
    };
    if let Some(endpoint) = endpoint {
        if endpoint.to_ascii_lowercase().starts_with("http://") {
            b = b.with_allow_http(true);
        }
        b = b.with_endpoint(endpoint);
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::new(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn object(uri: &str, vars: &[(&str, &str)]) -> (String, String) {
        match parse(uri, &env(vars)) {
            Ok(Parsed::Object {
                root_uri, prefix, ..
            }) => (root_uri, prefix.to_string()),
            Ok(Parsed::Local(p)) => panic!("{uri} parsed as local {}", p.display()),
            Err(e) => panic!("{uri}: {e}"),
        }
    }

    fn config_error(uri: &str, vars: &[(&str, &str)]) -> String {
        match parse(uri, &env(vars)) {
            Err(ArtifactError::Config(msg)) => msg,
            Err(e) => panic!("{uri}: expected a config error, got {e}"),
            Ok(_) => panic!("{uri}: expected a config error"),
        }
    }

    // A valid base64 account key (object_store decodes it while building).
    const KEY: &str = "ZmVycm9mbG93LXRlc3Qta2V5";

    #[test]
    fn relative_local_paths_become_absolute() {
        let Ok(Parsed::Local(p)) = parse("./mlartifacts", &env(&[])) else {
            panic!("local");
        };
        assert!(p.is_absolute(), "{}", p.display());
        assert!(p.ends_with("mlartifacts"));
    }

    #[test]
    fn file_uris_are_local_directories() {
        let Ok(Parsed::Local(p)) = parse("file:///srv/mlflow%20artifacts", &env(&[])) else {
            panic!("local");
        };
        assert_eq!(p, PathBuf::from("/srv/mlflow artifacts"));
        assert!(config_error("file://otherhost/x", &[]).contains("file:///"));
    }

    #[test]
    fn s3_uris_give_bucket_and_prefix() {
        let (root, prefix) = object("s3://bucket/some/prefix/", &[]);
        assert_eq!(root, "s3://bucket/some/prefix");
        assert_eq!(prefix, "some/prefix");
        let (_, prefix) = object("s3://bucket", &[]);
        assert_eq!(prefix, "");
        object(
            "s3a://bucket/p",
            &[
                ("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
                ("AWS_ACCESS_KEY_ID", "k"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
                ("AWS_SESSION_TOKEN", "t"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("MLFLOW_S3_IGNORE_TLS", "true"),
            ],
        );
    }

    #[test]
    fn gcs_uris_give_bucket_and_prefix() {
        let (root, prefix) = object("gs://bucket/a/b", &[]);
        assert_eq!((root.as_str(), prefix.as_str()), ("gs://bucket/a/b", "a/b"));
        let msg = config_error(
            "gs://bucket/a",
            &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/creds.json")],
        );
        assert!(msg.contains("gs://bucket/a"), "{msg}");
    }

    #[test]
    fn azure_uris_take_the_account_from_the_host_or_the_environment() {
        let key = [("AZURE_STORAGE_ACCESS_KEY", KEY)];
        let (_, prefix) = object("wasbs://models@acct.blob.core.windows.net/mlflow/x", &key);
        assert_eq!(prefix, "mlflow/x");
        object("abfss://models@acct.dfs.core.windows.net/mlflow", &key);
        object("wasbs://models@acct.blob.core.chinacloudapi.cn/p", &key);
        object(
            "az://models/p",
            &[
                ("AZURE_STORAGE_ACCOUNT_NAME", "acct"),
                ("AZURE_STORAGE_ACCESS_KEY", KEY),
            ],
        );
        let conn = format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};EndpointSuffix=core.windows.net"
        );
        object(
            "az://models/p",
            &[("AZURE_STORAGE_CONNECTION_STRING", &conn)],
        );
        let conn = "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=sv=2020-08-04&sig=abc";
        object(
            "wasbs://c@devstoreaccount1.blob.core.windows.net/",
            &[("AZURE_STORAGE_CONNECTION_STRING", conn)],
        );
        config_error("wasbs://acct.blob.core.windows.net/p", &key);
        config_error(
            "az://models/p",
            &[("AZURE_STORAGE_CONNECTION_STRING", "AccountName")],
        );
    }

    #[test]
    fn unknown_schemes_and_proxies_are_refused_with_the_supported_list() {
        let msg = config_error("ftp://host/x", &[]);
        assert!(msg.contains("'ftp'") && msg.contains("s3://"), "{msg}");
        let msg = config_error("mlflow-artifacts:/", &[]);
        assert!(msg.contains("scheme") || msg.contains("proxy"), "{msg}");
        config_error("http://host/x", &[]);
        config_error("", &[]);
        config_error("s3:///prefix", &[]);
    }
}
