//! Embeds the web assets (`assets/`: the console, the widget, the demo
//! page) in the binary, each with a gzip copy and an ETag, so `cargo run`
//! needs nothing else and serving needs no compression at run time.
//! Generates `$OUT_DIR/assets.rs`: `static ASSETS: &[Asset]`.

use std::io::Write;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("assets");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut table = String::from("static ASSETS: &[Asset] = &[\n");
    for (i, path) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", path.display());
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).unwrap();
        let gz = gz.finish().unwrap();
        let gz_path = out.join(format!("asset-{i}.gz"));
        std::fs::write(&gz_path, &gz).unwrap();
        // Worth sending compressed only when it saves something.
        let gzip = if gz.len() + 64 < bytes.len() {
            format!("Some(include_bytes!({:?}))", gz_path.display().to_string())
        } else {
            "None".into()
        };
        table.push_str(&format!(
            "    Asset {{ path: {rel:?}, body: include_bytes!({:?}), gzip: {gzip}, etag: \"\\\"{:016x}\\\"\" }},\n",
            path.display().to_string(),
            fnv(&bytes),
        ));
    }
    table.push_str("];\n");
    std::fs::write(out.join("assets.rs"), table).unwrap();
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
