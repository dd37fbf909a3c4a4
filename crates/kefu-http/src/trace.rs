//! W3C trace context (`traceparent`) and the ids of traces and spans,
//! shared by the request middleware and the OTLP exporter.

use rand::RngCore;

/// A random 16-byte trace id, as lowercase hex.
pub fn random_trace_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex(&b)
}

/// A random 8-byte span id, as lowercase hex.
pub fn random_span_id() -> String {
    let mut b = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut b);
    hex(&b)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `len` hex digits, not all zero (W3C: an all-zero id is invalid).
pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// `(trace_id, parent_span_id)` from a W3C `traceparent` header
/// (`00-<32 hex>-<16 hex>-<2 hex>`), or `None` if it is malformed.
pub fn parse_traceparent(h: &str) -> Option<(String, String)> {
    let mut parts = h.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || version == "ff" || flags.len() != 2 {
        return None;
    }
    if !is_hex(trace, 32) || !is_hex(parent, 16) {
        return None;
    }
    Some((trace.to_ascii_lowercase(), parent.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_headers_are_parsed_strictly() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(ok),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into()
            ))
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_are_random_hex_of_the_right_length() {
        let (a, b) = (random_trace_id(), random_trace_id());
        assert!(is_hex(&a, 32) && is_hex(&b, 32) && a != b);
        assert!(is_hex(&random_span_id(), 16));
    }
}
