//! A private X server (Xvfb) for real windows in tests and benchmarks.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::require_program;

/// A running Xvfb; killed on drop.
pub struct Xvfb {
    process: Child,
    /// The `DISPLAY` value for clients.
    pub display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Xvfb {
    /// Starts Xvfb on a free display, with its own `XDG_RUNTIME_DIR` when given.
    pub fn start(runtime_dir: Option<&Path>) -> Xvfb {
        let mut command = Command::new(require_program("Xvfb"));
        // With -displayfd, Xvfb picks a free display and writes its number to that descriptor: here, our pipe.
        command
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(runtime_dir) = runtime_dir {
            command.env("XDG_RUNTIME_DIR", runtime_dir);
        }
        let mut process = command.spawn().expect("start Xvfb");
        let mut number = String::new();
        let mut stdout = process.stdout.take().expect("Xvfb stdout");
        let mut byte = [0u8; 1];
        while stdout
            .read(&mut byte)
            .map(|read| read == 1)
            .unwrap_or(false)
            && byte[0] != b'\n'
        {
            number.push(char::from(byte[0]));
        }
        Xvfb {
            process,
            display: format!(":{}", number.trim()),
        }
    }
}
