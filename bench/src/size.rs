//! Figure 4: the size of each function binary as built for Lambda (arm64, release, stripped).

use std::path::PathBuf;

use crate::{FUNCTIONS, Row};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace")
        .to_owned()
}

/// The rows of figure 4.
pub fn rows(row: &mut Row) {
    for name in FUNCTIONS {
        let path = workspace()
            .join("target/lambda")
            .join(name)
            .join("bootstrap");
        match std::fs::metadata(&path) {
            Ok(meta) => row(
                &format!("{name} binary (arm64, stripped)"),
                format!("{:.2} MiB", meta.len() as f64 / 1048576.0),
                "≤ 8 MiB",
                format!("{} bytes", meta.len()),
            ),
            Err(_) => row(
                &format!("{name} binary (arm64, stripped)"),
                "not built".into(),
                "≤ 8 MiB",
                "run scripts/bench, which builds it with cargo lambda".into(),
            ),
        }
    }
}
