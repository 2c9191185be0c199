//! A connector config pointing at a running fake Salesforce, for `demo`, `bench` and tests.
//!
//! This is the one place that knows both the fake's endpoints and the connector's config keys.

use std::path::Path;

use fake_salesforce::FakeSalesforce;

/// A connector config (TOML) for `fake` over plaintext loopback, from EARLIEST, delivering to
/// `delivery_url`, with its store at `store` and `routing` as the body of its `[routing]` table.
pub fn connector_config_toml(
    fake: &FakeSalesforce,
    delivery_url: &str,
    store: &Path,
    routing: &str,
) -> String {
    let endpoints = fake.endpoints();
    format!(
        "[pubsub]\nendpoint = \"{}\"\ninsecure = true\ntopic = \"{}\"\nstart = \"earliest\"\n\n\
         [auth]\nkind = \"static\"\ntoken = \"{}\"\ninstance_url = \"{}\"\norg_id = \"{}\"\n\n\
         [interaction]\nbase_url = \"{}\"\nauthorization_context = \"{}\"\ninsecure = true\n\n\
         [delivery]\nkind = \"webhook\"\nurl = \"{delivery_url}\"\n\n\
         [store]\npath = \"{}\"\n\n[server]\nlisten = \"127.0.0.1:0\"\nsidecar_listen = \"127.0.0.1:0\"\n\n[routing]\n{routing}\n",
        endpoints.pubsub,
        endpoints.topic,
        endpoints.token,
        endpoints.instance_url,
        endpoints.org_id,
        endpoints.instance_url,
        endpoints.authorization_context,
        store.display(),
    )
}

/// `config` (TOML text) with each `(section, key, value)` of `settings` set, the section
/// created when missing.
pub(crate) fn with_settings(
    config: &str,
    settings: &[(&str, &str, toml::Value)],
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    if settings.is_empty() {
        return Ok(config.to_owned());
    }
    let mut root: toml::Table = config.parse()?;
    for (section, key, value) in settings {
        let table = root
            .entry(*section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("[{section}] is not a table"))?;
        table.insert((*key).to_owned(), value.clone());
    }
    Ok(toml::to_string(&root)?)
}
