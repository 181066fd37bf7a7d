//! The standard keys of a line, in line order, and the names they are written with.

/// The standard keys, in line order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Level,
    Location,
    Message,
    Timestamp,
    Service,
    ColdStart,
    FunctionName,
    FunctionMemorySize,
    FunctionArn,
    FunctionRequestId,
    TenantId,
    XrayTraceId,
    CorrelationId,
    SamplingRate,
}

pub(crate) const KEYS: [(Key, &str); 14] = [
    (Key::Level, "level"),
    (Key::Location, "location"),
    (Key::Message, "message"),
    (Key::Timestamp, "timestamp"),
    (Key::Service, "service"),
    (Key::ColdStart, "cold_start"),
    (Key::FunctionName, "function_name"),
    (Key::FunctionMemorySize, "function_memory_size"),
    (Key::FunctionArn, "function_arn"),
    (Key::FunctionRequestId, "function_request_id"),
    (Key::TenantId, "tenant_id"),
    (Key::XrayTraceId, "xray_trace_id"),
    (Key::CorrelationId, "correlation_id"),
    (Key::SamplingRate, "sampling_rate"),
];

/// The names written for the standard keys (renamable).
#[derive(Debug, Clone)]
pub(crate) struct KeyNames {
    names: [String; 14],
    /// Each name as the line writes it, `"name":`, escaped once here rather than on every
    /// line (empty for a key left out).
    written: [Vec<u8>; 14],
}

/// `"name":` (nothing for an empty name: the key is left out).
fn written(name: &str) -> Vec<u8> {
    if name.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(name.len() + 3);
    crate::format::write_str(&mut out, name);
    out.push(b':');
    out
}

impl Default for KeyNames {
    fn default() -> Self {
        Self {
            names: KEYS.map(|(_, name)| name.to_owned()),
            written: KEYS.map(|(_, name)| written(name)),
        }
    }
}

impl KeyNames {
    /// `"name":` for `key`, escaped; empty when the key is left out.
    pub(crate) fn written(&self, key: Key) -> &[u8] {
        &self.written[key as usize]
    }

    /// Renames the standard key called `from`; `false` if there is no such key.
    pub(crate) fn rename(&mut self, from: &str, to: &str) -> bool {
        match KEYS.iter().find(|(_, name)| *name == from) {
            Some((key, _)) => {
                self.names[*key as usize] = to.to_owned();
                self.written[*key as usize] = written(to);
                true
            }
            None => false,
        }
    }

    /// Keys a field or appended key may not take over: every standard key, under the name it
    /// is written with.
    pub(crate) fn is_reserved(&self, name: &str) -> bool {
        self.names.iter().any(|n| !n.is_empty() && n == name)
    }
}
