//! `--notify-topic`: each lifecycle event of a deploy (started, each step, paused, promoted,
//! rolled back, deployed, failed...) published to SNS topics, which teams route to chat, e-mail
//! or a pager. The subject is the one-line human summary (ASCII, under 100 characters, as SNS
//! requires), the body the event's JSON line. Messages go out in order, from a task of their
//! own: a deploy never waits on one, and one that cannot be sent is a warning, never a failure.
//! Each topic is checked before any change: it must exist and be readable.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aws_sdk_sns::Client;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Event;
use super::json;
use super::render::{Entry, Render, Said};
use crate::aws::AwsResultExt;
use crate::exit_code::{ExitCode, Failure};

/// SNS subjects are under 100 characters.
pub const SUBJECT_MAX: usize = 99;

/// How long the end of a run waits for the messages still queued.
const FLUSH: Duration = Duration::from_secs(10);

/// One message to every topic.
#[derive(Debug)]
struct Message {
    subject: String,
    body: String,
}

/// Publishes the run's lifecycle events to its topics.
#[derive(Debug)]
pub struct Notifier {
    queue: Mutex<Option<mpsc::UnboundedSender<Message>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Whether an event of this kind is told.
fn told(event: &Event) -> bool {
    matches!(
        event,
        Event::Started { .. }
            | Event::WeightsChanged { .. }
            | Event::Paused { .. }
            | Event::Promoted { .. }
            | Event::RolledBack { .. }
            | Event::Completed { .. }
            | Event::AliasCreated { .. }
            | Event::WindowWait { .. }
            | Event::WaveStarted { .. }
            | Event::WaveBlocked { .. }
            | Event::WaveDone { .. }
            | Event::Failed { .. }
    )
}

impl Notifier {
    /// Checks each topic (it exists and can be read, in its own region) and starts the task that
    /// publishes. A topic that does not exist, or that these credentials may not read, refuses
    /// the deploy before any change.
    pub async fn start(sdk: &aws_config::SdkConfig, topics: &[String]) -> Result<Notifier> {
        let mut clients = Vec::new();
        for topic in topics {
            let region = topic.split(':').nth(3).unwrap_or_default().to_string();
            let config =
                aws_sdk_sns::config::Builder::from(sdk).region(aws_config::Region::new(region)).build();
            let client = Client::from_conf(config);
            check(&client, topic).await?;
            clients.push((client, topic.clone()));
        }
        let (queue, mut messages) = mpsc::unbounded_channel::<Message>();
        // A FIFO topic keeps the order of one message group, and drops a repeated
        // deduplication id: this run's messages are one group, each with its own id.
        let run = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let run = format!("{run:x}-{}", std::process::id());
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(message) = messages.recv().await {
                n += 1;
                for (client, topic) in &clients {
                    let fifo = topic.ends_with(".fifo");
                    let sent = client
                        .publish()
                        .topic_arn(topic)
                        .subject(&message.subject)
                        .message(&message.body)
                        .set_message_group_id(fifo.then(|| "sfndeploy".to_string()))
                        .set_message_deduplication_id(fifo.then(|| format!("{run}-{n}")))
                        .send()
                        .await
                        .aws_context(|| format!("notifying {topic}"));
                    if let Err(e) = sent {
                        tracing::warn!("{e:#}: the deploy goes on without this message");
                    }
                }
            }
        });
        Ok(Notifier { queue: Mutex::new(Some(queue)), task: Mutex::new(Some(task)) })
    }

    /// The run is over: waits (a little) for the messages still queued.
    pub async fn flush(&self) {
        drop(self.queue.lock().expect("notify queue").take());
        let task = self.task.lock().expect("notify task").take();
        if let Some(task) = task
            && tokio::time::timeout(FLUSH, task).await.is_err()
        {
            tracing::warn!("some notifications were still unsent after {}s: given up", FLUSH.as_secs());
        }
    }
}

/// The topic exists, and these credentials may read it.
async fn check(client: &Client, topic: &str) -> Result<()> {
    match client.get_topic_attributes().topic_arn(topic).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e
                .as_service_error()
                .and_then(|s| aws_sdk_sns::error::ProvideErrorMetadata::code(s))
                .map(str::to_string);
            let why = match code.as_deref() {
                Some("NotFound") => "it does not exist (check the ARN and its region)".to_string(),
                Some("AuthorizationError") => {
                    "these credentials may not use it (the policy needs sns:GetTopicAttributes and sns:Publish)".to_string()
                }
                _ => {
                    let e: Result<()> = Err(e).aws_context(|| format!("reading SNS topic {topic}"));
                    format!("{:#}", e.unwrap_err())
                }
            };
            Err(Failure::err(
                ExitCode::Failure,
                format!("--notify-topic {topic}: {why}; nothing was changed"),
            ))
        }
    }
}

impl Render for Notifier {
    fn event(&self, entry: &Entry, said: &Said<'_>) {
        if !told(&entry.event) {
            return;
        }
        let body = json::line(&entry.event, SystemTime::now(), entry.at, said).to_string();
        let message = Message { subject: subject(said.state_machine, &entry.event), body };
        if let Some(queue) = self.queue.lock().expect("notify queue").as_ref() {
            let _ = queue.send(message);
        }
    }
}

/// `sfndeploy orders: weights changed: ...`: the event's log line, for the state machine it
/// concerns, in ASCII without control characters, cut to [`SUBJECT_MAX`].
pub fn subject(state_machine: Option<&str>, event: &Event) -> String {
    let name = state_machine.map(|s| s.rsplit(':').next().unwrap_or(s));
    let text = match event {
        Event::Failed { exit_code, .. } => format!("failed ({}): {event}", exit_code.name()),
        _ => event.to_string(),
    };
    let line = match name {
        Some(name) => format!("sfndeploy {name}: {text}"),
        None => format!("sfndeploy: {text}"),
    };
    let ascii: String = line
        .replace('→', "->")
        .replace('≥', ">=")
        .replace('≤', "<=")
        .replace('—', "-")
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .collect();
    if ascii.len() <= SUBJECT_MAX {
        return ascii;
    }
    format!("{}...", &ascii[..SUBJECT_MAX - 3])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::event::tests::one_of_each;

    #[test]
    fn subjects_are_short_ascii_lines() {
        for event in one_of_each() {
            let s = subject(Some("arn:aws:states:us-east-1:1:stateMachine:orders"), &event);
            assert!(s.len() <= SUBJECT_MAX, "{s}");
            assert!(s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()), "{s}");
            assert!(s.starts_with("sfndeploy orders: "), "{s}");
        }
        let long = Event::Failed { message: "x".repeat(300), exit_code: ExitCode::RolledBack };
        let s = subject(None, &long);
        assert!(
            s.starts_with("sfndeploy: failed (rolled_back): ")
                && s.ends_with("...")
                && s.len() == SUBJECT_MAX
        );
        assert!(told(&long) && !told(&Event::AlarmsPolled { states: vec![] }));
    }
}
