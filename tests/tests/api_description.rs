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
        // Read by glibc's allocator at start (see template.yaml).
        "MALLOC_TOP_PAD_",
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

/// The template's alarms (README, "Operate it"): every function has its errors, throttles and
/// near-timeout duration alarms, the API its 5xx rate alarm, a TSA deployment its pending
/// timestamps alarm; each notifies `AlarmTopicArn` when it is given and nobody otherwise; X-Ray
/// stays on. (yaml-rust2 drops the `!Ref`/`!If` tags: `!Ref X` reads as `X`.)
#[test]
fn every_function_has_its_alarms_and_they_notify_the_topic_when_given() {
    let template = load("template.yaml");
    let parameter = &template["Parameters"]["AlarmTopicArn"];
    assert_eq!(parameter["Type"].as_str(), Some("String"));
    assert_eq!(parameter["Default"].as_str(), Some(""), "optional");
    // HasAlarmTopic: !Not [!Equals [!Ref AlarmTopicArn, ""]]
    assert_eq!(
        yaml_strings(&template["Conditions"]["HasAlarmTopic"]),
        ["AlarmTopicArn", ""]
    );
    assert_eq!(
        template["Globals"]["Function"]["Tracing"].as_str(),
        Some("Active")
    );

    let resources = template["Resources"].as_hash().unwrap();
    let alarms: Vec<(&str, &Yaml)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(name, r)| (name.as_str().unwrap(), &r["Properties"]))
        .collect();
    for (name, alarm) in &alarms {
        for actions in ["AlarmActions", "OKActions"] {
            // !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]
            assert_eq!(
                yaml_strings(&alarm[actions]),
                ["HasAlarmTopic", "AlarmTopicArn", "AWS::NoValue"],
                "{name}.{actions}"
            );
        }
        assert_eq!(
            alarm["TreatMissingData"].as_str(),
            Some("notBreaching"),
            "{name}: a period without requests is no alarm"
        );
        assert!(alarm["AlarmDescription"].as_str().is_some(), "{name}");
    }

    let globals_timeout = template["Globals"]["Function"]["Timeout"].as_i64().unwrap();
    let functions: Vec<(&str, &Yaml)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, r)| (name.as_str().unwrap(), r))
        .collect();
    assert_eq!(functions.len(), 3);
    for (function, resource) in functions {
        let on_function: BTreeSet<&str> = alarms
            .iter()
            .filter(|(_, a)| {
                a["Namespace"].as_str() == Some("AWS/Lambda")
                    && yaml_strings(&a["Dimensions"]) == ["FunctionName", function]
            })
            .map(|(_, a)| a["MetricName"].as_str().unwrap())
            .collect();
        assert_eq!(
            on_function,
            BTreeSet::from(["Duration", "Errors", "Throttles"]),
            "{function}"
        );
        let timeout_s = resource["Properties"]["Timeout"]
            .as_i64()
            .unwrap_or(globals_timeout);
        let (_, duration) = alarms
            .iter()
            .find(|(_, a)| {
                a["MetricName"].as_str() == Some("Duration")
                    && yaml_strings(&a["Dimensions"]) == ["FunctionName", function]
            })
            .unwrap();
        assert_eq!(
            duration["Threshold"].as_i64(),
            Some(timeout_s * 1000 * 8 / 10),
            "{function}: 80 % of the timeout, in ms"
        );
        assert_eq!(duration["Unit"].as_str(), Some("Milliseconds"));
    }

    // The API's 5xx rate: 5xx over Count, for this API.
    let api_metrics: BTreeSet<&str> = alarms
        .iter()
        .flat_map(|(_, a)| a["Metrics"].as_vec().into_iter().flatten())
        .filter(|m| {
            m["MetricStat"]["Metric"]["Namespace"].as_str() == Some("AWS/ApiGateway")
                && yaml_strings(&m["MetricStat"]["Metric"]["Dimensions"]) == ["ApiId", "HttpApi"]
        })
        .map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str().unwrap())
        .collect();
    assert_eq!(api_metrics, BTreeSet::from(["5xx", "Count"]));

    // The functions' own metric: exists only where there is a TSA to wait for.
    let (_, pending) = alarms
        .iter()
        .find(|(_, a)| a["MetricName"].as_str() == Some("TimestampsPending"))
        .expect("a pending timestamps alarm");
    assert_eq!(
        pending["Namespace"].as_str(),
        Some(biosign_shared::metrics::NAMESPACE)
    );
    assert_eq!(
        yaml_strings(&pending["Dimensions"]),
        ["Function", "SubmitSignFunction"]
    );
    let pending_resource = resources
        .iter()
        .find(|(name, _)| name.as_str() == Some("TimestampsPendingAlarm"))
        .map(|(_, r)| r)
        .unwrap();
    assert_eq!(pending_resource["Condition"].as_str(), Some("UsesTsa"));
    assert_eq!(
        yaml_strings(&template["Conditions"]["UsesTsa"]),
        ["TsaUrl", ""]
    );
}

/// Every string in `node`, depth first (mapping values in order, keys left out).
fn yaml_strings(node: &Yaml) -> Vec<&str> {
    match node {
        Yaml::String(s) => vec![s.as_str()],
        Yaml::Array(items) => items.iter().flat_map(yaml_strings).collect(),
        Yaml::Hash(hash) => hash.values().flat_map(yaml_strings).collect(),
        _ => Vec::new(),
    }
}
