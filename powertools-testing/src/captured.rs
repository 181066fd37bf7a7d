//! An in-memory writer for the log and EMF lines of code under test.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::HarnessError;

/// Collects what code under test writes (give [`CapturedOutput::line_writer`] to a builder's
/// `writer(..)`),
/// then reads it back line by line or as parsed JSON. Cheap to clone: clones share the bytes.
///
/// ```
/// use std::io::Write;
/// use powertools_testing::CapturedOutput;
///
/// let captured = CapturedOutput::new();
/// let mut writer = captured.clone();
/// writer.write_all(b"{\"level\":\"INFO\"}\n").unwrap();
/// assert_eq!(captured.json_lines().unwrap()[0]["level"], "INFO");
/// ```
#[derive(Debug, Clone, Default)]
pub struct CapturedOutput {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl CapturedOutput {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.bytes.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// Every line parsed as JSON; the error names the first line that is not.
    pub fn json_lines(&self) -> Result<Vec<serde_json::Value>, HarnessError> {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str(line).map_err(HarnessError::Serialize))
            .collect()
    }

    /// A [`LineWriter`](powertools_core::LineWriter) into this capture, for a logger's or
    /// metrics client's `writer(..)`.
    pub fn line_writer(&self) -> powertools_core::LineWriter {
        let captured = self.clone();
        powertools_core::LineWriter::new(move || captured.clone())
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        if let Ok(mut bytes) = self.bytes.lock() {
            bytes.clear();
        }
    }
}

impl Write for CapturedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes
            .lock()
            .map_err(|_| std::io::Error::other("captured output lock poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
