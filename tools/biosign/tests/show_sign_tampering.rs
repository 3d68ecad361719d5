//! `biosign show-sign` as an auditor runs it: every kind of tampering with the evidence of a sign
//! that the chain check tells apart makes it exit 3 and name what was done, while the untouched
//! sign next to it still exits 0.

use std::path::Path;
use std::process::{Command, Output};

use biosign_shared::evidence::RequestEvidence;
use biosign_shared::ids::{OrgId, SignId, SignKey};
use biosign_shared::store::embedded::EmbeddedStore;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_biosign");

fn biosign(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("BIOSIGN_STORE")
        .output()
        .expect("run biosign")
}

fn show_sign(data_dir: &Path, sign_id: &str) -> (Option<i32>, Value) {
    let output = biosign(
        data_dir,
        &["show-sign", "--org", "acme", "--sign-id", sign_id],
    );
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON report; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

/// A sign with three preview events, recorded by the service as the API would.
fn sign_with_three_events(data_dir: &Path) -> String {
    let created = biosign(
        data_dir,
        &[
            "create-sign",
            "--org",
            "acme",
            "--preview-document",
            "0a394423-1c1d-4a4e-9a53-0a8f8e0d7c11",
        ],
    );
    assert!(created.status.success());
    let created: Value = serde_json::from_slice(&created.stdout).unwrap();
    let sign_id = created["sign_id"].as_str().unwrap().to_owned();
    let key = SignKey::new(
        OrgId::parse("acme").unwrap(),
        SignId::parse(&sign_id).unwrap(),
    );
    let evidence = RequestEvidence {
        installation_id: "installation-1".into(),
        fingerprint: "fingerprint-1".into(),
        location: None,
        client_ip: Some("203.0.113.7".into()),
        user_agent: None,
        request_id: "request-1".into(),
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = EmbeddedStore::open(data_dir).unwrap();
        for _ in 0..3 {
            biosign_shared::service::record_preview(&store, &key, &evidence)
                .await
                .unwrap();
        }
    });
    sign_id
}

/// Runs `sql` on the database with the append-only triggers dropped, as an attacker with write
/// access to the file could; `?1` is the sign id.
fn tamper(data_dir: &Path, sign_id: &str, sql: &str) {
    let conn = rusqlite::Connection::open(data_dir.join("biosign.sqlite3")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS events_are_immutable; DROP TRIGGER IF EXISTS events_are_permanent;",
    )
    .unwrap();
    let changed = conn.execute(sql, [sign_id]).unwrap();
    assert_eq!(changed, 1, "{sql}");
}

#[test]
fn each_kind_of_tampering_exits_3_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let change = |seq: u8| {
        format!(
            "UPDATE events SET event = json_set(event, '$.client_ip', '10.9.9.9') WHERE sign_id = ?1 AND seq = {seq}"
        )
    };
    let remove = |seq: u8| format!("DELETE FROM events WHERE sign_id = ?1 AND seq = {seq}");
    let relabel = |seq: u8, field: &str, value: &str| {
        format!(
            "UPDATE events SET event = json_set(event, '$.{field}', '{value}') WHERE sign_id = ?1 AND seq = {seq}"
        )
    };
    let cases = [
        (
            change(1),
            "event 2 does not link to its predecessor: event 1 was changed",
        ),
        (
            change(2),
            "event 3 does not link to its predecessor: event 2 was changed",
        ),
        (change(3), "the last event (event 3) was changed"),
        (remove(1), "event 1 is missing"),
        (remove(2), "event 2 is missing"),
        (remove(3), "the sign records 3 events but 2 are stored"),
        (
            relabel(1, "sign_id", "0b0c6a8e-3f1e-4a57-9d3b-2f2f3c1a9e10"),
            "event 1 belongs to another sign",
        ),
        (
            relabel(2, "org_id", "globex"),
            "event 2 belongs to another sign",
        ),
    ];
    let untouched = sign_with_three_events(dir.path());
    for (sql, reason) in cases {
        let sign_id = sign_with_three_events(dir.path());
        let (code, report) = show_sign(dir.path(), &sign_id);
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(report["chain"]["result"], "valid");
        tamper(dir.path(), &sign_id, &sql);
        let (code, report) = show_sign(dir.path(), &sign_id);
        assert_eq!(code, Some(3), "{sql}: {report}");
        assert_eq!(report["chain"]["result"], "broken");
        assert_eq!(report["chain"]["reason"], reason, "{sql}");
    }
    let (code, report) = show_sign(dir.path(), &untouched);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["chain"]["events"], 3);
}
