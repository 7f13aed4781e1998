//! The benchmark: what a deploy costs in API calls, how exactly it keeps its schedule, how fast
//! it reacts to an alarm, how fast it starts, how much memory it takes, and how it prunes at
//! scale. Measured against the LocalStack emulator through the logging proxy. Not a test: it is
//! ignored by `cargo test` and run with `bash tests/bench.sh`, which prints one table and writes
//! the same figures as JSON.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use support::proxy::Proxy;
use support::{Aws, Emulator, Machine, emulator, spawn};

const RUNS: usize = 3;
const REACTION_TRIALS: usize = 12;

/// Median and worst of a series (worst = largest).
fn stats(values: &[f64]) -> (f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
    (median, *v.last().unwrap())
}

fn stats_json(values: &[f64]) -> Value {
    let (median, worst) = stats(values);
    json!({"median": median, "worst": worst, "samples": values})
}

/// A small deterministic generator for the random moments of the reaction trials.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A state machine with v1, v2 published, `prod` on v1, a pending revision, and two OK alarms.
async fn fixture(aws: &Aws, prefix: &str) -> (Machine, [String; 2]) {
    let m = Machine::create(aws, prefix, 2).await;
    m.create_alias("prod", &[(1, 100)]).await;
    m.update(&support::definition("pending"), false).await;
    let alarms = [format!("{}-errors", m.name), format!("{}-latency", m.name)];
    for a in &alarms {
        aws.metric_alarm(a, "OK").await;
    }
    (m, alarms)
}

struct Deploy {
    calls: BTreeMap<String, usize>,
    /// From the first alias update reaching AWS to the last call (the final gate).
    shift_time: Duration,
    code: i32,
}

async fn deploy(emulator: &Emulator, aws: &Aws, prefix: &str, strategy: &[&str]) -> Deploy {
    let proxy = Proxy::start(emulator.port).await;
    let (m, alarms) = fixture(aws, prefix).await;
    let mut args =
        vec!["--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--alarm-polling", "1"];
    args.extend_from_slice(strategy);
    args.push("--alarms");
    args.extend(alarms.iter().map(String::as_str));
    let out = spawn(&proxy.endpoint(), &args, &[]).finish().await;
    let log = proxy.log();
    let mut calls = BTreeMap::new();
    for c in &log {
        *calls.entry(c.op.clone()).or_insert(0) += 1;
    }
    let first_update = log.iter().find(|c| c.op == "UpdateStateMachineAlias").map(|c| c.at).unwrap();
    let shift_time = log.last().unwrap().at.duration_since(first_update);
    Deploy { calls, shift_time, code: out.code }
}

/// The calls a plan needs, by operation: one read of each thing before the start (the state
/// machine, and the alias's version for the review of the definition), per step one alias update
/// and (after a hold of at least a second) one guard read of the alias, one read of the alias
/// back before success is declared, and one alarm read per polling interval of hold time, the
/// read before the first step included.
fn minimum(steps: usize, hold_s: u64, polling_s: u64) -> BTreeMap<String, usize> {
    let per_hold = hold_s.div_ceil(polling_s) as usize;
    BTreeMap::from([
        ("GetCallerIdentity".to_string(), 1),
        ("DescribeStateMachine".to_string(), 2),
        ("ListStateMachineAliases".to_string(), 1),
        ("DescribeStateMachineAlias".to_string(), 2 + if hold_s >= 1 { steps - 1 } else { 0 }),
        ("PublishStateMachineVersion".to_string(), 1),
        ("UpdateStateMachineAlias".to_string(), steps),
        ("DescribeAlarms".to_string(), 1 + steps * per_hold),
    ])
}

fn wall(cmd: &mut std::process::Command) -> f64 {
    let t = Instant::now();
    let status =
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().unwrap();
    assert!(status.success(), "{cmd:?}");
    t.elapsed().as_secs_f64()
}

fn env_cmd(endpoint: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sfndeploy"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", support::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    cmd
}

fn machine_info() -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    let mem_kb: u64 = read("/proc/meminfo")
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": (mem_kb as f64 / 1048576.0 * 10.0).round() / 10.0,
        "os": read("/proc/sys/kernel/osrelease").trim(),
        "commit": git(&["rev-parse", "--short", "HEAD"]),
        "dirty": !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty(),
        "date": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, not a test: run it with `bash tests/bench.sh`"]
async fn benchmark() {
    let emulator = emulator().expect("the benchmark needs the emulator");
    let aws = Aws::new(emulator).await;
    let quick = std::env::var_os("SFNDEPLOY_BENCH_QUICK").is_some();
    let mut report = json!({"machine": machine_info()});
    let mut table: Vec<String> = Vec::new();

    // 1 and 2: calls per deploy, and schedule accuracy.
    // (name, flags, steps, hold, holds): the canary holds once (10%, hold, 100%); the others
    // hold after every step, the last hold being the bake.
    let strategies: [(&str, Vec<&str>, usize, u64, u64); 4] = [
        ("allatonce", vec!["--strategy", "allatonce", "--interval", "1"], 1, 1, 1),
        (
            "canary 10%, 1 s holds",
            vec!["--strategy", "canary", "--increment", "10", "--interval", "1"],
            2,
            1,
            1,
        ),
        (
            "linear 10%, 1 s holds",
            vec!["--strategy", "linear", "--increment", "10", "--interval", "1"],
            10,
            1,
            10,
        ),
        (
            "canary 10%, 5 s holds",
            vec!["--strategy", "canary", "--increment", "10", "--interval", "5"],
            2,
            5,
            1,
        ),
    ];
    table.push("## API calls per deploy (two alarms, --alarm-polling 1s, --publish-revision)".into());
    table.push("| strategy | operation | median | worst | minimum the plan needs |".into());
    table.push("|---|---|---|---|---|".into());
    let mut calls_json = json!({});
    let mut schedule_rows = Vec::new();
    let mut schedule_json = json!({});
    for (name, args, steps, hold, holds) in &strategies {
        let mut runs = Vec::new();
        for i in 0..RUNS {
            let d =
                deploy(emulator, &aws, &format!("bench-{}-{i}", name.split(' ').next().unwrap()), args).await;
            assert_eq!(d.code, 0, "{name} run {i} failed");
            runs.push(d);
        }
        let planned = (holds * hold) as f64;
        let deviations: Vec<f64> = runs.iter().map(|d| d.shift_time.as_secs_f64() - planned).collect();
        let (median, worst) = stats(&deviations);
        let worst_abs = deviations.iter().fold(0.0f64, |m, d| m.max(d.abs()));
        schedule_rows.push(format!(
            "| {name} | {planned:.1} s | {:+.0} ms | {:+.0} ms | {} |",
            median * 1000.0,
            worst * 1000.0,
            if worst_abs <= 0.25 { "met (≤ 250 ms)" } else { "MISSED (> 250 ms)" }
        ));
        schedule_json[*name] =
            json!({"planned_seconds": planned, "deviation_seconds": stats_json(&deviations)});
        if *name == "canary 10%, 5 s holds" {
            continue;
        }
        let min = minimum(*steps, *hold, 1);
        let mut ops: Vec<String> = runs.iter().flat_map(|d| d.calls.keys().cloned()).collect();
        ops.extend(min.keys().cloned());
        ops.sort();
        ops.dedup();
        let mut per_op = json!({});
        let mut total = Vec::new();
        for op in &ops {
            let counts: Vec<f64> = runs.iter().map(|d| *d.calls.get(op).unwrap_or(&0) as f64).collect();
            let (median, worst) = stats(&counts);
            let need = *min.get(op).unwrap_or(&0);
            table.push(format!("| {name} | {op} | {median} | {worst} | {need} |"));
            per_op[op] = json!({"median": median, "worst": worst, "minimum": need});
        }
        for d in &runs {
            total.push(d.calls.values().sum::<usize>() as f64);
        }
        let (median, worst) = stats(&total);
        let need: usize = min.values().sum();
        table.push(format!("| {name} | **total** | {median} | {worst} | {need} |"));
        calls_json[*name] =
            json!({"operations": per_op, "total": {"median": median, "worst": worst, "minimum": need}});
    }
    report["api_calls"] = calls_json;
    table.push(String::new());
    table.push("## Schedule accuracy (actual minus planned, first alias update to last call)".into());
    table.push("| deploy | planned | median | worst | goal |".into());
    table.push("|---|---|---|---|---|".into());
    table.extend(schedule_rows);
    report["schedule"] = schedule_json;

    // 3: reaction to an alarm.
    let mut rng = Lcg(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64);
    let mut reactions = Vec::new();
    for i in 0..REACTION_TRIALS {
        let proxy = Proxy::start(emulator.port).await;
        let (m, alarms) = fixture(&aws, &format!("bench-react-{i}")).await;
        let running = spawn(
            &proxy.endpoint(),
            &[
                "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--strategy", "canary",
                "--increment", "20", "--interval", "30", "--alarm-polling", "1", "--alarms", &alarms[0],
                &alarms[1],
            ],
            &[],
        );
        running.wait_for("step 1/2", Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_secs_f64(0.1 + 2.0 * rng.next())).await;
        aws.set_alarm(&alarms[1], "ALARM").await;
        let fired = Instant::now();
        let out = running.finish().await;
        assert_eq!(out.code, 3, "trial {i}: {out:#?}");
        let rollback = proxy.forwarded("UpdateStateMachineAlias").last().unwrap().at;
        reactions.push(rollback.duration_since(fired).as_secs_f64());
    }
    let (median, worst) = stats(&reactions);
    table.push(String::new());
    table.push(format!("## Reaction: alarm set to ALARM at a random moment of a hold → rollback call reaching AWS (--alarm-polling 1, {REACTION_TRIALS} trials)"));
    table.push("| median | worst | goal |".into());
    table.push("|---|---|---|".into());
    table.push(format!(
        "| {:.0} ms | {:.0} ms | median ≤ 600 ms: {}; worst ≤ 1250 ms: {} |",
        median * 1000.0,
        worst * 1000.0,
        if median <= 0.6 { "met" } else { "MISSED" },
        if worst <= 1.25 { "met" } else { "MISSED" }
    ));
    report["reaction_seconds"] = stats_json(&reactions);

    // 3b: reaction to the new version's own failed executions.
    gate_reaction(emulator, &aws, &mut table, &mut report).await;

    // 4: start-up.
    let help: Vec<f64> = (0..20)
        .map(|_| wall(std::process::Command::new(env!("CARGO_BIN_EXE_sfndeploy")).arg("--help")))
        .collect();
    let (noop_machine, _) = fixture(&aws, "bench-noop").await;
    let set = ["--state-machine", noop_machine.name.as_str(), "--alias", "prod", "--interval", "0"];
    assert_eq!(env_cmd(&emulator.endpoint(), &set).status().unwrap().code(), Some(0));
    let noop: Vec<f64> = (0..10).map(|_| wall(&mut env_cmd(&emulator.endpoint(), &set))).collect();
    let (h_med, h_worst) = stats(&help);
    let (n_med, n_worst) = stats(&noop);
    table.push(String::new());
    table.push("## Start-up (wall time)".into());
    table.push("| command | median | worst |".into());
    table.push("|---|---|---|".into());
    table.push(format!(
        "| `sfndeploy --help` (20 runs) | {:.1} ms | {:.1} ms |",
        h_med * 1000.0,
        h_worst * 1000.0
    ));
    table.push(format!(
        "| nothing-to-do deploy against the emulator (10 runs) | {:.1} ms | {:.1} ms |",
        n_med * 1000.0,
        n_worst * 1000.0
    ));
    report["startup_seconds"] = json!({"help": stats_json(&help), "nothing_to_do_deploy": stats_json(&noop)});

    // 5: memory and size.
    let mut peaks = Vec::new();
    for i in 0..RUNS {
        let proxy = Proxy::start(emulator.port).await;
        let (m, alarms) = fixture(&aws, &format!("bench-rss-{i}")).await;
        let running = spawn(
            &proxy.endpoint(),
            &[
                "--state-machine", &m.name, "--alias", "prod", "--publish-revision", "--strategy", "canary",
                "--interval", "2", "--alarm-polling", "1", "--alarms", &alarms[0], &alarms[1],
            ],
            &[],
        );
        let status = format!("/proc/{}/status", running.id());
        let mut peak_kb = 0u64;
        while let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
            if text.contains("State:\tZ") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let out = running.finish().await;
        assert_eq!(out.code, 0);
        peaks.push(peak_kb as f64 / 1024.0);
    }
    let size = std::fs::metadata(env!("CARGO_BIN_EXE_sfndeploy")).unwrap().len() as f64 / 1048576.0;
    let (p_med, p_worst) = stats(&peaks);
    table.push(String::new());
    table.push("## Memory and size".into());
    table.push("| what | median | worst |".into());
    table.push("|---|---|---|".into());
    table.push(format!("| peak RSS during a canary (two alarms) | {p_med:.1} MiB | {p_worst:.1} MiB |"));
    table.push(format!("| binary (release profile: LTO, stripped) | {size:.2} MiB | |"));
    report["peak_rss_mib"] = stats_json(&peaks);
    report["binary_mib"] = json!(size);

    // 6: pruning at scale.
    let m = Machine::create(&aws, "bench-prune", 300).await;
    m.create_alias("prod", &[(299, 100)]).await;
    let proxy = Proxy::start(emulator.port).await;
    let rate = if quick { "10" } else { "1" };
    let t = Instant::now();
    let out = spawn(
        &proxy.endpoint(),
        &[
            "--state-machine", &m.name, "--alias", "prod", "--interval", "0", "--history-max", "10",
            "--prune-rate", rate,
        ],
        &[],
    )
    .finish()
    .await;
    let took = t.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "{out:#?}");
    let remaining = m.versions().await;
    assert_eq!(remaining.len(), 10, "{remaining:?}");
    let log = proxy.log();
    let deletes: Vec<Instant> =
        log.iter().filter(|c| c.op == "DeleteStateMachineVersion").map(|c| c.at).collect();
    let first = deletes[0];
    let burst = deletes.iter().filter(|t| t.duration_since(first) < Duration::from_millis(900)).count();
    let max_in_any_second = deletes
        .iter()
        .map(|a| {
            deletes.iter().filter(|b| **b >= *a && b.duration_since(*a) < Duration::from_secs(1)).count()
        })
        .max()
        .unwrap();
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for c in &log {
        *by_op.entry(c.op.clone()).or_insert(0) += 1;
    }
    table.push(String::new());
    table.push(format!("## Pruning at scale: 300 versions to --history-max 10 (--prune-rate {rate})"));
    table.push("| deletes | other calls | time | first burst | most deletes in any 1 s after it |".into());
    table.push("|---|---|---|---|---|".into());
    let other: Vec<String> = by_op
        .iter()
        .filter(|(op, _)| *op != "DeleteStateMachineVersion")
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    let after_burst = deletes
        .iter()
        .skip(burst)
        .map(|a| {
            deletes
                .iter()
                .skip(burst)
                .filter(|b| **b >= *a && b.duration_since(*a) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    table.push(format!(
        "| {} | {} | {:.1} s | {burst} | {after_burst} |",
        deletes.len(),
        other.join(", "),
        took
    ));
    report["pruning"] = json!({
        "versions": 300, "history_max": 10, "prune_rate": rate, "deletes": deletes.len(), "calls": by_op,
        "seconds": took, "first_burst": burst, "max_deletes_in_any_second": max_in_any_second,
        "max_deletes_in_any_second_after_burst": after_burst,
    });

    let text = table.join("\n");
    println!("\n{text}\n");
    if let Ok(path) = std::env::var("SFNDEPLOY_BENCH_JSON") {
        report["table_markdown"] = json!(text);
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
        println!("figures written to {path}");
    }
}

/// First failed execution of the new version → the rollback call, with `--max-failure-rate` at
/// `--alarm-polling 1s`; and the API calls each gate read costs.
async fn gate_reaction(emulator: &Emulator, aws: &Aws, table: &mut Vec<String>, report: &mut Value) {
    let mut rng = Lcg(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64);
    let mut reactions = Vec::new();
    let (mut failures_at_rollback, mut after_second) = (Vec::new(), Vec::new());
    let mut calls_per_read = Vec::new();
    for i in 0..REACTION_TRIALS {
        let proxy = Proxy::start(emulator.port).await;
        let m = Machine::create(aws, &format!("bench-gate-{i}"), 1).await;
        m.create_alias("prod", &[(1, 100)]).await;
        m.update(&support::fails_on_demand("Boom"), true).await; // v1 ignores its input
        // Traffic through the alias every 50 ms; it asks to fail from a random moment on.
        let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = failing.clone();
        let traffic =
            support::traffic(aws, format!("{}:prod", m.arn), Duration::from_millis(50), move |_| {
                if flag.load(std::sync::atomic::Ordering::Relaxed) { r#"{"fail":true}"# } else { "{}" }
            });
        let running = spawn(
            &proxy.endpoint(),
            &[
                "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
                "--interval", "30", "--alarm-polling", "1", "--max-failure-rate", "5",
            ],
            &[],
        );
        running.wait_for("step 1/2", Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_secs_f64(0.5 + 2.0 * rng.next())).await;
        failing.store(true, std::sync::atomic::Ordering::Relaxed);
        let out = running.finish().await;
        drop(traffic);
        assert_eq!(out.code, 3, "trial {i}: {out:#?}");
        // The first failed execution of v2, by its start as the emulator recorded it.
        let failed = aws
            .sfn
            .list_executions()
            .state_machine_arn(m.version_arn(2))
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Failed)
            .max_results(1000)
            .send()
            .await
            .unwrap();
        let first = failed
            .executions()
            .iter()
            .map(|e| SystemTime::try_from(*e.start_date()).unwrap())
            .min()
            .expect("v2 failed");
        let log = proxy.log();
        let rollback = log.iter().rev().find(|l| l.op == "UpdateStateMachineAlias").unwrap();
        // Proxy times are Instants: map the rollback to the wall clock through now.
        let rollback_wall = SystemTime::now() - rollback.at.elapsed();
        reactions.push(rollback_wall.duration_since(first).unwrap_or_default().as_secs_f64());
        // How many failures had ended when the rollback call went out, and how long after the
        // second one it went.
        let mut ended: Vec<SystemTime> = failed
            .executions()
            .iter()
            .filter_map(|e| e.stop_date().map(|d| SystemTime::try_from(*d).unwrap()))
            .filter(|stop| *stop <= rollback_wall)
            .collect();
        ended.sort();
        failures_at_rollback.push(ended.len() as f64);
        if let Some(second) = ended.get(1) {
            after_second.push(rollback_wall.duration_since(*second).unwrap_or_default().as_secs_f64());
        }
        let lists = log.iter().filter(|l| l.op == "ListExecutions").count() as f64;
        let describes = log.iter().filter(|l| l.op == "DescribeExecution").count() as f64;
        calls_per_read.push((lists, describes));
    }
    let (median, worst) = stats(&reactions);
    let lists: Vec<f64> = calls_per_read.iter().map(|c| c.0).collect();
    let describes: Vec<f64> = calls_per_read.iter().map(|c| c.1).collect();
    table.push(String::new());
    table.push(format!(
        "## Reaction to failed executions: first failed execution of the new version → rollback call reaching AWS (--max-failure-rate 5, --alarm-polling 1, {REACTION_TRIALS} trials)"
    ));
    table.push("| signal | median | worst | goal |".into());
    table.push("|---|---|---|---|".into());
    table.push(format!(
        "| --max-failure-rate (ListExecutions) | {:.0} ms | {:.0} ms | median < 700 ms: {}; worst < 1200 ms: {} |",
        median * 1000.0,
        worst * 1000.0,
        if median < 0.7 { "met" } else { "MISSED" },
        if worst < 1.2 { "met" } else { "MISSED" }
    ));
    let (failures_median, failures_worst) = stats(&failures_at_rollback);
    table.push(format!(
        "| failed executions of the new version ended by the rollback call | {failures_median:.0} | {failures_worst:.0} | 2: the least a 95% verdict at a 5% limit rests on |"
    ));
    let (second_median, second_worst) = stats(&after_second);
    table.push(format!(
        "| the second failure's end → the rollback call | {:.0} ms | {:.0} ms | about 150 ms (2026-12-04) |",
        second_median * 1000.0,
        second_worst * 1000.0
    ));
    table.push(
        "| the floor: half a poll on average, one ListExecutions, one guard read and the update | about 500 ms | about 1000 ms | |"
            .into(),
    );
    table.push(
        "| a CloudWatch alarm on a one-minute metric | ≥ 60 s | | the metric's period must close, then the alarm evaluates |"
            .into(),
    );
    table.push(String::new());
    table.push("| gate | API calls per poll |".into());
    table.push("|---|---|".into());
    table.push(format!(
        "| STANDARD (ListExecutions through the alias, or per version where refused; DescribeExecution of at most 5 failures, after the rollback) | about 1; whole trials: {:.0} ListExecutions, {:.0} DescribeExecution (median) |",
        stats(&lists).0,
        stats(&describes).0
    ));
    table.push("| EXPRESS (AWS/States metrics) | 1 GetMetricData for both versions, + ListMetrics until both versions have metrics |".into());
    report["gate_reaction_seconds"] = stats_json(&reactions);
    report["gate_failures_at_rollback"] = stats_json(&failures_at_rollback);
    report["gate_second_failure_to_rollback_seconds"] = stats_json(&after_second);
    report["gate_calls_per_trial"] =
        json!({"list_executions": stats_json(&lists), "describe_execution": stats_json(&describes)});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, not a test: run it with `bash tests/bench.sh --only gates`"]
async fn gate_benchmark() {
    let emulator = emulator().expect("the benchmark needs the emulator");
    let aws = Aws::new(emulator).await;
    let mut report = json!({"machine": machine_info()});
    let mut table = Vec::new();
    gate_reaction(emulator, &aws, &mut table, &mut report).await;
    duration_reaction(emulator, &aws, &mut table, &mut report).await;
    read_cost(emulator, &aws, &mut table, &mut report).await;
    busy_account(emulator, &aws, &mut table, &mut report).await;
    println!("\n{}\n", table.join("\n"));
}

/// The duration gate: the first execution of a version 2 s slower → the rollback call.
async fn duration_reaction(emulator: &Emulator, aws: &Aws, table: &mut Vec<String>, report: &mut Value) {
    let mut reactions = Vec::new();
    for i in 0..5 {
        let proxy = Proxy::start(emulator.port).await;
        let m = Machine::create(aws, &format!("bench-slow-{i}"), 1).await;
        m.create_alias("prod", &[(1, 100)]).await;
        m.update(
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":2,"Next":"P"},"P":{"Type":"Pass","End":true}}}"#,
            true,
        )
        .await;
        let traffic = support::traffic(aws, format!("{}:prod", m.arn), Duration::from_millis(50), |_| "{}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let out = spawn(
            &proxy.endpoint(),
            &[
                "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
                "--interval", "30", "--alarm-polling", "1", "--max-duration-increase", "50",
            ],
            &[],
        )
        .finish()
        .await;
        drop(traffic);
        assert_eq!(out.code, 3, "trial {i}: {out:#?}");
        let listed = aws
            .sfn
            .list_executions()
            .state_machine_arn(m.version_arn(2))
            .max_results(1000)
            .send()
            .await
            .unwrap();
        let first =
            listed.executions().iter().map(|e| SystemTime::try_from(*e.start_date()).unwrap()).min().unwrap();
        let log = proxy.log();
        let rollback = log.iter().rev().find(|l| l.op == "UpdateStateMachineAlias").unwrap();
        let rollback_wall = SystemTime::now() - rollback.at.elapsed();
        reactions.push(rollback_wall.duration_since(first).unwrap_or_default().as_secs_f64());
    }
    let (median, worst) = stats(&reactions);
    table.push(String::new());
    table.push("## Reaction to a slower version: its first execution → rollback call (2 s added, --max-duration-increase 50, 20 executions a second, 5 trials)".into());
    table.push("| median | worst | floor |".into());
    table.push("|---|---|---|".into());
    table.push(format!(
        "| {:.1} s | {:.1} s | the limit (old median bound + 50%) plus about 10 executions past it at 10 a second through the canary, plus a poll |",
        median, worst
    ));
    report["duration_reaction_seconds"] = stats_json(&reactions);
}

/// `ListExecutions` a deploy-second: with nothing new, and at about 100 executions a second.
async fn read_cost(emulator: &Emulator, aws: &Aws, table: &mut Vec<String>, report: &mut Value) {
    let mut rows = Vec::new();
    for (label, every) in
        [("nothing new", None), ("about 100 executions a second", Some(Duration::from_millis(10)))]
    {
        let proxy = Proxy::start(emulator.port).await;
        let m = Machine::create(aws, "bench-cost", 2).await;
        m.create_alias("prod", &[(1, 100)]).await;
        let traffic = every.map(|e| support::traffic(aws, format!("{}:prod", m.arn), e, |_| "{}"));
        let out = spawn(
            &proxy.endpoint(),
            &[
                "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment", "50",
                "--interval", "20", "--alarm-polling", "1", "--max-failure-rate", "5", "--min-executions",
                "0",
            ],
            &[],
        )
        .finish()
        .await;
        drop(traffic);
        assert_eq!(out.code, 0, "{label}: {out:#?}");
        let lists = proxy.log().iter().filter(|l| l.op == "ListExecutions").count() as f64;
        let started =
            aws.sfn.list_executions().state_machine_arn(&m.arn).max_results(1000).send().await.unwrap();
        let per_second = lists / out.took.as_secs_f64();
        rows.push(format!(
            "| {label} | {per_second:.2} | {lists:.0} in {:.1} s; {} executions seen at the end |",
            out.took.as_secs_f64(),
            started.executions().len()
        ));
        report["list_executions_per_second"][label] = json!(per_second);
    }
    table.push(String::new());
    table.push("## Gate reads: ListExecutions per deploy-second (--alarm-polling 1, a 20 s canary; the emulator refuses alias ARNs, so each version is listed, the old one every fifth read)".into());
    table.push("| traffic | ListExecutions / s | detail |".into());
    table.push("|---|---|---|".into());
    table.extend(rows);
}

/// Twelve deploys at once with gates and alarms, under AWS's refill rates (bursts cut to 20).
async fn busy_account(emulator: &Emulator, aws: &Aws, table: &mut Vec<String>, report: &mut Value) {
    use support::proxy::{Bucket, token_buckets};
    let proxy = Proxy::start(emulator.port).await;
    let mut machines = Vec::new();
    for _ in 0..12 {
        let m = Machine::create(aws, "bench-busy", 2).await;
        m.create_alias("prod", &[(1, 100)]).await;
        aws.metric_alarm(&format!("{}-errors", m.name), "OK").await;
        machines.push(m);
    }
    let traffic: Vec<_> = machines
        .iter()
        .map(|m| support::traffic(aws, format!("{}:prod", m.arn), Duration::from_millis(500), |_| "{}"))
        .collect();
    let bucket = |capacity, per_second| Bucket { capacity, per_second };
    proxy.set_rule(token_buckets(&[
        ("ListExecutions", bucket(20.0, 2.0)),
        ("UpdateStateMachineAlias", bucket(20.0, 1.0)),
        ("DescribeStateMachineAlias", bucket(20.0, 2.0)),
        ("DescribeAlarms", bucket(9.0, 9.0)),
    ]));
    let began = Instant::now();
    let alarms: Vec<String> = machines.iter().map(|m| format!("{}-errors", m.name)).collect();
    let runs: Vec<_> = machines
        .iter()
        .zip(&alarms)
        .map(|(m, alarm)| {
            spawn(
                &proxy.endpoint(),
                &[
                    "--state-machine", &m.name, "--alias", "prod", "--strategy", "canary", "--increment",
                    "50", "--interval", "8", "--alarm-polling", "1", "--max-failure-rate", "10", "--alarms",
                    alarm,
                ],
                &[],
            )
        })
        .collect();
    let mut ok = 0;
    let mut took = Vec::new();
    for run in runs {
        let out = run.finish().await;
        ok += usize::from(out.code == 0);
        took.push(out.took.as_secs_f64());
    }
    drop(traffic);
    let all = began.elapsed().as_secs_f64();
    let throttled = proxy.log().iter().filter(|l| l.fault.is_some()).count();
    let (median, worst) = stats(&took);
    table.push(String::new());
    table.push("## Twelve deploys at once under AWS's token buckets (ListExecutions 2/s, alias updates 1/s, DescribeAlarms 9/s; bursts 20): a canary of 8 s each with --max-failure-rate and an alarm".into());
    table.push("| on their new versions | nominal | median | slowest | all done | throttled calls |".into());
    table.push("|---|---|---|---|---|---|".into());
    table.push(format!("| {ok} of 12 | 8 s | {median:.1} s | {worst:.1} s | {all:.1} s | {throttled} |"));
    report["busy_account"] =
        json!({"ok": ok, "seconds": stats_json(&took), "all_seconds": all, "throttled": throttled});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, not a test: run it with `bash tests/bench.sh --only release`"]
async fn release_benchmark() {
    let emulator = emulator().expect("the benchmark needs the emulator");
    let aws = Aws::new(emulator).await;
    let mut report = json!({"machine": machine_info()});
    let mut table = Vec::new();
    release_cost(emulator, &aws, &mut table, &mut report).await;
    println!("\n{}\n", table.join("\n"));
}

/// One deploy of `members` state machines (each v1 live, v2 to deploy, an OK alarm) with linear
/// 25% steps held 1 s: how long it took, and the API calls it made.
async fn timed_release(emulator: &Emulator, aws: &Aws, members: usize) -> (f64, usize) {
    let proxy = Proxy::start(emulator.port).await;
    let mut names = Vec::new();
    let mut alarms = Vec::new();
    for _ in 0..members {
        let m = Machine::create(aws, "bench-release", 2).await;
        m.create_alias("prod", &[(1, 100)]).await;
        let alarm = format!("{}-errors", m.name);
        aws.metric_alarm(&alarm, "OK").await;
        names.push(m.name);
        alarms.push(alarm);
    }
    let mut args: Vec<&str> = Vec::new();
    for name in &names {
        args.extend(["--state-machine", name.as_str()]);
    }
    args.extend([
        "--alias", "prod", "--strategy", "linear", "--increment", "25", "--interval", "1", "--alarm-polling",
        "1", "--alarms",
    ]);
    args.extend(alarms.iter().map(String::as_str));
    let out = spawn(&proxy.endpoint(), &args, &[]).finish().await;
    assert_eq!(out.code, 0, "{out:#?}");
    (out.took.as_secs_f64(), proxy.log().len())
}

/// A release of 10 state machines against one deploy of the same plan.
async fn release_cost(emulator: &Emulator, aws: &Aws, table: &mut Vec<String>, report: &mut Value) {
    const TRIALS: usize = 3;
    let (mut one, mut ten, mut one_calls, mut ten_calls) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TRIALS {
        let (took, calls) = timed_release(emulator, aws, 1).await;
        one.push(took);
        one_calls.push(calls as f64);
        let (took, calls) = timed_release(emulator, aws, 10).await;
        ten.push(took);
        ten_calls.push(calls as f64 / 10.0);
    }
    table.push(String::new());
    table.push(format!(
        "## A release of 10 state machines against one deploy: linear 25% steps held 1 s (nominal 4 s, the last hold the bake), an alarm each, {TRIALS} trials"
    ));
    table.push("| deploy | median time | slowest | API calls per state machine (median) |".into());
    table.push("|---|---|---|---|".into());
    for (name, took, calls) in
        [("one state machine", &one, &one_calls), ("a release of 10", &ten, &ten_calls)]
    {
        let (median, worst) = stats(took);
        table.push(format!("| {name} | {median:.2} s | {worst:.2} s | {:.1} |", stats(calls).0));
    }
    report["release"] = json!({
        "one": {"seconds": stats_json(&one), "calls": stats_json(&one_calls)},
        "ten": {"seconds": stats_json(&ten), "calls_per_member": stats_json(&ten_calls)},
    });
}

/// Peak memory of a gate's ledger that watches 500 executions a second for an hour (1.8 million,
/// one in a hundred failing), against one that keeps every execution by itself.
#[test]
#[ignore = "a benchmark, not a test: run it with `bash tests/bench.sh --only memory`"]
fn memory_benchmark() {
    use aws_sdk_sfn::primitives::DateTime;
    use aws_sdk_sfn::types::{ExecutionListItem, ExecutionStatus};
    use sfndeploy::gates::ledger::Ledger;
    const RATE: u64 = 500;
    const SECONDS: u64 = 3600;
    let sm = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";
    let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let item = |n: u64| {
        let start = since + Duration::from_micros(n * 1_000_000 / RATE);
        let status = if n % 100 == 99 { "FAILED" } else { "SUCCEEDED" };
        ExecutionListItem::builder()
            .execution_arn(format!("arn:aws:states:us-east-1:123456789012:execution:orders:{n:036}"))
            .state_machine_arn(sm)
            .name(format!("{n:036}"))
            .status(ExecutionStatus::from(status))
            .start_date(DateTime::from(start))
            .stop_date(DateTime::from(start + Duration::from_millis(200 + n % 700)))
            .state_machine_version_arn(format!("{sm}:{}", 6 + n % 2))
            .state_machine_alias_arn(format!("{sm}:prod"))
            .build()
            .unwrap()
    };
    let peak = || -> f64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    };
    let before = peak();
    let began = Instant::now();
    let mut ledger =
        Ledger::new(&format!("{sm}:prod"), (&format!("{sm}:6"), &format!("{sm}:7")), since, since);
    for second in 0..SECONDS {
        for n in second * RATE..(second + 1) * RATE {
            ledger.record(&item(n), None);
        }
        // What the gate does after each read: fold what lies 32 s below the top.
        if let Some(horizon) = (since + Duration::from_secs(second)).checked_sub(Duration::from_secs(32)) {
            ledger.fold(horizon);
        }
    }
    let order = ledger.start_order(since + Duration::from_secs(SECONDS + 1), Some(Duration::from_secs(2)));
    let bounded = peak() - before;
    let took = began.elapsed().as_secs_f64();
    let kept = ledger.exact().count();
    let seen = order.started + ledger.tally(sfndeploy::gates::ledger::Side::Old, since).0.finished;
    drop(ledger);
    // The same hour kept one by one, as the gate did before (never folded).
    let before = peak();
    let mut all = Ledger::new(&format!("{sm}:prod"), (&format!("{sm}:6"), &format!("{sm}:7")), since, since);
    for n in 0..RATE * SECONDS {
        all.record(&item(n), None);
    }
    let unbounded = peak() - before;
    println!(
        "\n| gate memory at {RATE} executions a second for an hour | peak RSS growth |\n|---|---|\n| \
         {seen} executions seen, {kept} kept one by one (the failures and the last 32 s), the rest counted | \
         {bounded:.1} MiB ({took:.1} s to record) |\n| every one kept one by one (as before) | {unbounded:.0} MiB |",
    );
    let json = std::env::var("SFNDEPLOY_BENCH_JSON").ok();
    if let Some(path) = json {
        let report = json!({"machine": machine_info(), "gate_memory_mib_500_per_second_hour": bounded,
            "kept": kept, "gate_memory_mib_every_one_kept": unbounded});
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }
}
