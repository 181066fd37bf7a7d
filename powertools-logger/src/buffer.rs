//! Log buffering: what is held per invocation (bounded, oldest evicted first) and how it is
//! configured.

use std::collections::VecDeque;

/// Log buffering: lines at or below `level` are held per invocation and written only if the
/// invocation logs an error or fails.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct BufferConfig {
    level: tracing::Level,
    max_bytes: usize,
    flush_on_error_log: bool,
}

impl Default for BufferConfig {
    /// DEBUG and TRACE lines, 20,480 bytes, flushed by an ERROR line.
    fn default() -> Self {
        Self {
            level: tracing::Level::DEBUG,
            max_bytes: 20_480,
            flush_on_error_log: true,
        }
    }
}

impl BufferConfig {
    /// Holds lines at `level` and more verbose (default DEBUG).
    pub fn at_level(mut self, level: tracing::Level) -> Self {
        self.level = level;
        self
    }

    /// Holds at most this many bytes per invocation; the oldest lines are evicted first, and a
    /// warning on flush says how many (default 20,480). A single line larger than this is not
    /// buffered: it is written at once, after a warning.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Whether an ERROR line flushes the buffer (default true). A failed invocation always
    /// flushes it when the [`LoggerLayer`](crate::LoggerLayer) is in place.
    pub fn flush_on_error_log(mut self, on: bool) -> Self {
        self.flush_on_error_log = on;
        self
    }

    pub(crate) fn level(&self) -> tracing::Level {
        self.level
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max_bytes
    }

    pub(crate) fn flushes_on_error_log(&self) -> bool {
        self.flush_on_error_log
    }
}

/// Lines held back until the invocation fails (or dropped when it succeeds).
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    evicted: usize,
}

impl Buffer {
    /// Holds `line`, evicting the oldest lines to stay within `max_bytes`. A line larger than
    /// `max_bytes` is not held: it is given back, to be written directly.
    pub(crate) fn push(&mut self, line: Vec<u8>, max_bytes: usize) -> Result<(), Vec<u8>> {
        if line.len() > max_bytes {
            return Err(line);
        }
        while self.bytes + line.len() > max_bytes {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.len();
                    self.evicted += 1;
                }
                None => break,
            }
        }
        self.bytes += line.len();
        self.lines.push_back(line);
        Ok(())
    }

    /// Takes the held lines (oldest first) and how many were evicted, leaving it empty.
    pub(crate) fn take(&mut self) -> (VecDeque<Vec<u8>>, usize) {
        self.bytes = 0;
        (
            std::mem::take(&mut self.lines),
            std::mem::take(&mut self.evicted),
        )
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_evicts_oldest_first_within_its_bytes() {
        let mut b = Buffer::default();
        for i in 0..5u8 {
            assert!(b.push(vec![b'0' + i; 10], 35).is_ok());
        }
        assert_eq!(b.len(), 3);
        let (lines, evicted) = b.take();
        assert_eq!(evicted, 2);
        let firsts: Vec<u8> = lines.iter().map(|l| l[0]).collect();
        assert_eq!(firsts, b"234");
        assert_eq!(b.take().1, 0);
    }

    #[test]
    fn a_line_larger_than_the_buffer_is_given_back() {
        let mut b = Buffer::default();
        assert!(b.push(vec![b'a'; 10], 50).is_ok());
        assert_eq!(b.push(vec![b'x'; 100], 50), Err(vec![b'x'; 100]));
        let (lines, evicted) = b.take();
        assert_eq!(lines.len(), 1, "the held line stays");
        assert_eq!(evicted, 0);
    }
}
