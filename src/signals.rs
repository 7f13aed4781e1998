//! SIGINT and SIGTERM as values the deploy loop can wait on beside its timers, so a cancelled CI
//! job or Ctrl-C rolls traffic back instead of leaving the alias split.

use tokio::sync::watch;

use crate::exit_code::{ExitCode, Failure};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Signal::Interrupt => ExitCode::Interrupted,
            Signal::Terminate => ExitCode::Terminated,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The error that ends a run this signal stopped: `stopped by SIGTERM {when}`, with the
    /// signal's exit code. `when` says when, and what was (not) changed.
    pub fn stopped(self, when: impl std::fmt::Display) -> anyhow::Error {
        Failure::err(self.exit_code(), format!("stopped by {} {when}", self.name()))
    }
}

type State = (u32, Option<Signal>);

/// Signals received so far; each receiver sees each signal once. A clone has seen what its
/// original had.
#[derive(Clone, Debug)]
pub struct Signals {
    rx: watch::Receiver<State>,
    /// How many signals this receiver has seen (the channel counts them): kept here, not by the
    /// channel, whose own mark is lost once the sender is gone.
    seen: u32,
}

/// Sends signals by hand (tests, and the OS listener).
#[derive(Clone, Debug)]
pub struct SignalSender(std::sync::Arc<watch::Sender<State>>);

impl SignalSender {
    pub fn send(&self, signal: Signal) {
        self.0.send_modify(|(count, last)| {
            *count += 1;
            *last = Some(signal);
        });
    }
}

impl Signals {
    /// Signals delivered only through the returned sender.
    pub fn manual() -> (Signals, SignalSender) {
        let (tx, rx) = watch::channel((0, None));
        (Signals { rx, seen: 0 }, SignalSender(std::sync::Arc::new(tx)))
    }

    /// Listens for SIGINT and SIGTERM (Ctrl-C elsewhere) from now on.
    pub fn install() -> std::io::Result<Signals> {
        let (signals, sender) = Signals::manual();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut terminate = signal(SignalKind::terminate())?;
            tokio::spawn(async move {
                loop {
                    let received = tokio::select! {
                        _ = interrupt.recv() => Signal::Interrupt,
                        _ = terminate.recv() => Signal::Terminate,
                    };
                    sender.send(received);
                }
            });
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                sender.send(Signal::Interrupt);
            }
        });
        Ok(signals)
    }

    /// A signal not yet seen by this receiver, if any; marks it seen.
    pub fn pending(&mut self) -> Option<Signal> {
        let (count, last) = *self.rx.borrow_and_update();
        if count > self.seen {
            self.seen = count;
            return last;
        }
        None
    }

    /// A signal not yet seen by this receiver, if any, without marking it seen.
    pub fn peek(&self) -> Option<Signal> {
        let (count, last) = *self.rx.borrow();
        if count > self.seen { last } else { None }
    }

    /// Waits for the next signal not yet seen; never returns if none comes.
    pub async fn next(&mut self) -> Signal {
        loop {
            if let Some(signal) = self.pending() {
                return signal;
            }
            if self.rx.changed().await.is_err() {
                // No sender left: nothing more will come, and what came is seen.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_is_seen_once_even_once_its_sender_is_gone() {
        let (mut signals, sender) = Signals::manual();
        sender.send(Signal::Terminate);
        drop(sender);
        let mut clone = signals.clone();
        assert_eq!(signals.peek(), Some(Signal::Terminate));
        assert_eq!(signals.pending(), Some(Signal::Terminate));
        assert_eq!(signals.pending(), None, "seen");
        assert_eq!(signals.clone().pending(), None, "a clone has seen what its original had");
        assert_eq!(clone.next().await, Signal::Terminate, "a clone made before had not");
    }

    #[tokio::test]
    async fn each_signal_is_seen_once() {
        let (mut signals, sender) = Signals::manual();
        assert_eq!(signals.pending(), None);
        sender.send(Signal::Terminate);
        assert_eq!(signals.next().await, Signal::Terminate);
        assert_eq!(signals.pending(), None);
        sender.send(Signal::Interrupt);
        assert_eq!(signals.pending(), Some(Signal::Interrupt));
        assert_eq!(Signal::Interrupt.exit_code().code(), 130);
        assert_eq!(Signal::Terminate.exit_code().code(), 143);
    }
}
