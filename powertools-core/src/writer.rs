//! The one place the utilities write their output lines (log lines, EMF blobs).

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

type WriteFn = dyn Fn(&[u8]) -> io::Result<()> + Send + Sync;

/// Where a utility writes its lines: stdout by default, or any writer (a test's buffer).
///
/// Each line is written whole, with one `write_all` and a `flush`, so lines from concurrent
/// invocations never interleave inside a line. A failing writer never fails the handler: the
/// first failure is reported once on stderr (later ones are counted, not printed), and the
/// caller gets the error to decide what else to do.
///
/// ```
/// use powertools_core::LineWriter;
/// use std::sync::{Arc, Mutex};
///
/// let lines = Arc::new(Mutex::new(Vec::<u8>::new()));
/// let sink = Arc::clone(&lines);
/// let writer = LineWriter::from_fn(move |line| {
///     sink.lock().unwrap().extend_from_slice(line);
///     Ok(())
/// });
/// writer.write_line(b"{\"level\":\"INFO\"}\n").unwrap();
/// assert_eq!(lines.lock().unwrap().as_slice(), b"{\"level\":\"INFO\"}\n");
/// ```
#[derive(Clone)]
pub struct LineWriter {
    write: Option<Arc<WriteFn>>,
    reported: Arc<AtomicBool>,
}

impl Default for LineWriter {
    fn default() -> Self {
        Self::stdout()
    }
}

impl LineWriter {
    /// Standard output (where Lambda collects logs and EMF).
    pub fn stdout() -> Self {
        Self {
            write: None,
            reported: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Writes each line to a fresh writer from `make_writer` (as `tracing_subscriber`'s
    /// `MakeWriter` does).
    pub fn new<W, F>(make_writer: F) -> Self
    where
        F: Fn() -> W + Send + Sync + 'static,
        W: Write,
    {
        Self::from_fn(move |line| {
            let mut writer = make_writer();
            writer.write_all(line)?;
            writer.flush()
        })
    }

    /// Writes each line with `write`.
    pub fn from_fn<F>(write: F) -> Self
    where
        F: Fn(&[u8]) -> io::Result<()> + Send + Sync + 'static,
    {
        Self {
            write: Some(Arc::new(write)),
            reported: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Writes `line` (with its newline) whole. On failure the first error of this writer is
    /// reported on stderr, naming `what` was lost; the error is returned every time.
    pub fn write_line(&self, line: &[u8]) -> io::Result<()> {
        let written = match &self.write {
            None => {
                let mut out = io::stdout().lock();
                out.write_all(line).and_then(|()| out.flush())
            }
            Some(write) => write(line),
        };
        if let Err(error) = &written
            && !self.reported.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "powertools: a line could not be written ({error}); \
                 further write failures of this writer are not reported"
            );
        }
        written
    }
}

impl fmt::Debug for LineWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.write.is_none() {
            "LineWriter(stdout)"
        } else {
            "LineWriter(custom)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn failures_are_returned_every_time_and_reported_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let writer = LineWriter::from_fn(move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
            Err(io::Error::other("disk full"))
        });
        assert!(writer.write_line(b"a\n").is_err());
        assert!(writer.reported.load(Ordering::Relaxed));
        assert!(writer.clone().write_line(b"b\n").is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_make_writer_gets_each_line_whole() {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&buffer);
        let writer = LineWriter::new(move || SharedVec(Arc::clone(&sink)));
        assert!(writer.write_line(b"one\n").is_ok());
        assert!(writer.write_line(b"two\n").is_ok());
        let written = buffer.lock().map(|b| b.clone()).unwrap_or_default();
        assert_eq!(written, b"one\ntwo\n");
    }

    struct SharedVec(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for SharedVec {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
