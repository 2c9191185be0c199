//! The documentation a newcomer reads stays true: every relative link in the README, `docs/`,
//! `deploy/`, `bench/` and the crates' READMEs resolves to a file of the repository, and every
//! TOML block in the README and `docs/` loads as a configuration.
//!
//! A TOML block may be a whole configuration or a fragment (one section a page explains). Each
//! is laid over `config example`, which loads as is, so a fragment is checked with its
//! neighbours' keys in place and a whole configuration replaces every key the example sets.
//! Files a block names (`pubsub.ca_certificate_file`, `capabilities.file`) are the reader's
//! own; the test points them at stand-ins so the rest of the block is what it checks.

mod walkthrough;

use std::path::{Path, PathBuf};

use byoc_connector::config::Config;

/// The repository's top level.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Markdown file a reader of the repository is pointed at.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    for dir in ["docs", "deploy", "bench", "crates"] {
        collect_markdown(&root().join(dir), &mut files);
    }
    assert!(
        files.len() > 10,
        "the walk found too few documents: {files:?}"
    );
    files
}

fn collect_markdown(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name != "target" && name != "node_modules" && !name.starts_with('.') {
                collect_markdown(&path, files);
            }
        } else if name.ends_with(".md") {
            files.push(path);
        }
    }
}

/// The targets of the inline links `[text](target)` of `text`, with their line numbers.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    let mut in_code_block = false;
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            targets.push((index + 1, after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    targets
}

/// Whether `target` leaves the repository (a URL or a mail address) or stays in the page.
fn is_external_or_anchor(target: &str) -> bool {
    target.starts_with("http://")
        || target.starts_with("https://")
        || target.starts_with("mailto:")
        || target.starts_with('#')
}

#[test]
fn every_relative_link_in_the_documentation_resolves_to_a_file_of_the_repository() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for (line, target) in link_targets(&text) {
            if is_external_or_anchor(&target) {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            checked += 1;
            if !dir.join(path).exists() {
                let shown = file.strip_prefix(root()).unwrap_or(&file);
                broken.push(format!("{}:{line}: {target}", shown.display()));
            }
        }
    }
    assert!(
        checked > 20,
        "too few relative links were found ({checked})"
    );
    assert!(
        broken.is_empty(),
        "links that resolve to nothing:\n{}",
        broken.join("\n")
    );
}

/// The ```toml blocks of `text`, with the line each starts on.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```toml") => current = Some((index + 1, String::new())),
            Some(_) if fence.starts_with("```") => blocks.extend(current.take()),
            Some((_, block)) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// `overlay`'s keys written over `base`, section by section. A section that names its `kind`
/// (`[auth] kind = "static"`) replaces the example's: its keys belong to that kind only.
fn lay_over(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(table))
                if !table.contains_key("kind") =>
            {
                lay_over(base_table, table);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Points the file-naming keys at stand-ins in `dir`: the files are the reader's own.
fn with_stand_in_files(config: &mut toml::Table, dir: &Path) {
    if let Some(toml::Value::Table(pubsub)) = config.get_mut("pubsub") {
        if pubsub.contains_key("ca_certificate_file") {
            let pem = dir.join("ca.pem");
            std::fs::write(
                &pem,
                "-----BEGIN CERTIFICATE-----\nstand-in\n-----END CERTIFICATE-----\n",
            )
            .unwrap();
            pubsub.insert(
                "ca_certificate_file".into(),
                pem.display().to_string().into(),
            );
        }
    }
    if let Some(toml::Value::Table(capabilities)) = config.get_mut("capabilities") {
        if capabilities.contains_key("file") {
            let file = dir.join("capabilities.json");
            std::fs::write(&file, r#"{"appType": "custom", "channelCapabilities": []}"#).unwrap();
            capabilities.insert("file".into(), file.display().to_string().into());
        }
    }
}

#[test]
fn every_toml_block_in_the_readme_and_docs_loads_as_a_configuration() {
    let example: toml::Table = Config::example_toml().parse().unwrap();
    let stand_ins = std::env::temp_dir().join(format!("byoc-docs-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&stand_ins).unwrap();
    let mut files = vec![root().join("README.md")];
    collect_markdown(&root().join("docs"), &mut files);
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        for (line, block) in toml_blocks(&text) {
            checked += 1;
            let overlay: toml::Table = match block.parse() {
                Ok(table) => table,
                Err(error) => {
                    failures.push(format!("{shown}:{line}: not TOML: {error}"));
                    continue;
                }
            };
            let mut config = example.clone();
            lay_over(&mut config, overlay);
            with_stand_in_files(&mut config, &stand_ins);
            let text = toml::to_string(&config).unwrap();
            if let Err(error) = Config::from_toml_str(&text) {
                failures.push(format!("{shown}:{line}: does not load:\n{error}"));
            }
        }
    }
    std::fs::remove_dir_all(&stand_ins).ok();
    assert!(checked >= 3, "too few TOML blocks were found ({checked})");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_link_scanner_finds_inline_links_and_skips_code_blocks() {
    let text = "see [a](docs/a.md) and [b](https://x.example)\n```\n[c](nope.md)\n```\n[d](e.md#f)";
    let targets: Vec<_> = link_targets(text).into_iter().map(|(_, t)| t).collect();
    assert_eq!(targets, ["docs/a.md", "https://x.example", "e.md#f"]);
}
