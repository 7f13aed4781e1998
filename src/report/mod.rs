//! What a run tells: its events as data ([`event`]), rendered as log lines ([`text`]), JSON
//! ([`json`]) and the GitHub step summary and annotations ([`github`]); a live status line on a
//! terminal ([`progress`]); and the [`Reporter`] that sends each event everywhere it goes.

pub mod event;
pub mod github;
pub mod json;
pub mod progress;
pub mod reporter;
pub mod text;

pub use event::Event;
pub use reporter::{Entry, Reporter};
