//! The publish tree built by `scripts/package`: its layout, a binary with no dynamic dependencies,
//! and the handler started from it the way the Functions host starts it.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use azure_sim::{AlertSeed, AzureSim, IncidentSeed, SimConfig};
use functions_host::{FunctionApp, FunctionsHost, HandlerProcess, Outcome, timer};

use crate::{elf, infra::repo};

/// The files `func azure functionapp publish` needs, relative to the tree.
const TREE_FILES: [&str; 5] = [
    "handler",
    "host.json",
    "SyncTimer/function.json",
    "SecurityAlertWebhook/function.json",
    ".funcignore",
];

/// The publish tree from `DFC_PACKAGE_DIR`; panics with instructions when it is not there.
fn package_dir() -> PathBuf {
    let dir = match std::env::var_os("DFC_PACKAGE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => panic!(
            "DFC_PACKAGE_DIR is not set: run `scripts/package <dir>` (a musl release build, a few \
             minutes) and export DFC_PACKAGE_DIR=<dir> before `cargo test --test deploy`"
        ),
    };
    assert!(
        dir.join("handler").is_file(),
        "DFC_PACKAGE_DIR={} has no `handler`: run `scripts/package {}` first",
        dir.display(),
        dir.display()
    );
    dir
}

#[test]
fn the_tree_has_exactly_the_files_publish_needs_and_they_match_the_repository() {
    let dir = package_dir();
    for f in TREE_FILES {
        assert!(dir.join(f).is_file(), "{f} missing from {}", dir.display());
    }
    // Nothing else: no cargo output, sources or local settings slip into the zip.
    let mut found = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                found.push(p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    let mut expected: Vec<String> = TREE_FILES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(found, expected);
    // A stale package (built before the function.json/host.json it ships were edited) is caught.
    for f in &TREE_FILES[1..] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(repo().join(f)).unwrap(),
            "{f} in the package differs from the repository's: re-run scripts/package"
        );
    }
}

#[test]
fn the_handler_is_executable_0755() {
    let mode = std::fs::metadata(package_dir().join("handler"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "mode {:o}", mode & 0o777);
}

#[test]
fn the_handler_is_a_static_x86_64_binary_with_no_dynamic_dependencies() {
    let bytes = std::fs::read(package_dir().join("handler")).unwrap();
    let l = elf::linkage(&bytes).expect("handler is ELF64");
    assert_eq!(l.machine, 62, "x86-64");
    assert_eq!(
        l.interpreter, None,
        "PT_INTERP present: the binary needs a dynamic loader: {l:?}"
    );
    assert!(
        l.needed.is_empty(),
        "DT_NEEDED present: the binary needs shared libraries {:?}",
        l.needed
    );
}

/// Byte strings only the test doubles put in a binary: their source paths (panic locations keep
/// them even in a stripped release build) and their crate names (symbols of a dev build).
const TEST_DOUBLE_MARKERS: [&str; 4] = [
    "testkit/azure-sim/src",
    "testkit/functions-host/src",
    "azure_sim",
    "functions_host",
];

fn markers_in(bytes: &[u8]) -> Vec<&'static str> {
    TEST_DOUBLE_MARKERS
        .into_iter()
        .filter(|m| memchr::memmem::find(bytes, m.as_bytes()).is_some())
        .collect()
}

#[test]
fn the_packaged_handler_carries_no_simulator_and_no_host_emulator() {
    let bytes = std::fs::read(package_dir().join("handler")).unwrap();
    println!("packaged handler: {} bytes", bytes.len());
    assert_eq!(
        markers_in(&bytes),
        Vec::<&str>::new(),
        "the publish build links a test double"
    );
    // A plain `cargo build` of the product links neither either (the demo binary, which does,
    // is checked for the markers by testkit/harness/tests/demo.rs: the check can fail).
    let default_build = std::fs::read(env!("CARGO_BIN_EXE_handler")).unwrap();
    assert_eq!(markers_in(&default_build), Vec::<&str>::new());
}

#[test]
fn the_packaged_handler_refuses_demo_with_a_way_to_run_it() {
    let out = std::process::Command::new(package_dir().join("handler"))
        .arg("demo")
        .output()
        .expect("the packaged handler runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("the demo is not part of the handler")
            && stderr.contains("cargo run --release -p harness --bin demo"),
        "{stderr}"
    );
    let help = std::process::Command::new(package_dir().join("handler"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("sync") && !help.contains("demo"), "{help}");
}

/// Settings that point the handler at the simulator.
fn settings_for(sim: &AzureSim) -> Vec<(String, String)> {
    harness::settings_for(sim, "info")
}

#[tokio::test]
async fn the_packaged_handler_starts_from_the_tree_runs_sync_timer_and_exits_0_on_sigterm() {
    let tree = package_dir();
    let sim = AzureSim::start(SimConfig::default()).await.expect("simulator starts");
    let alert = sim.add_alert(AlertSeed {
        status: "Resolved".into(),
        product_name: "Azure Security Center".into(),
        display_name: "Suspicious process".into(),
        last_changed_ago: chrono::Duration::days(1),
    });
    let incident = sim.add_incident(IncidentSeed {
        title: "Packaged binary test".into(),
        severity: "High".into(),
        status: "New".into(),
        owner: None,
        labels: vec![],
        alert_ids: vec![alert],
        last_modified_ago: chrono::Duration::days(1),
        classification: None,
        classification_reason: None,
    });

    let settings = settings_for(&sim);
    let map: HashMap<String, String> = settings.iter().cloned().collect();
    // Index the tree as the host does, then start what host.json names, resolved the host's way
    // (relative to the app root because the file exists there).
    let app = FunctionApp::load(&tree, &map).expect("the packaged tree indexes like the host indexes it");
    assert_eq!(app.default_executable_path, "handler");
    let mut names: Vec<&str> = app.functions.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["SecurityAlertWebhook", "SyncTimer"]);
    let handler = HandlerProcess::start_in(
        Path::new(&app.default_executable_path),
        &tree,
        app.working_directory.as_deref(),
        &settings,
        Duration::from_secs(30),
    )
    .await
    .expect("the packaged handler answers the readiness probe");

    let host = FunctionsHost::new(handler.base_url(), app, vec!["test-function-key".to_owned()]);
    let invocation = host
        .invoke_timer("SyncTimer", timer::scheduled(), None)
        .await
        .expect("invocation reaches the handler");
    match &invocation.outcome {
        Outcome::Succeeded { logs, .. } => {
            assert!(logs.iter().any(|l| l.starts_with("SyncTimer: run")), "{logs:?}");
        }
        other => panic!(
            "SyncTimer did not succeed: {other:?}\n{}\nstderr: {:?}",
            invocation.raw_body,
            handler.stderr_lines()
        ),
    }
    assert_eq!(sim.incident(&incident).expect("incident exists").status, "Closed");

    let status = handler.terminate(Duration::from_secs(10)).await.expect("handler exits");
    assert_eq!(status.code(), Some(0), "graceful exit on SIGTERM");
}

/// `.funcignore` patterns (gitignore-like; only `*` wildcards and a trailing `/` are used here).
fn funcignore_patterns(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect()
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            name.starts_with(prefix) && (0..=name.len() - prefix.len()).any(|i| glob(rest, &name[prefix.len() + i..]))
        }
    }
}

/// Whether a path relative to the app root is excluded (any component matching any pattern).
fn ignored(patterns: &[String], path: &str) -> bool {
    patterns
        .iter()
        .any(|p| path.split('/').any(|c| glob(p, c)) || glob(p, path))
}

#[test]
fn funcignore_keeps_build_output_sources_and_secrets_out_and_the_app_in() {
    let patterns = funcignore_patterns(&repo().join(".funcignore"));
    for excluded in [
        "target",
        "target/release/handler",
        "src/main.rs",
        "tests/api/main.rs",
        "testkit",
        "local.settings.json",
        "Cargo.toml",
        "Cargo.lock",
        ".git",
        ".gitignore",
        ".vscode",
        "infra/azuredeploy.json",
        "docs/deploy.md",
    ] {
        assert!(ignored(&patterns, excluded), "{excluded} would be published");
    }
    for kept in TREE_FILES.iter().filter(|f| **f != ".funcignore") {
        assert!(!ignored(&patterns, kept), "{kept} would NOT be published");
    }
}

#[test]
fn host_json_names_the_executable_exactly_handler_so_publish_sets_its_run_bit() {
    // Core Tools zips with mode 0777 only the entry whose path equals defaultExecutablePath
    // exactly: "./handler" or "handler.exe" would be published without the run bit.
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("host.json")).unwrap()).unwrap();
    assert_eq!(host["customHandler"]["description"]["defaultExecutablePath"], "handler");
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
}

#[test]
fn funcignore_glob_matcher_sanity() {
    assert!(glob("*.md", "README.md"));
    assert!(glob(".git*", ".gitignore"));
    assert!(!glob("*.md", "host.json"));
    assert!(!glob("target", "targets"));
}
