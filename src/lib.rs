//! mailconnect: moves a mailbox from Basic Auth to OAuth 2.0 and keeps it connected.
//!
//! The folders say what each part is for: `config` (accounts and presets), `auth` (signing in), `verify` (IMAP and
//! SMTP checks), `store` (tokens in the OS keyring), `sandbox` (the built-in practice servers), `wizard` (the steps
//! as a state machine, no egui), `runner` (carries out the wizard's effects on tokio), `ui` (egui only).

pub mod advice;
pub mod app_only;
pub mod auth;
pub mod bridge;
pub mod cli;
pub mod cli_app;
pub mod cli_bridge;
pub mod cli_bulk;
pub mod cli_explain;
pub mod cli_output;
pub mod cli_powershell;
mod cli_timer;
pub mod config;
pub mod consent;
pub mod controls;
pub mod demo;
pub mod health;
pub mod home;
pub mod import;
pub mod keepalive;
pub mod logging;
pub mod mailbox_check;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod state;
pub mod status;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod ui;
pub mod units;
pub mod verify;
pub mod wizard;
pub mod words;
