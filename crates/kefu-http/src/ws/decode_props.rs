//! Property tests of the socket's frame decoder ([`protocol::decode`]):
//! valid frames round-trip; arbitrary text and mutations of valid frames
//! never panic and give either one whole frame that agrees with the text
//! field for field, or a documented error frame (`invalid_frame`, or
//! `validation_failed` for NUL) — never a frame built from part of the
//! text; NUL anywhere is refused, whatever else is in the frame.

use super::protocol::{decode, ClientFrame, ServerFrame};
use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

/// `(code, ref)` of an error frame; a test failure for any other frame.
fn error_of(f: &ServerFrame) -> (String, Option<String>) {
    let v = serde_json::to_value(f).unwrap();
    assert_eq!(v["type"], "error", "{v}");
    (
        v["code"].as_str().unwrap().to_string(),
        v["ref"].as_str().map(str::to_string),
    )
}

/// The frame as the JSON a client would send (every field spelled out).
fn frame_json(f: &ClientFrame) -> Value {
    match f {
        ClientFrame::MessageSend {
            conversation_id,
            client_msg_id,
            body,
            private,
            attachment_ids,
        } => json!({"type": "message.send", "conversation_id": conversation_id,
                    "client_msg_id": client_msg_id, "body": body, "private": private,
                    "attachment_ids": attachment_ids}),
        ClientFrame::Sync {
            conversation_id,
            after_seq,
        } => json!({"type": "sync", "conversation_id": conversation_id, "after_seq": after_seq}),
        ClientFrame::Typing {
            conversation_id,
            on,
            private,
        } => {
            json!({"type": "typing", "conversation_id": conversation_id, "on": on, "private": private})
        }
        ClientFrame::Read {
            conversation_id,
            seq,
        } => json!({"type": "read", "conversation_id": conversation_id, "seq": seq}),
        ClientFrame::Viewing {
            conversation_id,
            on,
        } => json!({"type": "viewing", "conversation_id": conversation_id, "on": on}),
        ClientFrame::Ping => json!({"type": "ping"}),
        ClientFrame::Auth { token } => json!({"type": "auth", "token": token}),
    }
}

/// Whether the decoded frame says what the text says, field for field
/// (defaults where the text left a field out). Uuids compare as uuids,
/// since the text may spell them in any form the parser takes.
fn agrees(text: &Value, frame: &ClientFrame) -> bool {
    let decoded = frame_json(frame);
    let Some(fields) = decoded.as_object() else {
        return false;
    };
    fields.iter().all(|(k, want)| {
        let got = &text[k];
        match (k.as_str(), got) {
            ("private", Value::Null) => want == false,
            ("attachment_ids", Value::Null) => want == &json!([]),
            ("conversation_id", Value::String(s)) => {
                Uuid::parse_str(s).ok().map(|u| json!(u)).as_ref() == Some(want)
            }
            ("after_seq" | "seq", Value::Number(n)) => n.as_i64() == want.as_i64(),
            _ => got == want,
        }
    })
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

/// Text without NUL (which is refused, not round-tripped).
fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace('\0', ""))
}

fn valid_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (
            proptest::option::of(uuid()),
            text(),
            text(),
            any::<bool>(),
            proptest::collection::vec(uuid(), 0..3)
        )
            .prop_map(
                |(conversation_id, client_msg_id, body, private, attachment_ids)| {
                    ClientFrame::MessageSend {
                        conversation_id,
                        client_msg_id,
                        body,
                        private,
                        attachment_ids,
                    }
                }
            ),
        (uuid(), any::<i64>()).prop_map(|(conversation_id, after_seq)| ClientFrame::Sync {
            conversation_id,
            after_seq
        }),
        (uuid(), any::<bool>(), any::<bool>()).prop_map(|(conversation_id, on, private)| {
            ClientFrame::Typing {
                conversation_id,
                on,
                private,
            }
        }),
        (uuid(), any::<i64>()).prop_map(|(conversation_id, seq)| ClientFrame::Read {
            conversation_id,
            seq
        }),
        (uuid(), any::<bool>()).prop_map(|(conversation_id, on)| ClientFrame::Viewing {
            conversation_id,
            on
        }),
        Just(ClientFrame::Ping),
        text().prop_map(|token| ClientFrame::Auth { token }),
    ]
}

/// Tokens a mutation inserts: JSON structure, escapes (NUL among them),
/// other frames' types, numbers past i64, lone surrogates.
const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "\\u0000",
    "\\\\u0000",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "0",
    "-1",
    "1e999",
    "99999999999999999999",
    "\"type\":\"ping\"",
    "\"type\":\"message.send\"",
    "\"body\":\"x\"",
    "\"private\":1",
    "\\ud800",
    "\\udc00\\ud800",
    "\u{202e}",
    "长",
    " ",
    "\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    Insert(prop::sample::Index, usize),
    Delete(prop::sample::Index, usize),
    Truncate(prop::sample::Index),
    /// The text twice inside one object: every key duplicated.
    DuplicateKeys,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        (any::<prop::sample::Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        Just(Mutation::DuplicateKeys),
    ]
}

fn mutate(text: &str, m: &Mutation) -> String {
    let bounds: Vec<usize> = (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    match m {
        Mutation::Insert(at, t) => {
            let at = bounds[at.index(bounds.len())];
            format!("{}{}{}", &text[..at], TOKENS[*t], &text[at..])
        }
        Mutation::Delete(at, n) => {
            let from = at.index(bounds.len());
            let to = (from + n).min(bounds.len() - 1);
            format!("{}{}", &text[..bounds[from]], &text[bounds[to]..])
        }
        Mutation::Truncate(at) => text[..bounds[at.index(bounds.len())]].to_string(),
        Mutation::DuplicateKeys => {
            let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
            format!("{{{inner},{inner}}}")
        }
    }
}

/// What must hold for any text at all.
fn check_any(text: &str) -> Result<(), TestCaseError> {
    match decode(text) {
        Ok(frame) => {
            // Accepted: the whole text is one JSON object, without NUL,
            // and the frame is what it says.
            prop_assert!(!kefu_service::validate::has_nul_escape(text.as_bytes()));
            let v: Value = serde_json::from_str(text)
                .map_err(|e| TestCaseError::fail(format!("accepted non-JSON {text:?}: {e}")))?;
            prop_assert!(agrees(&v, &frame), "{:?} decoded from {}", frame, text);
        }
        Err(reply) => {
            let (code, reference) = error_of(&reply);
            match code.as_str() {
                "validation_failed" => {
                    prop_assert!(kefu_service::validate::has_nul_escape(text.as_bytes()))
                }
                "invalid_frame" => {}
                other => return Err(TestCaseError::fail(format!("error code {other}"))),
            }
            prop_assert!(!reference.unwrap_or_default().contains('\0'));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn valid_frames_round_trip(frame in valid_frame()) {
        let v = frame_json(&frame);
        let back = decode(&v.to_string()).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(frame_json(&back), v);
    }

    #[test]
    fn arbitrary_text_is_a_whole_frame_or_an_error(text in any::<String>()) {
        check_any(&text)?;
    }

    #[test]
    fn mutated_frames_are_whole_frames_or_errors(
        frame in valid_frame(),
        ms in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut text = frame_json(&frame).to_string();
        for m in &ms {
            text = mutate(&text, m);
        }
        check_any(&text)?;
    }

    #[test]
    fn nul_anywhere_is_validation_failed_never_a_frame(
        frame in valid_frame(),
        field in 0..4usize,
    ) {
        let mut v = frame_json(&frame);
        let obj = v.as_object_mut().unwrap();
        let reference = match (field, &frame) {
            // In the body, after the client_msg_id: the error keeps the id.
            (0, ClientFrame::MessageSend { client_msg_id, .. }) => {
                obj.insert("body".into(), json!("a\0b"));
                Some(client_msg_id.clone())
            }
            (1, ClientFrame::MessageSend { .. }) => {
                obj.insert("client_msg_id".into(), json!("id\0"));
                None
            }
            // In a key, in a nested value, in an unknown field.
            (2, _) => {
                obj.insert("x\0".into(), json!(1));
                None
            }
            _ => {
                obj.insert("extra".into(), json!({"deep": ["\0"]}));
                None
            }
        };
        let reply = decode(&v.to_string()).expect_err("a frame with NUL was accepted");
        let (code, got_ref) = error_of(&reply);
        prop_assert_eq!(code, "validation_failed");
        match reference {
            Some(r) if !r.is_empty() => prop_assert_eq!(got_ref, Some(r)),
            _ => prop_assert!(!got_ref.unwrap_or_default().contains('\0')),
        }
    }

    #[test]
    fn unknown_types_are_invalid_frames(
        ty in text().prop_filter("known", |t| {
            !["message.send", "sync", "typing", "viewing", "read", "ping", "auth"].contains(&t.as_str())
        }),
        frame in valid_frame(),
    ) {
        let mut v = frame_json(&frame);
        v["type"] = json!(ty);
        let (code, _) = error_of(&decode(&v.to_string()).expect_err("an unknown type was accepted"));
        prop_assert_eq!(code, "invalid_frame");
    }
}

/// Found by the fuzz target (fuzz/, `ws_decode`): serde reads an
/// internally tagged enum from an array, so `["ping"]` was a ping and
/// `["message.send",null,"c-1","hi",false]` a message.
#[test]
fn arrays_in_field_order_are_not_frames() {
    for text in [
        r#"["ping"]"#,
        r#" ["message.send",null,"c-1","hi",false]"#,
        r#"["sync","0193a8e2-5c1f-7d3a-9b2e-4f6a8c0d1e2f",1]"#,
        "\"ping\"",
        "null",
    ] {
        let reply = decode(text).expect_err(text);
        assert_eq!(error_of(&reply).0, "invalid_frame", "{text}");
    }
    assert!(matches!(
        decode(" \n{\"type\":\"ping\"}"),
        Ok(ClientFrame::Ping)
    ));
}

#[test]
fn a_body_at_the_frame_limit_decodes_whole() {
    // The socket layer refuses frames over 4 × max_message_chars + 4 KiB;
    // anything under that decodes whole (the body check follows in chat).
    let body = "长".repeat(10_000 * 4 / 3);
    let text = json!({"type": "message.send", "client_msg_id": "c", "body": body}).to_string();
    match decode(&text) {
        Ok(ClientFrame::MessageSend { body: got, .. }) => assert_eq!(got, body),
        other => panic!("{other:?}"),
    }
}
