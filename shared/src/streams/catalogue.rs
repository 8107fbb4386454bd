//! The campaign-event catalogue (docs/rules/event-catalogue.md): the export
//! table (Amplitude) and the Streams table as one table. Where the two
//! disagree both spellings are accepted as aliases ("Aliases").

/// One campaign event: its names and codes (first = the export table's where
/// it has one), channel, and whether it is exported to Amplitude by default.
#[derive(Debug)]
pub struct CatalogueEntry {
    pub names: &'static [&'static str],
    pub codes: &'static [&'static str],
    pub channel: Channel,
    /// The export table's type (reference only); None for Streams-only events.
    pub kind: Option<Kind>,
    pub amplitude_default: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Cards,
    Connector,
    Email,
    InApp,
    MobileInApp,
    Push,
    OnSite,
    WebPersonalization,
    Sms,
    Flows,
    AllCampaigns,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Delivery,
    Interaction,
}

use Channel::*;
use Kind::*;

macro_rules! entry {
    ([$($name:literal),+], [$($code:literal),+], $channel:expr, $kind:expr, $amplitude:literal) => {
        CatalogueEntry {
            names: &[$($name),+],
            codes: &[$($code),+],
            channel: $channel,
            kind: $kind,
            amplitude_default: $amplitude,
        }
    };
}

pub static CATALOGUE: &[CatalogueEntry] = &[
    // Cards: the Streams table spells the codes MOE_CARD_*.
    entry!(
        ["Card Sent"],
        ["n_c_s", "MOE_CARD_SENT"],
        Cards,
        Some(Delivery),
        true
    ),
    entry!(
        ["Card Delivered"],
        ["MOE_CARD_CAMPAIGN_DELIVERED", "MOE_CARD_DELIVERED"],
        Cards,
        Some(Delivery),
        true
    ),
    entry!(
        ["Card Viewed"],
        ["MOE_CARD_CAMPAIGN_VIEWED", "MOE_CARD_VIEWED"],
        Cards,
        Some(Delivery),
        true
    ),
    entry!(
        ["Card Clicked"],
        ["MOE_CARD_CAMPAIGN_CLICKED", "MOE_CARD_CLICKED"],
        Cards,
        Some(Interaction),
        true
    ),
    entry!(
        ["Connector Sent"],
        ["MOE_CONNECTOR_SENT"],
        Connector,
        Some(Delivery),
        true
    ),
    // The export table's email descriptions are shifted by a row: names and codes are right.
    entry!(
        ["Email Sent"],
        ["MOE_EMAIL_SENT"],
        Email,
        Some(Delivery),
        true
    ),
    entry!(
        ["Email Deferred"],
        ["MOE_EMAIL_DEFERRED"],
        Email,
        Some(Delivery),
        true
    ),
    entry!(
        ["Email Delivered"],
        ["MOE_EMAIL_DELIVERED"],
        Email,
        Some(Delivery),
        true
    ),
    entry!(
        ["Email Dropped"],
        ["MOE_EMAIL_DROP"],
        Email,
        Some(Delivery),
        true
    ),
    entry!(
        ["Email Bounced"],
        ["MOE_EMAIL_HARD_BOUNCE"],
        Email,
        Some(Delivery),
        true
    ),
    entry!(
        ["Email Soft Bounced"],
        ["MOE_EMAIL_SOFT_BOUNCE"],
        Email,
        Some(Delivery),
        true
    ),
    entry!(
        ["Email Opened"],
        ["MOE_EMAIL_OPEN"],
        Email,
        Some(Interaction),
        true
    ),
    entry!(
        ["Email Clicked"],
        ["MOE_EMAIL_CLICK"],
        Email,
        Some(Interaction),
        true
    ),
    entry!(
        ["Email Unsubscribed"],
        ["MOE_EMAIL_UNSUBSCRIBE"],
        Email,
        Some(Interaction),
        true
    ),
    entry!(
        ["Email Spam Complained"],
        ["MOE_EMAIL_SPAM"],
        Email,
        Some(Interaction),
        true
    ),
    entry!(
        ["In-App Shown Android"],
        ["IN_APP_SHOWN"],
        InApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["In-App Clicked Android"],
        ["IN_APP_CLICKED"],
        InApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["In-App Closed Android"],
        ["IN_APP_CLOSE_CLICKED"],
        InApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["In-App Shown iOS"],
        ["iOS_IN_APP_SHOWN"],
        InApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["In-App Clicked iOS"],
        ["iOS_IN_APP_CLICKED"],
        InApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["In-App Closed iOS"],
        ["iOS_IN_APP_CLOSE_CLICKED"],
        InApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["Mobile In-App Shown"],
        ["MOE_IN_APP_SHOWN"],
        MobileInApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["Mobile In-App Clicked"],
        ["MOE_IN_APP_CLICKED"],
        MobileInApp,
        Some(Interaction),
        true
    ),
    // Export table "Mobile In-App Dismissed" / Streams table "Mobile In-App Closed".
    entry!(
        ["Mobile In-App Dismissed", "Mobile In-App Closed"],
        ["MOE_IN_APP_DISMISSED"],
        MobileInApp,
        Some(Interaction),
        true
    ),
    entry!(
        ["Notification Received Android"],
        ["NOTIFICATION_RECEIVED_MOE"],
        Push,
        Some(Delivery),
        true
    ),
    entry!(
        ["Notification Clicked Android"],
        ["NOTIFICATION_CLICKED_MOE"],
        Push,
        Some(Interaction),
        true
    ),
    // Streams table only.
    entry!(
        ["Notification Swiped Android"],
        ["NOTIFICATION_CLEARED_MOE"],
        Push,
        None,
        false
    ),
    entry!(
        ["Notification Sent iOS"],
        ["n_i_s"],
        Push,
        Some(Delivery),
        true
    ),
    entry!(
        ["Notification Received iOS"],
        ["NOTIFICATION_RECEIVED_IOS_MOE"],
        Push,
        Some(Delivery),
        true
    ),
    entry!(
        ["Notification Clicked iOS"],
        ["NOTIFICATION_CLICKED_IOS_MOE"],
        Push,
        Some(Interaction),
        true
    ),
    entry!(
        ["Notification Received Web"],
        ["NOTIFICATION_RECEIVED_WEB_MOE"],
        Push,
        Some(Delivery),
        true
    ),
    entry!(
        ["Notification Clicked Web"],
        ["NOTIFICATION_CLICKED_WEB_MOE"],
        Push,
        Some(Interaction),
        true
    ),
    entry!(
        ["On-site Message Shown"],
        ["MOE_ONSITE_MESSAGE_SHOWN"],
        OnSite,
        Some(Interaction),
        true
    ),
    entry!(
        ["On-site Message Clicked"],
        ["MOE_ONSITE_MESSAGE_CLICKED"],
        OnSite,
        Some(Interaction),
        true
    ),
    // Export table MOE_ONSITE_MESSAGE_CLOSED / Streams table MOE_ONSITE_MESSAGE_DISMISSED.
    entry!(
        ["On-site Message Closed"],
        ["MOE_ONSITE_MESSAGE_CLOSED", "MOE_ONSITE_MESSAGE_DISMISSED"],
        OnSite,
        Some(Interaction),
        true
    ),
    entry!(
        ["Web Personalization Message Shown"],
        ["MOE_WEBP_MESSAGE_SHOWN"],
        WebPersonalization,
        Some(Interaction),
        true
    ),
    entry!(
        ["Web Personalization Message Clicked"],
        ["MOE_WEBP_MESSAGE_CLICKED"],
        WebPersonalization,
        Some(Interaction),
        true
    ),
    entry!(
        ["Web Personalization Message Closed"],
        ["MOE_WEBP_MESSAGE_CLOSED"],
        WebPersonalization,
        Some(Interaction),
        true
    ),
    entry!(["SMS Sent"], ["SMS_SENT"], Sms, Some(Delivery), true),
    entry!(
        ["SMS Delivered"],
        ["SMS_DELIVERED"],
        Sms,
        Some(Delivery),
        true
    ),
    entry!(
        ["User Entered Flow"],
        ["USER_ENTERED_FLOW"],
        Flows,
        Some(Delivery),
        true
    ),
    entry!(
        ["User Exited Flow"],
        ["USER_EXITED_FLOW"],
        Flows,
        Some(Delivery),
        true
    ),
    entry!(
        ["User Added To Control Group"],
        ["MOE_CAMPAIGN_CONTROL_GROUP"],
        AllCampaigns,
        Some(Delivery),
        true
    ),
    entry!(
        ["User Removed From Control Group"],
        ["MOE_USER_REMOVED_FROM_CONTROL_GROUP"],
        AllCampaigns,
        Some(Delivery),
        true
    ),
    entry!(
        ["User Removed From Campaign Due to Control Group"],
        ["MOE_CAMPAIGN_USER_REMOVED_DUE_TO_CONTROL_GROUP"],
        AllCampaigns,
        Some(Delivery),
        true
    ),
];

/// The catalogue entry an event code or name refers to (any alias; names
/// and codes compare case-insensitively).
pub fn lookup(code_or_name: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.matches(code_or_name))
}

impl CatalogueEntry {
    pub fn matches(&self, code_or_name: &str) -> bool {
        self.codes
            .iter()
            .chain(self.names)
            .any(|c| c.eq_ignore_ascii_case(code_or_name))
    }
}

/// Event attributes Streams never export (docs/rules/webhook-payload.md).
pub const NOT_EXPORTED_ATTRIBUTES: &[&str] = &[
    "email_subject",
    "email_click_url",
    "inapp_widget_clicked",
    "onsite_message_url_clicked",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_seeds_spellings_resolve_to_one_entry() {
        for (a, b) in [
            ("n_c_s", "MOE_CARD_SENT"),
            ("MOE_CARD_CAMPAIGN_CLICKED", "MOE_CARD_CLICKED"),
            ("MOE_ONSITE_MESSAGE_CLOSED", "MOE_ONSITE_MESSAGE_DISMISSED"),
            ("Mobile In-App Dismissed", "Mobile In-App Closed"),
            ("User Added To Control Group", "User Added to Control Group"),
        ] {
            let (x, y) = (lookup(a).unwrap(), lookup(b).unwrap());
            assert!(std::ptr::eq(x, y), "{a} and {b} should be aliases");
        }
    }

    #[test]
    fn amplitude_default_is_seed_000s_table() {
        assert_eq!(CATALOGUE.iter().filter(|e| e.amplitude_default).count(), 44);
        assert!(
            !lookup("NOTIFICATION_CLEARED_MOE")
                .unwrap()
                .amplitude_default
        );
        assert!(lookup("SMS_DELIVERED").unwrap().amplitude_default);
        assert!(lookup("Partner Sync").is_none());
        // No code or name is claimed by two entries.
        for e in CATALOGUE {
            for key in e.codes.iter().chain(e.names) {
                assert!(std::ptr::eq(lookup(key).unwrap(), e), "{key} is ambiguous");
            }
        }
    }
}
