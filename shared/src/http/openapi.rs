//! `GET /openapi.json` on `serve`: OpenAPI 3.1 of every route, generated
//! from the topology table (methods, paths, who authenticates, which rate
//! limit) and the Rust types of the bodies (docs/interface/http.md).

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::cohort::payload::{CohortWebhook, ListCreate, ListMembers};
use crate::domain::Segment;
use crate::mparticle::mapper::Report;
use crate::topology::{Access, Route};

use super::routes::privacy::{RequestView, SuppressionView};
use super::routes::segments::{MemberPage, SegmentPage};
use super::routes::users::User;

/// (request body, success body, summary) of a route.
fn bodies(route: Route, g: &mut SchemaGenerator) -> (Option<Value>, Value, &'static str) {
    let object = |what: &str| json!({"type": "object", "description": what});
    let schema = |s: schemars::Schema| serde_json::to_value(s).expect("schemas serialize");
    match route {
        Route::CohortWebhook => (
            Some(schema(g.subschema_for::<CohortWebhook>())),
            object("duplicate, message_id, segment_id, action, computed_time, staged counts"),
            "An Amplitude Cohort Webhooks sync: staged, then applied",
        ),
        Route::ListCreate => (
            Some(schema(g.subschema_for::<ListCreate>())),
            object("listId and list_id: the segment id"),
            "Creates (or finds) the list of an Amplitude cohort",
        ),
        Route::ListAdd | Route::ListRemove => (
            Some(schema(g.subschema_for::<ListMembers>())),
            object("listId, action, computed_time, time_ms (the arrival time, ms), staged counts"),
            "Adds users to, or removes them from, an Amplitude list",
        ),
        Route::SegmentList => (
            None,
            schema(g.subschema_for::<SegmentPage>()),
            "Segments, paged",
        ),
        Route::SegmentGet => (None, schema(g.subschema_for::<Segment>()), "One segment"),
        Route::SegmentMembers => (
            None,
            schema(g.subschema_for::<MemberPage>()),
            "A segment's members, paged",
        ),
        Route::MparticleFirehose => (
            Some(object(
                "a Firehose request: module registration, event processing, audience subscription or membership change",
            )),
            object("the Firehose response message"),
            "mParticle Firehose over HTTP",
        ),
        Route::MparticleEvents => (
            Some(
                json!({"oneOf": [object("an Events-API batch"), {"type": "array", "maxItems": 100, "items": object("an Events-API batch")}]}),
            ),
            schema(g.subschema_for::<Report>()),
            "mParticle Events-API batches",
        ),
        Route::MparticleBulkEvents => (
            Some(json!({"type": "array", "maxItems": 100, "items": object("an Events-API batch")})),
            schema(g.subschema_for::<Report>()),
            "mParticle Events-API batches, as mParticle's server-side SDKs bulk-upload them",
        ),
        Route::UserGet => (None, schema(g.subschema_for::<User>()), "A user profile"),
        Route::CustomerioReporting => (
            Some(object("a Customer.io reporting webhook")),
            object("the event queued"),
            "A Customer.io reporting webhook",
        ),
        Route::UserDelete => (
            None,
            object("202: request_id of the erasure (GET /v1/privacy/requests/{request_id})"),
            "Erases a user everywhere and suppresses the uid",
        ),
        Route::UserExport => (
            None,
            object("uid, profile, identities, segments, deliveries, dead_letters"),
            "Everything held for a uid",
        ),
        Route::PrivacyRequestGet => (
            None,
            schema(g.subschema_for::<RequestView>()),
            "A privacy request's status",
        ),
        Route::SuppressionGet => (
            None,
            schema(g.subschema_for::<SuppressionView>()),
            "Whether a uid is suppressed, and since when",
        ),
        Route::SuppressionLift => (None, object("lifted: true"), "Lifts a suppression"),
        Route::OpendsrDiscovery => (
            None,
            object(
                "api_version, supported_identities, supported_subject_request_types, processor_certificate",
            ),
            "OpenDSR discovery",
        ),
        Route::OpendsrCreate => (
            Some(object("an OpenDSR request")),
            object(
                "201: controller_id, subject_request_id, received_time, expected_completion_time, encoded_request",
            ),
            "Submits an OpenDSR erasure or access request",
        ),
        Route::OpendsrStatus => (
            None,
            object("subject_request_id, request_status, expected_completion_time, results_url"),
            "An OpenDSR request's status",
        ),
        Route::OpendsrCancel => (
            None,
            object("202 while pending; 405 otherwise"),
            "Cancels a pending OpenDSR request",
        ),
        Route::OpendsrResults => (
            None,
            object("the export of the request's subject"),
            "An OpenDSR access request's results",
        ),
    }
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

fn operation(route: Route, g: &mut SchemaGenerator) -> Value {
    let (request, success, summary) = bodies(route, g);
    let error = json!({"$ref": "#/components/schemas/Error"});
    let error_response = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error}}});
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "success", "content": {"application/json": {"schema": success}}}),
    );
    responses.insert("400".into(), error_response("malformed or invalid input"));
    responses.insert(
        "401".into(),
        error_response("missing or invalid credentials"),
    );
    responses.insert("404".into(), error_response("unknown id"));
    responses.insert("413".into(), error_response("body too large"));
    if route.rate_limit().is_some() || route == Route::MparticleFirehose {
        responses.insert("429".into(), error_response("rate limited (Retry-After)"));
    }
    responses.insert("500".into(), error_response("internal error"));
    let mut op = json!({
        "operationId": format!("{route:?}"),
        "summary": summary,
        "tags": [route.function().name()],
        "parameters": parameters(route.path()),
        "responses": responses,
    });
    if let Some(schema) = request {
        op["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
    }
    op["security"] = match route.access() {
        Access::Workspace => json!([{"basic": []}, {"bearer": []}]),
        Access::SelfAuthenticated => json!([{}, {"basic": []}, {"bearer": []}]),
        Access::Public => json!([{}]),
    };
    op
}

/// The document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths = Map::new();
    for route in Route::ALL {
        let op = operation(route, &mut generator);
        let entry = paths
            .entry(route.path().to_owned())
            .or_insert_with(|| json!({}));
        entry[route.method().as_str().to_lowercase()] = op;
    }
    let mut schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    schemas.insert(
        "Error".into(),
        json!({"type": "object", "required": ["status", "error"],
               "properties": {"status": {"const": "error"}, "error": {"type": "string"}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "engage-bridge", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic",
                          "description": "workspace id and secret, or the API key <id>.<secret> as username with an empty password"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "the API key <id>.<secret>"}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_table_is_in_the_document() {
        let doc = document();
        for route in Route::ALL {
            let op = &doc["paths"][route.path()][route.method().as_str().to_lowercase()];
            assert_eq!(op["operationId"], format!("{route:?}"), "{route:?}");
        }
        let webhook = &doc["paths"]["/v1/amplitude/cohorts"]["post"];
        let schema = webhook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap();
        let name = schema.rsplit('/').next().unwrap();
        assert!(doc["components"]["schemas"][name]["properties"]["users"].is_object());
        // Every $ref resolves.
        let text = doc.to_string();
        assert!(!text.contains("#/$defs"), "refs point into components");
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &piece[..piece.find('"').unwrap()];
            assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
        }
    }
}
