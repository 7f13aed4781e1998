//! sfndeploy: gradual, alarm-guarded deployments of AWS Step Functions state machine versions.
//!
//! `main.rs` parses the command line and calls [`app::run`]. The deploy reads top-down:
//! [`config`] checks the flags of each subcommand; [`deploy`] runs the checks, asks [`plan`] what
//! to do (the one planner behind a run, `--dry-run`, `--resume`, `--pause-at` and `status`),
//! publishes ([`versions`]), and creates or shifts the [`alias`]: its executor moves traffic step
//! by step for any [`strategy`] while [`gates`] judge the health signals, and puts traffic back
//! when one says so. [`status`] and [`rollback`] are the other subcommands. Everything a run
//! tells goes through [`report`]. At the bottom, leaves that import
//! nothing of ours but leaves: [`text`], [`arn`], [`routing`], [`env`], [`exit_code`],
//! [`label`], [`command_line`].
#![forbid(unsafe_code)]

pub mod alias;
pub mod app;
pub mod arn;
pub mod aws;
pub mod cli;
pub mod clock;
pub mod command_line;
pub mod config;
pub mod definition;
pub mod deploy;
pub mod env;
pub mod exit_code;
pub mod gates;
pub mod hook;
pub mod label;
pub mod note;
pub mod pacer;
pub mod place;
pub mod plan;
pub mod promote;
pub mod release_file;
pub mod report;
pub mod rollback;
pub mod routing;
pub mod signals;
pub mod smoke;
pub mod status;
pub mod strategy;
pub mod substitute;
pub mod text;
pub mod versions;
pub mod window;
