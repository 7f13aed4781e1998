//! What a run tells: its events as data ([`event`], written as JSON by [`wire`]), told by each
//! of the run's renderers ([`Render`]): the log on stderr ([`log`], lines from [`text`]), JSON
//! lines on stdout ([`json`]), a live status line on a terminal ([`progress`]) and, under GitHub
//! Actions, the step summary and annotations ([`github`]); with `--notify-topic`, SNS messages
//! ([`notify`]). The [`Reporter`] sends each event to
//! each.

pub mod event;
pub mod github;
pub mod json;
mod log;
pub mod notify;
pub mod progress;
mod render;
mod reporter;
pub mod text;
mod wire;

pub use event::Event;
pub use render::{End, Entry, Render, Said};
pub use reporter::Reporter;
