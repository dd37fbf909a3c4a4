//! The Markdown stripper on any text: never panics, invents no text (every
//! character out was in, bar the spaces and line breaks it joins with) and
//! is never longer than its input. Seeded from tests/corpus (docs/fuzzing.md).
#![no_main]

use kefu_kb::markdown::strip_markdown;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(md) = std::str::from_utf8(data) else {
        return;
    };
    let out = strip_markdown(md);
    for c in out.chars() {
        assert!(
            c == ' ' || c == '\n' || md.contains(c),
            "invented {c:?} from {md:?}"
        );
    }
    assert!(out.chars().count() <= md.chars().count());
});
