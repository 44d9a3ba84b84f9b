//! Log output: `tracing` events (and `log` records from dependencies) to stderr, filtered by `RUST_LOG`.
//!
//! Nothing secret is ever passed to a log macro; the integration tests prove it at the most verbose level.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Logs to stderr at `default_filter` (for example `"warn"`), unless `RUST_LOG` says otherwise.
pub fn init(default_filter: &str) {
    init_with_writer(default_filter, std::io::stderr);
}

/// Logs to `writer` at `default_filter`, unless `RUST_LOG` says otherwise. A second call changes nothing.
pub fn init_with_writer<W>(default_filter: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
}
