//! `FunctionApp::load` against the reference configuration.

use std::collections::HashMap;
use std::time::Duration;

use functions_host::{FunctionApp, HostError, Trigger};

use crate::helpers::{reference_app_root, settings};

#[test]
fn loads_the_reference_app_like_the_host_indexes_it() {
    let app = FunctionApp::load(&reference_app_root(), &settings()).unwrap();

    assert_eq!(app.default_executable_path, "handler");
    assert!(app.forwarding);
    assert_eq!(
        app.working_directory, None,
        "an empty workingDirectory means the app root"
    );
    assert_eq!(app.function_timeout, Some(Duration::from_secs(600)));
    let names: Vec<_> = app.functions.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["SecurityAlertWebhook", "SyncTimer"]);

    let timer = app.function("synctimer").unwrap();
    assert_eq!(
        timer.trigger,
        Trigger::Timer {
            schedule: "0 */5 * * * *".into(),
            use_monitor: true,
            run_on_startup: false
        }
    );
    assert_eq!(timer.trigger_binding, "myTimer");
    assert!(!timer.http_in_and_out);

    let webhook = app.function("SecurityAlertWebhook").unwrap();
    assert_eq!(webhook.trigger, Trigger::Http);
    assert_eq!(webhook.trigger_binding, "req");
    assert_eq!(webhook.auth_level, "function");
    assert_eq!(webhook.methods, ["post"]);
    assert_eq!(webhook.http_output.as_deref(), Some("res"));
    assert!(webhook.http_in_and_out);
}

#[test]
fn missing_schedule_setting_fails_indexing() {
    let err = FunctionApp::load(&reference_app_root(), &HashMap::new()).unwrap_err();

    match err {
        HostError::MissingSetting { function, name } => {
            assert_eq!((function.as_str(), name.as_str()), ("SyncTimer", "SYNC_SCHEDULE"));
        }
        other => panic!("expected MissingSetting, got {other:?}"),
    }
}

#[test]
fn custom_handler_needs_a_default_executable_path() {
    let root = reference_app_root();
    let host = std::fs::read_to_string(root.join("host.json"))
        .unwrap()
        .replace("\"handler\"", "\"\"");
    std::fs::write(root.join("host.json"), host).unwrap();

    let err = FunctionApp::load(&root, &settings()).unwrap_err();

    assert!(
        matches!(&err, HostError::Config(m) if m.contains("DefaultExecutablePath")),
        "{err}"
    );
}

#[test]
fn http_function_with_an_extra_output_is_not_forwarded() {
    let root = reference_app_root();
    let extra = r#"{ "bindings": [
        { "name": "req", "type": "httpTrigger", "direction": "in", "authLevel": "anonymous" },
        { "name": "res", "type": "http", "direction": "out" },
        { "name": "msg", "type": "queue", "direction": "out", "queueName": "q" } ] }"#;
    std::fs::create_dir_all(root.join("Extra")).unwrap();
    std::fs::write(root.join("Extra/function.json"), extra).unwrap();

    let app = FunctionApp::load(&root, &settings()).unwrap();

    let extra = app.function("Extra").unwrap();
    assert!(!extra.http_in_and_out);
    assert_eq!(extra.auth_level, "anonymous");
    assert!(extra.methods.is_empty(), "no methods means every method");
}
