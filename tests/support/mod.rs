//! Support for the end-to-end tests: one LocalStack emulator for the whole test run (started by
//! `tests/emulator.sh`, shared by every e2e test binary, reused while alive), AWS clients to
//! arrange and inspect state, a runner for the built `sfndeploy` binary, and a fault-injecting
//! proxy that sits between the binary and the emulator and logs every call.
#![allow(dead_code)]

pub mod proxy;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_sfn::config::Credentials;
use aws_sdk_sfn::types::RoutingConfigurationListItem;
use tokio::io::{AsyncBufReadExt, BufReader};

pub const REGION: &str = "us-east-1";

/// A definition whose every execution fails with `Boom`.
pub const FAILING: &str =
    r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"the new version broke"}}}"#;

/// The JSON events of a run's stdout (`--output json`), lines that are not JSON left out.
pub fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}
pub const ROLE: &str = "arn:aws:iam::000000000000:role/sfndeploy-test";

/// The shared emulator.
pub struct Emulator {
    pub port: u16,
    state_dir: PathBuf,
}

impl Emulator {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The script's cache folder (the installed emulator and each run's state).
    pub fn cache_dir(&self) -> PathBuf {
        self.state_dir.parent().expect("the state folder is in the cache folder").to_path_buf()
    }

    /// Tells the emulator's idle watchdog that it is still in use.
    fn touch(&self) {
        let _ = File::create(self.state_dir.join("last-used"));
    }
}

static EMULATOR: OnceLock<Result<Emulator, String>> = OnceLock::new();

/// The emulator, started on first use. Returns None only when the developer opted out with
/// `SFNDEPLOY_SKIP_E2E=1` outside CI; a failure to start fails the test loudly.
pub fn emulator() -> Option<&'static Emulator> {
    if std::env::var_os("SFNDEPLOY_SKIP_E2E").is_some_and(|v| v == "1") {
        assert!(
            std::env::var_os("CI").is_none(),
            "SFNDEPLOY_SKIP_E2E is not honoured in CI: the end-to-end tests must run there"
        );
        eprintln!("SKIPPED: end-to-end test (SFNDEPLOY_SKIP_E2E=1)");
        return None;
    }
    match EMULATOR.get_or_init(|| {
        let emulator = start_or_reuse()?;
        // Keep the idle watchdog away while this test binary runs, however long a test takes.
        let stamp = emulator.state_dir.join("last-used");
        std::thread::spawn(move || {
            loop {
                let _ = File::create(&stamp);
                std::thread::sleep(Duration::from_secs(10));
            }
        });
        Ok(emulator)
    }) {
        Ok(e) => {
            e.touch();
            Some(e)
        }
        Err(message) => panic!("{message}"),
    }
}

fn start_or_reuse() -> Result<Emulator, String> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("emulator");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // One test binary at a time decides whether to start it.
    let lock = File::create(dir.join("lock")).map_err(|e| e.to_string())?;
    lock.lock().map_err(|e| e.to_string())?;
    let current = dir.join("current");
    if let Ok(text) = std::fs::read_to_string(&current)
        && let [_, port, state] = text.split_whitespace().collect::<Vec<_>>()[..]
        && let Ok(port) = port.parse()
        && healthy(port)
    {
        return Ok(Emulator { port, state_dir: PathBuf::from(state) });
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulator.sh");
    let idle = std::env::var("SFNDEPLOY_EMULATOR_IDLE").unwrap_or_else(|_| "120".into());
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg("start")
        .env("SFNDEPLOY_EMULATOR_IDLE", idle)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    if !out.status.success() || fields.len() != 3 {
        return Err(format!(
            "the end-to-end tests need the LocalStack emulator, and it could not be started:\n{}\n\
             Fix the cause above (the script says what to install), or, outside CI only, set \
             SFNDEPLOY_SKIP_E2E=1 to skip the end-to-end tests.",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&current, &stdout).map_err(|e| e.to_string())?;
    let port = fields[1].parse().map_err(|_| format!("bad emulator output: {stdout}"))?;
    Ok(Emulator { port, state_dir: PathBuf::from(fields[2]) })
}

fn healthy(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let request = "GET /_localstack/health HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    if !(body.starts_with("HTTP/1.1 200") || body.starts_with("HTTP/1.0 200")) {
        return false;
    }
    // An emulator started by an older script may lack a service the tests now use.
    let json = body.split_once("\r\n\r\n").map_or("", |(_, json)| json);
    let services = serde_json::from_str::<serde_json::Value>(json).unwrap_or_default();
    ["stepfunctions", "cloudwatch", "sts", "sns", "sqs"]
        .iter()
        .all(|s| matches!(services["services"][s].as_str(), Some("available" | "running")))
}

/// The usual arrangement of an end-to-end test: the emulator, clients, a logging proxy in front,
/// and a state machine of the test's own with `versions` versions whose alias `prod` routes 100%
/// to v1. None when the end-to-end tests are skipped (see [`emulator`]).
pub async fn deployable(prefix: &str, versions: u32) -> Option<(Aws, proxy::Proxy, Machine)> {
    let emulator = emulator()?;
    let aws = Aws::new(emulator).await;
    let proxy = proxy::Proxy::start(emulator.port).await;
    let machine = Machine::create(&aws, prefix, versions).await;
    machine.create_alias("prod", &[(1, 100)]).await;
    Some((aws, proxy, machine))
}

/// Any credentials act in the emulator's own account.
fn test_credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "e2e")
}

/// A unique name per test and process, so tests share one emulator in parallel.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// AWS clients pointed at the emulator, for arranging and inspecting.
#[derive(Clone)]
pub struct Aws {
    pub sfn: aws_sdk_sfn::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sts: aws_sdk_sts::Client,
    pub endpoint: String,
}

impl Aws {
    pub async fn new(emulator: &Emulator) -> Aws {
        Aws::with(&emulator.endpoint(), REGION, test_credentials()).await
    }

    /// Clients for another region of the emulator and, with `account`, another account: the
    /// credentials of a role assumed there, as sfndeploy assumes one.
    pub async fn at(&self, region: &str, account: Option<&str>) -> Aws {
        let own = Aws::with(&self.endpoint, region, test_credentials()).await;
        let Some(account) = account else { return own };
        let out = own
            .sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/e2e"))
            .role_session_name("e2e")
            .send()
            .await
            .expect("assume role");
        let c = out.credentials().expect("credentials");
        let session = Some(c.session_token().to_string());
        let credentials =
            Credentials::new(c.access_key_id(), c.secret_access_key(), session, None, "e2e-role");
        Aws::with(&self.endpoint, region, credentials).await
    }

    /// Clients of the emulator at `endpoint`, in `region`, with `credentials` (the emulator's own
    /// account's: [`test_credentials`]).
    async fn with(endpoint: &str, region: &str, credentials: Credentials) -> Aws {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(credentials)
            .load()
            .await;
        Aws {
            sfn: aws_sdk_sfn::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            endpoint: endpoint.to_string(),
        }
    }

    /// A topic of the test's own, with a queue subscribed to it that receives each message's
    /// body as published (raw delivery): (topic ARN, queue URL).
    /// A name ending in `.fifo` makes both FIFO: messages arrive in the order published.
    pub async fn topic_with_queue(&self, name: &str) -> (String, String) {
        let fifo = name.ends_with(".fifo");
        let mut topic = self.sns.create_topic().name(name);
        if fifo {
            topic = topic.attributes("FifoTopic", "true");
        }
        let topic = topic.send().await.expect("create topic");
        let topic = topic.topic_arn().expect("a topic ARN").to_string();
        let mut queue = self.sqs.create_queue().queue_name(name);
        if fifo {
            queue = queue.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        let queue = queue.send().await.expect("create queue");
        let url = queue.queue_url().expect("a queue URL").to_string();
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes");
        let queue_arn = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("the queue's ARN")
            .clone();
        self.sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe the queue");
        (topic, url)
    }

    /// Every message in the queue now, in the order received.
    pub async fn drain(&self, queue_url: &str) -> Vec<String> {
        let mut bodies = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("receive messages");
            let messages = got.messages();
            if messages.is_empty() {
                return bodies;
            }
            for m in messages {
                bodies.push(m.body().unwrap_or_default().to_string());
                if let Some(handle) = m.receipt_handle() {
                    let _ =
                        self.sqs.delete_message().queue_url(queue_url).receipt_handle(handle).send().await;
                }
            }
        }
    }

    pub async fn metric_alarm(&self, name: &str, state: &str) {
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/States")
            .metric_name("ExecutionsFailed")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            // The emulator evaluates metric alarms on a schedule, and with no data ("missing")
            // would put one set by a test back to INSUFFICIENT_DATA at any moment; "ignore" keeps
            // the state the test set, as on AWS.
            .treat_missing_data("ignore")
            .send()
            .await
            .expect("put metric alarm");
        self.set_alarm(name, state).await;
    }

    pub async fn composite_alarm(&self, name: &str, of: &str, state: &str) {
        self.cloudwatch
            .put_composite_alarm()
            .alarm_name(name)
            .alarm_rule(format!("ALARM(\"{of}\")"))
            .send()
            .await
            .expect("put composite alarm");
        self.set_alarm(name, state).await;
    }

    pub async fn set_alarm(&self, name: &str, state: &str) {
        self.cloudwatch
            .set_alarm_state()
            .alarm_name(name)
            .state_value(StateValue::from(state))
            .state_reason("set by the sfndeploy tests")
            .send()
            .await
            .expect("set alarm state");
    }
}

/// A definition that fails with `error` when its input is `{"fail": true}`, and passes otherwise.
pub fn fails_on_demand(error: &str) -> String {
    format!(
        r#"{{"StartAt":"C","States":{{"C":{{"Type":"Choice","Choices":[{{"Variable":"$.fail","BooleanEquals":true,"Next":"F"}}],"Default":"P"}},"F":{{"Type":"Fail","Error":"{error}"}},"P":{{"Type":"Pass","End":true}}}}}}"#
    )
}

/// Executions started through `alias_arn` every `every`, the n-th with `input(n)`, until the
/// returned guard is dropped.
pub fn traffic(
    aws: &Aws,
    alias_arn: String,
    every: Duration,
    input: impl Fn(u32) -> &'static str + Send + 'static,
) -> Traffic {
    let sfn = aws.sfn.clone();
    Traffic(tokio::spawn(async move {
        for n in 0u32.. {
            let _ = sfn.start_execution().state_machine_arn(&alias_arn).input(input(n)).send().await;
            tokio::time::sleep(every).await;
        }
    }))
}

/// Stops its traffic generator when dropped.
pub struct Traffic(tokio::task::JoinHandle<()>);

impl Drop for Traffic {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn definition(result: &str) -> String {
    format!(r#"{{"StartAt":"P","States":{{"P":{{"Type":"Pass","Result":"{result}","End":true}}}}}}"#)
}

/// A state machine of the test's own in the emulator.
pub struct Machine {
    pub aws: Aws,
    pub name: String,
    pub arn: String,
}

/// What a test compares before and after a run that must change nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub versions: Vec<u32>,
    pub aliases: Vec<(String, Vec<(u32, i32)>)>,
    pub revision: Option<String>,
    pub definition: String,
}

impl Machine {
    /// Creates a state machine with `versions` published versions (v1..vN, each a distinct
    /// definition); the current revision is vN's.
    pub async fn create(aws: &Aws, prefix: &str, versions: u32) -> Machine {
        Machine::create_of(aws, prefix, versions, aws_sdk_sfn::types::StateMachineType::Standard).await
    }

    /// [`Machine::create`] of a given type (STANDARD or EXPRESS).
    pub async fn create_of(
        aws: &Aws,
        prefix: &str,
        versions: u32,
        kind: aws_sdk_sfn::types::StateMachineType,
    ) -> Machine {
        Machine::create_named(aws, &unique(prefix), versions, kind).await
    }

    /// [`Machine::create_of`] with this very name (the same state machine in several regions).
    pub async fn create_named(
        aws: &Aws,
        name: &str,
        versions: u32,
        kind: aws_sdk_sfn::types::StateMachineType,
    ) -> Machine {
        let name = name.to_string();
        let out = aws
            .sfn
            .create_state_machine()
            .name(&name)
            .r#type(kind)
            .role_arn(ROLE)
            .definition(definition("v1"))
            .publish(versions > 0)
            .send()
            .await
            .expect("create state machine");
        let machine = Machine { aws: aws.clone(), name, arn: out.state_machine_arn().to_string() };
        for n in 2..=versions {
            machine.update(&definition(&format!("v{n}")), true).await;
        }
        machine
    }

    /// Uploads a definition as the new revision, publishing it if asked.
    pub async fn update(&self, definition: &str, publish: bool) {
        self.aws
            .sfn
            .update_state_machine()
            .state_machine_arn(&self.arn)
            .definition(definition)
            .publish(publish)
            .send()
            .await
            .expect("update state machine");
    }

    pub fn version_arn(&self, n: u32) -> String {
        format!("{}:{n}", self.arn)
    }

    pub async fn create_alias(&self, name: &str, routing: &[(u32, i32)]) {
        self.aws
            .sfn
            .create_state_machine_alias()
            .name(name)
            .set_routing_configuration(Some(self.routing_items(routing)))
            .send()
            .await
            .expect("create alias");
    }

    /// Sets an alias's routing, as another process (or an interrupted deploy) would.
    pub async fn set_routing(&self, alias: &str, routing: &[(u32, i32)]) {
        self.aws
            .sfn
            .update_state_machine_alias()
            .state_machine_alias_arn(format!("{}:{alias}", self.arn))
            .set_routing_configuration(Some(self.routing_items(routing)))
            .send()
            .await
            .expect("update alias");
    }

    fn routing_items(&self, routing: &[(u32, i32)]) -> Vec<RoutingConfigurationListItem> {
        routing
            .iter()
            .map(|&(n, w)| {
                RoutingConfigurationListItem::builder()
                    .state_machine_version_arn(self.version_arn(n))
                    .weight(w)
                    .build()
                    .unwrap()
            })
            .collect()
    }

    /// The alias's routing as (version number, weight), sorted; None if there is no such alias.
    pub async fn routing(&self, alias: &str) -> Option<Vec<(u32, i32)>> {
        let out = self
            .aws
            .sfn
            .describe_state_machine_alias()
            .state_machine_alias_arn(format!("{}:{alias}", self.arn))
            .send()
            .await
            .ok()?;
        let mut routing: Vec<(u32, i32)> = out
            .routing_configuration()
            .iter()
            .map(|r| (version_number(r.state_machine_version_arn()), r.weight()))
            .collect();
        routing.sort();
        Some(routing)
    }

    /// Published version numbers, ascending (all pages).
    pub async fn versions(&self) -> Vec<u32> {
        let mut numbers = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .aws
                .sfn
                .list_state_machine_versions()
                .state_machine_arn(&self.arn)
                .set_next_token(token)
                .send()
                .await
                .expect("list versions");
            numbers.extend(
                page.state_machine_versions().iter().map(|v| version_number(v.state_machine_version_arn())),
            );
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        numbers.sort();
        numbers
    }

    pub async fn version_definition(&self, n: u32) -> String {
        self.aws
            .sfn
            .describe_state_machine()
            .state_machine_arn(self.version_arn(n))
            .send()
            .await
            .expect("describe version")
            .definition()
            .to_string()
    }

    pub async fn snapshot(&self) -> Snapshot {
        let sm = self
            .aws
            .sfn
            .describe_state_machine()
            .state_machine_arn(&self.arn)
            .send()
            .await
            .expect("describe");
        let listed = self
            .aws
            .sfn
            .list_state_machine_aliases()
            .state_machine_arn(&self.arn)
            .send()
            .await
            .expect("list aliases");
        let mut aliases = Vec::new();
        for a in listed.state_machine_aliases() {
            let name = a.state_machine_alias_arn().rsplit(':').next().unwrap().to_string();
            let routing = self.routing(&name).await.unwrap_or_default();
            aliases.push((name, routing));
        }
        aliases.sort();
        Snapshot {
            versions: self.versions().await,
            aliases,
            revision: sm.revision_id().map(str::to_string),
            definition: sm.definition().to_string(),
        }
    }
}

pub fn version_number(arn: &str) -> u32 {
    arn.rsplit(':').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// A running `sfndeploy` process; stderr is collected line by line as it comes.
pub struct Running {
    child: tokio::process::Child,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
    started: Instant,
}

/// Starts the built binary against `endpoint` with `args`, the AWS environment set as a user
/// would (no profile, no metadata service), and `extra_env`.
pub fn spawn(endpoint: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Running {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sfndeploy"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("RUST_LOG")
        .env_remove("GITHUB_ACTIONS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // An empty value removes the variable.
    for (k, v) in extra_env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().expect("start sfndeploy");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let lines = stderr.clone();
    let pipe = child.stderr.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            lines.lock().unwrap().push(line);
        }
    });
    Running { child, stderr, reader, started: Instant::now() }
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Waits until a stderr line contains `text`.
    pub async fn wait_for(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stderr.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no '{text}' on stderr within {timeout:?}: {:#?}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn signal(&self, name: &str) {
        let status =
            std::process::Command::new("kill").arg(format!("-{name}")).arg(self.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name}");
    }

    pub async fn finish(mut self) -> Finished {
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            use tokio::io::AsyncReadExt;
            out.read_to_string(&mut stdout).await.unwrap();
        }
        let status = tokio::time::timeout(Duration::from_secs(120), self.child.wait())
            .await
            .expect("sfndeploy finished within 2 minutes")
            .unwrap();
        let took = self.started.elapsed();
        let _ = self.reader.await;
        let stderr = self.stderr.lock().unwrap().join("\n");
        Finished { code: status.code().unwrap_or(-1), stdout, stderr, took }
    }
}

/// Runs the binary to the end.
pub async fn run(endpoint: &str, args: &[&str]) -> Finished {
    spawn(endpoint, args, &[]).finish().await
}

/// libfaketime's preload library, fetched once from Debian's packages into the target folder
/// (`apt-get download`, unpacked with `dpkg -x`: no root, nothing installed on the machine). It
/// skews a process's wall clock while leaving its monotonic clock alone. None only when the
/// end-to-end tests are skipped; a failure to fetch it fails the test and says why.
pub fn faketime() -> Option<String> {
    emulator()?;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("faketime");
    let find = |dir: &Path| -> Option<PathBuf> {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).ok()?.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == "libfaketime.so.1") {
                    return Some(path);
                }
            }
        }
        None
    };
    if let Some(lib) = find(&dir) {
        return Some(lib.display().to_string());
    }
    std::fs::create_dir_all(&dir).expect("the faketime folder");
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.current_dir(&dir).output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(std::process::Command::new("apt-get").args(["download", "libfaketime"]));
    let deb = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("apt-get downloaded libfaketime");
    run(std::process::Command::new("dpkg").arg("-x").arg(&deb).arg(&dir));
    Some(find(&dir).expect("libfaketime.so.1 in the package").display().to_string())
}

/// Borrowed words of a command line built as owned strings.
pub fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
