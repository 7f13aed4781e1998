//! sfndeploy: gradual, alarm-guarded deployments of AWS Step Functions state machine versions.
//!
//! `main.rs` parses the command line and calls [`app::run`]. The deploy itself reads top-down:
//! [`config`] checks the flags, [`deploy`] runs the checks, asks [`plan`] what to do (the one
//! planner behind a run, `--dry-run`, `--resume`, `--pause-at` and `status`), publishes and
//! creates or shifts the alias, [`executor`] moves traffic step by step for any [`strategy`], and
//! [`rollback`] puts traffic back.
#![forbid(unsafe_code)]

pub mod alarms;
pub mod alias;
pub mod app;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod deploy;
pub mod events;
pub mod executor;
pub mod exit_code;
pub mod gates;
pub mod github;
pub mod plan;
pub mod progress;
pub mod rollback;
pub mod signals;
pub mod smoke;
pub mod status;
pub mod strategy;
pub mod versions;
