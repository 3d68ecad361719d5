//! The escrow of local runs: `biosign init` makes a development key pair that stock OpenSSL opens
//! envelopes with; `biosign escrow-cert` shows what is in use; `ESCROW_CERTS` overrides it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use biosign_shared::seal::EscrowRecipients;
use biosign_shared::time;

const BIN: &str = env!("CARGO_BIN_EXE_biosign");

fn biosign(data_dir: &Path, escrow_certs: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("JWT_JWKS")
        .env_remove("JWT_ISSUER")
        .env_remove("BIOSIGN_STORE")
        .env_remove("ESCROW_CERTS");
    if let Some(path) = escrow_certs {
        command.env("ESCROW_CERTS", path);
    }
    command.output().expect("run biosign")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn shared_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/tests/fixtures/escrow")
        .join(name)
}

fn openssl_open(dir: &Path, envelope: &[u8], key: &Path, cert: &Path) -> Option<Vec<u8>> {
    let (sealed, plain) = (dir.join("sealed.p7m"), dir.join("plain.bin"));
    std::fs::write(&sealed, envelope).unwrap();
    let _ = std::fs::remove_file(&plain);
    let status = Command::new("openssl")
        .args(["cms", "-decrypt", "-binary", "-inform", "DER", "-in"])
        .arg(&sealed)
        .arg("-inkey")
        .arg(key)
        .arg("-recip")
        .arg(cert)
        .arg("-out")
        .arg(&plain)
        .output()
        .expect("run openssl")
        .status;
    status.success().then(|| std::fs::read(&plain).unwrap())
}

#[test]
fn init_makes_a_development_escrow_key_pair_that_openssl_opens_envelopes_with() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let stdout = succeeded(&biosign(&data_dir, None, &["init"]));
    let (key, cert) = (
        data_dir.join("escrow/escrow.key.pem"),
        data_dir.join("escrow/escrow.crt.pem"),
    );
    assert!(
        stdout.contains(&format!(
            "biometric data is sealed for {} (1 certificate(s))",
            cert.display()
        )),
        "{stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&data_dir.join("escrow")), 0o700);
    }
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );

    let escrow = EscrowRecipients::load(&cert, time::now()).unwrap();
    let summary = &escrow.summaries()[0];
    assert_eq!(summary.rsa_bits, 3072);
    assert!(
        summary
            .subject
            .contains("DEVELOPMENT escrow key (not for real biometric data)")
    );

    let plaintext = br#"{"format":"sigdata/1","strokes":[]}"#;
    let sealed = escrow.seal(plaintext).unwrap();
    let opened = openssl_open(dir.path(), &sealed.der, &key, &cert).expect("openssl opens it");
    assert_eq!(opened, plaintext);
    // A key that is not the development key does not.
    assert!(
        openssl_open(
            dir.path(),
            &sealed.der,
            &shared_fixture("rsa2048-other.key.pem"),
            &cert
        )
        .is_none()
    );

    // `escrow-cert` prints the certificate in use; a second `init` keeps the pair.
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert_eq!(succeeded(&biosign(&data_dir, None, &["escrow-cert"])), pem);
    succeeded(&biosign(&data_dir, None, &["init"]));
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), pem);
}

#[test]
fn escrow_certs_replaces_the_development_key() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("escrow-certs.pem");
    let pem = std::fs::read_to_string(shared_fixture("rsa2048.crt.pem")).unwrap()
        + &std::fs::read_to_string(shared_fixture("rsa3072.crt.pem")).unwrap();
    std::fs::write(&certs, &pem).unwrap();
    let output = biosign(dir.path(), Some(&certs), &["escrow-cert"]);
    assert_eq!(succeeded(&output), pem);
    let summary = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        summary.matches("SHA-256 fingerprint").count(),
        2,
        "{summary}"
    );
    assert!(
        !dir.path().join("escrow").exists(),
        "no development key made"
    );
}

#[test]
fn a_bad_escrow_certs_file_stops_the_tool_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let expired = shared_fixture("expired.crt.pem");
    for command in ["escrow-cert", "init"] {
        let output = biosign(dir.path(), Some(&expired), &[command]);
        assert_eq!(output.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "ESCROW_CERTS is invalid: {}: certificate 1 (CN=TEST ONLY expired): expired at 2001-01-01T00:00:00.000Z",
                expired.display()
            )),
            "{command}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{command}");
    }
}

#[test]
fn escrow_cert_has_help() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = succeeded(&biosign(dir.path(), None, &["escrow-cert", "--help"]));
    assert!(stdout.contains("Usage: biosign escrow-cert"), "{stdout}");
}

fn template() -> yaml_rust2::Yaml {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
        .unwrap();
    yaml_rust2::YamlLoader::load_from_str(&text)
        .unwrap()
        .remove(0)
}

/// Every IAM action any function of the template is granted.
fn granted_actions(template: &yaml_rust2::Yaml) -> Vec<String> {
    let mut actions = Vec::new();
    for (_, resource) in template["Resources"].as_hash().unwrap() {
        for policy in resource["Properties"]["Policies"]
            .as_vec()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_vec().into_iter().flatten() {
                let action = &statement["Action"];
                match action.as_vec() {
                    Some(list) => actions.extend(list.iter().map(|a| a.as_str().unwrap().into())),
                    None => actions.push(action.as_str().unwrap().into()),
                }
            }
        }
    }
    actions
}

#[test]
fn the_template_ships_the_certificates_as_a_layer_and_grants_nothing_that_opens_an_envelope() {
    let template = template();
    let resources = &template["Resources"];
    let layer = &resources["EscrowCertsLayer"];
    assert_eq!(
        layer["Type"].as_str(),
        Some("AWS::Serverless::LayerVersion")
    );
    assert_eq!(layer["Metadata"]["BuildMethod"].as_str(), Some("makefile"));
    assert_eq!(layer["Properties"]["ContentUri"].as_str(), Some("escrow/"));

    // The sign function reads the one file the layer's build ships, where Lambda mounts it.
    let sign = &resources["SubmitSignFunction"]["Properties"];
    assert_eq!(
        sign["Layers"].as_vec().unwrap().len(),
        2,
        "the escrow layer, the TSA certificates' layer, and nothing else"
    );
    let tsa_layer = &resources["TsaCertsLayer"];
    assert_eq!(tsa_layer["Properties"]["ContentUri"].as_str(), Some("tsa/"));
    assert_eq!(
        sign["Environment"]["Variables"]["TSA_CERTS"].as_str(),
        Some("/opt/tsa-certs.pem")
    );
    let escrow_certs = sign["Environment"]["Variables"]["ESCROW_CERTS"]
        .as_str()
        .unwrap();
    assert_eq!(escrow_certs, "/opt/escrow-certs.pem");
    let makefile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../escrow/Makefile"
    ))
    .unwrap();
    assert!(makefile.contains("CERTS := escrow-certs.pem"), "{makefile}");
    assert!(makefile.contains("cp $(CERTS) \"$(ARTIFACTS_DIR)/$(CERTS)\""));

    // No function can decrypt anything, read a secret or a parameter (where a private key could
    // hide), or hold a wildcard action.
    let actions = granted_actions(&template);
    assert!(actions.contains(&"s3:PutObject".to_owned()), "{actions:?}");
    for action in &actions {
        let lower = action.to_lowercase();
        assert!(
            !lower.contains("decrypt")
                && !lower.contains('*')
                && !lower.starts_with("secretsmanager:")
                && !lower.starts_with("ssm:"),
            "{action}"
        );
    }
}
