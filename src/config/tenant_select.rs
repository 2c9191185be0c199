//! Choosing one tenant of a `[[tenants]]` configuration for the commands that act on one
//! channel (`dlq`, `checkpoint`, `doctor`): `--tenant NAME`, required when there are several.
//!
//! This file knows how to narrow a configuration to one tenant, not what the commands do.

use super::error::ConfigProblem;
use super::{Config, ConfigError};

impl Config {
    /// This configuration narrowed to the tenant `tenant` names: its sections at the top, its
    /// store, and itself as the only tenant. Without `[[tenants]]` the configuration itself,
    /// and `tenant` must be `None`; with one tenant `tenant` may be left out.
    pub fn for_one_channel(self, tenant: Option<&str>) -> Result<Config, ConfigError> {
        let names: Vec<&str> = self.tenants.iter().map(|t| t.name.as_str()).collect();
        let refuse = |problem: String, hint: String| {
            Err(ConfigError::Invalid(vec![ConfigProblem {
                key: "--tenant".to_owned(),
                problem,
                hint,
                env_var: None,
            }]))
        };
        let index = match (tenant, names.as_slice()) {
            (None, []) => return Ok(self),
            (Some(name), []) => {
                return refuse(
                    format!("names the tenant `{name}`, but the configuration has no [[tenants]]"),
                    "leave --tenant out".to_owned(),
                )
            }
            (None, [_]) => 0,
            (None, _) => {
                return refuse(
                    format!(
                        "is required: the configuration serves {} tenants",
                        names.len()
                    ),
                    format!("name one of {}", names.join(", ")),
                )
            }
            (Some(name), _) => match names.iter().position(|known| *known == name) {
                Some(index) => index,
                None => {
                    return refuse(
                        format!("names no tenant of the configuration: `{name}`"),
                        format!("name one of {}", names.join(", ")),
                    )
                }
            },
        };
        let mut channels = self.channels();
        let (_, mut chosen) = channels.swap_remove(index);
        chosen.tenants = vec![self.tenants[index].clone()];
        Ok(chosen)
    }
}
