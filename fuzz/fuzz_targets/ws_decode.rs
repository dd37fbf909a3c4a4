//! The socket's frame decoder on any text: never panics; a frame is only
//! ever decoded from one whole JSON object without NUL; everything else is
//! `invalid_frame` or (NUL) `validation_failed`.
#![no_main]

use kefu_http::ws::protocol::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let nul = kefu_service::validate::has_nul_escape(text.as_bytes());
    match decode(text) {
        Ok(_) => {
            assert!(!nul, "accepted NUL: {text:?}");
            let v: serde_json::Value = serde_json::from_str(text).expect("accepted non-JSON");
            assert!(v.is_object());
        }
        Err(reply) => {
            let v = serde_json::to_value(&reply).unwrap();
            let code = v["code"].as_str().unwrap();
            assert!(
                code == "invalid_frame" || (code == "validation_failed" && nul),
                "{code} for {text:?}"
            );
            assert!(!v["ref"].as_str().unwrap_or_default().contains('\0'));
        }
    }
});
