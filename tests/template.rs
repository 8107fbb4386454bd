//! template.yaml against the topology table (shared/src/topology.rs): every
//! function answers exactly its routes on the HTTP API, consumes exactly its
//! queue with the table's batch settings, and gets that queue's URL. A route
//! or queue added to the table but not to the template fails here.

use std::collections::BTreeSet;

use engage_bridge_tests::repo_root;
use serde_yaml::Value;
use shared::topology::{CONSUMERS, Function, QueueName, Route};

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// The resource whose SAM build produces `function`'s binary.
fn function_resource(template: &Value, function: Function) -> &Value {
    let resources = template["Resources"].as_mapping().unwrap();
    let found: Vec<&Value> = resources
        .values()
        .filter(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function.name()))
        .collect();
    assert_eq!(found.len(), 1, "one resource builds {}", function.name());
    found[0]
}

/// The events of a function of one type (`HttpApi`, `SQS`).
fn events<'a>(function: &'a Value, kind: &str) -> Vec<&'a Value> {
    function["Properties"]["Events"]
        .as_mapping()
        .map(|m| m.values().filter(|e| e["Type"] == kind).collect())
        .unwrap_or_default()
}

/// `!GetAtt X.Arn` → "X".
fn get_att_target(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => tagged
            .value
            .as_str()
            .and_then(|s| s.strip_suffix(".Arn"))
            .map(str::to_owned),
        _ => None,
    }
}

/// `!GetAtt X.Attribute` → "X".
fn get_att_resource(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "!GetAtt" => tagged
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_owned),
        _ => None,
    }
}

/// A number written literally, or the default of the parameter it names.
fn number(template: &Value, value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::Tagged(tagged) if tagged.tag == "!Ref" => {
            let parameter = tagged.value.as_str()?;
            let default = &template["Parameters"][parameter]["Default"];
            default.as_u64().or_else(|| default.as_str()?.parse().ok())
        }
        _ => None,
    }
}

#[test]
fn every_function_answers_exactly_its_routes() {
    let template = template();
    for function in Function::ALL {
        let resource = function_resource(&template, function);
        let declared: BTreeSet<(String, String)> = events(resource, "HttpApi")
            .iter()
            .map(|e| {
                let p = &e["Properties"];
                (
                    p["Method"].as_str().unwrap().to_uppercase(),
                    p["Path"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: BTreeSet<(String, String)> = function
            .routes()
            .map(|r| (r.method().to_string(), r.path().to_owned()))
            .collect();
        assert_eq!(declared, expected, "HTTP routes of {}", function.name());
    }
    // And every route of the table belongs to some function's events.
    assert_eq!(
        Function::ALL
            .iter()
            .map(|f| f.routes().count())
            .sum::<usize>(),
        Route::ALL.len()
    );
}

#[test]
fn every_consumer_is_an_event_source_with_the_tables_settings() {
    let template = template();
    for function in Function::ALL {
        let resource = function_resource(&template, function);
        let sources = events(resource, "SQS");
        match function.consumer() {
            None => assert!(sources.is_empty(), "{} consumes no queue", function.name()),
            Some(consumer) => {
                assert_eq!(sources.len(), 1, "{} consumes one queue", function.name());
                let p = &sources[0]["Properties"];
                assert_eq!(
                    get_att_target(&p["Queue"]).as_deref(),
                    Some(consumer.queue.logical_id()),
                    "queue of {}",
                    function.name()
                );
                assert_eq!(
                    number(&template, &p["BatchSize"]),
                    Some(consumer.batch_size as u64),
                    "BatchSize of {}",
                    function.name()
                );
                let window = number(&template, &p["MaximumBatchingWindowInSeconds"]).unwrap_or(0);
                assert_eq!(
                    window,
                    u64::from(consumer.batching_window_secs),
                    "batching window of {}",
                    function.name()
                );
                let responses = p["FunctionResponseTypes"].as_sequence().unwrap();
                assert!(
                    responses.iter().any(|r| r == "ReportBatchItemFailures"),
                    "{} reports partial batch failures",
                    function.name()
                );
            }
        }
    }
    assert_eq!(CONSUMERS.len(), 4);
}

#[test]
fn every_queue_exists_and_its_url_reaches_the_functions() {
    let template = template();
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    for queue in QueueName::ALL {
        let resource = &template["Resources"][queue.logical_id()];
        assert_eq!(resource["Type"], "AWS::SQS::Queue", "{queue}");
        match &variables[queue.url_env()] {
            Value::Tagged(tagged) => {
                assert_eq!(tagged.tag, "!Ref");
                assert_eq!(tagged.value.as_str(), Some(queue.logical_id()), "{queue}");
            }
            other => panic!("{} is not a !Ref to its queue: {other:?}", queue.url_env()),
        }
    }
}

#[test]
fn consumers_redrive_only_after_they_dead_letter_themselves() {
    // The consumer dead-letters a failing message with its reason after
    // `max_receives`; the queue's own redrive is the net below that.
    let template = template();
    for consumer in CONSUMERS {
        let queue = &template["Resources"][consumer.queue.logical_id()];
        let redrive = &queue["Properties"]["RedrivePolicy"]["maxReceiveCount"];
        let max = redrive.as_u64().expect("a redrive policy");
        assert!(
            max > u64::from(consumer.max_receives),
            "{}: maxReceiveCount {max} must exceed the consumer's {}",
            consumer.queue,
            consumer.max_receives
        );
    }
}

/// The operations the template promises (docs/interface/observability.md):
/// an alarm on every dead letter kept, by the metric the code emits; one
/// on every queue the consumers redrive to; errors and throttles of every
/// function; all of them to the optional topic.
#[test]
fn alarms_watch_dead_letters_errors_and_throttles_of_every_function() {
    use shared::observability::metrics::{DEAD_LETTERS, NAMESPACE};
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let alarms: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    for alarm in &alarms {
        assert!(
            matches!(alarm["Properties"]["AlarmActions"], Value::Tagged(_)),
            "alarms notify the optional topic: {alarm:?}"
        );
    }
    let kept = alarms.iter().any(|a| {
        a["Properties"]["Metrics"][0]["Expression"]
            .as_str()
            .is_some_and(|q| q.contains(DEAD_LETTERS) && q.contains(NAMESPACE))
    });
    assert!(kept, "an alarm sums {DEAD_LETTERS} in {NAMESPACE}");
    let watched_queues: BTreeSet<String> = alarms
        .iter()
        .filter(|a| a["Properties"]["Namespace"] == "AWS/SQS")
        .filter_map(|a| get_att_resource(&a["Properties"]["Dimensions"][0]["Value"]))
        .collect();
    for (id, queue) in resources {
        if let Some(target) =
            get_att_target(&queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        {
            assert!(
                watched_queues.contains(&target),
                "{target} (the redrive of {id:?}) has a depth alarm"
            );
        }
    }
    for function in Function::ALL {
        let resource_id = resources
            .iter()
            .find(|(_, r)| {
                r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function.name())
            })
            .map(|(id, _)| id.as_str().unwrap().to_owned())
            .unwrap();
        for metric in ["Errors", "Throttles"] {
            let watched = alarms.iter().any(|a| {
                a["Properties"]["Namespace"] == "AWS/Lambda"
                    && a["Properties"]["MetricName"] == metric
                    && serde_yaml::to_string(&a["Properties"]["Dimensions"])
                        .unwrap()
                        .contains(&resource_id)
            });
            assert!(watched, "{metric} of {resource_id} has an alarm");
        }
    }
}

/// Timeouts nest (docs/architecture.md "Nothing acknowledged is lost"):
/// every AWS call gives up well inside its function's timeout (a hung call
/// is retried or answered 5xx, not cut off by Lambda mid-batch), and every
/// consumer finishes well inside its queue's visibility timeout (six
/// times, as AWS advises for SQS event sources), so a message is never
/// handed to a second instance while the first still works on it.
#[test]
fn aws_calls_fit_the_functions_and_the_functions_fit_the_visibility() {
    use shared::store::aws::settings::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, OPERATION_TIMEOUT};
    let template = template();
    assert!(CONNECT_TIMEOUT < ATTEMPT_TIMEOUT && ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
    for function in Function::ALL {
        let resource = function_resource(&template, function);
        let timeout = number(&template, &resource["Properties"]["Timeout"])
            .unwrap_or_else(|| panic!("{} sets its Timeout", function.name()));
        assert!(
            OPERATION_TIMEOUT.as_secs() * 3 <= timeout,
            "{}: a call's {:?} is well inside the function's {timeout} s",
            function.name(),
            OPERATION_TIMEOUT
        );
        if let Some(consumer) = function.consumer() {
            let queue = &template["Resources"][consumer.queue.logical_id()];
            let visibility = number(&template, &queue["Properties"]["VisibilityTimeout"])
                .unwrap_or_else(|| panic!("{} sets its VisibilityTimeout", consumer.queue));
            assert!(
                visibility >= 6 * timeout,
                "{}: visibility {visibility} s ≥ 6 × the function's {timeout} s",
                consumer.queue
            );
        }
    }
}
