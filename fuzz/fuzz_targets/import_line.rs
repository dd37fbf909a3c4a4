//! The knowledge-base import's line reader on any bytes, split as the
//! import splits its stream: never panics; a failure carries its own line
//! number and one of the documented codes.
#![no_main]

use kefu_service::config::KbConfig;
use kefu_service::kb::import::{read_line, LineRead};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = KbConfig::default();
    for (i, raw) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        match read_line(&cfg, i + 1, raw) {
            LineRead::Failed(f) => {
                assert_eq!(f.line, i + 1);
                assert!(
                    ["not_utf8", "validation_failed", "invalid_json"].contains(&f.code.as_str()),
                    "{f:?}"
                );
            }
            LineRead::Article(line) => assert_eq!(line.no(), i + 1),
            LineRead::Blank => {}
        }
    }
});
