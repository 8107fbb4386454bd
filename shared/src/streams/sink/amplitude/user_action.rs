//! User-action events exported fully (docs/rules/amplitude-export.md "Full
//! export"): every event attribute, revenue for purchases and refunds, the
//! stream's selected user attributes as `user_properties`, and the device's
//! fields (the device-field table).

use serde_json::{Map, Number, Value};

use super::fields::{Context, Ids, base, platform, string_attr, valid_id};
use super::limits::{bound_properties, cut};
use crate::domain::{Event, Profile};
use crate::streams::enrich::select_into;

/// Properties kept first when an event has more than Amplitude's 1000:
/// ours, then the commerce attributes the mParticle mapping sets
/// (docs/rules/mparticle-mapping.md); custom attributes fill the rest.
const KEPT_PROPERTIES: &[&str] = &[
    "moengage_user_id",
    "$source",
    "transaction_id",
    "products",
    "currency_code",
    "total_amount",
    "shipping_amount",
    "tax_amount",
    "promotions",
    "impressions",
];

/// Actions that carry revenue, and the sign of their revenue.
const REVENUE_ACTIONS: &[(&str, f64)] = &[("purchase", 1.0), ("refund", -1.0)];

/// Amplitude device field ← the first device attribute present, in order
/// (the Events-API `device_info` name first, then the Firehose
/// `runtime_environment` name).
const DEVICE_FIELDS: &[(&str, &[&str])] = &[
    ("os_version", &["os_version"]),
    ("device_brand", &["brand"]),
    (
        "device_manufacturer",
        &["device_manufacturer", "manufacturer"],
    ),
    ("device_model", &["device_model", "model", "product"]),
    ("carrier", &["network_carrier"]),
    ("language", &["locale_language"]),
    ("app_version", &["application_version"]),
    ("ip", &["ip"]),
];

/// Advertising and vendor ids: sent only when Amplitude accepts them (an
/// all-zero IDFA means "limit ad tracking").
const DEVICE_IDS: &[(&str, &[&str])] = &[
    ("idfa", &["ios_advertising_id"]),
    ("idfv", &["ios_idfv", "ios_vendor_id"]),
    ("adid", &["android_advertising_id", "google_advertising_id"]),
];

/// A full export of `event`, or None without ids.
pub fn map(
    event: &Event,
    profile: Option<&Profile>,
    ids: Ids,
    context: &Context,
) -> Option<Map<String, Value>> {
    let properties = (*event.event_attributes).clone();
    let mut out = base(event, profile, ids, properties, KEPT_PROPERTIES)?;
    revenue(event, &mut out);
    let user_properties = user_properties(event, profile, context);
    if !user_properties.is_empty() {
        out.insert("user_properties".into(), Value::Object(user_properties));
    }
    device_fields(event, &mut out);
    Some(out)
}

/// A number, or a numeric string (some senders quote amounts).
fn number(value: Option<&Value>) -> Option<f64> {
    let value = value?;
    value
        .as_f64()
        .or_else(|| value.as_str()?.trim().parse().ok())
        .filter(|n: &f64| n.is_finite())
}

fn float(n: f64) -> Option<Value> {
    Number::from_f64(n).map(Value::Number)
}

/// `revenue` (negative for a refund) and `revenueType` for a purchase or
/// refund with `total_amount`; `price`, `quantity` and `productId` when it
/// has exactly one product (a refund's price is negative too).
fn revenue(event: &Event, out: &mut Map<String, Value>) {
    let attributes = &event.event_attributes;
    let Some((action, sign)) = REVENUE_ACTIONS
        .iter()
        .find(|(action, _)| event.event_name == *action || event.event_code == *action)
    else {
        return;
    };
    let Some(total) = number(attributes.get("total_amount")) else {
        return;
    };
    let signed = |n: f64| if *sign < 0.0 { -n.abs() } else { n };
    out.extend(float(signed(total)).map(|v| ("revenue".to_owned(), v)));
    out.insert("revenueType".into(), Value::String((*action).to_owned()));
    let Some([product]) = attributes
        .get("products")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return;
    };
    let price = number(product.get("price"));
    // Amplitude's quantity is an integer; mParticle may send 4.0.
    let quantity = number(product.get("quantity"))
        .filter(|q| q.fract() == 0.0 && q.abs() < 1e15)
        .map(|q| q as i64);
    if let (Some(price), Some(quantity)) = (price, quantity) {
        out.extend(float(signed(price)).map(|v| ("price".to_owned(), v)));
        out.insert("quantity".into(), Value::from(quantity));
    }
    let id = match product.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Some(cut(id)),
        Some(Value::Number(id)) => Some(id.to_string()),
        _ => None,
    };
    if let Some(id) = id {
        out.insert("productId".into(), Value::String(id));
    }
}

/// The user attributes the stream's `user_attributes` selects: those the
/// event carries, then the profile's (which win).
fn user_properties(
    event: &Event,
    profile: Option<&Profile>,
    context: &Context,
) -> Map<String, Value> {
    let mut selected = Map::new();
    select_into(
        &mut selected,
        &event.user_attributes,
        context.user_attributes,
    );
    if let Some(profile) = profile {
        select_into(&mut selected, &profile.attributes, context.user_attributes);
    }
    // Already in event_properties.
    selected.remove("moengage_user_id");
    bound_properties(&selected, &[])
}

/// A device attribute as text: strings as they are, numbers written out.
fn text(device: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| match device.get(*name)? {
        Value::String(s) if !s.trim().is_empty() => Some(cut(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Amplitude's device fields from the event's device attributes.
fn device_fields(event: &Event, out: &mut Map<String, Value>) {
    let device = &event.device_attributes;
    let os_name = platform(event)
        .map(str::to_owned)
        .or_else(|| string_attr(device, "platform").map(cut));
    out.extend(os_name.map(|name| ("os_name".to_owned(), Value::String(name))));
    for (field, names) in DEVICE_FIELDS {
        if let Some(value) = text(device, names) {
            out.insert((*field).to_owned(), Value::String(value));
        }
    }
    // mParticle's Events API sends a country code (`US`); Firehose a locale (`en_US`).
    let country = text(device, &["locale_country"])
        .map(|c| c.rsplit(['_', '-']).next().unwrap_or_default().to_owned())
        .filter(|c| !c.is_empty());
    out.extend(country.map(|c| ("country".to_owned(), Value::String(c))));
    for (field, names) in DEVICE_IDS {
        if let Some(id) = text(device, names).filter(|id| valid_id(id)) {
            out.insert((*field).to_owned(), Value::String(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Selection;
    use serde_json::json;

    fn event(name: &str, attributes: Value, device: Value) -> Event {
        serde_json::from_value(json!({
            "event_name": name, "event_code": name, "event_uuid": "e-1",
            "event_time": 1_795_341_605, "event_type": "USER_ACTION_EVENT",
            "event_source": "MPARTICLE", "uid": "cust-1001",
            "event_attributes": attributes,
            "user_attributes": {"moengage_user_id": "mid-1"},
            "device_attributes": device
        }))
        .unwrap()
    }

    fn mapped(event: &Event) -> Map<String, Value> {
        let none = Selection::List(Vec::new());
        let context = Context {
            anonymous_id_attribute: "moe_anonymous_id",
            user_attributes: &none,
            customerio: None,
        };
        let ids = Ids {
            user_id: event.uid.clone(),
            device_id: None,
        };
        map(event, None, ids, &context).unwrap()
    }

    #[test]
    fn a_refund_of_one_product_carries_negative_revenue_and_its_product() {
        let refund = event(
            "refund",
            json!({"transaction_id": "T-1", "total_amount": 55.0,
                   "products": [{"id": "sku-1", "price": 55.0, "quantity": 1.0}]}),
            json!({}),
        );
        let out = mapped(&refund);
        assert_eq!(out["revenue"], json!(-55.0));
        assert_eq!(out["revenueType"], "refund");
        assert_eq!(out["price"], json!(-55.0));
        assert_eq!(out["quantity"], json!(1));
        assert_eq!(out["productId"], "sku-1");
        assert_eq!(out["event_properties"]["products"][0]["id"], "sku-1");
        assert_eq!(out["event_properties"]["$source"], "MPARTICLE");
    }

    #[test]
    fn several_products_carry_revenue_only_and_other_events_none() {
        let purchase = event(
            "purchase",
            json!({"total_amount": "30.5", "products": [{"id": "a"}, {"id": "b"}]}),
            json!({}),
        );
        let out = mapped(&purchase);
        assert_eq!(out["revenue"], json!(30.5));
        assert!(out.get("price").is_none() && out.get("productId").is_none());
        let viewed = event("view_detail", json!({"total_amount": 9}), json!({}));
        assert!(mapped(&viewed).get("revenue").is_none());
    }

    #[test]
    fn device_fields_follow_the_table_in_either_format() {
        let firehose = event(
            "Signed Up",
            json!({}),
            json!({"platform": "ios", "os_version": "10.0", "brand": "Apple",
                   "manufacturer": "Apple", "model": "iPad Pro", "network_carrier": "at&t",
                   "locale_language": "en", "locale_country": "en_US",
                   "application_version": "v2", "ip": "203.0.113.9",
                   "ios_advertising_id": "00000000-0000-0000-0000-000000000000",
                   "ios_vendor_id": "97b826c2-ab80-4876-a184-db36cc39b1ee"}),
        );
        let out = mapped(&firehose);
        for (field, value) in [
            ("platform", "iOS"),
            ("os_name", "iOS"),
            ("os_version", "10.0"),
            ("device_brand", "Apple"),
            ("device_manufacturer", "Apple"),
            ("device_model", "iPad Pro"),
            ("carrier", "at&t"),
            ("language", "en"),
            ("country", "US"),
            ("app_version", "v2"),
            ("ip", "203.0.113.9"),
            ("idfv", "97b826c2-ab80-4876-a184-db36cc39b1ee"),
        ] {
            assert_eq!(out[field], value, "{field}");
        }
        assert!(out.get("idfa").is_none(), "an all-zero IDFA is not sent");
    }
}
