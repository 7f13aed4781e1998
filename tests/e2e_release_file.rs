//! End to end, a release declared in a file (`--config`): two members with their own files (one
//! in YAML) and substitutions, deployed from the file alone; the precedence of the command line,
//! the variables and the file; a file with a mistake refused with its line. The built binary
//! against LocalStack.

mod support;

use std::path::PathBuf;

use support::{Machine, deployable, refs, spawn};

/// A folder of this test's own.
fn folder(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("release-file").join(name);
    std::fs::create_dir_all(dir.join("sm")).unwrap();
    dir
}

#[tokio::test]
async fn a_release_file_with_two_members_a_yaml_definition_and_substitutions_is_deployed() {
    let Some((aws, proxy, orders)) = deployable("file-orders", 1).await else { return };
    let payments = Machine::create(&aws, "file-payments", 1).await;
    payments.create_alias("prod", &[(1, 100)]).await;
    let dir = folder("two");
    std::fs::write(
        dir.join("sm/orders.asl.yaml"),
        "StartAt: P\nStates:\n  P:\n    Type: Pass\n    Result: ${Table} in ${AWS::Region} (${Stage})\n    End: true\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("sm/payments.asl.json"),
        r#"{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"payments (${Stage})","End":true}}}"#,
    )
    .unwrap();
    let config = dir.join("sfndeploy.toml");
    std::fs::write(
        &config,
        format!(
            "alias = \"prod\"\nstrategy = \"linear\"\nincrement = 50\ninterval = \"1s\"\npublish-revision = true\n\
             substitution = [\"Stage=live\"]\n\n\
             [[state-machine]]\nname = \"{}\"\nfile = \"sm/orders.asl.yaml\"\nsubstitutions = {{ Table = \"orders-table\" }}\n\n\
             [[state-machine]]\nname = \"{}\"\nfile = \"sm/payments.asl.json\"\n",
            orders.name, payments.name
        ),
    )
    .unwrap();
    let out = spawn(&proxy.endpoint(), &["--config", config.to_str().unwrap()], &[]).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.starts_with("Released 2 state machines to alias prod"), "{out:#?}");
    assert_eq!(orders.routing("prod").await.unwrap(), [(2, 100)]);
    assert_eq!(payments.routing("prod").await.unwrap(), [(2, 100)]);
    let deployed: serde_json::Value = serde_json::from_str(&orders.version_definition(2).await).unwrap();
    assert_eq!(deployed["States"]["P"]["Result"], format!("orders-table in {} (live)", support::REGION));
    let deployed: serde_json::Value = serde_json::from_str(&payments.version_definition(2).await).unwrap();
    assert_eq!(deployed["States"]["P"]["Result"], "payments (live)");
}

#[tokio::test]
async fn the_command_line_wins_over_variables_which_win_over_the_file() {
    let Some((_, proxy, m)) = deployable("file-precedence", 2).await else { return };
    let dir = folder("precedence");
    let config = dir.join("sfndeploy.toml");
    std::fs::write(
        &config,
        format!(
            "state-machine = [\"{}\"]\nalias = \"prod\"\nstrategy = \"canary\"\ninterval = \"5m\"\n",
            m.name
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let plan = |args: Vec<String>, env: Vec<(&'static str, &'static str)>| {
        let endpoint = proxy.endpoint();
        let config = config.clone();
        async move {
            let mut all = vec!["--config".to_string(), config, "--dry-run".to_string()];
            all.extend(args);
            let out = spawn(&endpoint, &refs(&all), &env).finish().await;
            assert_eq!(out.code, 0, "{out:#?}");
            out.stdout
        }
    };
    let from_file = plan(vec![], vec![]).await;
    assert!(from_file.contains("5% (5m)"), "the file's interval: {from_file}");
    let from_env = plan(vec![], vec![("SFNDEPLOY_INTERVAL", "3m")]).await;
    assert!(from_env.contains("5% (3m)"), "a variable wins over the file: {from_env}");
    let from_flag = plan(vec!["--interval".into(), "2m".into()], vec![("SFNDEPLOY_INTERVAL", "3m")]).await;
    assert!(from_flag.contains("5% (2m)"), "the command line wins: {from_flag}");
    // The same for a flag sfndeploy reads by hand (a switch): the variable wins over the file.
    std::fs::write(
        &config,
        format!("state-machine = [\"{}\"]\nalias = \"prod\"\ninterval = 0\ndry-run = true\n", m.name),
    )
    .unwrap();
    let out =
        spawn(&proxy.endpoint(), &["--config", &config], &[("SFNDEPLOY_DRY_RUN", "false")]).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.starts_with("Deployed"), "not a dry run: {out:#?}");
}

#[tokio::test]
async fn a_mistake_in_the_file_is_one_sentence_with_its_line_and_nothing_is_called() {
    let Some((_, proxy, m)) = deployable("file-mistake", 2).await else { return };
    let dir = folder("mistake");
    let config = dir.join("sfndeploy.toml");
    std::fs::write(
        &config,
        format!("state-machine = [\"{}\"]\nalias = \"prod\"\n\nintervall = \"5m\"\n", m.name),
    )
    .unwrap();
    let out = spawn(&proxy.endpoint(), &["--config", config.to_str().unwrap()], &[]).finish().await;
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(
        out.stderr.trim(),
        format!("error: {}:4:1: unknown key 'intervall' (did you mean 'interval'?)", config.display())
    );
    assert!(
        proxy.log().is_empty(),
        "no AWS call: {:?}",
        proxy.log().iter().map(|c| c.op.clone()).collect::<Vec<_>>()
    );
}
