//! Settings, read once from the environment (Functions app settings) and validated. Every error
//! names the setting it is about; a required setting never gets a silent default. The handler
//! still starts and answers the host's readiness probe when settings are wrong: each invocation
//! then fails with these messages, which is what an operator sees in Application Insights.

use std::fmt;

use azure_core::http::Url;

use crate::domain::Classification;

mod cloud;
mod workspaces;

pub use cloud::Cloud;
pub use workspaces::{MAX_WORKSPACES, WorkspaceSetting};

/// Every app setting the code reads, in the order docs/configuration.md documents them.
pub const SETTINGS: [&str; 17] = [
    "SENTINEL_WORKSPACE_ID",
    "SENTINEL_WORKSPACE_RESOURCE_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLOUD",
    "ARM_ENDPOINT",
    "LOG_ANALYTICS_ENDPOINT",
    "SENTINEL_API_VERSION",
    "SYNC_SCHEDULE",
    "SYNC_LOOKBACK_DAYS",
    "SYNC_DRY_RUN",
    "SYNC_SKIP_OWNED_INCIDENTS",
    "SYNC_RESOLVED_CLASSIFICATION",
    "SYNC_DISMISSED_CLASSIFICATION",
    "SYNC_REOPEN_ON_REACTIVATION",
    "SYNC_RUN_BUDGET_SECONDS",
    "SYNC_WEBHOOK_TIMEOUT_SECONDS",
    "RUST_LOG",
];

/// Default timer schedule: every 5 minutes (NCRONTAB with seconds).
pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";
/// Default Sentinel API version.
pub const DEFAULT_API_VERSION: &str = "2025-09-01";
/// Default lookback window for alert changes, in days.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;
/// Default time budget of one reconciliation run, in seconds: a margin under the 5-minute
/// default function timeout of the Consumption plan.
pub const DEFAULT_RUN_BUDGET_SECONDS: u64 = 240;
/// Default time a webhook call may take before it answers 503 with `Retry-After`: well inside
/// the two minutes a playbook's HTTP action waits.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: u64 = 50;
/// Default classification of an incident closed because all its alerts were Resolved (or
/// Resolved and Dismissed).
pub const DEFAULT_RESOLVED_CLASSIFICATION: Classification = Classification::TruePositive;
/// Default classification of an incident closed because all its alerts were Dismissed.
pub const DEFAULT_DISMISSED_CLASSIFICATION: Classification = Classification::BenignPositive;

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SENTINEL_WORKSPACE_RESOURCE_ID` (the workspaces' ARM ids, for the Sentinel API) with
    /// `SENTINEL_WORKSPACE_ID` (their Log Analytics ids, for the query API, when given): one or
    /// more workspaces, in the order the settings list them.
    pub workspaces: Vec<WorkspaceSetting>,
    /// `AZURE_CLIENT_ID`: client id of a user-assigned managed identity, if one is used.
    pub client_id: Option<String>,
    /// `AZURE_CLOUD`.
    pub cloud: Cloud,
    /// `ARM_ENDPOINT`, or the cloud's.
    pub arm_endpoint: Url,
    /// `LOG_ANALYTICS_ENDPOINT`, or the cloud's.
    pub log_analytics_endpoint: Url,
    /// `SENTINEL_API_VERSION`.
    pub api_version: String,
    /// `SYNC_SCHEDULE`, as the host reads it for the timer.
    pub schedule: String,
    /// `SYNC_LOOKBACK_DAYS`.
    pub lookback_days: u32,
    /// `SYNC_DRY_RUN`: decide and log, write nothing.
    pub dry_run: bool,
    /// `SYNC_SKIP_OWNED_INCIDENTS`.
    pub skip_owned: bool,
    /// `SYNC_RESOLVED_CLASSIFICATION`: the close when every alert is Resolved, or some Resolved
    /// and the rest Dismissed.
    pub resolved_classification: Classification,
    /// `SYNC_DISMISSED_CLASSIFICATION`: the close when every alert is Dismissed.
    pub dismissed_classification: Classification,
    /// `SYNC_REOPEN_ON_REACTIVATION`: set an incident this tool closed Active again when
    /// Defender for Cloud reactivates one of its alerts.
    pub reopen_on_reactivation: bool,
    /// `SYNC_RUN_BUDGET_SECONDS`: a run stops starting new work after this long.
    pub run_budget_seconds: u64,
    /// `SYNC_WEBHOOK_TIMEOUT_SECONDS`: a webhook call answers within this long.
    pub webhook_timeout_seconds: u64,
}

/// One problem with one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The app setting's name.
    pub setting: &'static str,
    /// What is wrong and what is expected.
    pub problem: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "app setting {}: {}", self.setting, self.problem)
    }
}

/// All problems found in the settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<SettingError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "invalid configuration: {}", parts.join("; "))
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment in production, a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut errors = Vec::new();
        let mut fail = |setting: &'static str, problem: String| errors.push(SettingError { setting, problem });

        let workspaces = workspaces::parse(
            get("SENTINEL_WORKSPACE_RESOURCE_ID").as_deref(),
            get("SENTINEL_WORKSPACE_ID").as_deref(),
        )
        .map_err(|problems| {
            for (setting, problem) in problems {
                fail(setting, problem);
            }
        })
        .ok();
        let client_id = match get("AZURE_CLIENT_ID") {
            Some(v) if !crate::domain::is_guid(&v) => {
                fail(
                    "AZURE_CLIENT_ID",
                    format!(
                        "{v:?} is not a GUID; set the client id of the user-assigned identity, or leave it empty for the system-assigned identity"
                    ),
                );
                None
            }
            other => other,
        };
        let cloud = match get("AZURE_CLOUD") {
            None => Cloud::Public,
            Some(v) => Cloud::parse(&v).unwrap_or_else(|| {
                fail("AZURE_CLOUD", format!("{v:?} is not one of public, usgov, china"));
                Cloud::Public
            }),
        };
        let arm_endpoint = endpoint(
            get("ARM_ENDPOINT"),
            cloud.arm_endpoints(),
            &format!(
                "a Resource Manager endpoint of the {} cloud (AZURE_CLOUD)",
                cloud.name()
            ),
        )
        .map_err(|p| fail("ARM_ENDPOINT", p))
        .ok();
        let log_analytics_endpoint = endpoint(
            get("LOG_ANALYTICS_ENDPOINT"),
            cloud.log_analytics_endpoints(),
            &format!("a Log Analytics endpoint of the {} cloud (AZURE_CLOUD)", cloud.name()),
        )
        .map_err(|p| fail("LOG_ANALYTICS_ENDPOINT", p))
        .ok();
        let api_version = get("SENTINEL_API_VERSION").unwrap_or_else(|| DEFAULT_API_VERSION.into());
        if !is_api_version(&api_version) {
            fail(
                "SENTINEL_API_VERSION",
                format!("{api_version:?} is not an API version like 2025-09-01 or 2025-07-01-preview"),
            );
        }
        let schedule = get("SYNC_SCHEDULE").unwrap_or_else(|| DEFAULT_SCHEDULE.into());
        if let Err(p) = check_schedule(&schedule) {
            fail("SYNC_SCHEDULE", p);
        }
        let lookback_days = lookback_days(get("SYNC_LOOKBACK_DAYS"))
            .map_err(|p| fail("SYNC_LOOKBACK_DAYS", p))
            .unwrap_or(DEFAULT_LOOKBACK_DAYS);
        let dry_run = boolean(get("SYNC_DRY_RUN"))
            .map_err(|p| fail("SYNC_DRY_RUN", p))
            .unwrap_or(false);
        let skip_owned = boolean(get("SYNC_SKIP_OWNED_INCIDENTS"))
            .map_err(|p| fail("SYNC_SKIP_OWNED_INCIDENTS", p))
            .unwrap_or(false);
        let resolved_classification =
            classification(get("SYNC_RESOLVED_CLASSIFICATION"), DEFAULT_RESOLVED_CLASSIFICATION)
                .map_err(|p| fail("SYNC_RESOLVED_CLASSIFICATION", p))
                .unwrap_or(DEFAULT_RESOLVED_CLASSIFICATION);
        let dismissed_classification =
            classification(get("SYNC_DISMISSED_CLASSIFICATION"), DEFAULT_DISMISSED_CLASSIFICATION)
                .map_err(|p| fail("SYNC_DISMISSED_CLASSIFICATION", p))
                .unwrap_or(DEFAULT_DISMISSED_CLASSIFICATION);
        let reopen_on_reactivation = boolean(get("SYNC_REOPEN_ON_REACTIVATION"))
            .map_err(|p| fail("SYNC_REOPEN_ON_REACTIVATION", p))
            .unwrap_or(false);
        let run_budget_seconds = number(get("SYNC_RUN_BUDGET_SECONDS"), DEFAULT_RUN_BUDGET_SECONDS, 10, 3600)
            .map_err(|p| fail("SYNC_RUN_BUDGET_SECONDS", p))
            .unwrap_or(DEFAULT_RUN_BUDGET_SECONDS);
        let webhook_timeout_seconds = number(
            get("SYNC_WEBHOOK_TIMEOUT_SECONDS"),
            DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
            5,
            110,
        )
        .map_err(|p| fail("SYNC_WEBHOOK_TIMEOUT_SECONDS", p))
        .unwrap_or(DEFAULT_WEBHOOK_TIMEOUT_SECONDS);

        match (workspaces, arm_endpoint, log_analytics_endpoint) {
            (Some(workspaces), Some(arm_endpoint), Some(log_analytics_endpoint)) if errors.is_empty() => Ok(Self {
                workspaces,
                client_id,
                cloud,
                arm_endpoint,
                log_analytics_endpoint,
                api_version,
                schedule,
                lookback_days,
                dry_run,
                skip_owned,
                resolved_classification,
                dismissed_classification,
                reopen_on_reactivation,
                run_budget_seconds,
                webhook_timeout_seconds,
            }),
            _ => Err(ConfigError(errors)),
        }
    }
}

/// An endpoint override. Requests to it carry real tokens, so `https://` is accepted only for one
/// of `known` (the selected cloud's endpoints; the first is the default), and `http://` only for
/// a loopback host (local test doubles). `what` names the expected endpoint in messages.
fn endpoint(value: Option<String>, known: &[&str], what: &str) -> Result<Url, String> {
    let text = value.unwrap_or_else(|| known[0].to_owned());
    let url = Url::parse(&text).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} must be a plain base URL without credentials, query or fragment"
        ));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {
            // Same origin (the url crate lowercases the host and drops the default port) and no
            // path: exactly the service's base URL.
            let is_known = known
                .iter()
                .filter_map(|k| Url::parse(k).ok())
                .any(|k| k.origin() == url.origin());
            if !is_known || url.path() != "/" {
                return Err(format!(
                    "{text:?} is not {what}; requests to it would carry the managed identity's tokens. Use {} (or leave it empty), or http:// with a loopback host (127.0.0.1, ::1, localhost) for a local test double",
                    known.join(" or ")
                ));
            }
        }
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{text:?} uses http://, which is allowed only for a loopback host (127.0.0.1, ::1, localhost)"
            ));
        }
        other => return Err(format!("{text:?} has scheme {other:?}; use https://")),
    }
    Ok(url)
}

fn is_api_version(v: &str) -> bool {
    let (date, suffix) = v.split_at(v.len().min(10));
    chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok() && (suffix.is_empty() || suffix == "-preview")
}

/// The host accepts a 6-field NCRONTAB, a 5-field cron, or a TimeSpan such as `00:05:00`.
fn check_schedule(s: &str) -> Result<(), String> {
    let fields = s.split_whitespace().count();
    let timespan = s.split(':').count() == 3
        && s.split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if fields == 5 || fields == 6 || timespan {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is neither an NCRONTAB expression ('0 */5 * * * *') nor a TimeSpan ('00:05:00')"
        ))
    }
}

/// The settings that shape the candidate query, for `handler query`: read with the same rules
/// as [`Config`], without needing the workspace settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySettings {
    /// `SYNC_LOOKBACK_DAYS`.
    pub lookback_days: u32,
    /// `SYNC_REOPEN_ON_REACTIVATION`.
    pub reopen_on_reactivation: bool,
}

impl QuerySettings {
    /// Reads them through `lookup`; a bad value is an error naming its setting.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut errors = Vec::new();
        let lookback_days = lookback_days(get("SYNC_LOOKBACK_DAYS"))
            .map_err(|problem| {
                errors.push(SettingError {
                    setting: "SYNC_LOOKBACK_DAYS",
                    problem,
                })
            })
            .unwrap_or(DEFAULT_LOOKBACK_DAYS);
        let reopen_on_reactivation = boolean(get("SYNC_REOPEN_ON_REACTIVATION"))
            .map_err(|problem| {
                errors.push(SettingError {
                    setting: "SYNC_REOPEN_ON_REACTIVATION",
                    problem,
                })
            })
            .unwrap_or(false);
        if errors.is_empty() {
            Ok(Self {
                lookback_days,
                reopen_on_reactivation,
            })
        } else {
            Err(ConfigError(errors))
        }
    }
}

/// Checks a lookback window given on the command line with the rule of `SYNC_LOOKBACK_DAYS`.
pub fn check_lookback_days(days: u32) -> Result<u32, String> {
    lookback_days(Some(days.to_string()))
}

/// A lookback window in days: 1 to 3650, [`DEFAULT_LOOKBACK_DAYS`] when unset.
fn lookback_days(value: Option<String>) -> Result<u32, String> {
    number(value, DEFAULT_LOOKBACK_DAYS, 1, 3650)
}

fn number<T: std::str::FromStr + PartialOrd + fmt::Display + Copy>(
    value: Option<String>,
    default: T,
    min: T,
    max: T,
) -> Result<T, String> {
    let Some(v) = value else { return Ok(default) };
    match v.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("{v:?} is not a whole number from {min} to {max}")),
    }
}

/// A classification setting: one of the valid pairs, or `default` when unset.
fn classification(value: Option<String>, default: Classification) -> Result<Classification, String> {
    value.map_or(Ok(default), |v| Classification::parse_setting(&v))
}

fn boolean(value: Option<String>) -> Result<bool, String> {
    value.map_or(Ok(false), |v| parse_bool(&v))
}

/// A boolean setting's value: `true`/`1`/`yes` or `false`/`0`/`no`, any case.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("SENTINEL_WORKSPACE_ID", "c8c99641-985d-4e4e-8e91-fb3466cd0e5b".to_owned()),
            (
                "SENTINEL_WORKSPACE_RESOURCE_ID",
                "/subscriptions/d0cfe6b2-9ac0-4464-9919-dccaee2e48c0/resourceGroups/myRg/providers/Microsoft.OperationalInsights/workspaces/myWorkspace".to_owned(),
            ),
        ])
    }

    fn load(map: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_to_optional_settings_only() {
        let c = load(&base()).unwrap();
        assert_eq!(c.cloud, Cloud::Public);
        assert_eq!(c.arm_endpoint.as_str(), "https://management.azure.com/");
        assert_eq!(c.api_version, "2025-09-01");
        assert_eq!(c.lookback_days, 30);
        assert_eq!(c.schedule, DEFAULT_SCHEDULE);
        assert!(!c.dry_run && !c.skip_owned && !c.reopen_on_reactivation);
        assert_eq!(c.resolved_classification, Classification::TruePositive);
        assert_eq!(c.dismissed_classification, Classification::BenignPositive);
    }

    #[test]
    fn classification_mappings_take_exactly_the_valid_pairs() {
        let mut m = base();
        m.insert("SYNC_RESOLVED_CLASSIFICATION", "FalsePositive/InaccurateData".into());
        m.insert("SYNC_DISMISSED_CLASSIFICATION", "Undetermined".into());
        m.insert("SYNC_REOPEN_ON_REACTIVATION", "true".into());
        let c = load(&m).unwrap();
        assert_eq!(c.resolved_classification, Classification::FalsePositiveInaccurateData);
        assert_eq!(c.dismissed_classification, Classification::Undetermined);
        assert!(c.reopen_on_reactivation);
        m.insert(
            "SYNC_RESOLVED_CLASSIFICATION",
            "TruePositive/SuspiciousButExpected".into(),
        );
        m.insert("SYNC_DISMISSED_CLASSIFICATION", "BenignPositive".into());
        let text = load(&m).unwrap_err().to_string();
        assert!(text.contains("app setting SYNC_RESOLVED_CLASSIFICATION: \"TruePositive/SuspiciousButExpected\" is not a valid classification"), "{text}");
        assert!(
            text.contains("app setting SYNC_DISMISSED_CLASSIFICATION: \"BenignPositive\""),
            "{text}"
        );
    }

    #[test]
    fn every_error_names_its_setting() {
        let err = load(&HashMap::new()).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.0.len(), 1, "{text}");
        assert!(text.contains("SENTINEL_WORKSPACE_RESOURCE_ID: missing"), "{text}");
        // The workspace id is optional: the handler reads it from the workspace resource.
        let mut m = base();
        m.remove("SENTINEL_WORKSPACE_ID");
        assert!(load(&m).unwrap().workspaces[0].id.is_none());

        for (key, value) in [
            ("SENTINEL_WORKSPACE_ID", "not-a-guid"),
            ("AZURE_CLIENT_ID", "x"),
            ("AZURE_CLOUD", "mars"),
            ("ARM_ENDPOINT", "http://example.com"),
            ("ARM_ENDPOINT", "https://example.com"),
            ("LOG_ANALYTICS_ENDPOINT", "ftp://127.0.0.1"),
            ("SENTINEL_API_VERSION", "latest"),
            ("SYNC_SCHEDULE", "every five minutes"),
            ("SYNC_LOOKBACK_DAYS", "0"),
            ("SYNC_DRY_RUN", "maybe"),
            ("SYNC_SKIP_OWNED_INCIDENTS", "2"),
            ("SYNC_RESOLVED_CLASSIFICATION", "TruePositive"),
            ("SYNC_DISMISSED_CLASSIFICATION", "FalsePositive/SuspiciousActivity"),
            ("SYNC_REOPEN_ON_REACTIVATION", "yes please"),
            ("SYNC_RUN_BUDGET_SECONDS", "-5"),
        ] {
            let mut m = base();
            m.insert(key, value.into());
            let err = load(&m).unwrap_err();
            assert_eq!(err.0.len(), 1, "{key}: {err}");
            assert_eq!(err.0[0].setting, key);
        }
    }

    #[test]
    fn https_overrides_must_be_an_endpoint_of_the_selected_cloud() {
        let accepted = [
            ("public", "ARM_ENDPOINT", "https://management.azure.com"),
            ("public", "ARM_ENDPOINT", "https://Management.Azure.com:443/"),
            ("public", "LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.io"),
            (
                "public",
                "LOG_ANALYTICS_ENDPOINT",
                "https://api.loganalytics.azure.com/",
            ),
            ("usgov", "ARM_ENDPOINT", "https://management.usgovcloudapi.net"),
            ("usgov", "LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.us"),
            ("china", "ARM_ENDPOINT", "https://management.chinacloudapi.cn/"),
            ("china", "LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.azure.cn"),
        ];
        for (cloud, key, value) in accepted {
            let mut m = base();
            m.insert("AZURE_CLOUD", cloud.into());
            m.insert(key, value.into());
            let c = load(&m).unwrap_or_else(|e| panic!("{cloud} {key}={value}: {e}"));
            let url = if key == "ARM_ENDPOINT" {
                c.arm_endpoint
            } else {
                c.log_analytics_endpoint
            };
            assert_eq!(url, Url::parse(value).unwrap());
        }
        let refused = [
            ("public", "ARM_ENDPOINT", "https://evil.example"),
            ("public", "ARM_ENDPOINT", "https://management.azure.com.evil.example"),
            ("public", "ARM_ENDPOINT", "https://management.azure.com:8443"),
            ("public", "ARM_ENDPOINT", "https://management.azure.com/elsewhere"),
            ("public", "ARM_ENDPOINT", "https://api.loganalytics.io"),
            ("public", "ARM_ENDPOINT", "https://127.0.0.1:8443"),
            ("public", "LOG_ANALYTICS_ENDPOINT", "https://management.azure.com"),
            ("public", "LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.us"),
            ("usgov", "ARM_ENDPOINT", "https://management.azure.com"),
            ("usgov", "LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.io"),
            ("china", "ARM_ENDPOINT", "https://management.usgovcloudapi.net"),
            ("china", "LOG_ANALYTICS_ENDPOINT", "https://api.loganalytics.azure.com"),
        ];
        for (cloud, key, value) in refused {
            let mut m = base();
            m.insert("AZURE_CLOUD", cloud.into());
            m.insert(key, value.into());
            let err = load(&m).unwrap_err();
            assert_eq!(err.0.len(), 1, "{cloud} {key}={value}: {err}");
            assert_eq!(err.0[0].setting, key, "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("app setting {key}:")), "{text}");
            assert!(text.contains(&format!("of the {cloud} cloud")), "{text}");
        }
    }

    #[test]
    fn the_defaults_are_each_clouds_first_endpoint() {
        for (cloud, arm, logs) in [
            (
                "public",
                "https://management.azure.com/",
                "https://api.loganalytics.io/",
            ),
            (
                "usgov",
                "https://management.usgovcloudapi.net/",
                "https://api.loganalytics.us/",
            ),
            (
                "china",
                "https://management.chinacloudapi.cn/",
                "https://api.loganalytics.azure.cn/",
            ),
        ] {
            let mut m = base();
            m.insert("AZURE_CLOUD", cloud.into());
            let c = load(&m).unwrap();
            assert_eq!(c.arm_endpoint.as_str(), arm);
            assert_eq!(c.log_analytics_endpoint.as_str(), logs);
        }
    }

    #[test]
    fn loopback_http_overrides_and_sovereign_clouds_are_accepted() {
        let mut m = base();
        m.insert("ARM_ENDPOINT", "http://127.0.0.1:8080".into());
        m.insert("LOG_ANALYTICS_ENDPOINT", "http://localhost:9".into());
        m.insert("AZURE_CLOUD", "usgov".into());
        m.insert("SYNC_SCHEDULE", "00:05:00".into());
        let c = load(&m).unwrap();
        assert_eq!(c.arm_endpoint.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.cloud.log_analytics_scope(), "https://api.loganalytics.us/.default");
    }
}
