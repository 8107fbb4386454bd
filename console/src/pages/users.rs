//! Users (`/console/users`): search by uid or anonymous id; a user's
//! attributes, identities, segments and recent deliveries.

use axum::extract::Query;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use shared::delivery_log::model::LogQuery;

use crate::context::Ctx;
use crate::layout::{self, Nav, pretty};
use crate::pages::deliveries;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

pub async fn page(ctx: Ctx, Query(search): Query<Search>) -> Response {
    let q = search.q.trim().to_owned();
    let form = html! {
        form.filters role="search" method="get" action="/console/users" {
            div.field.grow {
                label for="q" { "uid or anonymous id" }
                input #q name="q" type="search" value=(q) required;
            }
            div.field.buttons { button type="submit" { "Search" } }
        }
    };
    if q.is_empty() {
        return layout::page(
            &ctx,
            Nav::Users,
            "Users",
            html! {
                (form)
                p.hint { "Find a user by the uid your partners send, or by an anonymous id (" (ctx.workspace.anonymous_id_attribute) ")." }
            },
        );
    }
    let services = ctx.services();
    let key = std::slice::from_ref(&q);
    let found = match futures::try_join!(
        services.profiles.find_by_uids(ctx.ws(), key),
        services.profiles.find_by_anonymous_ids(ctx.ws(), key),
    ) {
        Ok((by_uid, by_anon)) => by_uid.get(&q).or_else(|| by_anon.get(&q)).cloned(),
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let profile = match found {
        Some(id) => match services.profiles.get_profiles(ctx.ws(), &[id]).await {
            Ok(mut profiles) => profiles.pop(),
            Err(e) => return layout::failure(&ctx.console, &e.to_string()),
        },
        None => None,
    };
    // Deliveries are found by uid even when no profile holds it (events
    // from producers need none).
    let uid = profile
        .as_ref()
        .and_then(|p| p.uid.clone())
        .unwrap_or_else(|| q.clone());
    let recent = LogQuery {
        uid: Some(uid.clone()),
        limit: 20,
        ..LogQuery::default()
    };
    let deliveries = match services.delivery_log.list(ctx.ws(), &recent).await {
        Ok(found) => found.entries,
        Err(e) => return layout::failure(&ctx.console, &e.to_string()),
    };
    let segments = match &profile {
        Some(p) => match services
            .segments
            .segments_of(ctx.ws(), &p.moengage_user_id)
            .await
        {
            Ok(segments) => segments,
            Err(e) => return layout::failure(&ctx.console, &e.to_string()),
        },
        None => Vec::new(),
    };
    let all = format!("/console/deliveries?{}", layout::query(&[("uid", &uid)]));
    let body = html! {
        (form)
        @match &profile {
            None => p.empty { "No profile has the uid or anonymous id " strong { (q) } "." },
            Some(p) => {
                section aria-labelledby="identities-title" {
                    h2 #identities-title { "Identities" }
                    dl.facts {
                        div { dt { "uid" } dd.mono { (p.uid.as_deref().unwrap_or("–")) } }
                        div { dt { "moengage_user_id" } dd.mono { (p.moengage_user_id) } }
                        div.wide { dt { "Anonymous ids" } dd.mono {
                            @if p.anonymous_ids.is_empty() { "none" } @else { (p.anonymous_ids.join(", ")) }
                        } }
                    }
                }
                section aria-labelledby="attributes-title" {
                    h2 #attributes-title { "Attributes" }
                    @if p.attributes.is_empty() {
                        p.empty { "No attributes." }
                    } @else {
                        div.table-wrap { table.kv {
                            thead { tr { th scope="col" { "Attribute" } th scope="col" { "Value" } } }
                            tbody {
                                @for (name, value) in &p.attributes {
                                    tr { th scope="row" { (name) } td.mono { (pretty(&value.to_string())) } }
                                }
                            }
                        } }
                    }
                }
                section aria-labelledby="segments-title" {
                    h2 #segments-title { "Segments" }
                    @if segments.is_empty() { p.empty { "In no segment." } }
                    @else {
                        ul { @for s in &segments { li { a href={ "/console/segments/" (layout::seg(s)) } { (s) } } } }
                    }
                }
            },
        }
        section aria-labelledby="recent-title" {
            h2 #recent-title { "Recent deliveries" }
            @if deliveries.is_empty() {
                p.empty { "No delivery attempt carried events of this user within the retention." }
            } @else {
                (deliveries::table(&deliveries))
                p { a href=(all) { "All deliveries of " (uid) } }
            }
        }
    };
    layout::page(&ctx, Nav::Users, "Users", body)
}
