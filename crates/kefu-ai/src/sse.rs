//! Server-sent events, as much of the format as chat completions use:
//! `data:` lines (joined when an event has several), blank lines ending an
//! event, `:` comments and other fields ignored, `\n` or `\r\n` line ends,
//! and bytes arriving in arbitrary pieces (a line, or a character, split
//! across reads).

use crate::AiError;

/// A line longer than this is not an event stream.
const MAX_LINE: usize = 4 << 20;

#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds bytes; returns the data of the events they completed.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, AiError> {
        self.buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + nl];
            start += nl + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            let line = std::str::from_utf8(line)
                .map_err(|_| AiError::Protocol("event stream is not UTF-8".into()))?;
            if line.is_empty() {
                events.extend(self.data.take());
            } else if let Some(value) = field(line, "data") {
                match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                }
            }
        }
        self.buf.drain(..start);
        if self.buf.len() > MAX_LINE {
            return Err(AiError::Protocol("event stream line too long".into()));
        }
        Ok(events)
    }

    /// End of the body: the event still open, if the last blank line was
    /// missing.
    pub(crate) fn finish(&mut self) -> Option<String> {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            if let Ok(line) = std::str::from_utf8(&rest) {
                if let Some(value) = field(line.trim_end_matches('\r'), "data") {
                    self.data = Some(match self.data.take() {
                        Some(data) => format!("{data}\n{value}"),
                        None => value.to_owned(),
                    });
                }
            }
        }
        self.data.take()
    }
}

/// The value of `name: value` (one optional space after the colon), or
/// `None` for other fields and comments.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let value = line.strip_prefix(name)?;
    if value.is_empty() {
        return Some("");
    }
    let value = value.strip_prefix(':')?;
    Some(value.strip_prefix(' ').unwrap_or(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive\n\ndata: {\"a\":\"你好\"}\n\nevent: x\nid: 3\ndata: {\"b\":2}\r\n\r\ndata:one\ndata: two\n\nretry: 10\n\ndata: [DONE]\n\n";

    fn all(pieces: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for piece in pieces {
            out.extend(p.push(piece).unwrap());
        }
        out.extend(p.finish());
        out
    }

    fn expected() -> Vec<String> {
        ["{\"a\":\"你好\"}", "{\"b\":2}", "one\ntwo", "[DONE]"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn events_comments_and_fields() {
        assert_eq!(all(&[STREAM.as_bytes()]), expected());
    }

    #[test]
    fn any_split_of_the_bytes_gives_the_same_events() {
        let bytes = STREAM.as_bytes();
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(all(&one_by_one), expected());
        for at in 0..bytes.len() {
            assert_eq!(
                all(&[&bytes[..at], &bytes[at..]]),
                expected(),
                "split at {at}"
            );
        }
        for size in [2, 3, 5, 7, 13] {
            let pieces: Vec<&[u8]> = bytes.chunks(size).collect();
            assert_eq!(all(&pieces), expected(), "chunks of {size}");
        }
    }

    #[test]
    fn an_unterminated_last_event_is_kept() {
        assert_eq!(all(&[b"data: x\n\ndata: [DONE]"]), vec!["x", "[DONE]"]);
        assert_eq!(all(&[b"data: x\n"]), vec!["x"]);
        assert!(all(&[b": only a comment\n\n"]).is_empty());
    }

    #[test]
    fn bad_bytes_are_a_protocol_error() {
        let mut p = SseParser::default();
        assert!(matches!(
            p.push(b"data: \xff\xfe\n\n"),
            Err(AiError::Protocol(_))
        ));
    }
}
