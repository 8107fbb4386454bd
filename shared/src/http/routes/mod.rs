//! One handler per route of the topology table: extract, call the
//! capability, answer. No rule lives here.

mod cohort;
mod customerio;
mod mparticle;
mod opendsr;
pub(super) mod privacy;
pub(super) mod segments;
pub(super) mod users;

use axum::routing::{MethodRouter, delete, get, post};

use crate::runtime::Services;
use crate::topology::Route;

/// The handler of `route`, bound to its method.
pub fn endpoint(route: Route) -> MethodRouter<Services> {
    match route {
        Route::CohortWebhook => post(cohort::webhook),
        Route::ListCreate => post(cohort::create_list),
        Route::ListAdd => post(cohort::add_to_list),
        Route::ListRemove => post(cohort::remove_from_list),
        Route::SegmentList => get(segments::list),
        Route::SegmentGet => get(segments::get),
        Route::SegmentMembers => get(segments::members),
        Route::MparticleFirehose => post(mparticle::firehose),
        Route::MparticleEvents => post(mparticle::events),
        Route::MparticleBulkEvents => post(mparticle::bulk_events),
        Route::UserGet => get(users::get),
        Route::CustomerioReporting => post(customerio::reporting),
        Route::UserDelete => delete(privacy::erase),
        Route::UserExport => get(privacy::export),
        Route::PrivacyRequestGet => get(privacy::request),
        Route::SuppressionGet => get(privacy::suppression),
        Route::SuppressionLift => delete(privacy::lift),
        Route::OpendsrDiscovery => get(opendsr::discovery),
        Route::OpendsrCreate => post(opendsr::create),
        Route::OpendsrStatus => get(opendsr::status),
        Route::OpendsrCancel => delete(opendsr::cancel),
        Route::OpendsrResults => get(opendsr::results),
    }
}
