//! The API is described three times: the code's routes, the SAM template's events and
//! `openapi.yaml`. They must be the same set of (method, path).

use std::collections::BTreeSet;

use biosign_shared::route::Route;
use yaml_rust2::{Yaml, YamlLoader};

fn load(file: &str) -> Yaml {
    let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn code_routes() -> BTreeSet<(String, String)> {
    Route::ALL
        .iter()
        .map(|r| (r.method().to_string(), r.template().to_owned()))
        .collect()
}

#[test]
fn template_routes_are_the_code_routes() {
    let template = load("template.yaml");
    let mut routes = BTreeSet::new();
    let mut default_route = Vec::new();
    for (name, resource) in template["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        for (_, event) in resource["Properties"]["Events"].as_hash().unwrap() {
            assert_eq!(event["Type"].as_str(), Some("HttpApi"));
            let props = &event["Properties"];
            match (props["Method"].as_str(), props["Path"].as_str()) {
                (Some(method), Some(path)) => {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
                // Neither: SAM makes it the API's $default route.
                (None, None) => default_route.push(name.as_str().unwrap().to_owned()),
                other => panic!("an event with only one of Method and Path: {other:?}"),
            }
        }
    }
    assert_eq!(routes, code_routes());
    // Every other path goes to one function, whose handler answers an unknown route 404 (the
    // handlers match the exact path and method when the gateway gives no path parameters).
    assert_eq!(default_route, ["GetSignFunction"]);
}

#[test]
fn openapi_paths_are_the_code_routes_and_list_every_error_status() {
    let openapi = load("openapi.yaml");
    let mut routes = BTreeSet::new();
    for (path, item) in openapi["paths"].as_hash().unwrap() {
        for (method, operation) in item.as_hash().unwrap() {
            let method = method.as_str().unwrap();
            if method == "parameters" {
                continue;
            }
            routes.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            let statuses: BTreeSet<&str> = operation["responses"]
                .as_hash()
                .unwrap()
                .keys()
                .map(|k| k.as_str().unwrap())
                .collect();
            for status in ["400", "401", "404", "500"] {
                assert!(
                    statuses.contains(status),
                    "{method} {path:?} lacks {status}"
                );
            }
            if method == "post" {
                assert!(
                    statuses.contains("409") && statuses.contains("410"),
                    "{method} {path:?}"
                );
            }
        }
    }
    assert_eq!(routes, code_routes());
}

#[test]
fn openapi_limits_match_the_code() {
    use biosign_shared::request::{MAX_BIOMETRIC_DATA_CHARS, MAX_SIGNATURE_IMAGE_CHARS};
    let openapi = load("openapi.yaml");
    let body = &openapi["components"]["schemas"]["BiometricSignRequest"]["properties"];
    assert_eq!(
        body["biometric_data"]["maxLength"].as_i64(),
        Some(MAX_BIOMETRIC_DATA_CHARS as i64)
    );
    assert_eq!(
        body["signature_image"]["maxLength"].as_i64(),
        Some(MAX_SIGNATURE_IMAGE_CHARS as i64)
    );
    let codes: BTreeSet<String> = openapi["components"]["schemas"]["ErrorsResponse"]["properties"]
        ["errors"]["items"]["properties"]["code"]["enum"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = biosign_shared::error::ErrorKind::ALL
        .iter()
        .map(|k| k.code.to_owned())
        .collect();
    assert_eq!(codes, expected);
}

/// The environment variables the template gives each function: the globals and its own.
fn template_variables(template: &Yaml) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let keys = |variables: &Yaml| -> BTreeSet<String> {
        variables
            .as_hash()
            .map(|h| h.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let globals = keys(&template["Globals"]["Function"]["Environment"]["Variables"]);
    template["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, resource)| {
            let own = keys(&resource["Properties"]["Environment"]["Variables"]);
            (
                name.as_str().unwrap().to_owned(),
                globals.union(&own).cloned().collect(),
            )
        })
        .collect()
}

#[test]
fn the_template_gives_each_function_what_its_code_reads() {
    use biosign_shared::config;
    let common = [
        config::TABLE_NAME,
        config::JWT_JWKS,
        config::JWT_JWKS_URL,
        config::JWT_ISSUER,
        config::JWT_AUDIENCE,
        config::ERROR_DOCS_URL,
        // Set only for an emulator (sam local); the SDK reads it.
        "AWS_ENDPOINT_URL",
    ];
    // What only the sign function reads: where the blobs go, whom the data is sealed for, and
    // the TSA that timestamps the evidence.
    let sign_only = [
        config::BUCKET_NAME,
        config::KMS_KEY_ID,
        config::ESCROW_CERTS,
        biosign_shared::timestamp::TSA_URL,
        biosign_shared::timestamp::TSA_CERTS,
    ];
    let expected = |signs: bool| -> BTreeSet<String> {
        common
            .iter()
            .chain(if signs { &sign_only[..] } else { &[] })
            .map(|v| v.to_string())
            .collect()
    };
    let variables = template_variables(&load("template.yaml"));
    assert_eq!(variables["GetSignFunction"], expected(false));
    assert_eq!(variables["PreviewSignFunction"], expected(false));
    assert_eq!(variables["SubmitSignFunction"], expected(true));
}

#[test]
fn the_sam_local_env_file_names_exactly_the_variables_of_each_function() {
    let path = format!("{}/../local/env.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    let from_file: std::collections::BTreeMap<String, BTreeSet<String>> = file
        .iter()
        .map(|(function, variables)| {
            let names = variables
                .as_object()
                .unwrap_or_else(|| panic!("{function}: not an object"))
                .keys()
                .cloned()
                .collect();
            (function.clone(), names)
        })
        .collect();
    assert_eq!(from_file, template_variables(&load("template.yaml")));
    // Every value is a string (sam local passes strings), and the functions are pointed at a
    // local endpoint, never at AWS.
    for (function, variables) in &file {
        for (name, value) in variables.as_object().unwrap() {
            assert!(value.is_string(), "{function}.{name}");
        }
        let endpoint = variables["AWS_ENDPOINT_URL"].as_str().unwrap();
        assert!(endpoint.starts_with("http://"), "{function}: {endpoint}");
    }
}

/// schemathesis's example phase sends the sign operation's `example`: it must be a signature the
/// service accepts (a real capture and a real PNG), so that the phase reaches the 204 path.
#[test]
fn the_sign_example_is_a_signature_the_service_accepts() {
    let openapi = load("openapi.yaml");
    let operation = &openapi["paths"]["/v1/orgs/{org_id}/biometric_signs/{sign_id}/sign"]["post"];
    let example = &operation["requestBody"]["content"]["application/json"]["example"];
    let body = serde_json::json!({
        "biometric_data": example["biometric_data"].as_str().expect("an example biometric_data"),
        "signature_image": example["signature_image"].as_str().expect("an example image"),
    });
    let signature = biosign_shared::request::parse_sign_body(
        Some("application/json"),
        body.to_string().as_bytes(),
    )
    .expect("the example is accepted");
    assert_eq!(signature.summary.image_format.content_type(), "image/png");
    assert!(signature.summary.biometric.samples >= 20);
    assert!(operation["responses"]["422"].as_hash().is_some());
}

#[test]
fn openapi_error_titles_are_the_code_titles() {
    let openapi = load("openapi.yaml");
    let titles: BTreeSet<String> = openapi["components"]["schemas"]["ErrorsResponse"]["properties"]
        ["errors"]["items"]["properties"]["title"]["enum"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = biosign_shared::error::ErrorKind::ALL
        .iter()
        .map(|k| k.title.to_owned())
        .collect();
    assert_eq!(titles, expected);
}
