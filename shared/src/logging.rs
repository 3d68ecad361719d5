//! Log output of the functions and the local tool: one line per event on stdout, as JSON when
//! Lambda's advanced logging controls ask for it (`AWS_LAMBDA_LOG_FORMAT=JSON`), filtered by the
//! level in `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO.
//!
//! This is what `lambda_http::tracing::init_default_subscriber` sets up, with one difference: the
//! level is a single level, not a list of per-module directives. Those need tracing-subscriber's
//! `EnvFilter`, whose regex engine and Unicode tables weigh on each function's binary and on the
//! relocations the loader applies at every cold start (figures in BENCHMARKS.md).
//!
//! The same call decides whether each request also writes a metric line ([`crate::metrics`]).
//!
//! Release builds compile DEBUG and TRACE events out altogether (`release_max_level_info` in the
//! workspace manifest), so there INFO is the most verbose level: the AWS SDK's trace events print
//! whole requests and responses, tokens and biometric data included.

use tracing_subscriber::filter::LevelFilter;

pub const LOG_FORMAT: &str = "AWS_LAMBDA_LOG_FORMAT";
pub const LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";
pub const RUST_LOG: &str = "RUST_LOG";

/// Installs the process's log subscriber, configured from the environment, and decides whether
/// requests write metric lines ([`crate::metrics::init`]).
pub fn init() {
    let lookup = |name: &str| std::env::var(name).ok();
    crate::metrics::init(&lookup);
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level(&lookup));
    if json(&lookup) {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The level from `AWS_LAMBDA_LOG_LEVEL` when set, else from `RUST_LOG`; INFO when the one that
/// is set is not a level. Lambda's `FATAL` is `ERROR` here, the highest level `tracing` has.
pub fn level(lookup: &impl Fn(&str) -> Option<String>) -> LevelFilter {
    let Some(value) = lookup(LOG_LEVEL).or_else(|| lookup(RUST_LOG)) else {
        return LevelFilter::INFO;
    };
    let value = value.trim();
    if value.eq_ignore_ascii_case("fatal") {
        return LevelFilter::ERROR;
    }
    value.parse().unwrap_or(LevelFilter::INFO)
}

/// Whether Lambda asks for JSON log lines.
pub fn json(lookup: &impl Fn(&str) -> Option<String>) -> bool {
    lookup(LOG_FORMAT).is_some_and(|format| format.trim().eq_ignore_ascii_case("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn the_level_is_info_unless_set() {
        assert_eq!(level(&env(&[])), LevelFilter::INFO);
    }

    #[test]
    fn lambdas_level_wins_over_rust_log() {
        let lookup = env(&[(LOG_LEVEL, "WARN"), (RUST_LOG, "trace")]);
        assert_eq!(level(&lookup), LevelFilter::WARN);
        assert_eq!(level(&env(&[(RUST_LOG, "debug")])), LevelFilter::DEBUG);
    }

    #[test]
    fn every_lambda_level_maps_to_a_tracing_level() {
        let expected = [
            ("TRACE", LevelFilter::TRACE),
            ("DEBUG", LevelFilter::DEBUG),
            ("INFO", LevelFilter::INFO),
            ("WARN", LevelFilter::WARN),
            ("ERROR", LevelFilter::ERROR),
            ("FATAL", LevelFilter::ERROR),
        ];
        for (name, filter) in expected {
            assert_eq!(level(&env(&[(LOG_LEVEL, name)])), filter, "{name}");
        }
    }

    #[test]
    fn what_is_not_a_level_means_info() {
        // Per-module directives are not supported: the whole value must be one level.
        let lookup = env(&[(RUST_LOG, "biosign=debug,aws=warn")]);
        assert_eq!(level(&lookup), LevelFilter::INFO);
        assert_eq!(level(&env(&[(LOG_LEVEL, "loud")])), LevelFilter::INFO);
    }

    #[test]
    fn json_only_when_lambda_asks_for_it() {
        assert!(json(&env(&[(LOG_FORMAT, "JSON")])));
        assert!(json(&env(&[(LOG_FORMAT, "json")])));
        assert!(!json(&env(&[(LOG_FORMAT, "Text")])));
        assert!(!json(&env(&[])));
    }
}
