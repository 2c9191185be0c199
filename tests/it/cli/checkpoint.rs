//! `byoc-connector checkpoint list|set|reset`, run as the real binary on a stopped
//! connector's store: replaying from a point moves the checkpoint forwards or back, the org is
//! taken from the store when only one has the topic, and a bad replay id or an unknown org is
//! refused with what to pass instead.

use byoc_connector::store::{Store, StoreSettings};

use super::config::{byoc, config_file, stderr, stdout};
use crate::support::config::{minimal_with, string};

const TOPIC: &str = "/event/Partner_Event__e";
const ORG: &str = "00D000000000001AAA";

/// A config whose store is a fresh file in a scratch directory, and that file's path.
fn setup() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("byoc-checkpoint-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("state.redb");
    let config = config_file(&minimal_with(&[(
        "store.path",
        string(&store.display().to_string()),
    )]));
    (config, store)
}

fn checkpoints(store: &std::path::Path) -> Vec<(String, String, Vec<u8>)> {
    let store = Store::open_existing(store).unwrap();
    store
        .list_checkpoints()
        .unwrap()
        .into_iter()
        .map(|c| (c.org, c.topic, c.replay_id))
        .collect()
}

#[test]
fn set_moves_the_checkpoint_back_for_the_org_that_has_the_topic_and_list_shows_it() {
    let (config, store_path) = setup();
    {
        let store = Store::open(&store_path, StoreSettings::default()).unwrap();
        store
            .set_checkpoint(ORG, TOPIC, &[0, 0, 0, 0, 0, 0, 0x30, 0x39])
            .unwrap();
    }
    let config = config.display().to_string();

    let set = byoc(
        &["checkpoint", "set", "00000000000003e8", "--config", &config],
        &[],
    );
    assert!(set.status.success(), "{}", stderr(&set));
    assert!(
        stdout(&set).contains("0000000000003039 -> 00000000000003e8"),
        "{}",
        stdout(&set)
    );
    assert_eq!(
        checkpoints(&store_path),
        [(
            ORG.to_owned(),
            TOPIC.to_owned(),
            1000_u64.to_be_bytes().to_vec()
        )]
    );

    let list = byoc(&["checkpoint", "list", "--config", &config], &[]);
    assert!(list.status.success(), "{}", stderr(&list));
    let line: serde_json::Value = serde_json::from_str(stdout(&list).trim()).unwrap();
    assert_eq!(
        line,
        serde_json::json!({"org": ORG, "topic": TOPIC, "replay_id": "00000000000003e8"})
    );
}

#[test]
fn reset_forgets_the_checkpoint_so_the_next_start_begins_at_pubsub_start() {
    let (config, store_path) = setup();
    {
        let store = Store::open(&store_path, StoreSettings::default()).unwrap();
        store.set_checkpoint(ORG, TOPIC, &[1, 2]).unwrap();
        store.set_checkpoint(ORG, "/event/Other__e", &[3]).unwrap();
    }
    let config = config.display().to_string();

    let reset = byoc(&["checkpoint", "reset", "--config", &config], &[]);

    assert!(reset.status.success(), "{}", stderr(&reset));
    assert!(stdout(&reset).contains("forgotten"), "{}", stdout(&reset));
    assert_eq!(
        checkpoints(&store_path),
        [(ORG.to_owned(), "/event/Other__e".to_owned(), vec![3])],
        "only the configured topic's checkpoint is forgotten"
    );
}

#[test]
fn without_a_checkpoint_of_the_topic_set_asks_for_the_org_and_a_bad_replay_id_is_refused() {
    let (config, store_path) = setup();
    drop(Store::open(&store_path, StoreSettings::default()).unwrap());
    let config = config.display().to_string();

    let unknown_org = byoc(&["checkpoint", "set", "0a", "--config", &config], &[]);
    assert!(!unknown_org.status.success());
    assert!(
        stderr(&unknown_org).contains("pass --org"),
        "{}",
        stderr(&unknown_org)
    );

    let not_hex = byoc(
        &["checkpoint", "set", "zz", "--org", ORG, "--config", &config],
        &[],
    );
    assert!(!not_hex.status.success());
    assert!(
        stderr(&not_hex).contains("replay id `zz` is not hex"),
        "{}",
        stderr(&not_hex)
    );
    assert!(checkpoints(&store_path).is_empty(), "nothing was written");

    let with_org = byoc(
        &["checkpoint", "set", "0A", "--org", ORG, "--config", &config],
        &[],
    );
    assert!(with_org.status.success(), "{}", stderr(&with_org));
    assert_eq!(
        checkpoints(&store_path),
        [(ORG.to_owned(), TOPIC.to_owned(), vec![0x0a])]
    );
}

#[test]
fn the_checkpoint_and_dlq_commands_act_on_a_postgres_store() {
    use crate::support::store::{fresh_namespace, postgres_url};
    let url = postgres_url();
    let namespace = fresh_namespace();
    let store = Store::open_postgres(&url, &namespace, StoreSettings::default()).unwrap();
    store
        .set_checkpoint(ORG, TOPIC, &[0, 0, 0, 0, 0, 0, 0x30, 0x39])
        .unwrap();
    let letter = byoc_connector::store::NewDeadLetter {
        replay_id: vec![7],
        raw: vec![1, 2, 3],
        decoded_json: None,
        reason: "refused".to_owned(),
        attributes: std::collections::BTreeMap::new(),
    };
    store
        .record_dead_letter(&letter, std::time::SystemTime::now())
        .unwrap();
    let config = config_file(&minimal_with(&[
        ("store.kind", string("postgres")),
        ("store.namespace", string(&namespace)),
    ]))
    .display()
    .to_string();
    let env = [("BYOC__STORE__URL", url.as_str())];

    let set = byoc(
        &["checkpoint", "set", "00000000000003e8", "--config", &config],
        &env,
    );
    let dead_letters = byoc(&["dlq", "list", "--json", "--config", &config], &env);

    assert!(set.status.success(), "{}", stderr(&set));
    assert_eq!(
        store.load_checkpoint(ORG, TOPIC).unwrap(),
        Some(1000_u64.to_be_bytes().to_vec())
    );
    assert!(dead_letters.status.success(), "{}", stderr(&dead_letters));
    let listed: serde_json::Value = serde_json::from_str(stdout(&dead_letters).trim()).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

#[test]
fn with_several_tenants_the_store_commands_need_a_tenant_and_act_on_its_store_only() {
    let dir = std::env::temp_dir().join(format!("byoc-checkpoint-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let shared = minimal_with(&[(
        "store.path",
        string(&dir.join("state.redb").display().to_string()),
    )]);
    let text = format!(
        "{shared}\n[[tenants]]\nname = \"acme\"\n\n[[tenants]]\nname = \"globex\"\npubsub = {{ topic = \"/event/Globex__e\" }}\n"
    );
    let config = config_file(&text).display().to_string();
    drop(Store::open(dir.join("state.globex.redb"), StoreSettings::default()).unwrap());

    let unnamed = byoc(&["checkpoint", "list", "--config", &config], &[]);
    let unknown = byoc(
        &[
            "checkpoint",
            "list",
            "--tenant",
            "initech",
            "--config",
            &config,
        ],
        &[],
    );
    let set = byoc(
        &[
            "checkpoint",
            "set",
            "00000000000003e8",
            "--org",
            ORG,
            "--tenant",
            "globex",
            "--config",
            &config,
        ],
        &[],
    );

    assert_eq!(unnamed.status.code(), Some(64), "{}", stderr(&unnamed));
    assert!(
        stderr(&unnamed).contains("--tenant is required"),
        "{}",
        stderr(&unnamed)
    );
    assert!(
        stderr(&unnamed).contains("acme, globex"),
        "{}",
        stderr(&unnamed)
    );
    assert_eq!(unknown.status.code(), Some(64));
    assert!(
        stderr(&unknown).contains("`initech`"),
        "{}",
        stderr(&unknown)
    );
    assert!(set.status.success(), "{}", stderr(&set));
    assert_eq!(
        checkpoints(&dir.join("state.globex.redb")),
        [(
            ORG.to_owned(),
            "/event/Globex__e".to_owned(),
            vec![0, 0, 0, 0, 0, 0, 0x03, 0xe8]
        )]
    );
    assert!(
        !dir.join("state.acme.redb").exists(),
        "acme's store untouched"
    );
    std::fs::remove_dir_all(&dir).ok();
}
