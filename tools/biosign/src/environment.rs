//! What the tool takes from its environment, read once when it starts (`main`) and passed down
//! to whatever needs a setting: no command reads the process environment itself.
//!
//! Besides these, clap reads its options' variables while parsing (`BIOSIGN_DATA_DIR`,
//! `BIOSIGN_STORE`, `CORS_ALLOWED_ORIGINS`), and the AWS SDK and the log set-up read their own
//! (`AWS_*`, `RUST_LOG`).

use std::collections::BTreeMap;

use biosign_shared::config;
use biosign_shared::timestamp;

/// Every variable the tool's commands read.
pub const NAMES: [&str; 11] = [
    config::TABLE_NAME,
    config::BUCKET_NAME,
    config::KMS_KEY_ID,
    config::JWT_JWKS,
    config::JWT_JWKS_URL,
    config::JWT_ISSUER,
    config::JWT_AUDIENCE,
    config::ERROR_DOCS_URL,
    config::ESCROW_CERTS,
    timestamp::TSA_URL,
    timestamp::TSA_CERTS,
];

/// The settings the tool was started with (the values of [`NAMES`] that are set).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    vars: BTreeMap<&'static str, String>,
}

impl Environment {
    /// The process environment, read now.
    pub fn from_process() -> Self {
        Self::from_pairs(
            NAMES
                .iter()
                .filter_map(|&name| std::env::var(name).ok().map(|value| (name, value))),
        )
    }

    /// Given settings (tests, benchmarks); names outside [`NAMES`] are ignored, as the process
    /// environment's other variables are.
    pub fn from_pairs<V: Into<String>>(pairs: impl IntoIterator<Item = (&'static str, V)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .filter(|(name, _)| NAMES.contains(name))
                .map(|(name, value)| (name, value.into()))
                .collect(),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    /// For `biosign_shared::config`'s readers, which take a lookup function.
    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |name| self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_only_the_tools_settings() {
        let env = Environment::from_pairs([(config::TABLE_NAME, "t"), ("HOME", "/root")]);
        assert_eq!(env.get(config::TABLE_NAME).as_deref(), Some("t"));
        assert_eq!(env.get("HOME"), None);
        assert_eq!(env.lookup()(config::BUCKET_NAME), None);
    }
}
