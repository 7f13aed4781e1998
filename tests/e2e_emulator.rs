//! The test emulator keeps to itself: it listens on loopback only, and a second emulator on
//! the machine (the demo, another checkout) neither breaks the first one's CloudWatch metrics
//! nor touches folders outside its own.

mod support;

use std::net::{IpAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricDatum, MetricStat};

/// This machine's address on its default route (no packet is sent), if it has one.
fn non_loopback_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("203.0.113.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Puts `value` (if any), then returns the sum of every data point of the last ten minutes.
async fn put_and_read(aws: &support::Aws, namespace: &str, value: Option<f64>) -> f64 {
    let now = SystemTime::now();
    if let Some(value) = value {
        aws.cloudwatch
            .put_metric_data()
            .namespace(namespace)
            .metric_data(
                MetricDatum::builder()
                    .metric_name("Beats")
                    .value(value)
                    .timestamp(DateTime::from(now))
                    .build(),
            )
            .send()
            .await
            .expect("PutMetricData");
    }
    let query = MetricDataQuery::builder()
        .id("beats")
        .metric_stat(
            MetricStat::builder()
                .metric(Metric::builder().namespace(namespace).metric_name("Beats").build())
                .period(60)
                .stat("Sum")
                .build(),
        )
        .build();
    let out = aws
        .cloudwatch
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(now - Duration::from_secs(600)))
        .end_time(DateTime::from(now + Duration::from_secs(120)))
        .send()
        .await
        .expect("GetMetricData on the first emulator");
    out.metric_data_results().iter().flat_map(|r| r.values().to_vec()).sum()
}

#[tokio::test]
async fn the_emulator_listens_on_loopback_only_and_a_second_one_leaves_it_alone() {
    let Some(emulator) = support::emulator() else { return };
    let aws = support::Aws::new(emulator).await;

    match non_loopback_address() {
        Some(ip) => assert!(
            TcpStream::connect_timeout(&(ip, emulator.port).into(), Duration::from_secs(2)).is_err(),
            "the emulator answers on {ip}:{}: it is open to the network",
            emulator.port
        ),
        None => eprintln!("no non-loopback address on this machine: the listen check has nothing to try"),
    }

    let namespace = support::unique("sfndeploy-test");
    assert_eq!(put_and_read(&aws, &namespace, Some(7.0)).await, 7.0);

    // A second emulator, started and stopped by the same script, with a plux cache of somebody
    // else's in its XDG_CACHE_HOME.
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join(support::unique("second-emulator"));
    let theirs = home.join("plux/theirs");
    std::fs::create_dir_all(&theirs).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulator.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .env("XDG_CACHE_HOME", &home)
        .env("SFNDEPLOY_EMULATOR_CACHE", emulator.cache_dir())
        .env_remove("SFNDEPLOY_EMULATOR_IDLE")
        .output()
        .unwrap();
    assert!(out.status.success(), "second emulator: {}", String::from_utf8_lossy(&out.stderr));
    let pid = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string();
    let stopped = std::process::Command::new("bash").arg(&script).args(["stop", &pid]).status().unwrap();
    assert!(stopped.success());
    assert!(theirs.exists(), "the script deleted {}, which is not its own", theirs.display());

    // The first emulator's metrics are still there, and it still takes new ones.
    assert_eq!(put_and_read(&aws, &namespace, None).await, 7.0);
    assert_eq!(put_and_read(&aws, &namespace, Some(1.0)).await, 8.0);
}
