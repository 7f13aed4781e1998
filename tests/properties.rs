//! Property tests: the command line and environment parsers return (a value or a usage error)
//! on any input; they never panic. Every accepted duration can be added to a clock reading and
//! multiplied by a 100-step plan without overflow.

use clap::Parser;
use proptest::prelude::*;
use sfndeploy::cli::{Cli, parse_duration};
use sfndeploy::config::{DeployConfig, Invocation};
use sfndeploy::env::env_bool;

const VALUE_FLAGS: [&str; 14] = [
    "--strategy", "--increment", "--interval", "--alarm-polling", "--history-max", "--prune-rate", "--steps",
    "--pause-at", "--max-unmonitored", "--rollback-timeout", "--call-timeout", "--max-attempts",
    "--state-machine", "--alias",
];

/// Strings like the ones people type, and anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,30}(\\.[0-9]{0,20})?(e[0-9]{1,4})?(ns|us|ms|s|m|h|d|w|y)?",
        "-?[0-9]{1,25}",
        "(inf|NaN|-inf|1e309|0x10|\\+5|5 s|1h 2m|١٢)",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn durations_parse_or_refuse_and_stay_in_range(s in text()) {
        if let Ok(d) = parse_duration(&s) {
            let now = std::time::Instant::now();
            prop_assert!(d.checked_mul(101).and_then(|t| now.checked_add(t)).is_some(), "{s} -> {d:?}");
        }
    }

    #[test]
    fn any_value_of_any_flag_is_a_value_or_an_error(flag in proptest::sample::select(&VALUE_FLAGS[..]), value in text()) {
        let mut argv = vec!["sfndeploy".to_string(), "--state-machine".into(), "orders".into(), "--alias".into(), "prod".into()];
        argv.push(format!("{flag}={value}"));
        if let Ok(cli) = Cli::try_parse_from(&argv) {
            let no_env = |_: &str| None;
            let _ = DeployConfig::from_args_in(&cli.deploy, &no_env, Invocation::default());
        }
    }

    #[test]
    fn yes_no_variables_are_a_value_or_an_error(value in text()) {
        let env = |_: &str| Some(value.clone());
        let _ = env_bool(&env, "SFNDEPLOY_FORCE");
    }
}
