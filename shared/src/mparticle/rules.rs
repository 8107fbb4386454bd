//! The mParticle mapping rules as data, in one place. Each table cites the
//! section of docs/rules/mparticle-mapping.md it encodes;
//! the converters and the mapper only look things up here.

use crate::config::MparticleIdentity;

// docs/rules/mparticle-mapping.md "User attributes": reserved attributes →
// standard ones. Keys are matched case-insensitively: mParticle documents
// `$FirstName` while its examples also show `$firstname`.
pub const RESERVED_USER_ATTRIBUTES: &[(&str, &str)] = &[
    ("$FirstName", "first_name"),
    ("$LastName", "last_name"),
    ("$Gender", "gender"),
    ("$Age", "age"),
    ("$Mobile", "mobile"),
    ("$Address", "address"),
    ("$City", "city"),
    ("$State", "state"),
    ("$Zip", "zip"),
    ("$Country", "country"),
];

/// The profile attribute an mParticle user attribute is stored as: the
/// standard attribute for a reserved key, else the key itself (same page).
pub fn attribute_name(key: &str) -> &str {
    if !key.starts_with('$') {
        return key;
    }
    RESERVED_USER_ATTRIBUTES
        .iter()
        .find(|(reserved, _)| reserved.eq_ignore_ascii_case(key))
        .map_or(key, |(_, standard)| standard)
}

// docs/rules/mparticle-mapping.md "User attributes": identities → standard attributes.
// Identity types use the Events API's names (Firehose names are translated
// first, see FIREHOSE_IDENTITY_TYPES).
pub const IDENTITY_ATTRIBUTES: &[(&str, &str)] = &[("email", "email"), ("mobile_number", "mobile")];

pub fn identity_attribute(identity_type: &str) -> Option<&'static str> {
    IDENTITY_ATTRIBUTES
        .iter()
        .find(|(t, _)| *t == identity_type)
        .map(|(_, attr)| *attr)
}

// Events-API identity keys that mean another one: mParticle's published
// schema spells the customer id `customer_id`, its own server SDKs (Python
// `mparticle`, Node `mparticle-node-sdk`: models/UserIdentities) send
// `customerid` (docs/rules/mparticle-mapping.md "Identity and profile").
// Every other key is spelled alike in both.
pub const IDENTITY_TYPE_ALIASES: &[(&str, &str)] = &[("customerid", "customer_id")];

/// An Events-API identity type under the name the rules use.
pub fn identity_type(name: &str) -> &str {
    IDENTITY_TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, canonical)| canonical)
}

// Firehose user identity types (UserIdentity.Type, lower-cased) that differ
// from the Events API's (docs/rules/mparticle-mapping.md "Identity and profile").
pub const FIREHOSE_IDENTITY_TYPES: &[(&str, &str)] = &[
    ("customer", "customer_id"),
    ("other2", "other_id_2"),
    ("other3", "other_id_3"),
    ("other4", "other_id_4"),
    ("other5", "other_id_5"),
    ("other6", "other_id_6"),
    ("other7", "other_id_7"),
    ("other8", "other_id_8"),
    ("other9", "other_id_9"),
    ("other10", "other_id_10"),
];

pub fn firehose_identity_type(firehose_type: &str) -> &str {
    FIREHOSE_IDENTITY_TYPES
        .iter()
        .find(|(f, _)| *f == firehose_type)
        .map_or(firehose_type, |(_, events_api)| events_api)
}

/// docs/rules/mparticle-mapping.md "Identity and profile": Customer ID (default), Email or MPID
/// becomes the profile's uid. `None` means the batch's `mpid`.
pub fn uid_identity_type(identity: MparticleIdentity) -> Option<&'static str> {
    match identity {
        MparticleIdentity::CustomerId => Some("customer_id"),
        MparticleIdentity::Email => Some("email"),
        MparticleIdentity::Mpid => None,
    }
}

// The device identities `moengage_device_id` is derived from, most stable
// first: mParticle's own device id (Events API `mp_deviceid`, Firehose
// `device_application_stamp`), then vendor ids, then advertising ids. Both
// formats' names map to one canonical kind so that the same device gets the
// same `moengage_device_id` whichever way it arrives (docs/rules/mparticle-mapping.md "Events").
pub const DEVICE_IDENTITIES: &[(&str, &str)] = &[
    ("mp_deviceid", "mp_deviceid"),
    ("device_application_stamp", "mp_deviceid"),
    ("ios_idfv", "ios_vendor_id"),
    ("ios_vendor_id", "ios_vendor_id"),
    ("android_uuid", "android_id"),
    ("android_id", "android_id"),
    ("ios_advertising_id", "ios_advertising_id"),
    ("android_advertising_id", "google_advertising_id"),
    ("google_advertising_id", "google_advertising_id"),
    ("fire_advertising_id", "fire_advertising_id"),
    ("roku_publisher_id", "roku_publisher_id"),
    ("roku_advertising_id", "roku_advertising_id"),
    ("microsoft_publisher_id", "microsoft_publisher_id"),
    ("microsoft_advertising_id", "microsoft_advertising_id"),
];

/// Whether a device identity's value names one device. An all-zero
/// advertising id (what iOS and Android report when the user limits ad
/// tracking, and what mParticle's own sample batches carry for absent ids)
/// is shared by many devices: `moengage_device_id` is never derived from it
/// (docs/rules/mparticle-mapping.md "Events").
pub fn identifies_a_device(value: &str) -> bool {
    value.chars().any(|c| !matches!(c, '0' | '-' | ' '))
}

/// Rank (lower is better) and canonical kind of a device identity field.
pub fn device_identity(field: &str) -> Option<(usize, &'static str)> {
    DEVICE_IDENTITIES
        .iter()
        .position(|(name, _)| *name == field)
        .map(|rank| (rank, DEVICE_IDENTITIES[rank].1))
}

// docs/rules/mparticle-mapping.md "Skipped event types". The guide's list also
// names `custom_event`, yet the guide maps custom events; so do we. These, and
// any type not handled, are skipped and counted.
pub const UNSUPPORTED_EVENT_TYPES: &[&str] = &[
    "session_start",
    "session_end",
    "screen_view",
    "error",
    "privacy_setting_change",
    "push_subscription",
    "application_state_transition",
    "push_message_receipt",
    "attribution",
];

/// mParticle's product actions: a product-action event is named by its
/// action (docs/rules/mparticle-mapping.md "Product-action commerce events";
/// the values of the Firehose SDK's `ProductAction.Action`, lower-case).
pub const PRODUCT_ACTIONS: [&str; 10] = [
    "add_to_cart",
    "remove_from_cart",
    "checkout",
    "checkout_option",
    "click",
    "view_detail",
    "purchase",
    "refund",
    "add_to_wishlist",
    "remove_from_wish_list",
];

/// The names of the one event each promotion action or impression list
/// becomes (docs/rules/mparticle-mapping.md "Promotions and impressions").
pub const PROMOTION_AND_IMPRESSION_NAMES: [&str; 3] =
    ["promotion_view", "promotion_click", "impression"];

/// Skip-count keys of the commerce shapes skipped unless the workspace sets
/// `commerce_promotions_and_impressions`
/// (docs/rules/mparticle-mapping.md "Promotions and impressions").
pub const PROMOTION_TYPE: &str = "promotion_action";
pub const IMPRESSION_TYPE: &str = "impression";

/// The Firehose event types the module registers for (everything mapped).
pub const SUPPORTED_FIREHOSE_EVENT_TYPES: &[&str] = &[
    "custom_event",
    "product_action",
    "promotion_action",
    "impression",
    "user_attribute_change",
    "user_identity_change",
];

/// How a commerce field's value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Amount,
}

/// One commerce field: its name in the Events API, in Firehose, and the
/// event attribute it becomes.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub events_api: &'static str,
    pub firehose: &'static str,
    pub attribute: &'static str,
    pub kind: FieldKind,
}

const fn field(
    events_api: &'static str,
    firehose: &'static str,
    attribute: &'static str,
    kind: FieldKind,
) -> Field {
    Field {
        events_api,
        firehose,
        attribute,
        kind,
    }
}

use FieldKind::{Amount, Text};

// docs/rules/mparticle-mapping.md "Product-action commerce events": the
// transaction-level attributes of a product-action event (besides `products`
// and the event's custom attributes). `currency_code` sits on the commerce event in the Events API
// and on the product action in Firehose.
pub const PRODUCT_ACTION_FIELDS: &[Field] = &[
    field("transaction_id", "transaction_id", "transaction_id", Text),
    field("currency_code", "currency_code", "currency_code", Text),
    field("total_amount", "total_amount", "total_amount", Amount),
    field(
        "shipping_amount",
        "shipping_amount",
        "shipping_amount",
        Amount,
    ),
    field("tax_amount", "tax_amount", "tax_amount", Amount),
];

// The same section's product table; the product's custom attributes
// (Events API `custom_attributes`, Firehose `attributes`) are added to each.
pub const PRODUCT_FIELDS: &[Field] = &[
    field("id", "id", "id", Text),
    field("name", "name", "name", Text),
    field("category", "category", "category", Text),
    field("brand", "brand", "brand", Text),
    field("price", "price", "price", Amount),
    field("quantity", "quantity", "quantity", Amount),
    field(
        "total_product_amount",
        "total_amount",
        "total_amount",
        Amount,
    ),
];

// docs/rules/mparticle-mapping.md "Promotions and impressions".
pub const PROMOTION_FIELDS: &[Field] = &[
    field("id", "id", "id", Text),
    field("name", "name", "name", Text),
    field("creative", "creative", "creative", Text),
    field("position", "position", "position", Text),
];

// Impressions (same section): the list name; its products use PRODUCT_FIELDS.
pub const IMPRESSION_LIST_FIELD: Field = field(
    "product_impression_list",
    "impression_list_name",
    "product_impression_list",
    Text,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_attributes_match_case_insensitively() {
        assert_eq!(attribute_name("$FirstName"), "first_name");
        assert_eq!(attribute_name("$firstname"), "first_name");
        assert_eq!(attribute_name("$ZIP"), "zip");
        assert_eq!(attribute_name("$Unknown"), "$Unknown");
        assert_eq!(attribute_name("plan"), "plan");
    }

    #[test]
    fn identity_tables() {
        assert_eq!(identity_attribute("email"), Some("email"));
        assert_eq!(identity_attribute("mobile_number"), Some("mobile"));
        assert_eq!(identity_attribute("customer_id"), None);
        assert_eq!(firehose_identity_type("customer"), "customer_id");
        assert_eq!(firehose_identity_type("email"), "email");
        assert!(!identifies_a_device("00000000-0000-0000-0000-000000000000"));
        assert!(!identifies_a_device(""));
        assert!(identifies_a_device("0f129dcb-d5b9-450b-9003-a38a7b7e946d"));
        assert_eq!(device_identity("ios_idfv"), device_identity("ios_idfv"));
        assert_eq!(device_identity("ios_idfv").unwrap().1, "ios_vendor_id");
        assert_eq!(device_identity("ios_vendor_id").unwrap().1, "ios_vendor_id");
        assert!(
            device_identity("mp_deviceid").unwrap().0 < device_identity("android_id").unwrap().0
        );
    }
}
