//! `[[tenants]]`: each tenant inherits the top-level channel sections key by key, gets its own
//! store namespace and redb file, takes secrets from `BYOC__TENANTS__<NAME>__…`, and every
//! mistake is named with the tenant's index.

use std::path::PathBuf;

use crate::support::config::{env, error_text};
use byoc_connector::auth::AuthConfig;
use byoc_connector::config::Config;

/// Shared sections and two tenants that give only what is theirs.
const TWO_TENANTS: &str = r#"
[pubsub]
endpoint = "https://api.pubsub.salesforce.com:7443"
credit_window = 50

[auth]
kind = "client-credentials"
client_id = "3MVG9shared"
client_secret = "shared-secret-value"
login_url = "https://shared.my.salesforce.com"

[interaction]
authorization_context = "Partner1_ChannelDefinition1"

[delivery]
url = "https://partner.example/byoc/events"

[routing]
strategy = "reject"

[store]
path = "/var/lib/byoc/state.redb"

[[tenants]]
name = "acme-sms"
pubsub = { topic = "/event/Acme__e" }
auth = { client_id = "3MVG9acme", login_url = "https://acme.my.salesforce.com" }
interaction = { base_url = "https://acme.my.salesforce-scrt.com" }
delivery = { url = "https://partner.example/acme/events" }

[[tenants]]
name = "globex"
pubsub = { topic = "/event/Globex__e" }
interaction = { base_url = "https://globex.my.salesforce-scrt.com" }
store = { path = "/data/globex.redb" }
"#;

/// `TWO_TENANTS` with `from` replaced by `to`, which must occur.
fn two_tenants_with(from: &str, to: &str) -> String {
    assert!(TWO_TENANTS.contains(from), "{from}");
    TWO_TENANTS.replacen(from, to, 1)
}

#[test]
fn tenants_inherit_the_top_level_sections_key_by_key_and_keep_their_own_keys() {
    let config = Config::from_toml_str(TWO_TENANTS).unwrap();

    let [acme, globex] = config.tenants.as_slice() else {
        panic!("two tenants: {:?}", config.tenants);
    };
    assert_eq!(acme.name, "acme-sms");
    assert_eq!(acme.pubsub.topic, "/event/Acme__e");
    assert_eq!(globex.pubsub.topic, "/event/Globex__e");
    assert_eq!(acme.pubsub.credit_window, 50, "inherited");
    assert_eq!(
        acme.delivery.url.as_deref(),
        Some("https://partner.example/acme/events")
    );
    let AuthConfig::ClientCredentials(acme_auth) = &acme.auth else {
        panic!("client credentials");
    };
    assert_eq!(acme_auth.client_id, "3MVG9acme");
    assert_eq!(acme_auth.client_secret.expose(), "shared-secret-value");
    let AuthConfig::ClientCredentials(globex_auth) = &globex.auth else {
        panic!("client credentials");
    };
    assert_eq!(globex_auth.client_id, "3MVG9shared");
    assert_eq!(acme.store.namespace, "acme-sms");
    assert_eq!(globex.store.namespace, "globex");
    assert_eq!(
        acme.store.path,
        PathBuf::from("/var/lib/byoc/state.acme-sms.redb")
    );
    assert_eq!(globex.store.path, PathBuf::from("/data/globex.redb"));
}

#[test]
fn each_channel_is_a_single_channel_configuration_named_after_its_tenant() {
    let config = Config::from_toml_str(TWO_TENANTS).unwrap();

    let channels = config.channels();

    let names: Vec<Option<String>> = channels.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(
        names,
        [Some("acme-sms".to_owned()), Some("globex".to_owned())]
    );
    let (_, globex) = &channels[1];
    assert_eq!(globex.pubsub.topic, "/event/Globex__e");
    assert_eq!(globex.store.namespace, "globex");
    assert!(globex.tenants.is_empty());
}

#[test]
fn without_tenants_the_one_channel_is_the_whole_configuration_under_no_name() {
    let config = Config::from_toml_str(crate::support::config::MINIMAL).unwrap();

    let channels = config.channels();

    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].0, None);
    assert_eq!(channels[0].1.pubsub.topic, config.pubsub.topic);
}

#[test]
fn an_auth_of_another_kind_replaces_the_inherited_auth_whole() {
    let text = two_tenants_with(
        "pubsub = { topic = \"/event/Globex__e\" }",
        "pubsub = { topic = \"/event/Globex__e\" }\nauth = { kind = \"static\", token = \"00Dxx!t\", instance_url = \"https://globex.my.salesforce.com\", org_id = \"00D000000000002AAA\" }",
    );

    let config = Config::from_toml_str(&text).unwrap();

    assert!(matches!(config.tenants[1].auth, AuthConfig::Static(_)));
}

#[test]
fn a_tenant_secret_comes_from_its_own_environment_variable_and_never_shows() {
    let config = Config::from_toml_str_with_env(
        TWO_TENANTS,
        env(&[(
            "BYOC__TENANTS__ACME_SMS__AUTH__CLIENT_SECRET",
            "acme-own-secret",
        )]),
    )
    .unwrap();

    let AuthConfig::ClientCredentials(acme_auth) = &config.tenants[0].auth else {
        panic!("client credentials");
    };
    assert_eq!(acme_auth.client_secret.expose(), "acme-own-secret");
    let AuthConfig::ClientCredentials(globex_auth) = &config.tenants[1].auth else {
        panic!("client credentials");
    };
    assert_eq!(globex_auth.client_secret.expose(), "shared-secret-value");
    let shown = format!("{config:?}");
    assert!(!shown.contains("acme-own-secret"), "{shown}");
}

#[test]
fn a_variable_naming_no_tenant_is_refused_naming_the_variable() {
    let error = error_text(
        TWO_TENANTS,
        &[(
            "BYOC__TENANTS__INITECH__AUTH__CLIENT_SECRET",
            "initech-secret",
        )],
    );

    assert!(
        error.contains("BYOC__TENANTS__INITECH__AUTH__CLIENT_SECRET names no tenant"),
        "{error}"
    );
    assert!(!error.contains("initech-secret"), "{error}");
}

#[test]
fn a_problem_in_a_tenants_own_key_names_the_tenant_by_index() {
    let text = two_tenants_with(
        "pubsub = { topic = \"/event/Globex__e\" }",
        "pubsub = { topic = \"/event/Globex__e\", credit_window = 0 }",
    );

    let error = error_text(&text, &[]);

    assert!(error.contains("tenants[1].pubsub.credit_window"), "{error}");
    assert!(
        !error.contains("tenants[0].pubsub.credit_window"),
        "{error}"
    );
}

#[test]
fn a_key_no_tenant_inherits_or_gives_is_missing_in_the_tenant() {
    let text = two_tenants_with("pubsub = { topic = \"/event/Globex__e\" }\n", "");

    let error = error_text(&text, &[]);

    assert!(
        error.contains("tenants[1].pubsub.topic is missing"),
        "{error}"
    );
}

#[test]
fn a_bad_inherited_value_is_named_once_under_its_top_level_key() {
    let text = two_tenants_with("credit_window = 50", "credit_window = 0");

    let error = error_text(&text, &[]);

    assert!(error.contains("pubsub.credit_window"), "{error}");
    assert!(!error.contains("tenants["), "{error}");
    assert_eq!(error.matches("pubsub.credit_window").count(), 1, "{error}");
}

#[test]
fn two_tenants_with_one_name_are_refused_naming_the_second() {
    let text = two_tenants_with("name = \"globex\"", "name = \"acme-sms\"");

    let error = error_text(&text, &[]);

    assert!(
        error.contains("tenants[1].name `acme-sms` is also tenants[0]'s name"),
        "{error}"
    );
}

#[test]
fn names_that_differ_only_in_case_or_punctuation_are_refused() {
    let text = two_tenants_with("name = \"globex\"", "name = \"ACME_sms\"");

    let error = error_text(&text, &[]);

    assert!(error.contains("tenants[1].name"), "{error}");
    assert!(error.contains("only in case"), "{error}");
}

#[test]
fn a_name_outside_the_rule_is_refused_with_the_rule() {
    for bad in ["", "acme sms", "acme/sms", &"a".repeat(65)] {
        let text = two_tenants_with("name = \"globex\"", &format!("name = \"{bad}\""));

        let error = error_text(&text, &[]);

        assert!(
            error.contains("tenants[1].name must be 1 to 64 characters"),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn a_tenant_without_a_name_is_refused() {
    let text = two_tenants_with("name = \"globex\"\n", "");

    let error = error_text(&text, &[]);

    assert!(error.contains("tenants[1].name is missing"), "{error}");
}

#[test]
fn two_tenants_sharing_a_redb_file_are_refused() {
    let text = two_tenants_with("/data/globex.redb", "/var/lib/byoc/state.acme-sms.redb");

    let error = error_text(&text, &[]);

    assert!(
        error.contains(
            "tenants[1].store.path `/var/lib/byoc/state.acme-sms.redb` is also tenants[0]'s file"
        ),
        "{error}"
    );
}

#[test]
fn two_tenants_sharing_a_postgres_namespace_are_refused() {
    let text = two_tenants_with(
        "path = \"/var/lib/byoc/state.redb\"",
        "kind = \"postgres\"\nurl = \"postgres://byoc@db.internal/byoc\"",
    )
    .replace(
        "store = { path = \"/data/globex.redb\" }",
        "store = { namespace = \"acme-sms\" }",
    );

    let error = error_text(&text, &[]);

    assert!(
        error.contains("tenants[1].store.namespace `acme-sms` is also tenants[0]'s namespace"),
        "{error}"
    );
}

#[test]
fn a_process_wide_store_key_in_a_tenant_is_refused() {
    let text = two_tenants_with(
        "store = { path = \"/data/globex.redb\" }",
        "store = { kind = \"postgres\" }",
    );

    let error = error_text(&text, &[]);

    assert!(
        error.contains("tenants[1].store.kind is process-wide"),
        "{error}"
    );
}

#[test]
fn a_top_level_namespace_with_tenants_is_refused() {
    let text = two_tenants_with(
        "path = \"/var/lib/byoc/state.redb\"",
        "path = \"/var/lib/byoc/state.redb\"\nnamespace = \"shared\"",
    );

    let error = error_text(&text, &[]);

    assert!(error.contains("store.namespace is per tenant"), "{error}");
}

#[test]
fn a_process_wide_section_in_a_tenant_is_refused() {
    let text = two_tenants_with(
        "name = \"globex\"",
        "name = \"globex\"\nserver = { listen = \"127.0.0.1:1\" }",
    );

    let error = error_text(&text, &[]);

    assert!(
        error.contains("tenants[1].server is not a known key of a tenant"),
        "{error}"
    );
}

#[test]
fn an_empty_tenant_list_is_refused() {
    let error = error_text(
        &format!("tenants = []\n{}", crate::support::config::MINIMAL),
        &[],
    );

    assert!(error.contains("tenants is empty"), "{error}");
}

#[test]
fn config_show_prints_each_tenant_with_where_each_value_came_from() {
    let dir = crate::support::pipeline::ScratchDir::new("tenants-show");
    let path = dir.path().join("connector.toml");
    std::fs::write(&path, TWO_TENANTS).unwrap();

    let effective = Config::load_effective(
        Some(&path),
        env(&[(
            "BYOC__TENANTS__ACME_SMS__AUTH__CLIENT_SECRET",
            "acme-own-secret",
        )]),
    )
    .unwrap();
    let shown = effective.to_string();

    assert!(
        shown.contains("[[tenants]]\nname = \"acme-sms\""),
        "{shown}"
    );
    assert!(
        shown.contains("topic = \"/event/Acme__e\"  # file"),
        "{shown}"
    );
    assert!(
        shown.contains("credit_window = 50  # file"),
        "inherited: {shown}"
    );
    assert!(
        shown.contains(
            "client_secret = \"[redacted]\"  # env BYOC__TENANTS__ACME_SMS__AUTH__CLIENT_SECRET"
        ),
        "{shown}"
    );
    assert!(!shown.contains("acme-own-secret"), "{shown}");
    assert!(!shown.contains("shared-secret-value"), "{shown}");
}
