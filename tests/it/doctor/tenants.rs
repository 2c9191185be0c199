//! `doctor --tenant`: with `[[tenants]]` it checks the tenant it names, and asks for one when
//! there are several.

use super::{assert_fails, stdout, step, Setup, EXIT_CHECK_FAILED};

/// `doctor`'s exit status for a refused configuration (or command line).
const EXIT_BAD_CONFIG: i32 = 64;

/// The setup's passing config as two tenants on the same fake: `good` inherits everything,
/// `bad` has a token the fake never issued.
fn two_tenants(setup: &Setup) -> String {
    let mut text = setup.config(&[]);
    text.push_str(
        r#"
[[tenants]]
name = "good"

[[tenants]]
name = "bad"
auth = { token = "a-token-the-fake-never-issued" }
"#,
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_several_tenants_doctor_checks_the_one_named_and_refuses_to_guess() {
    let setup = Setup::start().await;
    let config = two_tenants(&setup);

    let unnamed = setup.doctor(&config, &[]).await;
    let good = setup.doctor(&config, &["--tenant", "good"]).await;
    let bad = setup.doctor(&config, &["--tenant", "bad"]).await;
    let unknown = setup.doctor(&config, &["--tenant", "initech"]).await;

    let asked = assert_fails(
        &unnamed,
        EXIT_BAD_CONFIG,
        1,
        "--tenant is required",
        "fix each key",
    );
    assert!(asked.contains("name one of good, bad"), "{asked}");
    assert_eq!(good.status.code(), Some(0), "{}", stdout(&good));
    assert!(step(&good, 2).starts_with("[pass]"), "{}", stdout(&good));
    // A static token is first shown to Salesforce by the Pub/Sub topic check (step 4).
    let refused = step(&bad, 4);
    assert_eq!(
        bad.status.code(),
        Some(EXIT_CHECK_FAILED),
        "{}",
        stdout(&bad)
    );
    assert!(refused.starts_with("[FAIL]"), "{refused}");
    assert!(!stdout(&bad).contains("a-token-the-fake-never-issued"));
    let named = assert_fails(&unknown, EXIT_BAD_CONFIG, 1, "`initech`", "fix each key");
    assert!(named.contains("name one of good, bad"), "{named}");
}
