//! The demo binary, run as a user runs it from a clone.

const DEMO: &str = env!("CARGO_BIN_EXE_demo");

#[test]
fn the_demo_ends_with_every_incident_as_expected() {
    let output = std::process::Command::new(DEMO)
        .env_remove("SYNC_DRY_RUN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("Every incident ended as expected."), "{text}");
    assert_eq!(text.matches('✓').count(), 12, "{text}");
    assert!(text.contains("Handler stopped with SIGTERM: exit status: 0"), "{text}");
}

#[test]
fn the_demo_refuses_unknown_arguments() {
    let output = std::process::Command::new(DEMO).arg("--nope").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unexpected arguments"));
}

/// The control for tests/deploy/package.rs, which finds none of these in the product's builds:
/// the demo binary links both test doubles, so the markers are there to find.
#[test]
fn the_demo_binary_links_both_test_doubles() {
    let bytes = std::fs::read(DEMO).unwrap();
    for marker in ["testkit/azure-sim/src", "testkit/functions-host/src"] {
        assert!(
            bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{marker} not found in the demo binary"
        );
    }
}
