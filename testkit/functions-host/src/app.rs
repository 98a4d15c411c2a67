//! The function app as the host indexes it: `host.json` plus one `function.json` per folder.
//!
//! Only what the custom-handler path needs is read: the `customHandler` section, `functionTimeout`,
//! and the trigger and HTTP bindings of each function. Rules follow the host source: JSON keys are
//! matched case-insensitively (.NET configuration binding), `%NAME%` tokens in a timer schedule must
//! resolve from app settings or indexing fails, and forwarding applies only to functions with
//! exactly one `httpTrigger` input and one `http` output (`IsHttpInAndOutFunction`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::HostError;

/// What the emulator knows about the app, read from an app root like the host does.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionApp {
    /// Every function found, sorted by name.
    pub functions: Vec<FunctionDef>,
    /// `customHandler.description.defaultExecutablePath`, with `%NAME%` expanded from the settings.
    pub default_executable_path: String,
    /// `customHandler.enableForwardingHttpRequest` (default false): the legacy relay.
    pub forwarding: bool,
    /// `customHandler.enableProxyingHttpRequest` (default false): the YARP proxy, which current
    /// hosts check before `forwarding`.
    pub proxying: bool,
    /// `customHandler.description.workingDirectory`, relative to the app root; `None` when empty.
    pub working_directory: Option<String>,
    /// `functionTimeout` from host.json; `None` means the plan default.
    pub function_timeout: Option<Duration>,
}

/// The path an HTTP call takes from the host to the handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPath {
    /// `enableProxyingHttpRequest`: the request streamed through YARP.
    Proxy,
    /// `enableForwardingHttpRequest`: the request rebuilt and sent on.
    Forward,
    /// The JSON envelope (`Data.req` in, `Outputs.res` out).
    Envelope,
}

/// One function: its folder name and the bindings the emulator acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    /// The folder name, which is the function name (and the envelope POST path, with its casing).
    pub name: String,
    /// The trigger and its settings.
    pub trigger: Trigger,
    /// The trigger binding's `name` (`myTimer`, `req`): the key under `Data` in envelopes.
    pub trigger_binding: String,
    /// `authLevel` in lower case (`anonymous`, `function`, `admin`); empty for non-HTTP triggers.
    pub auth_level: String,
    /// Allowed HTTP methods in lower case; empty means every method.
    pub methods: Vec<String>,
    /// The name of the `http` output binding (`res`, `$return`), if any.
    pub http_output: Option<String>,
    /// Whether the function is "HTTP in and out": exactly one `httpTrigger` input and one `http`
    /// output, the only shape the host forwards when forwarding is enabled.
    pub http_in_and_out: bool,
}

/// The trigger of a function.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// `timerTrigger`.
    Timer {
        /// The schedule with `%NAME%` tokens resolved.
        schedule: String,
        /// `useMonitor` (default true); when false `ScheduleStatus` is null.
        use_monitor: bool,
        /// `runOnStartup` (default false).
        run_on_startup: bool,
    },
    /// `httpTrigger` on the default route `api/<FunctionName>`.
    Http,
}

impl FunctionApp {
    /// Reads host.json and every `<dir>/function.json` under `app_root`; resolves `%NAME%` in the
    /// timer schedule from `settings` (missing setting → error, as the host fails indexing);
    /// validates the customHandler section (defaultExecutablePath required) and records for each
    /// function whether forwarding applies (exactly one httpTrigger in and one http out).
    pub fn load(app_root: &Path, settings: &HashMap<String, String>) -> Result<FunctionApp, HostError> {
        let host_path = app_root.join("host.json");
        let host = read_json(&host_path)?;
        let host = host
            .as_object()
            .ok_or_else(|| HostError::Config("host.json is not a JSON object".into()))?;
        if get_ci(host, "customHandler").is_none() && get_ci(host, "httpWorker").is_some() {
            // The legacy section forwards to /<FunctionName> instead of the original path.
            return Err(HostError::Config(
                "the legacy httpWorker section is not emulated; use customHandler".into(),
            ));
        }
        let section = get_ci(host, "customHandler")
            .and_then(Value::as_object)
            .ok_or_else(|| HostError::Config("host.json has no customHandler section".into()))?;
        let description = get_ci(section, "description")
            .and_then(Value::as_object)
            .ok_or_else(|| HostError::Config("Missing worker Description.".into()))?;
        let exe = get_ci(description, "defaultExecutablePath")
            .and_then(Value::as_str)
            .unwrap_or("");
        if exe.trim().is_empty() {
            return Err(HostError::Config(
                "WorkerDescription DefaultExecutablePath cannot be empty".into(),
            ));
        }
        // Environment.ExpandEnvironmentVariables leaves unknown tokens in place.
        let default_executable_path = expand(exe, settings, |_| None);
        let working_directory = get_ci(description, "workingDirectory")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let forwarding = bool_setting(section, "enableForwardingHttpRequest")?;
        let proxying = bool_setting(section, "enableProxyingHttpRequest")?;
        let function_timeout = match get_ci(host, "functionTimeout") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => parse_timespan(s)
                .ok_or_else(|| HostError::Config(format!("functionTimeout '{s}' is not a TimeSpan or -1")))?,
            Some(other) => return Err(HostError::Config(format!("functionTimeout {other} is not a string"))),
        };

        let mut functions = Vec::new();
        let entries = std::fs::read_dir(app_root).map_err(|source| HostError::Io {
            path: app_root.into(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| HostError::Io {
                path: app_root.into(),
                source,
            })?;
            let path = entry.path().join("function.json");
            if entry.path().is_dir() && path.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                functions.push(parse_function(&name, &path, settings)?);
            }
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(FunctionApp {
            functions,
            default_executable_path,
            forwarding,
            proxying,
            working_directory,
            function_timeout,
        })
    }

    /// How the host hands a call of this HTTP function to the handler, the rule of
    /// `DefaultHttpWorkerService.InvokeAsync` (2025): only an HTTP-in-and-out function is relayed,
    /// by the proxy when `enableProxyingHttpRequest` is on, else by forwarding when
    /// `enableForwardingHttpRequest` is on; everything else goes through the envelope.
    pub fn http_path(&self, def: &FunctionDef) -> HttpPath {
        match (def.http_in_and_out, self.proxying, self.forwarding) {
            (true, true, _) => HttpPath::Proxy,
            (true, false, true) => HttpPath::Forward,
            _ => HttpPath::Envelope,
        }
    }

    /// The function with this name, matched case-insensitively like the host's lookups.
    pub fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The app settings a handler needs from this app root, read from `local.settings.json`'s
    /// `Values` the way Core Tools does; missing file → empty.
    pub fn local_settings(app_root: &Path) -> Result<HashMap<String, String>, HostError> {
        let path = app_root.join("local.settings.json");
        if !path.is_file() {
            return Ok(HashMap::new());
        }
        let json = read_json(&path)?;
        let values = json
            .get("Values")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(values
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect())
    }
}

/// Parses one function.json into a [`FunctionDef`].
fn parse_function(name: &str, path: &Path, settings: &HashMap<String, String>) -> Result<FunctionDef, HostError> {
    let json = read_json(path)?;
    let bindings = json
        .as_object()
        .and_then(|o| get_ci(o, "bindings"))
        .and_then(Value::as_array)
        .ok_or_else(|| HostError::Config(format!("{name}/function.json has no bindings array")))?;
    let bad = |what: &str| HostError::Config(format!("{name}/function.json: {what}"));
    let mut parsed = Vec::new();
    for b in bindings {
        let b = b.as_object().ok_or_else(|| bad("a binding is not an object"))?;
        let field = |k: &str| get_ci(b, k).and_then(Value::as_str).unwrap_or("").to_string();
        let (kind, direction, binding) = (field("type"), field("direction").to_ascii_lowercase(), field("name"));
        if kind.is_empty() || binding.is_empty() {
            return Err(bad("every binding needs a type and a name"));
        }
        parsed.push((kind, direction, binding, b));
    }
    let inputs: Vec<_> = parsed.iter().filter(|p| p.1 == "in").collect();
    let outputs: Vec<_> = parsed.iter().filter(|p| p.1 == "out").collect();
    let triggers: Vec<_> = inputs
        .iter()
        .filter(|p| p.0.to_ascii_lowercase().ends_with("trigger"))
        .collect();
    let [(kind, _, trigger_binding, b)] = triggers.as_slice() else {
        return Err(bad("exactly one trigger binding is required"));
    };
    let http_output = outputs
        .iter()
        .find(|p| p.0.eq_ignore_ascii_case("http"))
        .map(|p| p.2.clone());
    let http_in_and_out = inputs.len() == 1
        && outputs.len() == 1
        && kind.eq_ignore_ascii_case("httpTrigger")
        && outputs[0].0.eq_ignore_ascii_case("http");

    let (trigger, auth_level, methods) = if kind.eq_ignore_ascii_case("timerTrigger") {
        let raw = get_ci(b, "schedule")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("timerTrigger needs a schedule"))?;
        let mut missing = None;
        // NameResolver.ResolveWholeString: every %NAME% must resolve, or indexing fails.
        let schedule = expand(raw, settings, |token| {
            missing.get_or_insert_with(|| token.to_string());
            Some(String::new())
        });
        if let Some(setting) = missing {
            return Err(HostError::MissingSetting {
                function: name.into(),
                name: setting,
            });
        }
        let flag = |k: &str, default: bool| match get_ci(b, k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => as_bool(v).ok_or_else(|| bad(&format!("{k} is not a boolean"))),
        };
        let trigger = Trigger::Timer {
            schedule,
            use_monitor: flag("useMonitor", true)?,
            run_on_startup: flag("runOnStartup", false)?,
        };
        (trigger, String::new(), Vec::new())
    } else if kind.eq_ignore_ascii_case("httpTrigger") {
        if let Some(route) = get_ci(b, "route").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            return Err(bad(&format!(
                "custom route '{route}' is not emulated; only api/<FunctionName>"
            )));
        }
        let auth = get_ci(b, "authLevel")
            .and_then(Value::as_str)
            .unwrap_or("function")
            .to_ascii_lowercase();
        if !matches!(auth.as_str(), "anonymous" | "function" | "admin") {
            return Err(bad(&format!("unknown authLevel '{auth}'")));
        }
        let methods = match get_ci(b, "methods") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|m| {
                    m.as_str()
                        .map(str::to_ascii_lowercase)
                        .ok_or_else(|| bad("methods must be strings"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("methods must be an array")),
        };
        (Trigger::Http, auth, methods)
    } else {
        return Err(bad(&format!("trigger type '{kind}' is not emulated")));
    };
    Ok(FunctionDef {
        name: name.into(),
        trigger,
        trigger_binding: trigger_binding.clone(),
        auth_level,
        methods,
        http_output,
        http_in_and_out,
    })
}

/// Replaces `%NAME%` tokens with settings; `unknown` decides what an unresolved token becomes
/// (`None` keeps it verbatim).
fn expand(s: &str, settings: &HashMap<String, String>, mut unknown: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(len) = after.find('%') else { break };
        let token = &after[..len];
        out.push_str(&rest[..start]);
        match settings.get(token).cloned().or_else(|| unknown(token)) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// A .NET `TimeSpan` (`[d.]hh:mm:ss[.fff]`) or `-1` (unbounded → `Some(None)`); `None` if invalid.
fn parse_timespan(s: &str) -> Option<Option<Duration>> {
    let s = s.trim();
    if s == "-1" {
        return Some(None);
    }
    let (days, clock) = match s.split_once('.') {
        Some((d, rest)) if rest.contains(':') && !d.contains(':') => (d.parse::<u64>().ok()?, rest),
        _ => (0, s),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let [h, m, sec] = parts.as_slice() else { return None };
    let secs: f64 = sec.parse().ok()?;
    let total = days * 86_400 + h.parse::<u64>().ok()? * 3600 + m.parse::<u64>().ok()? * 60;
    Some(Some(Duration::from_secs(total) + Duration::from_secs_f64(secs)))
}

/// A boolean `customHandler` key (default false); anything but a boolean is a config error.
fn bool_setting(section: &Map<String, Value>, key: &str) -> Result<bool, HostError> {
    match get_ci(section, key) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => as_bool(v).ok_or_else(|| HostError::Config(format!("customHandler.{key} is not a boolean"))),
    }
}

/// A value .NET binds to bool: JSON booleans and the strings "true"/"false" in any case.
fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse::<bool>().ok().or_else(|| s.to_ascii_lowercase().parse().ok()),
        _ => None,
    }
}

/// Looks a key up case-insensitively, as .NET configuration binding and Newtonsoft do.
pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key)
        .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Reads and parses a JSON file.
fn read_json(path: &Path) -> Result<Value, HostError> {
    let text = std::fs::read_to_string(path).map_err(|source| HostError::Io {
        path: PathBuf::from(path),
        source,
    })?;
    // The host tolerates a UTF-8 BOM, which editors on Windows add.
    serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|source| HostError::Json {
        path: PathBuf::from(path),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_replaces_known_tokens_and_reports_unknown_ones() {
        let settings = HashMap::from([("A".to_string(), "1".to_string())]);
        assert_eq!(expand("x%A%y%B%z", &settings, |_| None), "x1y%B%z");
        let mut seen = Vec::new();
        expand("%A% %B%", &settings, |t| {
            seen.push(t.to_string());
            Some(String::new())
        });
        assert_eq!(seen, vec!["B".to_string()]);
        assert_eq!(expand("50% off", &settings, |_| None), "50% off");
    }

    #[test]
    fn timespans_parse_like_dotnet() {
        assert_eq!(parse_timespan("00:10:00"), Some(Some(Duration::from_secs(600))));
        assert_eq!(parse_timespan("1.02:00:00"), Some(Some(Duration::from_secs(93_600))));
        assert_eq!(parse_timespan("-1"), Some(None));
        assert_eq!(parse_timespan("ten minutes"), None);
    }
}
