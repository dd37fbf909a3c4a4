//! `mask_pii` on any text: never panics, masking twice masks nothing more,
//! and non-ASCII text always survives (placeholders replace ASCII only).
#![no_main]

use kefu_ai::mask::mask_pii;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let once = mask_pii(text).into_owned();
    assert_eq!(mask_pii(&once), once, "not idempotent on {text:?}");
    let kept: String = text.chars().filter(|c| !c.is_ascii()).collect();
    let got: String = once.chars().filter(|c| !c.is_ascii()).collect();
    assert_eq!(got, kept, "non-ASCII text changed in {text:?}");
});
