//! Captures every log line the library writes, at the most verbose level, so tests can search it for secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Installs a TRACE-level subscriber for this test process (every crate, `log` records included).
    pub fn install() -> CapturedLogs {
        let captured = CapturedLogs::default();
        let writer = captured.clone();
        mailconnect::logging::init_with_writer("trace", move || writer.clone());
        captured
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
