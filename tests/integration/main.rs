//! Integration tests against real peers: the built-in sandbox, a real Dovecot, and a real Secret Service.
//! Run them with `tests/run.sh`, which installs the peers and runs every test under cargo-nextest.

mod app_only;
mod bridge;
mod bridge_queue;
mod bridge_wire;
mod checks_dovecot;
mod checks_sandbox;
mod command_line;
mod devices_window;
mod explain_command;
mod home_window;
mod hostile;
mod keepalive;
mod keyring_store;
mod many_mailboxes;
mod real_window;
mod refusals_window;
mod secrets_never_leak;
mod serialised_writes;
mod sign_in;
mod support;
mod window_pages;
mod wizard_window;
