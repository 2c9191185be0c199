//! Telemetry of a process serving `[[tenants]]`: one registry per tenant, its metrics
//! labelled `tenant="<name>"`, and one exposition for them all.
//!
//! Each tenant's registry encodes every family with its own `# HELP` and `# TYPE` lines, and
//! Prometheus refuses an exposition that describes a family twice, so the tenants' texts are
//! merged family by family: one description, then every tenant's samples. This file knows
//! nothing about what the metrics count.

use super::metrics::Scope;
use super::Telemetry;

impl Telemetry {
    /// A new telemetry for the tenant `name`, whose metrics this one's `/metrics` shows with
    /// the label `tenant="<name>"`.
    #[must_use]
    pub fn tenant(&self, name: &str) -> Telemetry {
        let tenant = Self::with_scope(&Scope::Tenant(name.to_owned()));
        if let Ok(mut tenants) = self.tenants.lock() {
            tenants.push(tenant.clone());
        }
        tenant
    }

    /// The tenants added so far.
    pub(super) fn tenants(&self) -> Vec<Telemetry> {
        self.tenants
            .lock()
            .map(|tenants| tenants.clone())
            .unwrap_or_default()
    }

    /// The channel stopped with an error (`byoc_channel_up` 0), or runs again (1).
    pub fn set_channel_up(&self, up: bool) {
        self.metrics.channel_up.set(i64::from(up));
    }
}

/// One OpenMetrics text from several: each family described once, where it first appears,
/// followed by the samples every text has for it, in the texts' order; one `# EOF` at the end.
pub(super) fn merge_expositions(texts: &[String]) -> String {
    // (family name, description lines, sample lines), in order of first appearance.
    let mut families: Vec<(String, Vec<&str>, Vec<&str>)> = Vec::new();
    for text in texts {
        let mut current: Option<usize> = None;
        // Whether this text is the first to describe the current family.
        let mut describing = false;
        for line in text.lines() {
            if line == "# EOF" {
                break;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default();
                let known = families.iter().position(|(known, _, _)| known == name);
                describing = known.is_none();
                current = Some(known.unwrap_or_else(|| {
                    families.push((name.to_owned(), vec![line], Vec::new()));
                    families.len() - 1
                }));
                continue;
            }
            let Some(index) = current else { continue };
            let (_, description, samples) = &mut families[index];
            if !line.starts_with("# ") {
                samples.push(line);
            } else if describing {
                // TYPE and UNIT, from the first text that described the family.
                description.push(line);
            }
        }
    }
    let mut merged = String::new();
    for (_, description, samples) in families {
        for line in description.into_iter().chain(samples) {
            merged.push_str(line);
            merged.push('\n');
        }
    }
    merged.push_str("# EOF\n");
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_several_texts_are_described_once_with_all_their_samples() {
        let first = "# HELP a_total A.\n# TYPE a_total counter\na_total{tenant=\"x\"} 1\n# HELP b B.\n# TYPE b gauge\nb{tenant=\"x\"} 2\n# EOF\n";
        let second = "# HELP a_total A.\n# TYPE a_total counter\na_total{tenant=\"y\"} 3\n# EOF\n";

        let merged = merge_expositions(&[first.to_owned(), second.to_owned()]);

        assert_eq!(
            merged,
            "# HELP a_total A.\n# TYPE a_total counter\na_total{tenant=\"x\"} 1\na_total{tenant=\"y\"} 3\n# HELP b B.\n# TYPE b gauge\nb{tenant=\"x\"} 2\n# EOF\n"
        );
    }
}
